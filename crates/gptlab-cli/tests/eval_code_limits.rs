//! `gptlab eval code --time-limit per-problem` (with `--limit-factor`, `--limit-floor`) end to
//! end, on the real `gptlab` binary.

use std::path::PathBuf;
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gptlab")).current_dir(root()).args(args).output().expect("spawn gptlab")
}

#[test]
fn eval_code_per_problem_time_limits() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let problems = d.join("p.jsonl");
    std::fs::write(&problems, "{\"task_id\": \"q/0\", \"prompt\": \"def f():\\n\", \"canonical_solution\": \"    return 1\\n\", \"test\": \"def check(c):\\n    assert c() == 1\\n\", \"entry_point\": \"f\"}\n").expect("w");
    // a correct sample that spends 0.5 s of CPU: past a 0.3 s floor (its problem's limit, the
    // canonical solution being instant), within the fixed 3 s
    let slow = "    import time\n    t = time.process_time()\n    while time.process_time() - t < 0.5:\n        pass\n    return 1\n";
    let samples = d.join("s.jsonl");
    let write = || std::fs::write(&samples, format!("{}\n", serde_json::json!({"task_id": "q/0", "completion": slow}))).expect("w");
    let (p, s) = (problems.to_str().expect("p"), samples.to_str().expect("s"));
    write();
    let o = run(&["eval", "code", "--problems", p, "--samples", s, "--k", "1", "--quiet", "--time-limit", "per-problem", "--limit-floor", "0.3"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "{\"pass@1\": 0.0}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("per-problem time limits (max(0.3s, 4 ×"), "{err}");
    let results = std::fs::read_to_string(format!("{s}_results.jsonl")).expect("results");
    assert!(results.contains("\"result\": \"timed out\""), "{results}");
    // the default is the fixed limit
    write();
    let o = run(&["eval", "code", "--problems", p, "--samples", s, "--k", "1", "--quiet"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "{\"pass@1\": 1.0}", "{}", String::from_utf8_lossy(&o.stderr));
    // bad settings are refused
    write();
    let o = run(&["eval", "code", "--problems", p, "--samples", s, "--quiet", "--time-limit", "per-problem", "--limit-factor", "0"]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("positive factor and floor"), "{}", String::from_utf8_lossy(&o.stderr));
    let o = run(&["eval", "code", "--problems", p, "--samples", s, "--quiet", "--time-limit", "sometimes"]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("per-problem"), "{}", String::from_utf8_lossy(&o.stderr));
}
