//! gptlab-train: THE training loop ([`trainer`]), written once and shared by every stage.
//! A stage supplies a [`trainer::Task`] (its objective and batch source, in
//! [`objectives`]); the loop owns AdamW, the schedule, clipping, accumulation, evaluation,
//! checkpoints (best/last, resumable), metrics JSONL, progress bar and the loss plot.

pub mod config;
pub mod data;
pub mod objectives;
pub mod optim;
pub mod par;
pub mod plot;
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
    #[error("{path}: {msg}")]
    State { path: PathBuf, msg: String },
    #[error("{0}")]
    Data(String),
    #[error("training diverged: loss is {loss} at step {step}; the last good checkpoint is {last_good}")]
    Diverged { step: u64, loss: f64, last_good: String },
    #[error("plot: {0}")]
    Plot(String),
    #[error("tensor error: {0}")]
    Torch(#[from] tch::TchError),
}
pub type Result<T> = std::result::Result<T, Error>;
