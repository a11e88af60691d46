//! gptlab-data: data without tensors. [`chat`]: the messages of a conversation. [`readers`]:
//! the data files every stage reads (corpora, SFT demonstrations, ranked comparisons, RL
//! prompts) in the layouts HF, TRL, Alpaca and Anthropic HH-RLHF use. [`prompts`]: building a
//! prompt dataset as InstructGPT did (deduplication, a per-user cap, splits by user); [`pii`]:
//! personally identifiable information in prompts. [`code`]: a code corpus from source trees
//! with Codex's filters, exact and MinHash near-deduplication, and each file's licence.
//! [`tasks`]: HumanEval-format function problems, generated from task families (with held-out
//! families) or mined from the doctests of a code corpus.

pub mod chat;
pub mod code;
pub mod pii;
pub mod prompts;
pub mod readers;
pub mod tasks;

pub use readers::{read_comparisons_file, read_corpus, read_documents, read_prompts, read_sft, Comparison, ComparisonFile, SftExample};

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Core(#[from] gptlab_core::Error),
    #[error("{path}:{line}: {msg}")]
    Line { path: PathBuf, line: usize, msg: String },
    #[error("{0}")]
    Invalid(String),
    #[error("empty data file: {0}")]
    Empty(PathBuf),
}
pub type Result<T> = std::result::Result<T, Error>;
