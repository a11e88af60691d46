//! `gptlab eval loss`: mean next-token cross-entropy of a model over a text file.
//!
//! The file is encoded exactly as the model's `tokenizer.json` encodes it (no BOS added) and
//! cut into consecutive, non-overlapping windows of the model's context; every token after
//! the first is predicted once, from the tokens before it in its window. The result is the
//! token-weighted mean, so it does not depend on how the last window is cut.

use crate::{Error, Result};
use gptlab_model::Gpt;
use tch::{Device, Kind, Tensor};

#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct LossReport {
    pub loss: f64,
    /// Number of tokens predicted.
    pub tokens: usize,
}

/// Loss of `model` over token ids `ids`, in windows of `window + 1` tokens (batched).
pub fn loss_over_tokens(model: &Gpt, ids: &[u32], batch: usize) -> Result<LossReport> {
    if ids.len() < 2 {
        return Err(Error::Input(format!("need at least 2 tokens to measure loss, got {}", ids.len())));
    }
    let ctx = model.cfg.n_positions as usize;
    let dev = model.device();
    // windows start every `ctx` tokens; each predicts tokens [s+1, s+ctx] from [s, s+ctx-1]
    let starts: Vec<usize> = (0..ids.len() - 1).step_by(ctx).collect();
    let mut total = 0.0f64;
    let mut count = 0usize;
    tch::no_grad(|| -> Result<()> {
        for chunk in starts.chunks(batch.max(1)) {
            // group windows of equal length (all but possibly the last are full)
            for group in chunk.chunk_by(|&a, &b| (ids.len() - 1 - a).min(ctx) == (ids.len() - 1 - b).min(ctx)) {
                let len = (ids.len() - 1 - group[0]).min(ctx);
                let mut x = Vec::with_capacity(group.len() * len);
                let mut y = Vec::with_capacity(group.len() * len);
                for &s in group {
                    x.extend(ids[s..s + len].iter().map(|&t| t as i64));
                    y.extend(ids[s + 1..s + 1 + len].iter().map(|&t| t as i64));
                }
                let n = group.len() as i64;
                let x = Tensor::from_slice(&x).view([n, len as i64]).to_device(dev);
                let y = Tensor::from_slice(&y).view([n, len as i64]).to_device(dev);
                let logits = model.forward(&x, false)?;
                let v = logits.size()[2];
                let sum = logits
                    .view([-1, v])
                    .to_kind(Kind::Float)
                    .cross_entropy_loss::<Tensor>(&y.view([-1]), None, tch::Reduction::Sum, -1, 0.0)
                    .to_device(Device::Cpu)
                    .double_value(&[]);
                total += sum;
                count += group.len() * len;
            }
        }
        Ok(())
    })?;
    Ok(LossReport { loss: total / count as f64, tokens: count })
}
