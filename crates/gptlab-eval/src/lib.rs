//! gptlab-eval: judging models. [`loss`]: held-out next-token loss of a checkpoint on a text
//! file. [`code`]: functional correctness (pass@k) with sandboxed execution.

pub mod code;
pub mod loss;
pub mod world;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Core(#[from] gptlab_core::Error),
    #[error(transparent)]
    Model(#[from] gptlab_model::Error),
    #[error(transparent)]
    Tokenizer(#[from] gptlab_tokenizer::Error),
    #[error("{0}")]
    Input(String),
    #[error("tensor error: {0}")]
    Torch(#[from] tch::TchError),
}
pub type Result<T> = std::result::Result<T, Error>;
