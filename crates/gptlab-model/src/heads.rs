//! Heads on the shared trunk. The LM head is the tied embedding (in `gpt.rs`); the scalar
//! head maps the final hidden state of a sequence's last token to one number — the reward
//! model (InstructGPT: "the final unembedding layer removed", a scalar output) and the PPO
//! value model. Stored as HF's `GPT2ForSequenceClassification` `score.weight` `[1, C]`, plus
//! gptlab's `score.bias` `[1]`, which the reward model sets so that demonstrations score 0 on
//! average.

use crate::Gpt;
use tch::{nn, Kind, Tensor};

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
