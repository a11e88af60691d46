//! Is this text model-written? Zero-shot scores from a language model's token probabilities.
//!
//! Every score is oriented the same way: **higher = more likely model-written**. A text is
//! encoded with the model's tokenizer (no BOS added); [`Scored::tokens`] counts its tokens.
//! Token `x_0` is only context; positions `t = 1 .. n−1` are scored, `p_t` being the scoring
//! model's next-token distribution given `x_0 .. x_{t−1}`. A text longer than the context
//! (`n_positions`; the smaller of the two models' when a reference is given) is read in
//! overlapping windows, so every token is scored and each one past the first window with at
//! least half a context before it (`stats`' module docs). A text of fewer than 2 tokens gets
//! a per-record error, never a score.
//!
//! - [`Method::Perplexity`] (GPTZero's first signal: model text has low perplexity):
//!   `score = (1/(n−1)) Σ_t log p_t(x_t)`, the mean token log-likelihood, i.e. minus the log
//!   perplexity, so that low perplexity gives a high score.
//! - [`Method::Burstiness`] (GPTZero's second signal: human text mixes plain and surprising
//!   sentences): the tokens are cut into sentences by [`sentences`]; each sentence with at least
//!   2 scored tokens gets its log-perplexity `−mean log p_t(x_t)` over its tokens, each
//!   predicted from the whole text before it; burstiness is the population standard deviation
//!   (divide by the count) of those sentence values and `score = −burstiness`. Fewer than 2
//!   such sentences is a per-record error.
//! - [`Method::FastDetectGpt`] (Bao et al. 2023, the analytic sampling discrepancy): with the
//!   sampling distribution `q_t` (the reference model's next-token distribution, or `p_t`
//!   itself without a reference), `μ_t = Σ_v q_t(v) log p_t(v)`,
//!   `σ²_t = Σ_v q_t(v) (log p_t(v))² − μ_t²`, and
//!   `score = (Σ_t log p_t(x_t) − Σ_t μ_t) / sqrt(Σ_t σ²_t)`: how much more likely the text is
//!   than texts x̃ drawn position-wise from `q` (`x̃_t ~ q_t`), in standard deviations of
//!   `Σ_t log p_t(x̃_t)`. As in the paper's code, `μ` and `σ²` are expectations of the
//!   *scoring* model's log-probabilities under the *sampling* model's `q_t`; without a
//!   reference this is `μ_t = Σ p log p` (minus the entropy) and `σ²_t = Σ p (log p)² − μ_t²`.
//! - [`Method::Binoculars`] (Hans et al. 2024): with `p1_t` from `model` (M1, the observer)
//!   and `p2_t` from `reference` (M2, the performer, required),
//!   `log-ppl = −(1/(n−1)) Σ_t log p1_t(x_t)`,
//!   `x-ppl = (1/(n−1)) Σ_t −Σ_v p2_t(v) log p1_t(v)` (cross-entropy of p2 against p1),
//!   `B = log-ppl / x-ppl` and `score = −B` (low B: the text is no more surprising to M1 than
//!   M2's own predictions are). Both log terms come from the same model, as in the authors'
//!   code. With M1 = M2, x-ppl is the mean entropy of `p1_t`.
//! - [`Method::Classifier`]: the logit of a scalar model trained by `gptlab detect train`
//!   ([`classifier`]); [`score_dirs`] reads it from its checkpoint directory.
//! - [`Method::Watermark`] needs the generator's key, not a model (`files::watermark_scored`);
//!   [`score_texts`] refuses it and the classifier.
//!
//! With a reference model both must share the tokenizer (same vocabulary size, and every text
//! encoded to the same ids) and the model's vocabulary size; otherwise [`score_texts`] fails.

pub mod bench;
pub mod classifier;
pub mod files;
mod fused;
mod stats;

#[cfg(test)]
mod tests;

use crate::{Error, Result};
use gptlab_model::roles::Loaded;
use gptlab_model::Gpt;
use gptlab_tokenizer::Tokenizer;
use serde::Serialize;
use stats::{positions, Need, Positions};
use std::ops::Range;

/// A detector's scoring method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    Perplexity,
    Burstiness,
    #[serde(rename = "fast-detectgpt")]
    FastDetectGpt,
    Binoculars,
    Classifier,
    Watermark,
}

impl Method {
    pub const ALL: [Method; 6] = [Self::Perplexity, Self::Burstiness, Self::FastDetectGpt, Self::Binoculars, Self::Classifier, Self::Watermark];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Perplexity => "perplexity",
            Self::Burstiness => "burstiness",
            Self::FastDetectGpt => "fast-detectgpt",
            Self::Binoculars => "binoculars",
            Self::Classifier => "classifier",
            Self::Watermark => "watermark",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// Whether the method reads a second (reference) model: required by Binoculars, optional
    /// for Fast-DetectGPT, refused by the others.
    fn reference(self) -> Option<bool> {
        match self {
            Self::Binoculars => Some(true),
            Self::FastDetectGpt => None,
            _ => Some(false),
        }
    }
}

impl std::str::FromStr for Method {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Self::parse(s).ok_or_else(|| format!("one of {}", Self::ALL.map(Self::as_str).join(", ")))
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One text's score. `score` is `None` exactly when `error` is `Some`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scored {
    pub score: Option<f64>,
    /// The text's tokens; `tokens − 1` of them are scored.
    pub tokens: usize,
    pub error: Option<String>,
}

impl Scored {
    fn ok(score: f64, tokens: usize) -> Self {
        if score.is_finite() {
            Self { score: Some(score), tokens, error: None }
        } else {
            Self::err(format!("the score is not finite ({score})"), tokens)
        }
    }

    fn err(msg: String, tokens: usize) -> Self {
        Self { score: None, tokens, error: Some(msg) }
    }
}

/// Fewest tokens a text needs (one of context, one scored).
pub const MIN_TOKENS: usize = 2;

/// Scores `texts` with `method` (see the module docs for each formula); one record per text,
/// in order. Errors for the whole call: an unsupported method, a missing or unwanted
/// reference, models that do not share a tokenizer. Errors of one text (too short, too few
/// sentences, a zero variance) are in its record.
pub fn score_texts(method: Method, model: &Loaded<Gpt>, reference: Option<&Loaded<Gpt>>, texts: &[String]) -> Result<Vec<Scored>> {
    check_method(method, reference.is_some())?;
    if let Some(r) = reference {
        same_tokenizer(model, r).map_err(Error::Input)?;
    }
    let mut seqs = Vec::with_capacity(texts.len());
    for (i, text) in texts.iter().enumerate() {
        let ids = model.tok.encode(text)?;
        if let Some(r) = reference {
            if r.tok.encode(text)? != ids {
                return Err(Error::Input(format!("the model and the reference model do not share a tokenizer: text {i} encodes differently")));
            }
        }
        seqs.push(ids);
    }
    score_seqs(method, &model.model, reference.map(|r| &r.model), Some(&model.tok), &seqs)
}

/// [`score_texts`] on checkpoint directories: loads `model_dir` (and `reference_dir`) frozen on
/// `device`; a tokenizer mismatch names both directories. For [`Method::Classifier`],
/// `model_dir` is the trained detector (a scalar model).
pub fn score_dirs(method: Method, model_dir: &std::path::Path, reference_dir: Option<&std::path::Path>, device: tch::Device, texts: &[String]) -> Result<Vec<Scored>> {
    use gptlab_model::roles::{lm, scalar, Mode};
    if method == Method::Classifier {
        if reference_dir.is_some() {
            return Err(Error::Input("classifier takes no reference model".into()));
        }
        return classifier::score_classifier(&scalar(model_dir, device, Mode::Frozen)?, texts);
    }
    check_method(method, reference_dir.is_some())?;
    let model = lm(model_dir, device, Mode::Frozen)?;
    let reference = reference_dir.map(|d| lm(d, device, Mode::Frozen)).transpose()?;
    if let (Some(r), Some(d)) = (&reference, reference_dir) {
        same_tokenizer(&model, r).map_err(|e| Error::Input(format!("{} and {}: {e}", model_dir.display(), d.display())))?;
    }
    score_texts(method, &model, reference.as_ref(), texts).map_err(|e| match (e, reference_dir) {
        (Error::Input(m), Some(d)) if m.contains("tokenizer") => Error::Input(format!("{} and {}: {m}", model_dir.display(), d.display())),
        (e, _) => e,
    })
}

/// Same vocabulary size in both tokenizers and both models.
fn same_tokenizer(model: &Loaded<Gpt>, reference: &Loaded<Gpt>) -> std::result::Result<(), String> {
    let (a, b) = (model.tok.vocab_size(), reference.tok.vocab_size());
    if a != b {
        return Err(format!("the model and the reference model do not share a tokenizer ({a} vs {b} tokens)"));
    }
    Ok(())
}

fn check_method(method: Method, has_reference: bool) -> Result<()> {
    match method {
        Method::Classifier => return Err(Error::Input("the classifier is a trained scalar model, not a language model's score: read it with score_dirs (or classifier::score_classifier)".into())),
        Method::Watermark => return Err(Error::Input("the watermark detector needs the generator's watermark key, not a language model: it is not scored by score_texts".into())),
        _ => {}
    }
    match (method.reference(), has_reference) {
        (Some(true), false) => Err(Error::Input(format!("{method} needs a reference model (the performer, M2)"))),
        (Some(false), true) => Err(Error::Input(format!("{method} takes no reference model"))),
        _ => Ok(()),
    }
}

/// Scores token sequences (longer than the context: in windows). `tok` is needed by burstiness
/// only (to find sentence ends).
pub(crate) fn score_seqs(method: Method, model: &Gpt, reference: Option<&Gpt>, tok: Option<&Tokenizer>, seqs: &[Vec<u32>]) -> Result<Vec<Scored>> {
    check_method(method, reference.is_some())?;
    if let Some(r) = reference {
        if r.cfg.vocab_size != model.cfg.vocab_size {
            return Err(Error::Input(format!("the model and the reference model do not share a tokenizer (vocab_size {} vs {})", model.cfg.vocab_size, r.cfg.vocab_size)));
        }
    }
    let need = match method {
        Method::FastDetectGpt => Need::Discrepancy,
        Method::Binoculars => Need::CrossEntropy,
        _ => Need::LogProb,
    };
    let ctx = reference.map_or(model.cfg.n_positions, |r| r.cfg.n_positions.min(model.cfg.n_positions)) as usize;
    let pos = positions(model, reference, seqs, need, ctx)?;
    seqs.iter()
        .zip(&pos)
        .map(|(ids, p)| {
            let n = ids.len();
            if n < MIN_TOKENS {
                return Ok(Scored::err(format!("text too short: {n} tokens; {method} needs at least {MIN_TOKENS}"), n));
            }
            Ok(match method {
                Method::Perplexity => Scored::ok(mean(&p.lp), n),
                Method::Burstiness => {
                    let tok = tok.ok_or_else(|| Error::Input("burstiness needs the tokenizer to find sentences".into()))?;
                    match burstiness(&sentences(tok, ids)?, p) {
                        Some(b) => Scored::ok(-b, n),
                        None => Scored::err("burstiness needs at least 2 sentences".into(), n),
                    }
                }
                Method::FastDetectGpt => fast_detectgpt(p, n),
                Method::Binoculars => {
                    let x_ppl = mean(&p.xent);
                    if x_ppl > 0.0 {
                        Scored::ok(mean(&p.lp) / x_ppl, n)
                    } else {
                        Scored::err(format!("binoculars: the cross-perplexity term is {x_ppl}, not positive"), n)
                    }
                }
                Method::Classifier | Method::Watermark => unreachable!("refused by check_method"),
            })
        })
        .collect()
}

/// `(Σ lp − Σ μ) / sqrt(Σ σ²)`.
fn fast_detectgpt(p: &Positions, n: usize) -> Scored {
    let var: f64 = p.var.iter().sum();
    if var <= 0.0 {
        return Scored::err(format!("fast-detectgpt: the sampling variance is {var}, not positive"), n);
    }
    Scored::ok((p.lp.iter().sum::<f64>() - p.mu.iter().sum::<f64>()) / var.sqrt(), n)
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// Sentences of a token sequence, as token index ranges covering it in order.
///
/// Rule: a sentence ends after token `i` when the decoded text of token `i`, with trailing
/// whitespace removed, ends in `.`, `!` or `?`, and either that token's text ends in whitespace
/// or the next token's decoded text starts with whitespace. The last sentence ends at the last
/// token. (Decoding token by token; on a character tokenizer this is "split after `.`, `!`,
/// `?` followed by whitespace".)
pub fn sentences(tok: &Tokenizer, ids: &[u32]) -> Result<Vec<Range<usize>>> {
    let texts = ids.iter().map(|&i| tok.decode(&[i])).collect::<std::result::Result<Vec<_>, _>>()?;
    let mut out = Vec::new();
    let mut start = 0;
    for i in 0..ids.len() {
        let t = texts[i].trim_end();
        let ends = t.ends_with(['.', '!', '?']) && (t.len() < texts[i].len() || texts.get(i + 1).is_some_and(|n| n.starts_with(char::is_whitespace)));
        if ends || i + 1 == ids.len() {
            out.push(start..i + 1);
            start = i + 1;
        }
    }
    Ok(out)
}

/// Population standard deviation of the sentences' log-perplexities (sentences with at least 2
/// scored tokens; token `i ≥ 1` has log-probability `p.lp[i − 1]`), or `None` under 2 of them.
fn burstiness(sents: &[Range<usize>], p: &Positions) -> Option<f64> {
    let logppl: Vec<f64> = sents
        .iter()
        .filter_map(|s| {
            let lps: Vec<f64> = s.clone().filter(|&i| i >= 1).map(|i| p.lp[i - 1]).collect();
            (lps.len() >= 2).then(|| -mean(&lps))
        })
        .collect();
    if logppl.len() < 2 {
        return None;
    }
    let m = mean(&logppl);
    Some((logppl.iter().map(|x| (x - m).powi(2)).sum::<f64>() / logppl.len() as f64).sqrt())
}
