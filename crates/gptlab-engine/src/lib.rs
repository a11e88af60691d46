//! gptlab-engine: generation from a [`Gpt`] with its KV cache.
//!
//! Prompts of different lengths are left-padded into one batch (with a key mask and
//! positions counted over real tokens), prefilled in one forward pass, then decoded one token
//! per step for the whole batch. Sampling: temperature (0 = greedy), top-k, top-p (nucleus),
//! stop sequences (matched on decoded text; the stop string is cut from the output), the
//! end token, and a seed: the draws come from gptlab's own RNG, so the same seed, prompts
//! and model give the same text. Each sampled token's log-probability under the model
//! (temperature 1, before top-k/top-p) is returned, as Codex's mean-log-prob ranking needs.
//! An optional green-list [`watermark::Watermark`] biases every choice (greedy too).

pub mod chat;
pub mod sched;
pub mod stream;
pub mod watermark;
pub use chat::chat_replies;
pub use watermark::{detect, detect_text, Detection, Watermark};

use gptlab_core::rng::Rng;
use gptlab_model::{Gpt, KvCache};
use gptlab_tokenizer::Tokenizer;
use tch::{Kind, Tensor};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Model(#[from] gptlab_model::Error),
    #[error(transparent)]
    Tokenizer(#[from] gptlab_tokenizer::Error),
    #[error("invalid sampling settings: {0}")]
    Settings(String),
    #[error("watermark detection: {0}")]
    Detect(String),
    #[error("tensor error: {0}")]
    Torch(#[from] tch::TchError),
}
pub type Result<T> = std::result::Result<T, Error>;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SampleConfig {
    pub max_new_tokens: usize,
    /// 0 means greedy.
    pub temperature: f64,
    pub top_k: Option<usize>,
    pub top_p: Option<f64>,
    pub stop: Vec<String>,
    pub seed: u64,
    /// Stop at the tokenizer's end token.
    pub stop_at_end: bool,
    /// Green-list watermark: δ is added to each green token's logit before any choice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watermark: Option<Watermark>,
}

impl Default for SampleConfig {
    fn default() -> Self {
        Self { max_new_tokens: 64, temperature: 1.0, top_k: None, top_p: None, stop: vec![], seed: 0, stop_at_end: true, watermark: None }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Finish {
    /// A stop sequence or the end token.
    Stop,
    /// `max_new_tokens` or the model's context ran out.
    Length,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Generation {
    /// Generated token ids (up to and including a stop/end token).
    pub tokens: Vec<u32>,
    /// Decoded text, cut before any stop sequence; the end token is not included.
    pub text: String,
    /// Log-probability of each generated token under the model.
    pub logprobs: Vec<f32>,
    pub finish: Finish,
}

impl Generation {
    pub fn mean_logprob(&self) -> f64 {
        if self.logprobs.is_empty() {
            return 0.0;
        }
        self.logprobs.iter().map(|&x| x as f64).sum::<f64>() / self.logprobs.len() as f64
    }
}

fn check(cfg: &SampleConfig) -> Result<()> {
    if !(cfg.temperature >= 0.0 && cfg.temperature.is_finite()) {
        return Err(Error::Settings(format!("temperature must be ≥ 0, got {}", cfg.temperature)));
    }
    if let Some(p) = cfg.top_p {
        if !(p > 0.0 && p <= 1.0) {
            return Err(Error::Settings(format!("top_p must be in (0, 1], got {p}")));
        }
    }
    if cfg.top_k == Some(0) {
        return Err(Error::Settings("top_k must be ≥ 1".into()));
    }
    if let Some(w) = &cfg.watermark {
        w.check()?;
    }
    Ok(())
}

/// Chooses a token from one row of logits (f32, length V) and returns (token, logprob).
/// `prev` is the token before the one chosen (the prompt's last for the first); it seeds the
/// green list of `cfg.watermark`, whose δ is added to the green logits before the choice. The
/// log-probability is the model's own, without the watermark's bias.
pub fn pick(logits: &[f32], cfg: &SampleConfig, prev: u32, rng: &mut Rng) -> (u32, f32) {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let lse = max + logits.iter().map(|&l| (l - max).exp()).sum::<f32>().ln();
    let t = pick_token(logits, cfg, prev, rng);
    (t, logits[t as usize] - lse)
}

/// [`pick`]'s choice alone, without the log-probability (which costs an `exp` per logit).
pub fn pick_token(logits: &[f32], cfg: &SampleConfig, prev: u32, rng: &mut Rng) -> u32 {
    let i = match &cfg.watermark {
        Some(w) => choose(&w.bias(prev, logits), cfg, rng),
        None => choose(logits, cfg, rng),
    };
    i as u32
}

/// The index chosen from a row of logits by greedy choice or sampling.
fn choose(logits: &[f32], cfg: &SampleConfig, rng: &mut Rng) -> usize {
    // two passes that vectorize: the largest logit, then its first position (NaNs are skipped;
    // a row with no number gives 0)
    let max = gptlab_core::vecmath::max(logits);
    if cfg.temperature == 0.0 {
        return logits.iter().position(|&l| l == max).unwrap_or(0);
    }
    let t = cfg.temperature as f32;
    if cfg.top_k.is_none() && cfg.top_p.is_none() {
        // plain sampling: no need to sort the vocabulary (a draw per row per step)
        let z: f32 = logits.iter().map(|&l| ((l - max) / t).exp()).sum();
        let u = rng.uniform() as f32 * z;
        let mut cum = 0.0;
        let mut last = 0;
        for (i, &l) in logits.iter().enumerate() {
            let p = ((l - max) / t).exp();
            if p > 0.0 {
                last = i;
            }
            cum += p;
            if u < cum {
                return i;
            }
        }
        return last;
    }
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_by(|&a, &b| logits[b].partial_cmp(&logits[a]).unwrap_or(std::cmp::Ordering::Equal));
    if let Some(k) = cfg.top_k {
        order.truncate(k.max(1));
    }
    let mut probs: Vec<f32> = order.iter().map(|&i| ((logits[i] - max) / t).exp()).collect();
    let z: f32 = probs.iter().sum();
    probs.iter_mut().for_each(|p| *p /= z);
    if let Some(top_p) = cfg.top_p {
        let mut cum = 0.0f32;
        let mut keep = probs.len();
        for (j, p) in probs.iter().enumerate() {
            if cum >= top_p as f32 {
                keep = j;
                break;
            }
            cum += p;
        }
        let keep = keep.max(1);
        order.truncate(keep);
        probs.truncate(keep);
        let z: f32 = probs.iter().sum();
        probs.iter_mut().for_each(|p| *p /= z);
    }
    let u = rng.uniform() as f32;
    let mut cum = 0.0;
    for (j, p) in probs.iter().enumerate() {
        cum += p;
        if u < cum {
            return order[j];
        }
    }
    order[order.len() - 1]
}

/// Generates a continuation for each prompt (token ids). Prompts may differ in length.
/// Without a tokenizer only ids are produced (`text` stays empty), the end token is the
/// model's `eos_token_id`, and stop sequences are not allowed.
pub fn generate(model: &Gpt, tok: Option<&Tokenizer>, prompts: &[Vec<u32>], cfg: &SampleConfig) -> Result<Vec<Generation>> {
    check(cfg)?;
    if tok.is_none() && !cfg.stop.is_empty() {
        return Err(Error::Settings("stop sequences need a tokenizer".into()));
    }
    let end = match tok {
        Some(t) => t.end,
        None => model.cfg.eos_token_id.unwrap_or(0) as u32,
    };
    if prompts.is_empty() {
        return Ok(vec![]);
    }
    let ctx = model.cfg.n_positions;
    let b = prompts.len() as i64;
    let plen = prompts.iter().map(Vec::len).max().unwrap_or(0).max(1) as i64;
    if plen > ctx {
        return Err(gptlab_model::Error::ContextTooLong { got: plen, max: ctx }.into());
    }
    let steps = (cfg.max_new_tokens as i64).min(ctx - plen);
    let dev = model.device();
    let mut ids = vec![end as i64; (b * plen) as usize];
    let mut mask = vec![false; (b * (plen + steps)) as usize];
    for (i, p) in prompts.iter().enumerate() {
        let off = plen as usize - p.len();
        for (j, &t) in p.iter().enumerate() {
            ids[i * plen as usize + off + j] = t as i64;
        }
        let row = i * (plen + steps) as usize;
        mask[row + off..row + (plen + steps) as usize].iter_mut().for_each(|m| *m = true);
        if p.is_empty() {
            // an empty prompt conditions on the end token (as a document separator)
            mask[row + plen as usize - 1] = true;
        }
    }
    // without padding, positions and causality need no mask (the cheaper path per step)
    let padded = prompts.iter().any(|p| p.len() as i64 != plen);
    let key_mask = padded.then(|| Tensor::from_slice(&mask).view([b, plen + steps]).to_device(dev));
    let mut cache = KvCache::new(&model.cfg, b, plen + steps.max(1), dev, model.compute);
    let mut rng = Rng::new(cfg.seed);
    let mut out: Vec<Generation> = (0..b).map(|_| Generation { tokens: vec![], text: String::new(), logprobs: vec![], finish: Finish::Length }).collect();
    let mut done = vec![false; b as usize];
    let mut cut_at_stop = vec![false; b as usize];
    // the token before the next one of each row (seeds a watermark's green list)
    let mut prev: Vec<u32> = prompts.iter().map(|p| p.last().copied().unwrap_or(end)).collect();
    tch::no_grad(|| -> Result<()> {
        let input = Tensor::from_slice(&ids).view([b, plen]).to_device(dev);
        let mut h = model.hidden(&input, false, Some(&mut cache), key_mask.as_ref().map(|m| m.narrow(1, 0, plen)).as_ref())?;
        for step in 0..steps {
            let last = h.narrow(1, h.size()[1] - 1, 1).squeeze_dim(1);
            let logits = model.lm_head(&last).to_kind(Kind::Float).to_device(tch::Device::Cpu);
            let v = logits.size()[1] as usize;
            let flat: Vec<f32> = Vec::<f32>::try_from(logits.view([-1]))?;
            let mut next = vec![end as i64; b as usize];
            for i in 0..b as usize {
                if done[i] {
                    continue;
                }
                let (t, lp) = pick(&flat[i * v..(i + 1) * v], cfg, prev[i], &mut rng);
                next[i] = t as i64;
                prev[i] = t;
                let g = &mut out[i];
                g.tokens.push(t);
                g.logprobs.push(lp);
                if cfg.stop_at_end && t == end {
                    done[i] = true;
                    g.finish = Finish::Stop;
                    continue;
                }
                if let (Some(tok), false) = (tok, cfg.stop.is_empty()) {
                    let text = tok.decode(&g.tokens)?;
                    if let Some(cut) = cfg.stop.iter().filter_map(|s| text.find(s.as_str())).min() {
                        g.text = text[..cut].to_string();
                        g.finish = Finish::Stop;
                        done[i] = true;
                        cut_at_stop[i] = true;
                    }
                }
            }
            if done.iter().all(|&d| d) || step + 1 == steps {
                break;
            }
            let input = Tensor::from_slice(&next).view([b, 1]).to_device(dev);
            h = model.hidden(&input, false, Some(&mut cache), key_mask.as_ref().map(|m| m.narrow(1, 0, plen + step + 1)).as_ref())?;
        }
        Ok(())
    })?;
    if let Some(tok) = tok {
        for (g, _) in out.iter_mut().zip(&cut_at_stop).filter(|(_, &cut)| !cut) {
            let n = g.tokens.len() - usize::from(g.tokens.last() == Some(&end) && cfg.stop_at_end);
            g.text = tok.decode(&g.tokens[..n])?;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_and_filters() {
        let mut rng = Rng::new(0);
        let logits = [0.0f32, 3.0, 1.0, 2.0];
        let g = SampleConfig { temperature: 0.0, ..Default::default() };
        assert_eq!(pick(&logits, &g, 0, &mut rng).0, 1);
        // greedy over a vocabulary longer than a vector: the first of tied maxima, past a NaN
        let mut wide: Vec<f32> = (0..100).map(|i| (i % 7) as f32).collect();
        wide[3] = f32::NAN;
        wide[40] = 9.0;
        wide[90] = 9.0;
        assert_eq!(pick(&wide, &g, 0, &mut rng).0, 40);
        let k1 = SampleConfig { top_k: Some(1), ..Default::default() };
        for _ in 0..20 {
            assert_eq!(pick(&logits, &k1, 0, &mut rng).0, 1);
        }
        let k2 = SampleConfig { top_k: Some(2), ..Default::default() };
        for _ in 0..50 {
            assert!([1, 3].contains(&pick(&logits, &k2, 0, &mut rng).0));
        }
        // top-p 0.5: the top token alone has p ≈ 0.64 ≥ 0.5
        let p = SampleConfig { top_p: Some(0.5), ..Default::default() };
        for _ in 0..20 {
            assert_eq!(pick(&logits, &p, 0, &mut rng).0, 1);
        }
        let (_, lp) = pick(&logits, &g, 0, &mut rng);
        let want = 3.0 - logits.iter().map(|x| x.exp()).sum::<f32>().ln();
        assert!((lp - want).abs() < 1e-5);
    }

    #[test]
    fn sampling_frequencies_follow_temperature() {
        let mut rng = Rng::new(1);
        let logits = [0.0f32, (3.0f32).ln()];
        let c = SampleConfig::default();
        let n = 20_000;
        let ones = (0..n).filter(|_| pick(&logits, &c, 0, &mut rng).0 == 1).count() as f64 / n as f64;
        assert!((ones - 0.75).abs() < 0.02, "{ones}");
        let hot = SampleConfig { temperature: 1e6, ..Default::default() };
        let ones = (0..n).filter(|_| pick(&logits, &hot, 0, &mut rng).0 == 1).count() as f64 / n as f64;
        assert!((ones - 0.5).abs() < 0.02, "{ones}");
        // T = 0.5 squares the odds: 9 to 1
        let cold = SampleConfig { temperature: 0.5, ..Default::default() };
        let ones = (0..n).filter(|_| pick(&logits, &cold, 0, &mut rng).0 == 1).count() as f64 / n as f64;
        assert!((ones - 0.9).abs() < 0.015, "{ones}");
    }

    #[test]
    fn rejects_bad_settings() {
        assert!(check(&SampleConfig { temperature: -1.0, ..Default::default() }).is_err());
        assert!(check(&SampleConfig { top_p: Some(1.5), ..Default::default() }).is_err());
        assert!(check(&SampleConfig { top_k: Some(0), ..Default::default() }).is_err());
    }
}
