//! The per-position criterion on the CPU, fused: each row of `V` logits is copied out of the
//! logits tensor in cache-sized chunks of rows, and everything a detector needs of a position
//! comes out of at most four passes over that row while it sits in L1: the maximum; `exp`
//! with its sum; the first moment; the centred second moment. libtorch's route (log_softmax,
//! exp, two batched dot products, a centred square) writes and reads several `[B, T, V]`
//! tensors instead. The rows are split among libtorch's own intra-op threads
//! (`gptlab_dist::parallel_for`).
//!
//! With `l` the scoring model's logits at a position, `r` the reference's (`r = l` without
//! one), `ml = max l`, `Zl = Σ exp(l − ml)`, `q = softmax(r)`:
//! - `log p(v) = l_v − ml − ln Zl`, so `lp = l_x − ml − ln Zl` for the target `x`;
//! - `mu = Σ q_v log p(v) = E_q[l − ml] − ln Zl`;
//! - `var = Σ q_v (log p(v) − mu)² = E_q[(l − ml − E_q[l − ml])²]` (centred: no cancellation);
//! - `xent = −mu`.
//!
//! The loops are plain Rust written for the compiler to vectorize (16 independent lanes per
//! sum, no branches; `exp` is `gptlab_core::vecmath::exp_le0`). They are compiled
//! twice: for the build's baseline and, picked at run time when the CPU has it, for AVX2
//! (no crate dispatches plain loops by CPU feature without macros that emit `unsafe` here).
//! Sums run in `f32` lanes and are added up in `f64`.

use super::stats::{Need, Positions};
use crate::Result;
use gptlab_core::vecmath::{exp_le0, max, LANES};
use std::sync::Mutex;
use tch::{Kind, Tensor};

/// Rows copied out of the logits tensor at a time by each thread (16 rows of a 4096-token
/// vocabulary: 256 KiB, twice that with a reference; within a core's L2).
const CHUNK_BYTES: usize = 1 << 18;

/// One position's values (`mu`, `var` zero unless asked).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Row {
    pub lp: f64,
    pub mu: f64,
    pub var: f64,
}

/// `Σ exp(x − m)`, writing each term into `e`.
#[inline(always)]
fn exp_sum(x: &[f32], m: f32, e: &mut [f32]) -> f64 {
    for (ei, &xi) in e.iter_mut().zip(x) {
        *ei = exp_le0(xi - m);
    }
    let mut acc = [0f32; LANES];
    let mut it = e.chunks_exact(LANES);
    for c in &mut it {
        for j in 0..LANES {
            acc[j] += c[j];
        }
    }
    acc.iter().chain(it.remainder()).map(|&v| f64::from(v)).sum()
}

/// `Σ w · (x − shift)^K` for `K` = 1 or 2.
#[inline(always)]
fn moment<const K: u32>(w: &[f32], x: &[f32], shift: f32) -> f64 {
    let mut acc = [0f32; LANES];
    let (mut cw, mut cx) = (w.chunks_exact(LANES), x.chunks_exact(LANES));
    for (a, b) in (&mut cw).zip(&mut cx) {
        for j in 0..LANES {
            let d = b[j] - shift;
            acc[j] += if K == 1 { a[j] * d } else { a[j] * d * d };
        }
    }
    let tail: f64 = cw.remainder().iter().zip(cx.remainder()).map(|(&a, &b)| f64::from(a) * f64::from(b - shift).powi(K as i32)).sum();
    acc.iter().map(|&v| f64::from(v)).sum::<f64>() + tail
}

#[inline(always)]
fn row_any(l: &[f32], r: Option<&[f32]>, x: usize, need: Need, el: &mut [f32], er: &mut [f32]) -> Row {
    let ml = max(l);
    let zl = exp_sum(l, ml, el);
    let lse = f64::from(ml) + zl.ln();
    let mut out = Row { lp: f64::from(l[x]) - lse, ..Row::default() };
    if need == Need::LogProb {
        return out;
    }
    let (q, zq): (&[f32], f64) = match r {
        Some(r) => {
            let zr = exp_sum(r, max(r), er);
            (er, zr)
        }
        None => (el, zl),
    };
    // E_q[l − ml]
    let first = moment::<1>(q, l, ml) / zq;
    out.mu = first - zl.ln();
    if need == Need::Discrepancy {
        out.var = moment::<2>(q, l, ml + first as f32) / zq;
    }
    out
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn row_avx2(l: &[f32], r: Option<&[f32]>, x: usize, need: Need, el: &mut [f32], er: &mut [f32]) -> Row {
    row_any(l, r, x, need, el, er)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2")]
fn row_avx512(l: &[f32], r: Option<&[f32]>, x: usize, need: Need, el: &mut [f32], er: &mut [f32]) -> Row {
    row_any(l, r, x, need, el, er)
}

/// The values of one position: scoring logits `l`, reference logits `r` (`None`: `q = p`),
/// target token `x < l.len()`; `el`, `er` are scratch rows of `l.len()`.
#[allow(unsafe_code)]
pub(crate) fn row(l: &[f32], r: Option<&[f32]>, x: usize, need: Need, el: &mut [f32], er: &mut [f32]) -> Row {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: as below, for AVX-512F (with AVX2), both checked just here.
        return unsafe { row_avx512(l, r, x, need, el, er) };
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: `row_avx2` is safe code compiled for AVX2, and this CPU has AVX2 (checked
        // just above); a `#[target_feature]` function may only be called where that holds.
        return unsafe { row_avx2(l, r, x, need, el, er) };
    }
    row_any(l, r, x, need, el, er)
}

/// The positions of a right-padded batch from the logits of its first `W` positions,
/// `[B, W, V]` on the CPU, the reference's of the same shape, and its token ids, `B` rows of
/// `W + 1` (flat): `rows[i]` is the length of sequence `i`, whose first `rows[i] − 1`
/// positions are returned.
pub(crate) fn positions(logits: &Tensor, reference: Option<&Tensor>, ids: &[i64], rows: &[usize], need: Need) -> Result<Vec<Positions>> {
    positions_on(logits, reference, ids, rows, need, tch::get_num_threads().max(1) as usize)
}

/// [`positions`] with the rows split into at most `tasks` tasks on libtorch's thread pool.
fn positions_on(logits: &Tensor, reference: Option<&Tensor>, ids: &[i64], rows: &[usize], need: Need, tasks: usize) -> Result<Vec<Positions>> {
    let (b, w, v) = logits.size3()?;
    let (wu, vu) = (w as usize, v as usize);
    debug_assert!(ids.len() == rows.len() * (wu + 1) && rows.len() == b as usize && rows.iter().all(|&n| n <= wu + 1));
    let flat = logits.to_kind(Kind::Float).contiguous().view([b * w, v]);
    let rflat = reference.map(|r| r.to_kind(Kind::Float).contiguous().view([b * w, v]));
    // (sequence, position) of every wanted row, in tensor order
    let wanted: Vec<(usize, usize)> = rows.iter().enumerate().flat_map(|(i, &n)| (0..n.saturating_sub(1)).map(move |p| (i, p))).collect();
    let grain = wanted.len().div_ceil(tasks.max(1)).max(1);
    let chunk_rows = (CHUNK_BYTES / (4 * vu.max(1))).max(1);
    let done: Mutex<Vec<(usize, Result<Vec<Row>>)>> = Mutex::new(Vec::new());
    // a tensor handle may move between threads but not be shared: each task takes its own
    let shared = Mutex::new((flat, rflat));
    gptlab_dist::parallel_for(wanted.len(), grain, &|begin, end| {
        let (flat, rflat) = {
            let g = shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            (g.0.shallow_clone(), g.1.as_ref().map(Tensor::shallow_clone))
        };
        let part = &wanted[begin..end];
        let got = (|| -> Result<Vec<Row>> {
            let mut buf = vec![0.0f32; chunk_rows * vu];
            let mut rbuf = vec![0.0f32; if rflat.is_some() { chunk_rows * vu } else { 0 }];
            let (mut el, mut er) = (vec![0.0f32; vu], vec![0.0f32; vu]);
            let mut out = Vec::with_capacity(part.len());
            // runs of rows adjacent in the tensor, at most `chunk_rows` long
            let mut k = 0;
            while k < part.len() {
                let at = |j: usize| part[j].0 * wu + part[j].1;
                let mut n = 1;
                while k + n < part.len() && n < chunk_rows && at(k + n) == at(k) + n {
                    n += 1;
                }
                flat.narrow(0, at(k) as i64, n as i64).f_copy_data(&mut buf, n * vu)?;
                if let Some(r) = &rflat {
                    r.narrow(0, at(k) as i64, n as i64).f_copy_data(&mut rbuf, n * vu)?;
                }
                for j in 0..n {
                    let (seq, pos) = part[k + j];
                    let id = ids[seq * (wu + 1) + pos + 1];
                    let target = usize::try_from(id).ok().filter(|&x| x < vu).ok_or_else(|| crate::Error::Input(format!("token id {id} is outside the model's vocabulary of {vu}")))?;
                    let l = &buf[j * vu..(j + 1) * vu];
                    let r = rflat.as_ref().map(|_| &rbuf[j * vu..(j + 1) * vu]);
                    out.push(row(l, r, target, need, &mut el, &mut er));
                }
                k += n;
            }
            Ok(out)
        })();
        done.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push((begin, got));
    });
    let mut results = done.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
    results.sort_by_key(|r| r.0);
    let mut all = Vec::with_capacity(wanted.len());
    for (_, r) in results {
        all.extend(r?);
    }
    let mut out: Vec<Positions> = rows.iter().map(|_| Positions::default()).collect();
    for (&(seq, _), r) in wanted.iter().zip(all) {
        let p = &mut out[seq];
        p.lp.push(r.lp);
        match need {
            Need::LogProb => {}
            Need::Discrepancy => {
                p.mu.push(r.mu);
                p.var.push(r.var);
            }
            Need::CrossEntropy => p.xent.push(-r.mu),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fused values equal libtorch's tensor formulation (`stats::criterion`, the GPU path)
    /// on random logits, with and without a reference, for vocabularies that do and do not fill
    /// the 16 lanes (and one whose rows are copied out a few at a time), on sequences of
    /// different lengths in one padded batch (the shorter first or last, so that the rows
    /// wanted have a gap in the tensor or not), in 1 to 3 tasks on a pool of 3 threads.
    #[test]
    fn fused_values_equal_the_tensor_formulation() {
        tch::manual_seed(11);
        tch::set_num_threads(3);
        for vocab in [5i64, 37, 64, 300, 30_000] {
            for lens in [[7usize, 4], [4, 7]] {
                let (b, w) = (2i64, 6i64);
                let logits = Tensor::randn([b, w, vocab], (Kind::Float, tch::Device::Cpu)) * 3.0;
                let reference = Tensor::randn([b, w, vocab], (Kind::Float, tch::Device::Cpu)) * 2.0;
                let ids: Vec<i64> = (0..b * (w + 1)).map(|i| (i * 7 + 3) % vocab).collect();
                let seqs: Vec<Vec<u32>> = (0..2).map(|i| ids[i * 7..i * 7 + lens[i]].iter().map(|&x| x as u32).collect()).collect();
                let rows: Vec<&[u32]> = seqs.iter().map(|s| s.as_slice()).collect();
                let id_t = Tensor::from_slice(&ids).view([b, w + 1]);
                for need in [Need::LogProb, Need::Discrepancy, Need::CrossEntropy] {
                    for r in [None, Some(&reference)] {
                        let want = super::super::stats::criterion(logits.shallow_clone(), r.map(Tensor::shallow_clone), &id_t, &rows, need).expect("tensor");
                        for tasks in 1..=3 {
                            let got = positions_on(&logits, r, &ids, &lens, need, tasks).expect("fused");
                            for (g, w) in got.iter().zip(&want) {
                                for (a, b) in [(&g.lp, &w.lp), (&g.mu, &w.mu), (&g.var, &w.var), (&g.xent, &w.xent)] {
                                    assert_eq!(a.len(), b.len(), "vocab {vocab} {need:?}");
                                    for (x, y) in a.iter().zip(b.iter()) {
                                        assert!((x - y).abs() < 2e-5 * (1.0 + y.abs()), "vocab {vocab} {lens:?} {need:?} reference {} tasks {tasks}: {x} vs {y}", r.is_some());
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn a_nan_logit_gives_nan_not_a_plausible_value() {
        let mut l = vec![0.5f32; 40];
        l[3] = f32::NAN;
        let (mut a, mut b) = (vec![0.0; 40], vec![0.0; 40]);
        let out = row(&l, None, 7, Need::Discrepancy, &mut a, &mut b);
        assert!(out.lp.is_nan() && out.mu.is_nan() && out.var.is_nan(), "{out:?}");
    }

    #[test]
    fn the_dispatched_kernel_equals_the_baseline_one() {
        let l: Vec<f32> = (0..1000).map(|i| ((i * 7919) % 1000) as f32 * 0.013 - 6.0).collect();
        let r: Vec<f32> = (0..1000).map(|i| ((i * 104_729) % 1000) as f32 * 0.009 - 4.0).collect();
        let (mut a, mut b) = (vec![0.0; 1000], vec![0.0; 1000]);
        for reference in [None, Some(r.as_slice())] {
            let base = row_any(&l, reference, 17, Need::Discrepancy, &mut a, &mut b);
            // the same operations in the same order (Rust does not fuse or reorder them)
            assert_eq!(row(&l, reference, 17, Need::Discrepancy, &mut a, &mut b), base);
            #[cfg(target_arch = "x86_64")]
            #[allow(unsafe_code)]
            {
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: this CPU has AVX2 (checked just above).
                    assert_eq!(unsafe { row_avx2(&l, reference, 17, Need::Discrepancy, &mut a, &mut b) }, base);
                }
                if std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: this CPU has AVX-512F and AVX2 (checked just above).
                    assert_eq!(unsafe { row_avx512(&l, reference, 17, Need::Discrepancy, &mut a, &mut b) }, base);
                }
            }
        }
    }

    #[test]
    fn a_token_outside_the_vocabulary_is_an_error() {
        let logits = Tensor::zeros([1, 2, 8], (Kind::Float, tch::Device::Cpu));
        let e = positions(&logits, None, &[1, 2, 9], &[3], Need::LogProb).expect_err("id 9 of 8");
        assert!(e.to_string().contains("token id 9"), "{e}");
    }
}
