//! Green-list watermarking (Kirchenbauer et al. 2023, "A Watermark for Large Language Models"):
//! soft watermarking at generation time and its detection by a one-proportion z-test.
//!
//! **Green lists.** The paper's `h = 1` scheme with a keyed hash: the green list of a position
//! is seeded by (key, previous token id). Membership is one hash: `is_green(prev, tok)` maps
//! (key, prev, tok) through SplitMix64's finaliser to a number in [0, 1) and calls `tok` green
//! when it is below γ. So each token is green independently with probability γ, and a list
//! holds Bin(V, γ) tokens rather than exactly ⌊γV⌋: the paper's scheme up to the exact list
//! size. We do this because detection then costs one hash per token instead of a permutation
//! of the vocabulary per position, and the null hypothesis the test needs (a text written
//! without the key has each scored token green with probability γ, independently across
//! distinct (prev, tok) pairs) holds exactly, not up to ⌊γV⌋/V rounding.
//!
//! **Key.** A string key `KEY` becomes the `u64` hash key `stream_seed(0, "watermark/KEY")`
//! ([`Watermark::from_key`]; the stream is listed in `gptlab_core::rng`).
//!
//! **Generation.** With `SampleConfig::watermark` set, [`crate::pick`] adds δ to the logit of
//! every green token of the position (green lists seeded by the token before it: the prompt's
//! last token for the first generated token, the end token for an empty prompt) before
//! temperature, top-k, top-p or greedy choice, in [`crate::generate`] and in the scheduler.
//! The reported log-probability stays the model's own (unbiased) one.
//!
//! **Detection.** [`detect`] scores each token after the first against its predecessor: with
//! T scored tokens of which |s|_G are green, z = (|s|_G − γT) / sqrt(T γ (1 − γ)), and the
//! p-value is the exact binomial upper tail P[Bin(T, γ) ≥ |s|_G], summed in log space (also
//! returned as a natural log, which does not underflow for long texts). Repeated (prev, tok)
//! bigrams are all scored by [`detect`] (the paper's basic test); [`detect_unique`] scores only
//! each bigram's first occurrence, the paper's remedy for repetitive text, whose repeats are
//! not independent under the null hypothesis.

use crate::{Error, Result};
use gptlab_tokenizer::Tokenizer;
use std::collections::HashSet;

/// A watermark: the hash key, the green fraction γ and the logit bias δ.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Watermark {
    /// Hash key of the green lists (see [`Watermark::from_key`] for string keys).
    pub key: u64,
    /// Fraction of the vocabulary that is green at each position, in (0, 1).
    pub gamma: f64,
    /// Added to the logits of green tokens before sampling (≥ 0, finite).
    pub delta: f32,
}

pub const DEFAULT_GAMMA: f64 = 0.25;
pub const DEFAULT_DELTA: f32 = 2.0;

/// SplitMix64's finaliser: a bijection of `u64` with full avalanche.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

impl Watermark {
    /// A watermark with the hash key `key`, checked: γ in (0, 1), δ finite and ≥ 0.
    pub fn new(key: u64, gamma: f64, delta: f32) -> Result<Self> {
        let w = Self { key, gamma, delta };
        w.check()?;
        Ok(w)
    }

    /// A watermark keyed by a string: the hash key is `stream_seed(0, "watermark/{key}")`.
    pub fn from_key(key: &str, gamma: f64, delta: f32) -> Result<Self> {
        if key.is_empty() {
            return Err(Error::Settings("the watermark key must not be empty".into()));
        }
        Self::new(gptlab_core::rng::stream_seed(0, &format!("watermark/{key}")), gamma, delta)
    }

    pub fn check(&self) -> Result<()> {
        if !(self.gamma > 0.0 && self.gamma < 1.0) {
            return Err(Error::Settings(format!("watermark gamma must be in (0, 1), got {}", self.gamma)));
        }
        if !(self.delta >= 0.0 && self.delta.is_finite()) {
            return Err(Error::Settings(format!("watermark delta must be finite and ≥ 0, got {}", self.delta)));
        }
        Ok(())
    }

    /// The hash state of the green list after `prev`.
    fn row(&self, prev: u32) -> u64 {
        mix(self.key ^ mix(u64::from(prev).wrapping_add(1).wrapping_mul(GOLDEN)))
    }

    /// Whether a hash in `u64` falls in the lowest γ of its range.
    fn below_gamma(&self, h: u64) -> bool {
        ((h >> 11) as f64) * (1.0 / (1u64 << 53) as f64) < self.gamma
    }

    fn green_in(&self, row: u64, tok: u32) -> bool {
        self.below_gamma(mix(row ^ u64::from(tok).wrapping_add(1).wrapping_mul(GOLDEN)))
    }

    /// Whether `tok` is on the green list of the position after `prev`.
    pub fn is_green(&self, prev: u32, tok: u32) -> bool {
        self.green_in(self.row(prev), tok)
    }

    /// The logits of the position after `prev` with δ added to every green token.
    pub fn bias(&self, prev: u32, logits: &[f32]) -> Vec<f32> {
        let row = self.row(prev);
        logits.iter().enumerate().map(|(i, &l)| if self.green_in(row, i as u32) { l + self.delta } else { l }).collect()
    }
}

/// The outcome of a detection test.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Detection {
    /// Scored tokens that are green.
    pub green: usize,
    /// Tokens scored (T).
    pub scored: usize,
    /// (green − γT) / sqrt(T γ (1 − γ)); 0 when nothing was scored.
    pub z: f64,
    /// P[Bin(T, γ) ≥ green], exact (1 when nothing was scored).
    pub p_value: f64,
    /// ln of `p_value`, which stays finite where `p_value` underflows to 0.
    pub ln_p_value: f64,
}

/// ln P[Bin(n, p) ≥ k] for p in (0, 1): the pmf terms k..=n summed in log space (each term's
/// binomial coefficient from the previous one's by C(n, i+1) = C(n, i)·(n − i)/(i + 1)).
pub fn ln_binomial_upper_tail(n: usize, k: usize, p: f64) -> f64 {
    if k == 0 {
        return 0.0;
    }
    if k > n {
        return f64::NEG_INFINITY;
    }
    let (lp, lq) = (p.ln(), (-p).ln_1p());
    let mut ln_c: f64 = (1..=k).map(|j| ((n - k + j) as f64 / j as f64).ln()).sum();
    let mut terms = Vec::with_capacity(n - k + 1);
    for i in k..=n {
        terms.push(ln_c + i as f64 * lp + (n - i) as f64 * lq);
        ln_c += ((n - i) as f64 / (i + 1) as f64).ln();
    }
    let max = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let ln_p = max + terms.iter().map(|t| (t - max).exp()).sum::<f64>().ln();
    ln_p.min(0.0)
}

/// The z-test and exact p-value for `green` of `scored` tokens at green fraction `gamma`.
pub fn score(green: usize, scored: usize, gamma: f64) -> Detection {
    if scored == 0 {
        return Detection { green, scored, z: 0.0, p_value: 1.0, ln_p_value: 0.0 };
    }
    let t = scored as f64;
    let z = (green as f64 - gamma * t) / (t * gamma * (1.0 - gamma)).sqrt();
    let ln_p_value = ln_binomial_upper_tail(scored, green, gamma);
    Detection { green, scored, z, p_value: ln_p_value.exp(), ln_p_value }
}

/// Scores every token after the first against its predecessor (repeated bigrams included).
pub fn detect(wm: &Watermark, tokens: &[u32]) -> Detection {
    let green = tokens.windows(2).filter(|w| wm.is_green(w[0], w[1])).count();
    score(green, tokens.len().saturating_sub(1), wm.gamma)
}

/// As [`detect`], scoring only the first occurrence of each (prev, tok) bigram.
pub fn detect_unique(wm: &Watermark, tokens: &[u32]) -> Detection {
    let mut seen = HashSet::new();
    let (mut green, mut scored) = (0, 0);
    for w in tokens.windows(2) {
        if seen.insert((w[0], w[1])) {
            scored += 1;
            green += usize::from(wm.is_green(w[0], w[1]));
        }
    }
    score(green, scored, wm.gamma)
}

/// Tokenizes `text` with the model's tokenizer and runs [`detect`] on it; a text of fewer
/// than 2 tokens has nothing to score and is an error.
pub fn detect_text(wm: &Watermark, tok: &Tokenizer, text: &str) -> Result<Detection> {
    wm.check()?;
    let ids = tok.encode(text)?;
    if ids.len() < 2 {
        return Err(Error::Detect(format!("a text of {} token(s) has nothing to score (at least 2 are needed)", ids.len())));
    }
    Ok(detect(wm, &ids))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * b.abs().max(f64::MIN_POSITIVE)
    }

    #[test]
    fn binomial_tails_known_answers() {
        // P[Bin(10, 1/2) ≥ 8] = (45 + 10 + 1) / 1024
        assert!(close(ln_binomial_upper_tail(10, 8, 0.5).exp(), 56.0 / 1024.0, 1e-12));
        // P[Bin(4, 1/4) ≥ 3] = 4·(1/4)³·(3/4) + (1/4)⁴ = 13/256
        assert!(close(ln_binomial_upper_tail(4, 3, 0.25).exp(), 13.0 / 256.0, 1e-12));
        assert_eq!(ln_binomial_upper_tail(7, 0, 0.3), 0.0);
        assert_eq!(ln_binomial_upper_tail(7, 8, 0.3), f64::NEG_INFINITY);
        // all n green: p = γⁿ, far below f64's range for n = 1000; its log stays exact
        assert!(close(ln_binomial_upper_tail(1000, 1000, 0.25), 1000.0 * 0.25f64.ln(), 1e-12));
        assert!(close(ln_binomial_upper_tail(10, 10, 0.5), 10.0 * 0.5f64.ln(), 1e-12));
        // exact sums (Python fractions) near the mean and far in the tail
        assert!(close(ln_binomial_upper_tail(200, 50, 0.25).exp(), 0.5271236581202351, 1e-10));
        assert!(close(ln_binomial_upper_tail(200, 70, 0.25).exp(), 0.0010278447277140873, 1e-10));
        assert!(close(ln_binomial_upper_tail(1000, 400, 0.25).exp(), 1.6103065648548268e-25, 1e-9));
        // monotone in k
        let tails: Vec<f64> = (0..=20).map(|k| ln_binomial_upper_tail(20, k, 0.3)).collect();
        assert!(tails.windows(2).all(|w| w[1] < w[0]));
    }

    #[test]
    fn green_lists_are_keyed_and_have_fraction_gamma() {
        let w = Watermark::from_key("secret", 0.25, 2.0).expect("wm");
        let v = Watermark::from_key("other", 0.25, 2.0).expect("wm");
        assert_eq!(w, Watermark::from_key("secret", 0.25, 2.0).expect("wm"));
        let n = 40_000u32;
        let frac = |w: &Watermark, prev| (0..n).filter(|&t| w.is_green(prev, t)).count() as f64 / f64::from(n);
        for prev in [0, 1, 17, 50_000] {
            assert!((frac(&w, prev) - 0.25).abs() < 0.01, "{}", frac(&w, prev));
        }
        // different previous tokens or keys give unrelated lists: overlap ≈ γ² of the vocabulary
        let both = |a: &dyn Fn(u32) -> bool, b: &dyn Fn(u32) -> bool| (0..n).filter(|&t| a(t) && b(t)).count() as f64 / f64::from(n);
        assert!((both(&|t| w.is_green(3, t), &|t| w.is_green(4, t)) - 0.0625).abs() < 0.01);
        assert!((both(&|t| w.is_green(3, t), &|t| v.is_green(3, t)) - 0.0625).abs() < 0.01);
        assert!(Watermark::new(1, 0.0, 2.0).is_err() && Watermark::new(1, 1.0, 2.0).is_err() && Watermark::new(1, 0.5, -1.0).is_err());
        assert!(Watermark::from_key("", 0.25, 2.0).is_err());
    }

    /// A sequence whose i-th transition is green exactly when `colours[i]`, found by asking `is_green`.
    fn constructed(w: &Watermark, colours: &[bool]) -> Vec<u32> {
        let mut s = vec![7u32];
        for &want in colours {
            let prev = *s.last().expect("non-empty");
            let next = (0..).find(|&t| w.is_green(prev, t) == want).expect("a token of each colour");
            s.push(next);
        }
        s
    }

    fn colours(g: usize, r: usize) -> Vec<bool> {
        [vec![true; g], vec![false; r]].concat()
    }

    #[test]
    fn z_and_p_on_constructed_sequences() {
        let w = Watermark::from_key("k", 0.25, 2.0).expect("wm");
        let s = constructed(&w, &colours(30, 10));
        let d = detect(&w, &s);
        assert_eq!((d.green, d.scored), (30, 40));
        // (30 − 0.25·40) / sqrt(40·0.25·0.75) = 20 / sqrt(7.5)
        assert!(close(d.z, 7.302967433402215, 1e-12), "{}", d.z);
        assert!(close(d.p_value, 4.630880897739289e-11, 1e-10), "{}", d.p_value);
        // all red: z = −γT / sqrt(Tγ(1−γ)) and p = 1
        let d = detect(&w, &constructed(&w, &colours(0, 12)));
        assert_eq!((d.green, d.scored), (0, 12));
        assert!(close(d.z, -3.0 / 2.25f64.sqrt(), 1e-12) && d.p_value == 1.0);
        // γ = 1/2, 8 green of 10: z = 3 / sqrt(2.5), p = 56/1024
        let h = Watermark::from_key("k", 0.5, 2.0).expect("wm");
        let s = constructed(&h, &[colours(5, 2), colours(3, 0)].concat());
        let d = detect(&h, &s);
        assert_eq!((d.green, d.scored), (8, 10));
        assert!(close(d.z, 3.0 / 2.5f64.sqrt(), 1e-12));
        assert!(close(d.p_value, 56.0 / 1024.0, 1e-12));
        // nothing to score
        assert_eq!(detect(&w, &[5]), Detection { green: 0, scored: 0, z: 0.0, p_value: 1.0, ln_p_value: 0.0 });
    }

    #[test]
    fn repeated_bigrams_count_once_in_detect_unique() {
        let w = Watermark::from_key("k", 0.25, 2.0).expect("wm");
        let a = 3u32;
        let b = (0..).find(|&t| w.is_green(a, t) && w.is_green(t, a)).expect("a green cycle");
        let s: Vec<u32> = [a, b].repeat(10); // 19 transitions: a→b ten times, b→a nine times
        let d = detect(&w, &s);
        assert_eq!((d.green, d.scored), (19, 19));
        let u = detect_unique(&w, &s);
        assert_eq!((u.green, u.scored), (2, 2));
        assert!(close(u.p_value, 0.0625, 1e-12), "P[Bin(2, 1/4) ≥ 2]");
    }

    #[test]
    fn pick_prefers_green_tokens_and_reports_the_models_logprob() {
        use crate::{pick, SampleConfig};
        let logits: Vec<f32> = (0..32).map(|i| (i as f32 * 0.37).sin()).collect();
        let w = Watermark::from_key("k", 0.25, 50.0).expect("wm");
        let greedy = SampleConfig { temperature: 0.0, watermark: Some(w.clone()), ..Default::default() };
        let lse = logits.iter().map(|l| l.exp()).sum::<f32>().ln();
        let mut rng = gptlab_core::rng::Rng::new(0);
        for prev in 0..20 {
            // with a huge δ the best green token wins; its log-probability is the unbiased one
            let best = (0..32u32).filter(|&t| w.is_green(prev, t)).max_by(|&a, &b| logits[a as usize].total_cmp(&logits[b as usize])).expect("a green token");
            let (t, lp) = pick(&logits, &greedy, prev, &mut rng);
            assert_eq!(t, best);
            assert!((lp - (logits[t as usize] - lse)).abs() < 1e-5);
            let sampled = SampleConfig { temperature: 1.0, top_k: Some(8), ..greedy.clone() };
            assert!(w.is_green(prev, pick(&logits, &sampled, prev, &mut rng).0));
        }
    }

    #[test]
    fn bias_adds_delta_to_green_logits_only() {
        let w = Watermark::from_key("k", 0.5, 1.5).expect("wm");
        let logits: Vec<f32> = (0..64).map(|i| i as f32 * 0.1).collect();
        let b = w.bias(9, &logits);
        for (i, (x, y)) in logits.iter().zip(&b).enumerate() {
            let want = if w.is_green(9, i as u32) { x + 1.5 } else { *x };
            assert_eq!(*y, want);
        }
    }
}
