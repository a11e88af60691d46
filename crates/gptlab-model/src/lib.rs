//! gptlab-model: THE model. One GPT-2-architecture decoder (pre-LayerNorm, learned positions,
//! GELU MLP, tied embeddings, optional biases, embedding/attention/residual dropout) used by
//! every stage; a KV cache for generation; the math several objectives share ([`ops`]); and
//! checkpoints in Hugging Face GPT-2 format ([`checkpoint`]); one way to load it in each role
//! ([`roles`]); devices and precisions ([`device`]).
//!
//! Shape letters: B batch, T time, C channels (n_embd), H heads, D head size, V vocab.

pub mod checkpoint;
pub mod config;
mod cpu;
mod decode_attn;
pub mod device;
pub mod gpt;
pub mod heads;
pub mod ops;
pub mod rl;
pub mod roles;
pub mod slots;

pub use config::GptConfig;
pub use device::{DeviceSpec, Dtype};
pub use gpt::{Gpt, KvCache};
pub use slots::{KvCacheDtype, SlotCache};

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Core(#[from] gptlab_core::Error),
    #[error(transparent)]
    Tokenizer(#[from] gptlab_tokenizer::Error),
    #[error("{path}: {msg}")]
    Checkpoint { path: PathBuf, msg: String },
    #[error("invalid model config: {0}")]
    Config(String),
    #[error("input of {got} tokens is longer than the model's context of {max} (n_positions)")]
    ContextTooLong { got: i64, max: i64 },
    #[error("device: {0}")]
    Device(String),
    #[error("tensor error: {0}")]
    Torch(#[from] tch::TchError),
}
pub type Result<T> = std::result::Result<T, Error>;
