//! Heads on the shared trunk. The LM head is the tied embedding (in `gpt.rs`); the scalar
//! head maps the final hidden state of a sequence's last token to one number — the reward
//! model (InstructGPT: "the final unembedding layer removed", a scalar output) and the PPO
//! value model. Stored as HF's `GPT2ForSequenceClassification` `score.weight` `[1, C]`, plus
//! gptlab's `score.bias` `[1]`, which the reward model sets so that demonstrations score 0 on
//! average.

use crate::Gpt;
use tch::{nn, Device, Kind, Tensor};

#[derive(Debug)]
pub struct ScalarHead {
    pub w: Tensor,
    pub b: Tensor,
}

impl ScalarHead {
    /// Creates `score.weight` (N(0, 1/√C) — small, so initial rewards are near 0) and
    /// `score.bias` (0) under `root`.
    pub fn new(root: &nn::Path, n_embd: i64) -> Self {
        let p = root / "score";
        let w = p.var("weight", &[1, n_embd], nn::Init::Randn { mean: 0.0, stdev: 1.0 / (n_embd as f64).sqrt() });
        let b = p.var("bias", &[1], nn::Init::Const(0.0));
        Self { w, b }
    }

    /// Scalar per position: `[B, T, C] → [B, T]`.
    pub fn forward(&self, h: &Tensor) -> Tensor {
        (h.to_kind(Kind::Float).matmul(&self.w.tr()) + &self.b).squeeze_dim(-1)
    }

    /// Scalar at each row's last real token: `ids [B, T]` right-padded, `last [B]` the index of
    /// each row's last token.
    pub fn at_last(&self, gpt: &Gpt, ids: &Tensor, last: &Tensor, train: bool) -> crate::Result<Tensor> {
        let h = gpt.hidden(ids, train, None, None)?;
        let all = self.forward(&h);
        Ok(all.gather(1, &last.unsqueeze(1), false).squeeze_dim(1))
    }

    /// Sets the bias (no gradient).
    pub fn set_bias(&mut self, value: f64) {
        tch::no_grad(|| {
            let _ = self.b.fill_(value);
        });
    }
}

/// Token rows right-padded with `pad` into `[N, T]` (T the longest row, at least 1), and each
/// row's last-token index `[N]` (0 for an empty row).
pub fn pack_rows(rows: &[&[u32]], pad: u32, device: Device) -> (Tensor, Tensor) {
    let t = rows.iter().map(|r| r.len()).max().unwrap_or(1).max(1);
    let mut x = vec![pad as i64; rows.len() * t];
    let mut last = Vec::with_capacity(rows.len());
    for (row, r) in rows.iter().enumerate() {
        for (j, &id) in r.iter().enumerate() {
            x[row * t + j] = id as i64;
        }
        last.push(r.len().max(1) as i64 - 1);
    }
    (Tensor::from_slice(&x).view([rows.len() as i64, t as i64]).to_device(device), Tensor::from_slice(&last).to_device(device))
}
