//! Per-position quantities behind every detector score, computed in batches.
//!
//! For a token sequence `x_0 .. x_{n-1}`, position `t` (0 ≤ t < n − 1) is the prediction of
//! `x_{t+1}` from `x_0 ..= x_t`. With `p_t = softmax(logits of the scoring model at t)` and
//! `q_t` the distribution of the second model (the reference; the scoring model itself when
//! there is none):
//! - `lp[t] = log p_t(x_{t+1})`;
//! - `mu[t] = Σ_v q_t(v) log p_t(v)`, `var[t] = Σ_v q_t(v) (log p_t(v) − mu[t])²`
//!   (`= Σ_v q_t(v) (log p_t(v))² − mu[t]²`, computed centred to avoid cancellation);
//! - `xent[t] = −Σ_v q_t(v) log p_t(v)` (cross-entropy of `q_t` against `p_t`).
//!
//! Sequences are sorted by length and right-padded into batches: attention is causal, so the
//! padding after a sequence changes none of its positions' logits.
//!
//! **Long sequences** (more tokens than the context `C`) are read in overlapping windows of `C`
//! tokens that start every `S = ⌈C/2⌉` tokens, the last one ending at the sequence's end
//! ([`windows`]); each target token is predicted in the first window that holds it after its
//! predecessor window ends, so every position is computed once and every target after the
//! first window sees at least `C − S` tokens of context (the strided evaluation of
//! fixed-context models, as in Hugging Face's perplexity guide).

use crate::Result;
use gptlab_model::Gpt;
use tch::{Device, Kind, Tensor};

/// What to compute besides `lp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Need {
    LogProb,
    /// `mu` and `var` (Fast-DetectGPT).
    Discrepancy,
    /// `xent` (Binoculars).
    CrossEntropy,
}

/// Per-position values of one sequence (`n − 1` each; `mu`/`var`/`xent` empty unless asked).
#[derive(Debug, Clone, Default)]
pub(crate) struct Positions {
    pub lp: Vec<f64>,
    pub mu: Vec<f64>,
    pub var: Vec<f64>,
    pub xent: Vec<f64>,
}

/// Largest number of logits (batch × positions × vocabulary) held at once per batch (32 MiB
/// of f32 on the CPU, where the fused criterion reads them once; 128 MiB on a GPU): larger
/// batches make the model's matrix multiplies more efficient.
fn logits_budget(dev: Device) -> usize {
    if dev.is_cuda() {
        1 << 25
    } else {
        1 << 23
    }
}

/// Largest number of tokens per batch, whatever the vocabulary: with a small one the logits
/// budget alone would let the trunk's activations (`[tokens, 4C]` in the MLP) grow large.
const MAX_GROUP_TOKENS: usize = 8192;

/// The windows `(start, keep)` of an `n`-token sequence under a context of `ctx` tokens: window
/// `[start, start + ctx)` (clipped to `n`) contributes its positions from index `keep` on
/// (position `t` of a window predicts token `start + t + 1`). One window when `n ≤ ctx`.
pub(crate) fn windows(n: usize, ctx: usize) -> Vec<(usize, usize)> {
    let ctx = ctx.max(2);
    if n <= ctx {
        return vec![(0, 0)];
    }
    let stride = ctx.div_ceil(2);
    let mut out = vec![(0, 0)];
    let mut covered = ctx; // tokens 1..covered are predicted so far
    while covered < n {
        let start = (out.last().map_or(0, |w| w.0) + stride).min(n - ctx);
        out.push((start, covered - 1 - start));
        covered = start + ctx;
    }
    out
}

/// The positions of every sequence in `seqs` (each of at least 2 tokens; longer than `ctx` is
/// read in [`windows`]). `reference` gives `q_t`; without it `q_t = p_t`.
pub(crate) fn positions(model: &Gpt, reference: Option<&Gpt>, seqs: &[Vec<u32>], need: Need, ctx: usize) -> Result<Vec<Positions>> {
    // (sequence, start, keep) of every window, run longest first
    let mut rows: Vec<(usize, usize, usize)> = vec![];
    for (i, s) in seqs.iter().enumerate().filter(|(_, s)| s.len() >= 2) {
        rows.extend(windows(s.len(), ctx).into_iter().map(|(start, keep)| (i, start, keep)));
    }
    let len = |&(i, start, _): &(usize, usize, usize)| (seqs[i].len() - start).min(ctx.max(2));
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by_key(|&r| std::cmp::Reverse(len(&rows[r])));
    let vocab = model.cfg.vocab_size.max(1) as usize;
    let mut parts: Vec<Positions> = vec![Positions::default(); rows.len()];
    let mut at = 0;
    while at < order.len() {
        let longest = len(&rows[order[at]]);
        let fit = (logits_budget(model.device()) / (longest * vocab)).min(MAX_GROUP_TOKENS / longest).max(1);
        let group = &order[at..(at + fit).min(order.len())];
        at += group.len();
        let ids: Vec<&[u32]> = group.iter().map(|&r| &seqs[rows[r].0][rows[r].1..rows[r].1 + len(&rows[r])]).collect();
        for (&r, p) in group.iter().zip(batch(model, reference, &ids, need)?) {
            parts[r] = p;
        }
    }
    // windows are in sequence order within `rows`: append each one's kept positions
    let mut out = vec![Positions::default(); seqs.len()];
    for ((i, _, keep), p) in rows.into_iter().zip(parts) {
        let o = &mut out[i];
        for (dst, src) in [(&mut o.lp, p.lp), (&mut o.mu, p.mu), (&mut o.var, p.var), (&mut o.xent, p.xent)] {
            dst.extend(src.into_iter().skip(keep));
        }
    }
    Ok(out)
}

fn to_vec(t: &Tensor) -> Result<Vec<f64>> {
    Ok(Vec::<f64>::try_from(t.to_device(Device::Cpu).to_kind(Kind::Double).reshape([-1]))?)
}

/// The logits of the first `t − 1` positions of `ids` (`[B, t]`), `[B, t − 1, V]`: the last
/// position predicts nothing that is scored, so the LM head skips it.
fn head_logits(m: &Gpt, ids: &Tensor, t: i64) -> Result<Tensor> {
    let x = ids.to_device(m.device());
    Ok(m.lm_head(&m.hidden(&x, false, None, None)?.narrow(1, 0, t - 1)))
}

/// One right-padded batch (longest first). On the CPU the criterion runs fused over each row
/// of logits (`fused`); elsewhere as libtorch tensor operations.
fn batch(model: &Gpt, reference: Option<&Gpt>, rows: &[&[u32]], need: Need) -> Result<Vec<Positions>> {
    let b = rows.len() as i64;
    let t = rows.iter().map(|r| r.len()).max().unwrap_or(0) as i64;
    let mut flat = Vec::with_capacity((b * t) as usize);
    for r in rows {
        flat.extend(r.iter().map(|&x| i64::from(x)));
        flat.extend(std::iter::repeat_n(0i64, t as usize - r.len()));
    }
    let ids = Tensor::from_slice(&flat).view([b, t]);
    let dev = model.device();
    tch::no_grad(|| -> Result<Vec<Positions>> {
        let logits = head_logits(model, &ids, t)?;
        let reference = match (reference, need) {
            (Some(r), Need::Discrepancy | Need::CrossEntropy) => Some(head_logits(r, &ids, t)?.to_device(dev)),
            _ => None,
        };
        if dev == Device::Cpu {
            let lens: Vec<usize> = rows.iter().map(|r| r.len()).collect();
            return super::fused::positions(&logits, reference.as_ref(), &flat, &lens, need);
        }
        criterion(logits, reference, &ids.to_device(dev), rows, need)
    })
}

/// The criterion as libtorch tensor operations on `[B, t − 1, V]` logits (any device); the
/// logits are dropped as soon as their log-softmax exists.
pub(crate) fn criterion(logits: Tensor, reference: Option<Tensor>, ids: &Tensor, rows: &[&[u32]], need: Need) -> Result<Vec<Positions>> {
    let (b, w, vocab) = logits.size3()?;
    let lpm = logits.to_kind(Kind::Float).log_softmax(-1, Kind::Float);
    drop(logits);
    let targets = ids.narrow(1, 1, w).unsqueeze(-1);
    let lp = to_vec(&lpm.gather(2, &targets, false).squeeze_dim(-1))?;
    let q = || match reference {
        Some(r) => r.to_kind(Kind::Float).softmax(-1, Kind::Float),
        None => lpm.exp(),
    };
    let (mut mu, mut var, mut xent) = (Vec::new(), Vec::new(), Vec::new());
    // Σ_v a(v) b(v) per position, as a batched dot product (no [B, T, V] product tensor)
    let dot = |x: &Tensor, y: &Tensor| x.reshape([-1, 1, vocab]).bmm(&y.reshape([-1, vocab, 1])).reshape([b, w]);
    match need {
        Need::LogProb => {}
        Need::Discrepancy => {
            let q = q();
            let m = dot(&q, &lpm);
            let mut centred = &lpm - m.unsqueeze(-1);
            let _ = centred.square_();
            var = to_vec(&dot(&q, &centred))?;
            mu = to_vec(&m)?;
        }
        Need::CrossEntropy => {
            xent = to_vec(&-dot(&q(), &lpm))?;
        }
    }
    let w = w as usize;
    let cut = |v: &[f64], i: usize, n: usize| if v.is_empty() { Vec::new() } else { v[i * w..i * w + n].to_vec() };
    Ok(rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let n = r.len() - 1;
            Positions { lp: cut(&lp, i, n), mu: cut(&mu, i, n), var: cut(&var, i, n), xent: cut(&xent, i, n) }
        })
        .collect())
}
