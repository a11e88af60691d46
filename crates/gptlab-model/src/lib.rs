//! gptlab-model: THE model. One GPT-2-architecture decoder (pre-LayerNorm, learned positions,
//! GELU MLP, tied embeddings, optional biases, embedding/attention/residual dropout) used by
//! every stage; a KV cache for generation; the math several objectives share ([`ops`]); and
//! checkpoints in Hugging Face GPT-2 format ([`checkpoint`]).
//!
//! Shape letters: B batch, T time, C channels (n_embd), H heads, D head size, V vocab.

pub mod checkpoint;
pub mod config;
pub mod gpt;
pub mod heads;
pub mod ops;
pub mod rl;

pub use config::GptConfig;
pub use gpt::{Gpt, KvCache};

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Core(#[from] gptlab_core::Error),
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

/// Parses `cpu`, `cuda`, `cuda:N` or `auto` (CUDA when available, else CPU).
pub fn parse_device(s: &str) -> Result<tch::Device> {
    match s {
        "cpu" => Ok(tch::Device::Cpu),
        "auto" => Ok(tch::Device::cuda_if_available()),
        "cuda" | "gpu" => cuda(0),
        _ => match s.strip_prefix("cuda:").map(str::parse::<usize>) {
            Some(Ok(i)) => cuda(i),
            _ => Err(Error::Device(format!("unknown device `{s}` (expected cpu, cuda, cuda:N or auto)"))),
        },
    }
}

fn cuda(i: usize) -> Result<tch::Device> {
    if !tch::Cuda::is_available() {
        return Err(Error::Device("CUDA was requested but libtorch sees no CUDA device".into()));
    }
    if i >= tch::Cuda::device_count() as usize {
        return Err(Error::Device(format!("cuda:{i} requested but only {} CUDA devices exist", tch::Cuda::device_count())));
    }
    Ok(tch::Device::Cuda(i))
}
