//! The model config, mirroring Hugging Face's GPT-2 `config.json` field for field, so a
//! gptlab checkpoint's `config.json` is one `transformers` reads and vice versa.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};

fn default_eps() -> f64 {
    1e-5
}
fn default_act() -> String {
    "gelu_new".into()
}
fn yes() -> bool {
    true
}
fn default_range() -> f64 {
    0.02
}

/// GPT-2 configuration (HF names). Unknown HF fields are ignored on load (HF writes many).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GptConfig {
    pub vocab_size: i64,
    /// Context length.
    pub n_positions: i64,
    pub n_embd: i64,
    pub n_layer: i64,
    pub n_head: i64,
    /// MLP width; `None` means 4 · n_embd.
    #[serde(default)]
    pub n_inner: Option<i64>,
    /// `gelu_new` (tanh approximation, GPT-2) or `gelu` (exact, nanoGPT).
    #[serde(default = "default_act")]
    pub activation_function: String,
    #[serde(default)]
    pub resid_pdrop: f64,
    #[serde(default)]
    pub embd_pdrop: f64,
    #[serde(default)]
    pub attn_pdrop: f64,
    #[serde(default = "default_eps")]
    pub layer_norm_epsilon: f64,
    #[serde(default = "default_range")]
    pub initializer_range: f64,
    #[serde(default)]
    pub bos_token_id: Option<i64>,
    #[serde(default)]
    pub eos_token_id: Option<i64>,
    #[serde(default = "yes")]
    pub tie_word_embeddings: bool,
    /// gptlab extension: `false` drops biases in linears and LayerNorms (nanoGPT's `bias=False`).
    /// Such checkpoints are exported with zero biases so HF still loads them.
    #[serde(default = "yes", rename = "gptlab_bias")]
    pub bias: bool,
    /// HF options gptlab does not implement; loading a config that enables one is an error.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub scale_attn_by_inverse_layer_idx: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reorder_and_upcast_attn: bool,
    /// HF's number of classifier outputs: 1 for reward/value models (sequence classification).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_labels: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pad_token_id: Option<i64>,
    #[serde(default = "model_type")]
    pub model_type: String,
    #[serde(default = "architectures")]
    pub architectures: Vec<String>,
}

fn model_type() -> String {
    "gpt2".into()
}
fn architectures() -> Vec<String> {
    vec!["GPT2LMHeadModel".into()]
}

impl GptConfig {
    /// A config with GPT-2 defaults for everything but the shape.
    pub fn new(vocab_size: i64, n_positions: i64, n_layer: i64, n_head: i64, n_embd: i64) -> Self {
        Self {
            vocab_size,
            n_positions,
            n_embd,
            n_layer,
            n_head,
            n_inner: None,
            activation_function: default_act(),
            resid_pdrop: 0.0,
            embd_pdrop: 0.0,
            attn_pdrop: 0.0,
            layer_norm_epsilon: default_eps(),
            initializer_range: default_range(),
            bos_token_id: None,
            eos_token_id: None,
            tie_word_embeddings: true,
            bias: true,
            scale_attn_by_inverse_layer_idx: false,
            reorder_and_upcast_attn: false,
            num_labels: None,
            pad_token_id: None,
            model_type: model_type(),
            architectures: architectures(),
        }
    }

    /// Turns an LM config into a reward/value-model config (HF sequence classification).
    pub fn as_scalar_model(&self) -> Self {
        Self {
            num_labels: Some(1),
            pad_token_id: self.pad_token_id.or(self.eos_token_id),
            architectures: vec!["GPT2ForSequenceClassification".into()],
            ..self.clone()
        }
    }

    /// Whether checkpoints of this config carry a scalar head.
    pub fn is_scalar_model(&self) -> bool {
        self.num_labels == Some(1)
    }

    pub fn inner(&self) -> i64 {
        self.n_inner.unwrap_or(4 * self.n_embd)
    }

    pub fn head_dim(&self) -> i64 {
        self.n_embd / self.n_head
    }

    /// Checks the shape is buildable; names the bad field.
    pub fn validate(&self) -> Result<()> {
        let pos = |v: i64, n: &str| if v > 0 { Ok(()) } else { Err(Error::Config(format!("{n} must be positive, got {v}"))) };
        pos(self.vocab_size, "vocab_size")?;
        pos(self.n_positions, "n_positions")?;
        pos(self.n_embd, "n_embd")?;
        pos(self.n_layer, "n_layer")?;
        pos(self.n_head, "n_head")?;
        pos(self.inner(), "n_inner")?;
        if self.n_embd % self.n_head != 0 {
            return Err(Error::Config(format!("n_embd {} is not divisible by n_head {}", self.n_embd, self.n_head)));
        }
        for (v, n) in [(self.resid_pdrop, "resid_pdrop"), (self.embd_pdrop, "embd_pdrop"), (self.attn_pdrop, "attn_pdrop")] {
            if !(0.0..1.0).contains(&v) {
                return Err(Error::Config(format!("{n} must be in [0, 1), got {v}")));
            }
        }
        if !matches!(self.activation_function.as_str(), "gelu_new" | "gelu" | "gelu_pytorch_tanh") {
            return Err(Error::Config(format!("activation_function `{}` is not supported (gelu_new, gelu)", self.activation_function)));
        }
        if self.scale_attn_by_inverse_layer_idx || self.reorder_and_upcast_attn {
            return Err(Error::Config("scale_attn_by_inverse_layer_idx / reorder_and_upcast_attn are not supported".into()));
        }
        if !self.tie_word_embeddings {
            return Err(Error::Config("tie_word_embeddings = false is not supported (GPT-2 ties them)".into()));
        }
        Ok(())
    }

    /// Number of parameters (tied embedding counted once).
    pub fn num_params(&self) -> i64 {
        let c = self.n_embd;
        let b = if self.bias { 1 } else { 0 };
        let ln = c + b * c;
        let block = 2 * ln + c * 3 * c + b * 3 * c + c * c + b * c + c * self.inner() + b * self.inner() + self.inner() * c + b * c;
        self.vocab_size * c + self.n_positions * c + self.n_layer * block + ln
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_hf_config() {
        let hf = r#"{"activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"], "attn_pdrop": 0.1,
          "bos_token_id": 50256, "embd_pdrop": 0.1, "eos_token_id": 50256, "initializer_range": 0.02,
          "layer_norm_epsilon": 1e-05, "model_type": "gpt2", "n_ctx": 1024, "n_embd": 768, "n_head": 12,
          "n_inner": null, "n_layer": 12, "n_positions": 1024, "resid_pdrop": 0.1, "summary_type": "cls_index",
          "vocab_size": 50257}"#;
        let c: GptConfig = serde_json::from_str(hf).expect("parse");
        c.validate().expect("valid");
        assert_eq!(c.num_params(), 124_439_808);
    }

    #[test]
    fn validation_names_the_field() {
        let mut c = GptConfig::new(10, 8, 1, 3, 8);
        assert!(c.validate().expect_err("bad").to_string().contains("n_head"));
        c.n_head = 2;
        c.resid_pdrop = 1.5;
        assert!(c.validate().expect_err("bad").to_string().contains("resid_pdrop"));
    }
}
