//! gptlab-pipeline: whole runs over the stages. [`demo`]: InstructGPT's method end to end on
//! the synthetic world, at toy scale on a CPU, ending in a typed [`report::DemoReport`] written
//! as `report.json` and rendered as `report.md`; [`overopt`]: the proxy and true reward
//! against the KL along a PPO run; [`codex`]: Codex's findings (code fine-tuning from a GPT
//! against from scratch, Codex-S, the sampling study) at toy scale, ending in a typed
//! [`codex::report::CodexReport`].

pub mod codex;
pub mod demo;
pub mod detect;
pub mod overopt;
pub mod report;
pub mod runner;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Core(#[from] gptlab_core::Error),
    #[error(transparent)]
    Model(#[from] gptlab_model::Error),
    #[error(transparent)]
    Tokenizer(#[from] gptlab_tokenizer::Error),
    #[error(transparent)]
    Data(#[from] gptlab_data::Error),
    #[error(transparent)]
    Engine(#[from] gptlab_engine::Error),
    #[error(transparent)]
    Eval(#[from] gptlab_eval::Error),
    #[error("{stage} stage: {source}")]
    Stage { stage: String, source: gptlab_train::Error },
    #[error("{0}")]
    Input(String),
    #[error("tensor error: {0}")]
    Torch(#[from] tch::TchError),
}
pub type Result<T> = std::result::Result<T, Error>;
