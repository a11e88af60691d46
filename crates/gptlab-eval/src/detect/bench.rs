//! Speed of Fast-DetectGPT scoring (texts/s), for `bench/detect_speed.py`, which runs the same
//! criterion in PyTorch (Hugging Face `GPT2LMHeadModel`) on the same checkpoint and token ids.
//!
//! The texts are [`bench_ids`]: `texts` sequences of `tokens` ids, `(7·i + 13·j + 3) mod V` for
//! token `i` of text `j` (the script builds the same), so no tokenizer is needed.

use super::{score_seqs, Method};
use crate::Result;
use gptlab_model::roles::{self, Mode};
use gptlab_model::DeviceSpec;
use serde::Serialize;
use std::path::Path;
use std::time::Instant;

#[derive(Debug, Clone, Serialize)]
pub struct DetectBench {
    pub bench: &'static str,
    pub texts_per_s: f64,
    pub seconds_median: f64,
    pub seconds_min: f64,
    pub seconds_max: f64,
    pub texts: usize,
    pub tokens: usize,
    pub threads: i32,
    pub device: String,
    /// The scores of the last repetition (to compare with the PyTorch implementation's).
    pub scores: Vec<Option<f64>>,
    pub version: &'static str,
}

/// The benchmark's token ids.
pub fn bench_ids(texts: usize, tokens: usize, vocab: u32) -> Vec<Vec<u32>> {
    (0..texts as u32).map(|j| (0..tokens as u32).map(|i| (7 * i + 13 * j + 3) % vocab.max(1)).collect()).collect()
}

/// Scores [`bench_ids`] with Fast-DetectGPT (sampling model = scoring model) on the checkpoint
/// `dir` (weights only), `repeats` timed times after one warm-up.
pub fn bench(dir: &Path, device: DeviceSpec, threads: usize, texts: usize, tokens: usize, repeats: usize) -> Result<DetectBench> {
    let device = gptlab_model::device::setup(device, threads)?;
    let (_vs, gpt) = roles::lm_weights_only(dir, device, Mode::Frozen)?;
    let tokens = tokens.min(gpt.cfg.n_positions as usize);
    let ids = bench_ids(texts, tokens, gpt.cfg.vocab_size as u32);
    let mut times = Vec::new();
    let mut scores = Vec::new();
    for _ in 0..repeats.max(1) + 1 {
        let t0 = Instant::now();
        scores = score_seqs(Method::FastDetectGpt, &gpt, None, None, &ids)?.into_iter().map(|s| s.score).collect();
        times.push(t0.elapsed().as_secs_f64());
    }
    let mut t = times[1..].to_vec();
    t.sort_by(f64::total_cmp);
    let median = t[t.len() / 2];
    Ok(DetectBench {
        bench: "detect",
        texts_per_s: texts as f64 / median,
        seconds_median: median,
        seconds_min: t[0],
        seconds_max: t[t.len() - 1],
        texts,
        tokens,
        threads: tch::get_num_threads(),
        device: format!("{device:?}"),
        scores,
        version: env!("CARGO_PKG_VERSION"),
    })
}
