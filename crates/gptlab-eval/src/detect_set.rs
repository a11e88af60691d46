//! A detection set (`gptlab detect make-set`): human passages, and a model's continuations of
//! their prefixes at matched length under several decodings, as the GPT-2 output dataset and
//! DetectGPT built theirs.
//!
//! - **Passages**: the human text is cut into passages at blank lines (a JSONL file gives one
//!   per record's `text`); consecutive blocks are joined until a passage has at least
//!   `min_tokens` tokens, and a passage is cut at `max_tokens` tokens. The human text must be
//!   text the model was not trained on.
//! - **Model text**: for each passage and decoding, the passage's first `prefix_tokens` tokens
//!   followed by the model's continuation of them, as many new tokens as the passage has after
//!   its prefix (matched length; fewer if the model ends its text). The text keeps the prefix,
//!   so human and model texts are scored alike.
//! - **Decodings**: greedy, sampling at T = 1, nucleus (top-p 0.96), top-k 40 (DetectGPT's and
//!   the GPT-2 output dataset's settings).
//!
//! - **Watermarked text** (with a key): a fifth decoding, `watermark`, samples at T = 1 with
//!   the green-list watermark on.
//! - **Paraphrases** (optional): a copy of each model text with its sentences in another order
//!   (`paraphrased: true`): the text after the first sentence is cut into sentences (ending at
//!   a line break, or at `.`, `!`, `?` followed by a space) and shuffled (seeded stream
//!   `detect/make-set/paraphrase`). Only the order changes, no word: a simple perturbation that
//!   breaks the token-by-token statistics the zero-shot methods read while keeping the words.
//!
//! Passages are numbered from the start of the human text (`id`; `prefix_of` for the model
//! texts), so two sets cut from one text with `skip` share no number.
//!
//! Writes `human.jsonl` (`{"id", "text", "tokens"}`) and `model.jsonl` (`{"text", "tokens",
//! "decoding", "generator", "prefix_of", "paraphrased"}`), both atomically, and returns the counts.

use crate::{Error, Result};
use gptlab_core::rng::stream_seed;
use gptlab_engine::{generate, SampleConfig};
use gptlab_model::roles::{self, Mode};
use gptlab_tokenizer::Tokenizer;
use serde::Serialize;
use serde_json::json;
use std::path::Path;

/// How model text is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Decoding {
    Greedy,
    /// Sampling at temperature 1.
    Sample,
    /// Nucleus sampling, top-p 0.96.
    TopP,
    /// Top-k 40.
    TopK,
}

impl Decoding {
    pub const ALL: [Decoding; 4] = [Self::Greedy, Self::Sample, Self::TopP, Self::TopK];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Greedy => "greedy",
            Self::Sample => "sample",
            Self::TopP => "top-p",
            Self::TopK => "top-k",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == s)
    }

    fn config(self, max_new_tokens: usize, seed: u64) -> SampleConfig {
        let base = SampleConfig { max_new_tokens, seed, ..Default::default() };
        match self {
            Self::Greedy => SampleConfig { temperature: 0.0, ..base },
            Self::Sample => base,
            Self::TopP => SampleConfig { top_p: Some(0.96), ..base },
            Self::TopK => SampleConfig { top_k: Some(40), ..base },
        }
    }
}

impl std::str::FromStr for Decoding {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Self::parse(s).ok_or_else(|| format!("one of {}", Self::ALL.map(Self::as_str).join(", ")))
    }
}

#[derive(Debug, Clone)]
pub struct MakeSetOptions {
    pub prefix_tokens: usize,
    pub min_tokens: usize,
    pub max_tokens: usize,
    /// Passages skipped from the start of the human text (another set's), then `limit` used.
    pub skip: usize,
    pub limit: usize,
    pub decodings: Vec<Decoding>,
    /// The name model texts are tagged with (`generator`).
    pub generator: String,
    pub seed: u64,
    /// Adds the `watermark` decoding.
    pub watermark: Option<gptlab_engine::Watermark>,
    /// Adds a sentence-shuffled copy of each model text.
    pub paraphrase: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct SetReport {
    pub human: usize,
    pub model: usize,
    pub generator: String,
    pub decodings: Vec<Decoding>,
    pub prefix_tokens: usize,
}

/// `text` with every sentence after the first in a shuffled order (see the module docs).
pub fn paraphrase(text: &str, rng: &mut gptlab_core::rng::Rng) -> String {
    let mut parts: Vec<String> = vec![];
    let mut cur = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        cur.push(c);
        let end = c == '\n' || (matches!(c, '.' | '!' | '?') && chars.peek() == Some(&' '));
        if end {
            if c != '\n' {
                cur.push(chars.next().unwrap_or(' '));
            }
            parts.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        // the last sentence gets the break the others have, so it can move
        parts.push(cur + "\n");
    }
    if parts.len() > 2 {
        rng.shuffle(&mut parts[1..]);
    }
    parts.concat().trim_end().to_string()
}

/// The human text's passages (see the module docs).
pub fn passages(path: &Path, tok: &Tokenizer, min_tokens: usize, max_tokens: usize) -> Result<Vec<String>> {
    let blocks: Vec<String> = if path.to_string_lossy().ends_with(".jsonl") {
        gptlab_data::read_documents(path)?
    } else {
        let text = gptlab_data::read_corpus(path)?;
        text.split("\n\n").map(str::trim).filter(|b| !b.is_empty()).map(str::to_string).collect()
    };
    let mut out = vec![];
    let mut cur = String::new();
    for b in blocks {
        cur = if cur.is_empty() { b } else { format!("{cur}\n\n{b}") };
        let ids = tok.encode(&cur)?;
        if ids.len() >= min_tokens {
            let text = if ids.len() > max_tokens { tok.decode(&ids[..max_tokens])? } else { std::mem::take(&mut cur) };
            out.push(text);
            cur.clear();
        }
    }
    Ok(out)
}

/// Writes the set into `out` (see the module docs).
pub fn make_set(human: &Path, model_dir: &Path, o: &MakeSetOptions, out: &Path) -> Result<SetReport> {
    if o.prefix_tokens == 0 || o.min_tokens <= o.prefix_tokens || o.max_tokens < o.min_tokens {
        return Err(Error::Input(format!("need 0 < prefix-tokens ({}) < min-tokens ({}) ≤ max-tokens ({})", o.prefix_tokens, o.min_tokens, o.max_tokens)));
    }
    if o.decodings.is_empty() {
        return Err(Error::Input("--decodings: at least one".into()));
    }
    let device = gptlab_model::device::setup(gptlab_model::DeviceSpec::Cpu, 0)?;
    let lm = roles::lm(model_dir, device, Mode::Frozen)?;
    let ctx = lm.model.cfg.n_positions as usize;
    if o.max_tokens > ctx {
        return Err(Error::Input(format!("--max-tokens {} is over {}'s context of {ctx} tokens", o.max_tokens, model_dir.display())));
    }
    let texts: Vec<String> = passages(human, &lm.tok, o.min_tokens, o.max_tokens)?.into_iter().skip(o.skip).take(o.limit).collect();
    if texts.is_empty() {
        return Err(Error::Input(format!("{}: no passage of at least {} tokens after the first {}", human.display(), o.min_tokens, o.skip)));
    }
    let ids: Vec<Vec<u32>> = texts.iter().map(|t| lm.tok.encode(t)).collect::<std::result::Result<_, _>>()?;
    let mut human_rows = String::new();
    for (i, (t, x)) in texts.iter().zip(&ids).enumerate() {
        human_rows.push_str(&json!({"id": o.skip + i, "text": t, "tokens": x.len()}).to_string());
        human_rows.push('\n');
    }
    let mut model_rows = String::new();
    let mut n_model = 0;
    let mut shuffle = gptlab_core::rng::Rng::stream(o.seed, "detect/make-set/paraphrase");
    let mut runs: Vec<(&str, Decoding, Option<gptlab_engine::Watermark>)> = o.decodings.iter().map(|d| (d.as_str(), *d, None)).collect();
    if let Some(wm) = &o.watermark {
        runs.push(("watermark", Decoding::Sample, Some(wm.clone())));
    }
    for (name, d, wm) in &runs {
        for (b, chunk) in ids.chunks(16).enumerate() {
            let prompts: Vec<Vec<u32>> = chunk.iter().map(|x| x[..o.prefix_tokens].to_vec()).collect();
            let want = chunk.iter().map(|x| x.len() - o.prefix_tokens).max().unwrap_or(0);
            let cfg = SampleConfig { watermark: wm.clone(), ..d.config(want, stream_seed(o.seed, &format!("detect/make-set/{name}/{b}"))) };
            let gens = generate(&lm.model, Some(&lm.tok), &prompts, &cfg)?;
            for (k, (x, g)) in chunk.iter().zip(gens).enumerate() {
                let n = (x.len() - o.prefix_tokens).min(g.tokens.len());
                let cont: Vec<u32> = g.tokens[..n].iter().copied().filter(|&t| t != lm.tok.end).collect();
                let full: Vec<u32> = x[..o.prefix_tokens].iter().copied().chain(cont).collect();
                let text = lm.tok.decode(&full)?;
                if o.paraphrase {
                    let p = paraphrase(&text, &mut shuffle);
                    model_rows.push_str(&json!({"text": p, "tokens": full.len(), "decoding": name, "generator": o.generator, "prefix_of": o.skip + b * 16 + k, "paraphrased": true}).to_string());
                    model_rows.push('\n');
                    n_model += 1;
                }
                model_rows.push_str(&json!({"text": text, "tokens": full.len(), "decoding": name, "generator": o.generator, "prefix_of": o.skip + b * 16 + k, "paraphrased": false}).to_string());
                model_rows.push('\n');
                n_model += 1;
            }
        }
    }
    gptlab_core::fsio::write_atomic(&out.join("human.jsonl"), human_rows.as_bytes())?;
    gptlab_core::fsio::write_atomic(&out.join("model.jsonl"), model_rows.as_bytes())?;
    Ok(SetReport { human: texts.len(), model: n_model, generator: o.generator.clone(), decodings: o.decodings.clone(), prefix_tokens: o.prefix_tokens })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodings_parse_and_configure() {
        for d in Decoding::ALL {
            assert_eq!(Decoding::parse(d.as_str()), Some(d));
        }
        assert_eq!(Decoding::Greedy.config(5, 1).temperature, 0.0);
        assert_eq!(Decoding::TopP.config(5, 1).top_p, Some(0.96));
        assert_eq!(Decoding::TopK.config(5, 1).top_k, Some(40));
        assert_eq!(Decoding::parse("beam"), None);
    }

    #[test]
    fn a_paraphrase_keeps_the_first_sentence_and_every_word() {
        let t = "To be, or not. That is the question!\nWhether 'tis nobler. In the mind to suffer";
        let mut rng = gptlab_core::rng::Rng::stream(1, "t");
        let p = paraphrase(t, &mut rng);
        assert!(p.starts_with("To be, or not. "), "{p}");
        let words = |s: &str| {
            let mut w: Vec<String> = s.split_whitespace().map(str::to_string).collect();
            w.sort();
            w
        };
        assert_eq!(words(&p), words(t));
        let orders: std::collections::HashSet<String> = (0..20).map(|_| paraphrase(t, &mut rng)).collect();
        assert!(orders.len() > 1, "the order changes");
        assert_eq!(paraphrase("One sentence only", &mut rng), "One sentence only");
    }
}
