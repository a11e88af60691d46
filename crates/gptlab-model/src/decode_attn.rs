//! Attention of one new token per row over that row's own KV cache, on the CPU at inference
//! (the decode step of continuous batching, [`crate::Gpt::decode_rows`]). Rows of a running
//! batch have different lengths; libtorch's attention needs them padded to the longest and a
//! mask, and then reads every row's keys and values up to that length. At batch 16 that read
//! sets the step's time (the cache no longer fits in the cores' own caches), so here each
//! (row, head) reads its own keys and values only. The loop is plain Rust (`exp` from
//! [`gptlab_core::vecmath::exp_le0`]), compiled for the baseline, AVX2 + FMA and AVX-512 and
//! picked at run time (calling those builds is the `unsafe` here); the (row, head) pairs are
//! split among libtorch's intra-op threads in parts of about equal work (rows differ in
//! length), through `gptlab_dist::for_rows_mut_reading`, which also hands out the tensors'
//! memory. The new keys and values go into the caches by plain copies on the calling thread
//! (libtorch's scatter costs more than the copy).
//!
//! The caches hold fp32 or half precision ([`crate::KvCacheDtype`]). At a batch of rows this
//! loop reads more keys and values than the cores' caches hold, and its time is mostly that
//! read: half precision halves it. Halves are widened to fp32 as they are read, and the sums
//! are in fp32 either way.

use gptlab_core::vecmath::{exp_le0, f16_to_f32, max, LANES};
use gptlab_dist::Elem;
use half::f16;
use tch::{Device, Kind, Tensor};

/// The largest finite half: a key or value beyond it is stored as it (saturated), not as ±∞,
/// which would turn the row's scores into NaN.
pub(crate) const F16_MAX: f32 = 65504.0;

/// An element of the caches: fp32, or half precision.
pub(crate) trait CacheElem: Elem {
    fn load(self) -> f32;
    /// `dst ← src`, element by element.
    fn store_all(dst: &mut [Self], src: &[f32]);
}

impl CacheElem for f32 {
    #[inline(always)]
    fn load(self) -> f32 {
        self
    }
    fn store_all(dst: &mut [Self], src: &[f32]) {
        dst.copy_from_slice(src);
    }
}

impl CacheElem for f16 {
    #[inline(always)]
    fn load(self) -> f32 {
        f16_to_f32(self.to_bits())
    }
    /// Rounded to the nearest half, as libtorch converts, past ±[`F16_MAX`] saturated; by
    /// `half`'s slice conversion (vector instructions where the CPU has them).
    fn store_all(dst: &mut [Self], src: &[f32]) {
        use half::slice::HalfFloatSliceExt;
        let mut buf = [0f32; 64];
        for (d, s) in dst.chunks_mut(buf.len()).zip(src.chunks(buf.len())) {
            let b = &mut buf[..s.len()];
            b.iter_mut().zip(s).for_each(|(b, &x)| *b = x.clamp(-F16_MAX, F16_MAX));
            d.convert_from_f32_slice(b);
        }
    }
}

/// Work (keys, plus [`PAIR_COST`] per pair) below which all (row, head) pairs go on the
/// calling thread (a parallel region would cost more than it saves).
const PARALLEL_MIN_KEYS: usize = 2048;

/// A (row, head) pair's cost in keys beyond its own (the query, the softmax, the output).
const PAIR_COST: usize = 8;

/// The shapes of one decode step: `heads` of `head_dim` per row, caches of `capacity`
/// positions per (row, head).
#[derive(Clone, Copy)]
struct Shape {
    heads: usize,
    head_dim: usize,
    capacity: usize,
}

/// Whether [`attend`] can run: an fp32 `qkv` and fp32 or half-precision CPU caches (both
/// alike) laid out `[slots, heads, capacity, head_dim]`, all contiguous, and no autograd (under
/// `no_grad`, or from inputs that need no gradient).
pub(crate) fn applies(qkv: &Tensor, k: &Tensor, v: &Tensor) -> bool {
    let plain = |t: &Tensor| t.device() == Device::Cpu && t.is_contiguous() && !t.requires_grad();
    [qkv, k, v].into_iter().all(plain) && qkv.kind() == Kind::Float && matches!(k.kind(), Kind::Float | Kind::Half) && k.kind() == v.kind() && k.dim() == 4 && k.size() == v.size()
}

const _: () = assert!(LANES == 16, "sum_lanes halves 16 lanes");

/// The sum of the lanes by halves (a tree of vector adds; summed left to right, the adds
/// would wait on each other, one lane at a time).
#[inline(always)]
fn sum_lanes(a: [f32; LANES]) -> f32 {
    let h: [f32; 8] = std::array::from_fn(|i| a[i] + a[i + 8]);
    let q: [f32; 4] = std::array::from_fn(|i| h[i] + h[i + 4]);
    (q[0] + q[2]) + (q[1] + q[3])
}

/// `s ← exp(s − max s)` and its sum, in lanes (so that the loop vectorizes).
#[inline(always)]
fn softmax_weights(s: &mut [f32]) -> f32 {
    let m = max(s);
    s.iter_mut().for_each(|x| *x = exp_le0(*x - m));
    let mut acc = [0f32; LANES];
    let mut it = s.chunks_exact(LANES);
    for c in &mut it {
        for l in 0..LANES {
            acc[l] += c[l];
        }
    }
    sum_lanes(acc) + it.remainder().iter().sum::<f32>()
}

/// `Σ_j softmax_j(scale · q·k_j) v_j` over the keys and values of one (row, head), `D` wide
/// (a multiple of the lanes, known when compiled: the dot products and the weighted sum then
/// run in whole vector registers), into `out`, which holds the query `q` until then; `s` holds
/// one score per key.
#[inline(always)]
fn one_fixed<const D: usize, T: CacheElem>(k: &[T], v: &[T], scale: f32, s: &mut [f32], out: &mut [f32]) {
    const { assert!(D % LANES == 0, "one_fixed takes whole vectors") };
    let Ok(q) = <[f32; D]>::try_from(&*out) else { return one_any(k, v, scale, s, out) };
    for (sj, kj) in s.iter_mut().zip(k.chunks_exact(D)) {
        let mut acc = [0f32; LANES];
        for c in 0..D / LANES {
            for l in 0..LANES {
                acc[l] += q[c * LANES + l] * kj[c * LANES + l].load();
            }
        }
        *sj = sum_lanes(acc) * scale;
    }
    let inv = 1.0 / softmax_weights(s);
    let mut acc = [0f32; D];
    for (&p, vj) in s.iter().zip(v.chunks_exact(D)) {
        for i in 0..D {
            acc[i] += p * vj[i].load();
        }
    }
    for (o, a) in out.iter_mut().zip(acc) {
        *o = a * inv;
    }
}

/// [`one_fixed`] for any width.
#[inline(always)]
fn one_any<T: CacheElem>(k: &[T], v: &[T], scale: f32, s: &mut [f32], out: &mut [f32]) {
    let hd = out.len();
    for (sj, kj) in s.iter_mut().zip(k.chunks_exact(hd)) {
        *sj = out.iter().zip(kj).map(|(a, b)| a * b.load()).sum::<f32>() * scale;
    }
    let inv = 1.0 / softmax_weights(s);
    out.fill(0.0);
    for (&p, vj) in s.iter().zip(v.chunks_exact(hd)) {
        for (o, &x) in out.iter_mut().zip(vj) {
            *o += p * x.load();
        }
    }
    out.iter_mut().for_each(|o| *o *= inv);
}

/// The (row, head) pairs `first..` whose outputs are `out` (`head_dim` each, holding the
/// pairs' queries until then): row `b`'s keys and values `0..=lens[b]` from `k`, `v`.
#[inline(always)]
fn pairs_any<T: CacheElem>(first: usize, out: &mut [f32], k: &[T], v: &[T], lens: &[i64], sh: Shape) {
    let hd = sh.head_dim;
    let scale = 1.0 / (hd as f32).sqrt();
    let mut s = vec![0f32; sh.capacity];
    for (i, o) in out.chunks_exact_mut(hd).enumerate() {
        let (b, h) = ((first + i) / sh.heads, (first + i) % sh.heads);
        let len = (lens[b] + 1) as usize;
        let at = (b * sh.heads + h) * sh.capacity * hd;
        let (k, v, s) = (&k[at..at + len * hd], &v[at..at + len * hd], &mut s[..len]);
        match hd {
            64 => one_fixed::<64, T>(k, v, scale, s, o),
            128 => one_fixed::<128, T>(k, v, scale, s, o),
            _ => one_any(k, v, scale, s, o),
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn pairs_avx2<T: CacheElem>(first: usize, out: &mut [f32], k: &[T], v: &[T], lens: &[i64], sh: Shape) {
    pairs_any(first, out, k, v, lens, sh)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
fn pairs_avx512<T: CacheElem>(first: usize, out: &mut [f32], k: &[T], v: &[T], lens: &[i64], sh: Shape) {
    pairs_any(first, out, k, v, lens, sh)
}

#[allow(unsafe_code)]
fn pairs<T: CacheElem>(first: usize, out: &mut [f32], k: &[T], v: &[T], lens: &[i64], sh: Shape) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: as below, for AVX-512F (with AVX2 and FMA), all three checked just here.
        return unsafe { pairs_avx512(first, out, k, v, lens, sh) };
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: `pairs_avx2` is safe code compiled for AVX2 and FMA, and this CPU has both
        // (checked just above); a `#[target_feature]` function may only be called where that holds.
        return unsafe { pairs_avx2(first, out, k, v, lens, sh) };
    }
    pairs_any(first, out, k, v, lens, sh)
}

/// The shapes of a step, if `qkv` holds one token per row of `lens` and the caches
/// `[slots ≥ rows, heads, capacity > lens[b], head_dim]`.
fn check(qkv: &Tensor, k: &Tensor, lens: &[i64]) -> crate::Result<Shape> {
    let ks = k.size();
    let sh = Shape { heads: ks[1] as usize, head_dim: ks[3] as usize, capacity: ks[2] as usize };
    if qkv.size() != [lens.len() as i64, 1, (3 * sh.heads * sh.head_dim) as i64] || ks[0] < lens.len() as i64 || lens.iter().any(|&l| l < 0 || l as usize >= sh.capacity) {
        return Err(crate::Error::Config(format!("decode attention: qkv {:?}, caches {ks:?}, lengths {lens:?}", qkv.size())));
    }
    Ok(sh)
}

/// Attention output `[rows, 1, heads · head_dim]` of one new token per row: row `b`'s query
/// is in `qkv` (`[rows, 1, 3 · heads · head_dim]`, the attention's input projection), and its
/// keys and values, the new one included, at positions `0..=lens[b]` of `k`, `v`
/// (`[slots ≥ rows, heads, capacity, head_dim]`). For tensors where [`applies`] holds. A row
/// whose scores are all `−∞` (only an overflowed cache makes them) gives NaN, not libtorch's 0.
pub(crate) fn attend(qkv: &Tensor, k: &Tensor, v: &Tensor, lens: &[i64]) -> crate::Result<Tensor> {
    let sh = check(qkv, k, lens)?;
    let width = (sh.heads * sh.head_dim) as i64;
    // each pair's output starts as its query, which the pair reads before writing (a copy:
    // with one row the narrowed view is contiguous, and `contiguous` would return qkv's memory)
    let mut out = qkv.narrow(2, 0, width).copy();
    let bounds = balanced(lens, sh.heads, tch::get_num_threads().max(1) as usize);
    let split = gptlab_dist::Split::Bounds(&bounds);
    match k.kind() {
        Kind::Half => gptlab_dist::for_rows_mut_reading::<f32, f16>(&mut out, sh.head_dim, split, &[k, v], &|first, part, ins| pairs(first, part, ins[0], ins[1], lens, sh)),
        _ => gptlab_dist::for_rows_mut_reading::<f32, f32>(&mut out, sh.head_dim, split, &[k, v], &|first, part, ins| pairs(first, part, ins[0], ins[1], lens, sh)),
    }
    .map_err(|e| crate::Error::Config(e.to_string()))?;
    #[cfg(test)]
    tests::CALLS.with(|c| c.set(c.get() + 1));
    Ok(out)
}

/// Bounds that split the (row, head) pairs (`heads` per row, row `b` reading `lens[b] + 1`
/// keys) into at most `threads` consecutive parts of about equal work; one part when the
/// work is small.
fn balanced(lens: &[i64], heads: usize, threads: usize) -> Vec<usize> {
    let pair_cost = |b: usize| lens[b].max(0) as usize + 1 + PAIR_COST;
    let total: usize = (0..lens.len()).map(pair_cost).sum::<usize>() * heads;
    let pairs = lens.len() * heads;
    let parts = if total < PARALLEL_MIN_KEYS { 1 } else { threads.min(pairs).max(1) };
    let mut bounds = vec![0];
    let mut done = 0;
    for b in 0..lens.len() {
        for h in 0..heads {
            done += pair_cost(b);
            let next = bounds.len();
            if next < parts && done * parts >= total * next {
                bounds.push(b * heads + h + 1);
            }
        }
    }
    while bounds.len() <= parts {
        bounds.push(pairs);
    }
    bounds
}

/// Writes each row's new key and value (from `qkv`, `[rows, 1, 3 · heads · head_dim]`) at
/// position `lens[b]` of the caches, on the calling thread (the copies are small).
fn store(qkv: &Tensor, k: &Tensor, v: &Tensor, lens: &[i64], sh: Shape) -> crate::Result<()> {
    for (cache, from) in [(k, 1), (v, 2)] {
        let mut c = cache.shallow_clone();
        match cache.kind() {
            Kind::Half => store_one::<f16>(&mut c, qkv, from, lens, sh),
            _ => store_one::<f32>(&mut c, qkv, from, lens, sh),
        }
        .map_err(|e| crate::Error::Config(e.to_string()))?;
    }
    Ok(())
}

/// [`store`] into one cache, the keys (`part` 1 of `qkv`'s three) or the values (2).
fn store_one<T: CacheElem>(cache: &mut Tensor, qkv: &Tensor, part: usize, lens: &[i64], sh: Shape) -> gptlab_dist::Result<()> {
    let (hd, width, block) = (sh.head_dim, sh.heads * sh.head_dim, sh.capacity * sh.head_dim);
    gptlab_dist::for_rows_mut_reading::<T, f32>(cache, block, gptlab_dist::Split::Grain(usize::MAX), &[qkv], &|first, all, ins| {
        debug_assert_eq!(first, 0, "one run over the whole cache");
        for (b, &l) in lens.iter().enumerate() {
            for h in 0..sh.heads {
                let at = (b * sh.heads + h) * block + l as usize * hd;
                T::store_all(&mut all[at..at + hd], &ins[0][b * 3 * width + part * width + h * hd..][..hd]);
            }
        }
    })
}

/// [`attend`] after writing each row's new key and value into the caches (instead of two
/// libtorch scatters). Shapes it refuses write nothing; a later failure leaves writes that
/// the caller's fallback (a scatter of the same values at the same positions) repeats.
pub(crate) fn store_and_attend(qkv: &Tensor, k: &Tensor, v: &Tensor, lens: &[i64]) -> crate::Result<Tensor> {
    let sh = check(qkv, k, lens)?;
    store(qkv, k, v, lens, sh)?;
    attend(qkv, k, v, lens)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    thread_local! {
        /// Completed calls of [`attend`] on this thread: tests of the model check that it ran.
        pub(crate) static CALLS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    /// libtorch's attention of each row alone over its own keys (no padding, no mask).
    fn reference(qkv: &Tensor, k: &Tensor, v: &Tensor, lens: &[i64], heads: i64) -> Tensor {
        let c = qkv.size()[2] / 3;
        let hd = c / heads;
        let rows: Vec<Tensor> = lens
            .iter()
            .enumerate()
            .map(|(b, &l)| {
                let q = qkv.get(b as i64).narrow(1, 0, c).view([1, heads, 1, hd]);
                let kb = k.get(b as i64).narrow(1, 0, l + 1).unsqueeze(0);
                let vb = v.get(b as i64).narrow(1, 0, l + 1).unsqueeze(0);
                Tensor::scaled_dot_product_attention(&q, &kb, &vb, None::<&Tensor>, 0.0, false, None, false).view([1, 1, c])
            })
            .collect();
        Tensor::cat(&rows, 0)
    }

    /// Against libtorch's attention, on one thread and on two, for rows of different lengths
    /// (the first and the last position of the cache among them), a head width that is not a
    /// multiple of the vector length, and more cache slots than running rows; with fp32 caches
    /// and with half-precision ones (against libtorch's attention over the same halves, widened).
    #[test]
    fn attend_equals_libtorch_row_by_row() {
        tch::manual_seed(5);
        // the last case has enough keys to be split among the threads
        for (heads, hd, cap, lens) in [(4, 64, 40, vec![0i64, 39, 17, 5, 22]), (2, 128, 70, vec![69, 3]), (3, 10, 9, vec![8, 0]), (2, 16, 300, vec![299; 3]), (4, 64, 400, vec![399, 0, 250, 30]), (4, 64, 40, vec![17])] {
            for kind in [Kind::Float, Kind::Half] {
                let slots = lens.len() as i64 + 1;
                let opts = (Kind::Float, Device::Cpu);
                let qkv = Tensor::randn([lens.len() as i64, 1, 3 * heads * hd], opts) * 3.0;
                let k = Tensor::randn([slots, heads, cap, hd], opts).to_kind(kind);
                let v = Tensor::randn([slots, heads, cap, hd], opts).to_kind(kind);
                assert!(applies(&qkv, &k, &v));
                let want = reference(&qkv, &k.to_kind(Kind::Float), &v.to_kind(Kind::Float), &lens, heads);
                let before = qkv.copy();
                for threads in [1, 2] {
                    tch::set_num_threads(threads);
                    let got = attend(&qkv, &k, &v, &lens).expect("valid shapes");
                    assert_eq!(got.size(), want.size());
                    let err = f64::try_from((&got - &want).abs().max()).expect("a scalar");
                    assert!(err < 2e-5, "{kind:?} caches, heads {heads}, head_dim {hd}, lengths {lens:?}, {threads} threads: {err:e}");
                }
                assert!(qkv.equal(&before), "attend wrote into its input");
            }
        }
    }

    /// Every compiled variant this CPU can run gives the baseline's bits, for a width of its
    /// own and both widths compiled in whole vectors.
    #[test]
    #[allow(unsafe_code)]
    fn the_dispatched_kernels_equal_the_baseline_one() {
        for head_dim in [20, 64, 128] {
            let sh = Shape { heads: 2, head_dim, capacity: 7 };
            let f = |n: usize, m: usize| -> Vec<f32> { (0..n).map(|i| ((i * m) % 97) as f32 * 0.05 - 2.4).collect() };
            let (q, k, v) = (f(3 * 2 * head_dim, 31), f(3 * 2 * 7 * head_dim, 53), f(3 * 2 * 7 * head_dim, 71));
            let (mut kh, mut vh) = (vec![f16::ZERO; k.len()], vec![f16::ZERO; v.len()]);
            (f16::store_all(&mut kh, &k), f16::store_all(&mut vh, &v));
            let lens = [6i64, 0, 3];
            let mut base = q.clone();
            pairs_any(0, &mut base, &k, &v, &lens, sh);
            assert!(base.iter().all(|x| x.is_finite()));
            let mut base_h = q.clone();
            pairs_any(0, &mut base_h, &kh, &vh, &lens, sh);
            assert!(base_h != base && base_h.iter().zip(&base).all(|(a, b)| (a - b).abs() < 5e-3), "head_dim {head_dim}: halves read as other values");
            let runs = |run: &dyn Fn(&mut [f32], &mut [f32]), what: &str| {
                let (mut y, mut y_h) = (q.clone(), q.clone());
                run(&mut y, &mut y_h);
                assert!(y == base && y_h == base_h, "head_dim {head_dim}, {what}");
            };
            runs(&|y, y_h| (pairs(0, y, &k, &v, &lens, sh), pairs(0, y_h, &kh, &vh, &lens, sh)).1, "dispatched");
            #[cfg(target_arch = "x86_64")]
            {
                if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                    // SAFETY: this CPU has AVX2 and FMA (checked just above).
                    runs(&|y, y_h| unsafe { (pairs_avx2(0, y, &k, &v, &lens, sh), pairs_avx2(0, y_h, &kh, &vh, &lens, sh)).1 }, "AVX2");
                }
                if std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                    // SAFETY: this CPU has AVX-512F, AVX2 and FMA (checked just above).
                    runs(&|y, y_h| unsafe { (pairs_avx512(0, y, &k, &v, &lens, sh), pairs_avx512(0, y_h, &kh, &vh, &lens, sh)).1 }, "AVX-512");
                }
            }
        }
    }

    /// Parts rise from 0 to the pair count, no more than the threads, of about equal work;
    /// small work stays in one part.
    #[test]
    fn balanced_parts_even_out_unequal_rows() {
        let lens: Vec<i64> = (0..16).map(|i| 20 + 14 * i).collect();
        for threads in [1, 2, 3, 8] {
            let b = balanced(&lens, 4, threads);
            assert_eq!((b[0], *b.last().expect("bounds")), (0, 64));
            assert!(b.len() == threads + 1 && b.windows(2).all(|w| w[0] <= w[1]), "{threads}: {b:?}");
            let work = |p: &[usize]| -> usize { (p[0]..p[1]).map(|i| lens[i / 4] as usize + 1 + PAIR_COST).sum() };
            let parts: Vec<usize> = b.windows(2).map(work).collect();
            let (lo, hi) = (*parts.iter().min().expect("a part"), *parts.iter().max().expect("a part"));
            assert!(hi - lo <= 2 * (lens[15] as usize + 1 + PAIR_COST), "{threads}: {parts:?}");
        }
        // rows 8..16 are twice as long as 0..8: the halves meet past the middle row
        let halves = balanced(&[100, 100, 100, 100, 200, 200, 200, 200], 2, 2);
        assert!(halves[1] > 8, "{halves:?}");
        assert_eq!(balanced(&[30], 4, 2), vec![0, 4], "one stream's few keys: one part");
    }

    /// `store_and_attend` leaves the caches exactly as libtorch's scatter of the new keys and
    /// values does (the first and last positions, more slots than rows), and a refused step
    /// leaves them untouched. Half-precision caches hold libtorch's rounding of each value,
    /// and a value past the largest half saturates there instead of becoming ±∞.
    #[test]
    fn stored_keys_and_values_equal_libtorchs_scatter() {
        tch::manual_seed(6);
        let (heads, hd, cap) = (2i64, 64i64, 12i64);
        let lens = [0i64, 11, 5];
        let opts = (Kind::Float, Device::Cpu);
        let qkv = Tensor::randn([3, 1, 3 * heads * hd], opts);
        let _ = qkv.get(1).get(0).narrow(0, heads * hd + 3, 2).copy_(&Tensor::from_slice(&[1e6f32, -7e4]));
        for kind in [Kind::Float, Kind::Half] {
            let (k0, v0) = (Tensor::randn([4, heads, cap, hd], opts).to_kind(kind), Tensor::randn([4, heads, cap, hd], opts).to_kind(kind));
            let (k, v) = (k0.copy(), v0.copy());
            let _ = store_and_attend(&qkv, &k, &v, &lens).expect("valid shapes");
            let at = Tensor::from_slice(&lens).view([3, 1, 1, 1]).expand([3, heads, 1, hd], false);
            let m = if kind == Kind::Half { f64::from(F16_MAX) } else { f64::INFINITY };
            let part = |i: i64| qkv.narrow(2, i * heads * hd, heads * hd).view([3, 1, heads, hd]).transpose(1, 2).clamp(-m, m).to_kind(kind);
            let (kw, vw) = (k0.copy(), v0.copy());
            let _ = kw.narrow(0, 0, 3).scatter_(2, &at, &part(1));
            let _ = vw.narrow(0, 0, 3).scatter_(2, &at, &part(2));
            assert!(k.equal(&kw) && v.equal(&vw), "{kind:?}: the caches differ from the scatter's");
            if kind == Kind::Half {
                let big = Vec::<f32>::try_from(k.get(1).get(0).get(11).narrow(0, 3, 2).to_kind(Kind::Float)).expect("floats");
                assert_eq!(big, [F16_MAX, -F16_MAX], "saturated");
            }
            let (k, v) = (k0.copy(), v0.copy());
            assert!(store_and_attend(&qkv, &k, &v, &[0, 12, 5]).is_err(), "position 12 of 12");
            assert!(k.equal(&k0) && v.equal(&v0), "{kind:?}: a refused step wrote");
        }
    }

    #[test]
    fn bad_shapes_are_refused() {
        let opts = (Kind::Float, Device::Cpu);
        let (qkv, k) = (Tensor::zeros([2, 1, 24], opts), Tensor::zeros([2, 2, 5, 4], opts));
        assert!(attend(&qkv, &k, &k, &[1, 5]).is_err(), "position 5 of a 5-position cache");
        assert!(attend(&qkv, &k, &k, &[1]).is_err(), "one length for two rows");
        assert!(attend(&qkv, &k, &k, &[1, -1]).is_err());
        assert!(attend(&qkv.view([1, 2, 24]), &k, &k, &[1, 2]).is_err(), "two tokens in one row");
        assert!(!applies(&qkv, &k.narrow(2, 0, 3), &k.narrow(2, 0, 3)), "a strided cache");
        assert!(!applies(&qkv.set_requires_grad(true), &k, &k));
    }
}
