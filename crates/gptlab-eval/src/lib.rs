//! gptlab-eval: judging models. [`loss`]: held-out next-token loss of a checkpoint on a text
//! file. [`world`]: the synthetic world's labelers and win rates. (Functional correctness,
//! pass@k with sandboxed execution, is the gptlab-code crate: it needs no model.)

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
