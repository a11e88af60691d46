//! `gptlab data tasks` and `gptlab data doctests` end to end, judged by `gptlab eval code` in
//! the real sandbox: every problem's canonical solution passes its own `check(candidate)`
//! (pass@1 = 1.0 on each file) and a wrong completion fails every problem (pass@1 = 0.0).
//! Also the splits (held-out families never in train, test_seen disjoint from train by
//! prompt text), determinism by seed, `--held-out`, and the miner's counts and skips on a
//! small constructed corpus.

use serde_json::{json, Value};
use std::collections::HashSet;
use std::path::Path;
use std::process::{Command, Output};

fn gptlab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gptlab")).args(args).output().expect("spawn gptlab")
}

/// Runs `gptlab args`, which must succeed; the JSON of its last stdout line.
fn ok(args: &[&str]) -> Value {
    let o = gptlab(args);
    assert!(o.status.success(), "gptlab {args:?} failed:\n{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8(o.stdout).expect("utf8");
    serde_json::from_str(stdout.lines().last().expect("a report line")).expect("report json")
}

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

fn records(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path).expect("read").lines().map(|l| serde_json::from_str(l).expect("json line")).collect()
}

/// pass@1 of one sample per problem of `problems`: its canonical solution, or `completion`.
fn pass1(problems: &Path, completion: Option<&str>, tag: &str) -> f64 {
    let samples = problems.with_file_name(format!("{tag}_samples.jsonl"));
    let lines: String = records(problems)
        .iter()
        .map(|r| {
            let c = completion.map_or_else(|| r["canonical_solution"].clone(), |c| json!(c));
            format!("{}\n", json!({"task_id": r["task_id"], "completion": c}))
        })
        .collect();
    std::fs::write(&samples, lines).expect("write samples");
    let v = ok(&["eval", "code", "--problems", p(problems), "--samples", p(&samples), "--k", "1", "--quiet"]);
    let results = std::fs::read_to_string(format!("{}_results.jsonl", samples.display())).unwrap_or_default();
    let failed: Vec<&str> = results.lines().filter(|l| l.contains("\"passed\": false")).take(3).collect();
    let score = v["pass@1"].as_f64().expect("pass@1");
    if completion.is_none() && score < 1.0 {
        panic!("{}: canonical solutions fail: {failed:#?}", problems.display());
    }
    score
}

const WRONG: &str = "    return None\n";

#[test]
fn generated_tasks_pass_their_tests_and_wrong_code_fails_them() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = dir.path().join("tasks");
    let rep = ok(&["data", "tasks", "--out", p(&out), "--per-family", "3", "--test-per-family", "2", "--seed", "7"]);
    let held: Vec<&str> = rep["held_out"].as_array().expect("held_out").iter().map(|v| v.as_str().expect("name")).collect();
    assert_eq!(held, ["running_max", "run_length_encode", "collatz_steps", "merge_sum"]);
    let fams = rep["families"].as_object().expect("families");
    assert!(fams.len() >= 12, "{} families", fams.len());
    let n_train = fams.len() - held.len();
    assert_eq!((rep["train"].as_u64(), rep["test_seen"].as_u64(), rep["test_heldout"].as_u64()), (Some(3 * n_train as u64), Some(2 * n_train as u64), Some(2 * held.len() as u64)));
    assert_eq!(rep["test_seen_prompts_in_train"], 0);
    assert_eq!(fams["sum_evens"]["train"], 3);
    assert_eq!(fams["merge_sum"]["train"], 0);
    assert_eq!(fams["merge_sum"]["test_heldout"], 2);
    let report_file: Value = serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).expect("report.json")).expect("json");
    assert_eq!(report_file, rep);

    let family = |r: &Value| r["task_id"].as_str().expect("id").split('/').nth(1).expect("family").to_string();
    let train = records(&out.join("train.jsonl"));
    let seen = records(&out.join("test_seen.jsonl"));
    let heldout = records(&out.join("test_heldout.jsonl"));
    assert!(train.iter().all(|r| !held.contains(&family(r).as_str()) && r["completion"] == r["canonical_solution"]));
    assert!(seen.iter().all(|r| !held.contains(&family(r).as_str()) && r.get("completion").is_none()));
    assert!(heldout.iter().all(|r| held.contains(&family(r).as_str())));
    let train_prompts: HashSet<&str> = train.iter().map(|r| r["prompt"].as_str().expect("prompt")).collect();
    assert!(seen.iter().all(|r| !train_prompts.contains(r["prompt"].as_str().expect("prompt"))));
    for r in train.iter().chain(&seen).chain(&heldout) {
        let ep = r["entry_point"].as_str().expect("entry_point");
        assert!(r["prompt"].as_str().expect("prompt").contains(&format!("def {ep}(")));
        assert!(r["test"].as_str().expect("test").matches("assert candidate(").count() >= 4, "{r}");
    }

    // every canonical solution passes its asserts in the sandbox; `return None` fails them all
    for f in ["train.jsonl", "test_seen.jsonl", "test_heldout.jsonl"] {
        let file = out.join(f);
        assert_eq!(pass1(&file, None, "canonical"), 1.0, "{f}");
        assert_eq!(pass1(&file, Some(WRONG), "wrong"), 0.0, "{f}");
    }

    // the same seed writes the same bytes; --held-out overrides the default list
    let again = dir.path().join("again");
    ok(&["data", "tasks", "--out", p(&again), "--per-family", "3", "--test-per-family", "2", "--seed", "7"]);
    for f in ["train.jsonl", "test_seen.jsonl", "test_heldout.jsonl", "report.json"] {
        assert_eq!(std::fs::read(out.join(f)).expect("a"), std::fs::read(again.join(f)).expect("b"), "{f} differs between runs");
    }
    let other = dir.path().join("other");
    let rep = ok(&["data", "tasks", "--out", p(&other), "--per-family", "2", "--test-per-family", "1", "--held-out", "gcd,acronym"]);
    assert_eq!(rep["held_out"], json!(["gcd", "acronym"]));
    assert!(records(&other.join("train.jsonl")).iter().all(|r| !["gcd", "acronym"].contains(&family(r).as_str())));
    assert!(records(&other.join("train.jsonl")).iter().any(|r| family(r) == "merge_sum"));
    let o = gptlab(&["data", "tasks", "--out", p(&other), "--held-out", "no_such_family"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("no_such_family"), "{}", String::from_utf8_lossy(&o.stderr));
}

const A_PY: &str = r#"import math
import re
from typing import List

SCALE = 3


def hypot(a, b):
    """Length of the hypotenuse.

    >>> hypot(3, 4)
    5.0
    >>> hypot(a=5, b=12)
    13.0
    >>> round(hypot(1, 1), 3)
    1.414
    """
    return math.sqrt(a * a + b * b)


def words(text: str) -> List[str]:
    '''Split on non-letters.

    >>> words("a, b;c")
    ['a', 'b', 'c']
    >>> words("")
    []
    '''
    return [w for w in re.split(r"[^a-z]+", text) if w]


def scaled(x):
    """
    >>> scaled(2)
    6
    """
    return x * SCALE


class Counter:
    def total(self, xs):
        """
        >>> Counter().total([1, 2])
        3
        """
        return sum(xs)
"#;

const B_PY: &str = "def block(lines, width=4):\n\t\"\"\"Tab-indented, with a multi-line\n\tdocstring and a string at column 0 in the body.\n\n\t>>> block(['ab', 'c'])\n\t'ab  \\\\nc   '\n\t>>> block(['x'],\n\t...       width=2)\n\t'x '\n\t\"\"\"\n\tsep = \"\"\"\n\"\"\"\n\tif not lines:\n\t\treturn ''\n\t# pad every line\n\treturn sep.join(l.ljust(width) for l in lines)\n\n\ndef noisy(x):\n    \"\"\"\n    >>> noisy(1)\n    1\n    \"\"\"\n    print(x)\n";

#[test]
fn doctests_mined_from_a_corpus_pass_their_tests_and_wrong_code_fails_them() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let corpus = d.join("corpus.jsonl");
    let recs = [
        json!({"path": "proj/a.py", "text": A_PY, "lang": "python", "license": "MIT", "sha256": "x"}),
        json!({"path": "proj/b.py", "text": B_PY, "lang": "python", "license": null, "sha256": "y"}),
        json!({"path": "proj/lib.rs", "text": "/// >>> f(1)\nfn f() {}\n", "lang": "rust", "license": null, "sha256": "z"}),
    ];
    std::fs::write(&corpus, recs.iter().map(|r| format!("{r}\n")).collect::<String>()).expect("write corpus");
    let out = d.join("problems.jsonl");
    let rep = ok(&["data", "doctests", "--corpus", p(&corpus), "--out", p(&out)]);
    assert_eq!((rep["records"].as_u64(), rep["python_files"].as_u64()), (Some(3), Some(2)));
    assert_eq!((rep["functions_seen"].as_u64(), rep["top_level_functions"].as_u64(), rep["with_doctests"].as_u64()), (Some(6), Some(5), Some(6)));
    assert_eq!(rep["problems_written"], 3);
    assert_eq!(rep["skipped_functions"], json!({"method_or_nested": 1, "prints_output": 1, "uses_module_names": 1}));
    assert_eq!(rep["skipped_examples"]["not_a_call"], 1, "round(hypot(..)) is not a direct call");
    let problems = records(&out);
    let ids: Vec<&str> = problems.iter().map(|r| r["task_id"].as_str().expect("id")).collect();
    assert_eq!(ids, ["Doctest/proj/a.py/hypot", "Doctest/proj/a.py/words", "Doctest/proj/b.py/block"]);
    assert!(problems[0]["prompt"].as_str().expect("prompt").starts_with("import math\n\n\ndef hypot(a, b):\n"));
    assert!(problems[1]["prompt"].as_str().expect("prompt").starts_with("import re\nfrom typing import List\n\n\ndef words("));
    assert_eq!(problems[2]["test"], "\n\ndef check(candidate):\n    assert candidate(['ab', 'c']) == 'ab  \\nc   '\n    assert candidate(['x'],\n      width=2) == 'x '\n");
    assert_eq!(pass1(&out, None, "canonical"), 1.0);
    assert_eq!(pass1(&out, Some(WRONG), "wrong"), 0.0);

    // with the whole file before each function, `scaled` (SCALE is defined above it) qualifies too
    let out2 = d.join("problems_file.jsonl");
    let rep = ok(&["data", "doctests", "--corpus", p(&corpus), "--out", p(&out2), "--context", "file"]);
    assert_eq!((rep["problems_written"].as_u64(), rep["context"].as_str()), (Some(4), Some("file")));
    assert_eq!(pass1(&out2, None, "canonical_file"), 1.0);
    assert_eq!(pass1(&out2, Some(WRONG), "wrong_file"), 0.0);

    // a malformed corpus line is named by file and line
    std::fs::write(&corpus, format!("{}\nnot json\n", recs[0])).expect("write");
    let o = gptlab(&["data", "doctests", "--corpus", p(&corpus), "--out", p(&out)]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("corpus.jsonl:2"), "{}", String::from_utf8_lossy(&o.stderr));
}
