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

/// Largest number of logits (batch × positions × vocabulary) held at once per batch.
const LOGITS_BUDGET: usize = 1 << 25;

/// The positions of every sequence in `seqs` (each of at least 2 tokens, within both models'
/// context). `reference` gives `q_t`; without it `q_t = p_t`.
pub(crate) fn positions(model: &Gpt, reference: Option<&Gpt>, seqs: &[Vec<u32>], need: Need) -> Result<Vec<Positions>> {
    let mut out = vec![Positions::default(); seqs.len()];
    let mut order: Vec<usize> = (0..seqs.len()).filter(|&i| seqs[i].len() >= 2).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(seqs[i].len()));
    let vocab = model.cfg.vocab_size.max(1) as usize;
    let mut at = 0;
    while at < order.len() {
        let longest = seqs[order[at]].len();
        let fit = (LOGITS_BUDGET / (longest * vocab)).max(1);
        let group = &order[at..(at + fit).min(order.len())];
        at += group.len();
        let rows: Vec<&[u32]> = group.iter().map(|&i| seqs[i].as_slice()).collect();
        for (&i, p) in group.iter().zip(batch(model, reference, &rows, need)?) {
            out[i] = p;
        }
    }
    Ok(out)
}

fn to_vec(t: &Tensor) -> Result<Vec<f64>> {
    Ok(Vec::<f64>::try_from(t.to_device(Device::Cpu).to_kind(Kind::Double).reshape([-1]))?)
}

/// One right-padded batch (longest first).
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
        let x = ids.to_device(dev);
        let lpm = model.forward(&x, false)?.narrow(1, 0, t - 1).to_kind(Kind::Float).log_softmax(-1, Kind::Float);
        let targets = x.narrow(1, 1, t - 1).unsqueeze(-1);
        let lp = to_vec(&lpm.gather(2, &targets, false).squeeze_dim(-1))?;
        let q = || -> Result<Tensor> {
            Ok(match reference {
                Some(r) => r.forward(&ids.to_device(r.device()), false)?.narrow(1, 0, t - 1).to_device(dev).to_kind(Kind::Float).softmax(-1, Kind::Float),
                None => lpm.exp(),
            })
        };
        let (mut mu, mut var, mut xent) = (Vec::new(), Vec::new(), Vec::new());
        match need {
            Need::LogProb => {}
            Need::Discrepancy => {
                let q = q()?;
                let m = (&q * &lpm).sum_dim_intlist(-1, false, Kind::Float);
                let centred = (&lpm - m.unsqueeze(-1)).square();
                var = to_vec(&(&q * centred).sum_dim_intlist(-1, false, Kind::Float))?;
                mu = to_vec(&m)?;
            }
            Need::CrossEntropy => {
                let q = q()?;
                xent = to_vec(&-(&q * &lpm).sum_dim_intlist(-1, false, Kind::Float))?;
            }
        }
        let w = (t - 1) as usize;
        let cut = |v: &[f64], i: usize, n: usize| if v.is_empty() { Vec::new() } else { v[i * w..i * w + n].to_vec() };
        Ok(rows
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let n = r.len() - 1;
                Positions { lp: cut(&lp, i, n), mu: cut(&mu, i, n), var: cut(&var, i, n), xent: cut(&xent, i, n) }
            })
            .collect())
    })
}
