//! gptlab-eval: judging models. [`loss`]: held-out next-token loss of a checkpoint on a text
//! file. [`world`]: the synthetic world: its data, labelers and win rates. [`code`]: sampling
//! completions to programming problems as Codex did (their functional correctness, pass@k with
//! sandboxed execution, is the gptlab-code crate: it needs no model), with Codex's ranking of
//! samples by mean log-probability; [`bleu`]: BLEU of samples against the reference solution,
//! beside their functional correctness. [`agreement`]: inter-labeler agreement on K-way
//! rankings with ties (pairwise agreement, Kendall's τ-b, Krippendorff's α, with bootstrap
//! intervals), training against held-out labelers and each labeler against gold labels.
//! [`detect`]: is this text model-written? Zero-shot detector scores from token probabilities
//! (perplexity, burstiness, Fast-DetectGPT, Binoculars), higher = more likely model text.
//! [`detect_eval`]: evaluating model-text detectors from their scores: thresholds fitted on
//! human-only calibration texts, FPR measured on a disjoint human split, AUROC with bootstrap
//! intervals, TPR at 1% and 0.1% FPR, by length, decoding, white-box vs cross-model; a
//! markdown report and a ROC plot.
//! [`detect_set`]: a detection set: human passages and a model's matched-length continuations.

pub mod agreement;
pub mod bleu;
pub mod code;
pub mod detect;
pub mod detect_eval;
pub mod detect_set;
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
    #[error(transparent)]
    Data(#[from] gptlab_data::Error),
    #[error(transparent)]
    Engine(#[from] gptlab_engine::Error),
    #[error(transparent)]
    Code(#[from] gptlab_code::Error),
    #[error("{0}")]
    Input(String),
    #[error("tensor error: {0}")]
    Torch(#[from] tch::TchError),
    #[error("plot: {0}")]
    Plot(String),
}
pub type Result<T> = std::result::Result<T, Error>;
