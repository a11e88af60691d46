//! The prompts an RL run samples from, encoded for `rollout.format`: `chat` renders each as a
//! user turn awaiting the reply (InstructGPT), `completion` encodes the text as it is (Codex's
//! function prompts). A prompt keeps its text and, where the file has one, its `task_id`: the
//! unit-test reward finds the problem by it, and a command reward receives it.

use crate::config::PromptFormat;
use crate::{Error, Result};
use gptlab_tokenizer::Tokenizer;
use serde_json::Value;
use std::path::Path;

/// One RL prompt.
#[derive(Debug, Clone)]
pub struct Prompt {
    pub ids: Vec<u32>,
    pub text: String,
    pub task_id: Option<String>,
}

/// `(text, task_id)` of every record of a JSONL prompts file (`{"prompt"}`, optionally
/// `"task_id"`; HumanEval problem files are such files too).
pub fn read(path: &Path) -> Result<Vec<(String, Option<String>)>> {
    let recs = gptlab_code::problems::read_jsonl(path).map_err(|e| Error::Data(e.to_string()))?;
    recs.into_iter()
        .map(|(line, m)| {
            let text = m.get("prompt").and_then(Value::as_str).ok_or_else(|| Error::Data(format!("{}:{line}: field `prompt` must be a string", path.display())))?;
            let task_id = match m.get("task_id") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                Some(_) => return Err(Error::Data(format!("{}:{line}: field `task_id` must be a string or a number", path.display()))),
            };
            Ok((text.to_string(), task_id))
        })
        .collect()
}

/// The token ids of a prompt in `format`.
pub fn encode(tok: &Tokenizer, format: PromptFormat, text: &str) -> Result<Vec<u32>> {
    Ok(match format {
        PromptFormat::Chat => tok.render_prompt(text)?,
        PromptFormat::Completion => tok.encode(text)?,
    })
}

/// Encodes `items` (read from `origin`), skipping with a note those longer than `max_prompt`
/// tokens; an error when none is left.
pub fn prepare(tok: &Tokenizer, format: PromptFormat, items: Vec<(String, Option<String>)>, origin: &Path, max_prompt: usize) -> Result<Vec<Prompt>> {
    let n = items.len();
    let mut kept = Vec::with_capacity(n);
    for (text, task_id) in items {
        let ids = encode(tok, format, &text)?;
        if ids.len() <= max_prompt && !ids.is_empty() {
            kept.push(Prompt { ids, text, task_id });
        }
    }
    if kept.len() < n {
        eprintln!("note: {}: {} prompts longer than {max_prompt} tokens (or empty) are skipped", origin.display(), n - kept.len());
    }
    if kept.is_empty() {
        return Err(Error::Data(format!("{}: no usable prompts", origin.display())));
    }
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_give_text_and_task_id_and_errors_name_the_line() {
        let dir = tempfile::tempdir().expect("tmp");
        let f = dir.path().join("p.jsonl");
        std::fs::write(&f, "{\"prompt\": \"def f():\\n\", \"task_id\": \"T/0\"}\n{\"prompt\": \"hi\"}\n{\"prompt\": \"x\", \"task_id\": 3}\n").expect("w");
        let got = read(&f).expect("read");
        assert_eq!(got, vec![("def f():\n".into(), Some("T/0".into())), ("hi".into(), None), ("x".into(), Some("3".into()))]);
        std::fs::write(&f, "{\"prompt\": \"ok\"}\n{\"text\": \"no\"}\n").expect("w");
        let e = read(&f).expect_err("missing").to_string();
        assert!(e.contains("p.jsonl:2") && e.contains("`prompt`"), "{e}");
    }
}
