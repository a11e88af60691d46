//! gptlab-core: the pieces every stage shares and that need no tensors.
//!
//! - [`config`]: TOML configs with `--set key.path=value` overrides, unknown keys rejected by path.
//! - [`fsio`]: atomic writes (temp file + rename) and file hashing.
//! - [`metrics`]: a JSONL metrics sink.
//! - [`vecmath`]: an `exp` for loops the compiler vectorizes.

pub mod config;
pub mod fsio;
pub mod metrics;
pub mod rng;
pub mod vecmath;

use std::path::PathBuf;

/// Errors of this crate. Every variant names the file or key it is about.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: TOML syntax error: {msg}")]
    TomlSyntax { path: PathBuf, msg: String },
    #[error("{origin}: key `{key}`: {msg}")]
    Config { origin: String, key: String, msg: String },
    #[error("override `{spec}`: {msg}")]
    Override { spec: String, msg: String },
    #[error("{path}: {msg}")]
    Json { path: PathBuf, msg: String },
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
}
