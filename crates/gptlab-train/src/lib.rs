//! gptlab-train: training. [`stages`] are the stages as library functions (pretrain, SFT, RM,
//! PPO), each from its typed [`config`] to a typed report. THE supervised loop ([`trainer`])
//! is written once: a stage supplies a [`trainer::Task`] (its objective and batch source, in
//! [`objectives`]) and the loop owns AdamW, the schedule, clipping, accumulation, evaluation,
//! metrics, the progress bar and the loss plot. RL ([`rl`]) has its own data path (rollouts)
//! and objective. Both keep their run in the same [`rundir`] layer: checkpoints (best/last,
//! atomic), resume, tokenizer check, metrics log, progress bar, typed divergence error.

pub mod bench;
pub mod config;
pub mod data;
pub mod dist;
pub mod objectives;
pub mod optim;
pub mod par;
pub mod plot;
pub mod rl;
pub mod rundir;
pub mod stages;
pub mod trainer;

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Core(#[from] gptlab_core::Error),
    #[error(transparent)]
    Model(#[from] gptlab_model::Error),
    #[error(transparent)]
    Tokenizer(#[from] gptlab_tokenizer::Error),
    #[error(transparent)]
    DataFile(#[from] gptlab_data::Error),
    #[error("{path}: {msg}")]
    State { path: PathBuf, msg: String },
    #[error("{0}")]
    Data(String),
    #[error("{stage} diverged: {what} is {value} at step {step}; the last good checkpoint is {last_good}")]
    Diverged { stage: String, step: u64, what: String, value: f64, last_good: String },
    #[error("{what}: {source}")]
    Context { what: String, source: Box<Error> },
    #[error("plot: {0}")]
    Plot(String),
    #[error(transparent)]
    Dist(#[from] gptlab_dist::Error),
    #[error("tensor error: {0}")]
    Torch(#[from] tch::TchError),
}
pub type Result<T> = std::result::Result<T, Error>;

/// `r`'s error, under the config key or file it concerns.
pub fn ctx<T, E: Into<Error>>(r: std::result::Result<T, E>, what: impl FnOnce() -> String) -> Result<T> {
    r.map_err(|e| Error::Context { what: what(), source: Box::new(e.into()) })
}

/// An error unless `other` (the tokenizer of the model named by `what`) is `tok`: models that
/// read each other's token ids must share one vocabulary.
pub fn same_tokenizer(tok: &gptlab_tokenizer::Tokenizer, other: &gptlab_tokenizer::Tokenizer, what: &str) -> Result<()> {
    if tok.to_json()? != other.to_json()? {
        return Err(Error::Data(format!("{what}: its tokenizer.json differs from the policy's; both models must read the same token ids")));
    }
    Ok(())
}
