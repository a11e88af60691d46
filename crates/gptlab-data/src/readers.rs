//! Readers of the data files every stage takes (JSONL, one record a line, `.gz` too; errors
//! name file:line, or the record of a JSON array):
//! - text corpora (UTF-8, not empty), or documents of a JSONL corpus (`{"text"}`);
//! - SFT: `{"messages": [{"role", "content"}, ...]}` or `{"prompt", "completion"}`, or a JSON
//!   array of those or of Alpaca's `{"instruction", "input", "output"}`;
//! - comparisons: K-way `{"prompt", "completions": [...], "ranking": [best..worst], "labeler"}`
//!   or pairwise `{"prompt", "chosen", "rejected"}` (TRL's names; K = 2), including whole
//!   Anthropic HH-RLHF conversations;
//! - RL prompts: `{"prompt"}`.

use crate::chat::{Message, Role};
use crate::{Error, Result};
use std::path::Path;

/// Reads a corpus file as UTF-8 text, rejecting empty files.
pub fn read_corpus(path: &Path) -> Result<String> {
    let text = gptlab_core::fsio::read_text(path)?;
    if text.trim().is_empty() {
        return Err(Error::Empty(path.to_path_buf()));
    }
    Ok(text)
}

/// Reads a pretraining corpus as documents: a JSONL file (`.jsonl`, `.jsonl.gz`; the
/// `corpus.jsonl` that `gptlab data code` writes) gives each record's `text`; any other file
/// is one document, its whole text.
pub fn read_documents(path: &Path) -> Result<Vec<String>> {
    let name = path.to_string_lossy();
    if !(name.ends_with(".jsonl") || name.ends_with(".jsonl.gz")) {
        return Ok(vec![read_corpus(path)?]);
    }
    let docs = lines(path)?.into_iter().map(|(line, m)| string(&m, "text", path, line)).collect::<Result<Vec<_>>>()?;
    if docs.iter().all(|d| d.trim().is_empty()) {
        return Err(Error::Empty(path.to_path_buf()));
    }
    Ok(docs)
}

/// One SFT example.
#[derive(Debug, Clone, PartialEq)]
pub struct SftExample {
    pub messages: Vec<Message>,
}

/// One comparison: K completions of a conversation, ranked best first. `ranking` is a list
/// of tie groups (indices into `completions`): a labeler who marks two completions as equally
/// good puts them in one group; a strict ranking is all singletons. In a file an entry is an
/// index or a list of tied indices: `"ranking": [2, [0, 1]]`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Comparison {
    /// The conversation the completions reply to (a single user turn for `{"prompt": str}`).
    #[serde(rename = "prompt")]
    pub context: Vec<Message>,
    pub completions: Vec<String>,
    pub ranking: Vec<Vec<usize>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labeler: Option<String>,
}

impl Comparison {
    /// The ranking as a best-first order (tied completions in their group's order).
    pub fn order(&self) -> Vec<usize> {
        self.ranking.iter().flatten().copied().collect()
    }

    /// A text that identifies the prompt (the conversation before the completions), for
    /// splitting comparisons so that no prompt is in two splits.
    pub fn prompt_key(&self) -> String {
        self.context.iter().map(|m| format!("{:?}: {}", m.role, crate::prompts::normalise(&m.content))).collect::<Vec<_>>().join("\n")
    }
}

/// A ranking entry list (`[2, [0, 1]]`) as tie groups, checked to partition `0..k`.
fn tie_groups(v: &serde_json::Value, k: usize) -> std::result::Result<Vec<Vec<usize>>, String> {
    let bad = || format!("`ranking` must list every index of `completions` (0..{k}) once, best first; tied ones as a list, e.g. [2, [0, 1]] (K ≥ 2)");
    let entries = v.as_array().ok_or_else(bad)?;
    let mut groups = vec![];
    for e in entries {
        let g: Vec<usize> = match e {
            serde_json::Value::Array(a) => a.iter().map(|x| x.as_u64().map(|i| i as usize)).collect::<Option<_>>().ok_or_else(bad)?,
            x => vec![x.as_u64().ok_or_else(bad)? as usize],
        };
        if g.is_empty() {
            return Err(bad());
        }
        groups.push(g);
    }
    let mut seen = vec![false; k];
    let all: Vec<usize> = groups.iter().flatten().copied().collect();
    if k < 2 || all.len() != k || all.iter().any(|&r| r >= k || std::mem::replace(&mut seen[r], true)) {
        return Err(bad());
    }
    Ok(groups)
}

type Records = Vec<(usize, serde_json::Map<String, serde_json::Value>)>;

fn lines(path: &Path) -> Result<Records> {
    lines_in(path, &gptlab_core::fsio::read_text(path)?)
}

/// JSONL records of `text` (read from `path`), with their line numbers.
fn lines_in(path: &Path, text: &str) -> Result<Records> {
    let mut out = vec![];
    for (i, l) in text.lines().enumerate() {
        if l.trim().is_empty() {
            continue;
        }
        let err = |msg: String| Error::Line { path: path.to_path_buf(), line: i + 1, msg };
        match serde_json::from_str::<serde_json::Value>(l) {
            Ok(serde_json::Value::Object(m)) => out.push((i + 1, m)),
            Ok(_) => return Err(err("expected a JSON object".into())),
            Err(e) => return Err(err(format!("invalid JSON: {e}"))),
        }
    }
    if out.is_empty() {
        return Err(Error::Empty(path.to_path_buf()));
    }
    Ok(out)
}

fn string(m: &serde_json::Map<String, serde_json::Value>, key: &str, path: &Path, line: usize) -> Result<String> {
    m.get(key)
        .and_then(|v| v.as_str())
        .map(str::to_string)
        .ok_or_else(|| Error::Line { path: path.to_path_buf(), line, msg: format!("field `{key}` must be a string") })
}

/// A file that is one JSON array of objects (Alpaca's `alpaca_data.json` layout), as
/// (record number, object) like [`lines`] gives; `None` when the file is not an array.
fn array_records(path: &Path, text: &str) -> Result<Option<Records>> {
    if !text.trim_start().starts_with('[') {
        return Ok(None);
    }
    let v: Vec<serde_json::Value> = serde_json::from_str(text)
        .map_err(|e| Error::Line { path: path.to_path_buf(), line: e.line(), msg: format!("invalid JSON array: {e}") })?;
    let mut out = vec![];
    for (i, r) in v.into_iter().enumerate() {
        match r {
            serde_json::Value::Object(m) => out.push((i + 1, m)),
            _ => return Err(Error::Invalid(format!("{}: record {}: expected a JSON object", path.display(), i + 1))),
        }
    }
    if out.is_empty() {
        return Err(Error::Empty(path.to_path_buf()));
    }
    Ok(Some(out))
}

/// Reads SFT data: JSONL with `{"messages": [...]}` or `{"prompt", "completion"}` per line, or a
/// JSON array of such records or of Alpaca's `{"instruction", "input", "output"}` (the user
/// turn is the instruction, then the input after a blank line when there is one). Errors name
/// the line (JSONL) or the record number (array).
pub fn read_sft(path: &Path) -> Result<Vec<SftExample>> {
    let text = gptlab_core::fsio::read_text(path)?;
    let (records, is_array) = match array_records(path, &text)? {
        Some(r) => (r, true),
        None => (lines_in(path, &text)?, false),
    };
    records
        .into_iter()
        .map(|(line, m)| {
            let err = |msg: String| {
                if is_array {
                    Error::Invalid(format!("{}: record {line}: {msg}", path.display()))
                } else {
                    Error::Line { path: path.to_path_buf(), line, msg }
                }
            };
            if m.contains_key("instruction") && m.contains_key("output") {
                let field = |k: &str| m.get(k).map_or(Some(String::new()), |v| v.as_str().map(str::to_string)).ok_or_else(|| err(format!("field `{k}` must be a string")));
                let (ins, input, out) = (field("instruction")?, field("input")?, field("output")?);
                let user = if input.trim().is_empty() { ins } else { format!("{ins}\n\n{input}") };
                return Ok(SftExample { messages: vec![Message::user(&user), Message::assistant(&out)] });
            }
            if let Some(msgs) = m.get("messages") {
                let messages: Vec<Message> = serde_json::from_value(msgs.clone()).map_err(|e| err(format!("`messages`: {e}")))?;
                if !messages.iter().any(|x| x.role == Role::Assistant) {
                    return Err(err("no assistant message to learn from".into()));
                }
                Ok(SftExample { messages })
            } else if m.contains_key("prompt") && m.contains_key("completion") {
                let (p, c) = (string(&m, "prompt", path, line)?, string(&m, "completion", path, line)?);
                Ok(SftExample { messages: vec![Message::user(&p), Message::assistant(&c)] })
            } else {
                Err(err("expected `messages`, `prompt` and `completion`, or `instruction` and `output`".into()))
            }
        })
        .collect()
}

/// A conversation from a JSON value: a list of `{"role", "content"}` messages, or an
/// Anthropic HH-RLHF transcript (`"\n\nHuman: …\n\nAssistant: …"`). Consecutive turns of one
/// role are joined with a blank line.
fn transcript(v: &serde_json::Value) -> std::result::Result<Vec<Message>, String> {
    let mut msgs: Vec<Message> = match v {
        serde_json::Value::String(t) => {
            let mut out: Vec<Message> = vec![];
            let mut rest = t.as_str();
            let marker = |s: &str| -> Option<(usize, Role, usize)> {
                let h = s.find("\n\nHuman:").map(|i| (i, Role::User, "\n\nHuman:".len()));
                let a = s.find("\n\nAssistant:").map(|i| (i, Role::Assistant, "\n\nAssistant:".len()));
                match (h, a) {
                    (Some(x), Some(y)) => Some(if x.0 < y.0 { x } else { y }),
                    (x, y) => x.or(y),
                }
            };
            match marker(rest) {
                Some((0, _, _)) => {}
                _ => return Err("a transcript string must start with \"\\n\\nHuman:\" (Anthropic HH-RLHF layout)".into()),
            }
            while let Some((_, role, len)) = marker(rest) {
                rest = &rest[len..];
                let end = marker(rest).map_or(rest.len(), |m| m.0);
                let content = rest[..end].strip_prefix(' ').unwrap_or(&rest[..end]);
                out.push(Message { role, content: content.to_string() });
                rest = &rest[end..];
            }
            out
        }
        v => serde_json::from_value(v.clone()).map_err(|e| format!("expected a transcript string or a list of messages: {e}"))?,
    };
    let mut merged: Vec<Message> = vec![];
    for m in msgs.drain(..) {
        match merged.last_mut() {
            Some(last) if last.role == m.role => last.content = format!("{}\n\n{}", last.content, m.content),
            _ => merged.push(m),
        }
    }
    Ok(merged)
}

/// The conversation a completion replies to: a string is one user turn; a list of messages
/// (or an HH transcript) must end with a user turn.
/// A string value that is plain text rather than an HH-RLHF transcript.
fn plain_text(v: &serde_json::Value) -> Option<&str> {
    v.as_str().filter(|s| !s.starts_with("\n\nHuman:"))
}

fn context(v: &serde_json::Value) -> std::result::Result<Vec<Message>, String> {
    if let Some(s) = plain_text(v) {
        return Ok(vec![Message::user(s)]);
    }
    let mut c = transcript(v)?;
    // an HH-style prompt often ends with an open "\n\nAssistant:" for the reply
    if c.last().is_some_and(|m| m.role == Role::Assistant && m.content.trim().is_empty()) {
        c.pop();
    }
    match c.last() {
        Some(m) if m.role == Role::User => Ok(c),
        _ => Err("`prompt` must end with a user turn".into()),
    }
}

/// A completion: a string, or a list of messages whose last one is the assistant's reply.
fn reply(v: &serde_json::Value) -> std::result::Result<(Vec<Message>, String), String> {
    if let Some(s) = plain_text(v) {
        return Ok((vec![], s.to_string()));
    }
    let mut c = transcript(v)?;
    match c.pop() {
        Some(m) if m.role == Role::Assistant => Ok((c, m.content)),
        _ => Err("the last turn must be the assistant's reply".into()),
    }
}

/// Comparisons and notes on records left out (see [`read_comparisons_file`]).
#[derive(Debug)]
pub struct ComparisonFile {
    pub comparisons: Vec<Comparison>,
    /// Records left out, with why (e.g. HH pairs whose transcripts differ before the last reply).
    pub skipped: Vec<String>,
}

/// Reads comparisons: K-way (`completions` + `ranking`) or pairwise (`chosen`/`rejected`,
/// TRL's names). `prompt` is a string or a list of messages; pairwise records without a
/// `prompt` hold whole conversations in `chosen`/`rejected` (Anthropic HH-RLHF transcripts or
/// message lists), which must agree up to the last assistant reply; pairs that do not are
/// left out and listed in `skipped`. (HH's harmless-base test split has 5 pairs whose replies
/// are split over two consecutive assistant turns; joined, all 2,312 pairs agree.)
pub fn read_comparisons_file(path: &Path) -> Result<ComparisonFile> {
    let mut comparisons = vec![];
    let mut skipped = vec![];
    for (line, m) in lines(path)? {
        let err = |msg: String| Error::Line { path: path.to_path_buf(), line, msg };
        let labeler = m.get("labeler").and_then(|v| v.as_str()).map(str::to_string);
        let prompt = m.get("prompt").map(|p| context(p).map_err(|e| err(format!("`prompt`: {e}")))).transpose()?;
        if m.contains_key("chosen") || m.contains_key("rejected") {
            let get = |k: &str| m.get(k).ok_or_else(|| err(format!("field `{k}` is missing"))).and_then(|v| reply(v).map_err(|e| err(format!("`{k}`: {e}"))));
            let ((cc, c), (rc, r)) = (get("chosen")?, get("rejected")?);
            let ctx = match prompt {
                Some(p) => p,
                None if cc.is_empty() => return Err(err("pairwise record without `prompt`: `chosen`/`rejected` must be whole conversations".into())),
                None if cc != rc => {
                    skipped.push(format!("{}:{line}: chosen and rejected differ before the last reply", path.display()));
                    continue;
                }
                None => cc,
            };
            comparisons.push(Comparison { context: ctx, completions: vec![c, r], ranking: vec![vec![0], vec![1]], labeler });
            continue;
        }
        let context = prompt.ok_or_else(|| err("field `prompt` is missing".into()))?;
        let completions: Vec<String> = m
            .get("completions")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .ok_or_else(|| err("expected `completions` (a list of strings) and `ranking`, or `chosen`/`rejected`".into()))?;
        let ranking = tie_groups(m.get("ranking").unwrap_or(&serde_json::Value::Null), completions.len()).map_err(err)?;
        comparisons.push(Comparison { context, completions, ranking, labeler });
    }
    if comparisons.is_empty() {
        return Err(Error::Invalid(format!("{}: no usable comparison ({} left out: {})", path.display(), skipped.len(), skipped.first().map_or("", String::as_str))));
    }
    Ok(ComparisonFile { comparisons, skipped })
}

/// Reads RL prompts: `{"prompt"}` per line.
pub fn read_prompts(path: &Path) -> Result<Vec<String>> {
    lines(path)?.into_iter().map(|(line, m)| string(&m, "prompt", path, line)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_of_a_jsonl_corpus_and_of_a_text_file() {
        let dir = tempfile::tempdir().expect("tmp");
        let j = dir.path().join("corpus.jsonl");
        std::fs::write(&j, "{\"path\": \"a.py\", \"text\": \"x = 1\\n\"}\n{\"text\": \"y = 2\\n\"}\n").expect("w");
        assert_eq!(read_documents(&j).expect("docs"), vec!["x = 1\n", "y = 2\n"]);
        let t = dir.path().join("corpus.txt");
        std::fs::write(&t, "{\"text\": \"kept as text\"}\n").expect("w");
        assert_eq!(read_documents(&t).expect("docs").len(), 1);
        std::fs::write(&j, "{\"text\": \"ok\"}\n{\"path\": \"b.py\"}\n").expect("w");
        let e = read_documents(&j).expect_err("no text").to_string();
        assert!(e.contains("corpus.jsonl") && e.contains('2') && e.contains("text"), "{e}");
    }

    #[test]
    fn shared_alpaca_and_hh_rlhf_files_parse() {
        let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
        let (alpaca, hh) = (data.join("alpaca/alpaca_5000.json"), data.join("hh-rlhf-harmless-test/harmless-base-test.jsonl.gz"));
        for p in [&alpaca, &hh] {
            assert!(p.exists(), "{} is absent: this test needs the shared datasets beside the repository (../shared/data)", p.display());
        }
        let ex = read_sft(&alpaca).expect("alpaca");
        assert_eq!(ex.len(), 5000);
        // 1,943 records have an input, which follows the instruction after a blank line
        assert!(ex.iter().filter(|e| e.messages[0].content.contains("\n\n")).count() >= 1943);
        let f = read_comparisons_file(&hh).expect("hh");
        assert_eq!((f.comparisons.len(), f.skipped.len()), (2312, 0), "{:?}", f.skipped);
        assert!(f.comparisons.iter().all(|c| c.context.last().map(|m| m.role) == Some(Role::User)));
    }

    #[test]
    fn data_files_and_their_errors() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("sft.jsonl");
        std::fs::write(&p, "{\"prompt\": \"a\", \"completion\": \"b\"}\n{\"messages\": [{\"role\": \"user\", \"content\": \"q\"}, {\"role\": \"assistant\", \"content\": \"r\"}]}\n").expect("w");
        assert_eq!(read_sft(&p).expect("sft").len(), 2);
        std::fs::write(&p, "{\"prompt\": \"a\", \"completion\": \"b\"}\n{\"messages\": [{\"role\": \"robot\", \"content\": \"q\"}]}\n").expect("w");
        let e = read_sft(&p).expect_err("role").to_string();
        assert!(e.contains("sft.jsonl:2"), "{e}");
        let c = dir.path().join("cmp.jsonl");
        std::fs::write(&c, "{\"prompt\": \"p\", \"completions\": [\"a\", \"b\", \"c\"], \"ranking\": [2, 0, 1], \"labeler\": \"L1\"}\n{\"prompt\": \"p\", \"chosen\": \"x\", \"rejected\": \"y\"}\n").expect("w");
        let cs = read_comparisons_file(&c).map(|f| f.comparisons).expect("cmp");
        assert_eq!(cs[0].order(), vec![2, 0, 1]);
        // tie groups, and what is not a partition of the completions
        std::fs::write(&c, "{\"prompt\": \"p\", \"completions\": [\"a\", \"b\", \"c\"], \"ranking\": [2, [0, 1]]}\n").expect("w");
        let tied = read_comparisons_file(&c).expect("ties").comparisons;
        assert_eq!(tied[0].ranking, vec![vec![2], vec![0, 1]]);
        // a comparison written back reads the same
        std::fs::write(&c, serde_json::to_string(&tied[0]).expect("json")).expect("w");
        assert_eq!(read_comparisons_file(&c).expect("again").comparisons, tied);
        for bad in ["[2, [0]]", "[2, [0, 0], 1]", "[[0, 1, 2, 3]]", "[2, [], 0, 1]", "\"0\""] {
            std::fs::write(&c, format!("{{\"prompt\": \"p\", \"completions\": [\"a\", \"b\", \"c\"], \"ranking\": {bad}}}\n")).expect("w");
            assert!(read_comparisons_file(&c).expect_err(bad).to_string().contains("cmp.jsonl:1"), "{bad}");
        }
        std::fs::write(&c, "{\"prompt\": \"p\", \"completions\": [\"a\", \"b\", \"c\"], \"ranking\": [2, 0, 1], \"labeler\": \"L1\"}\n{\"prompt\": \"p\", \"chosen\": \"x\", \"rejected\": \"y\"}\n").expect("w");
        let cs = read_comparisons_file(&c).map(|f| f.comparisons).expect("cmp");
        assert_eq!(cs[1].completions, vec!["x".to_string(), "y".to_string()]);
        std::fs::write(&c, "{\"prompt\": \"p\", \"completions\": [\"a\", \"b\"], \"ranking\": [0, 0]}\n").expect("w");
        assert!(read_comparisons_file(&c).map(|f| f.comparisons).expect_err("perm").to_string().contains("cmp.jsonl:1"));
        // whole conversations (Anthropic HH-RLHF transcripts; TRL's conversational lists)
        let hh = |c: &str, r: &str| serde_json::json!({"chosen": c, "rejected": r}).to_string();
        let conv = serde_json::json!({"prompt": [{"role": "user", "content": "q"}], "chosen": [{"role": "assistant", "content": "a"}], "rejected": [{"role": "assistant", "content": "b"}]});
        let open = serde_json::json!({"prompt": "\n\nHuman: q\n\nAssistant:", "chosen": " a", "rejected": " b"});
        let text = [
            hh("\n\nHuman: hi\n\nAssistant: hello\n\nHuman: bye\n\nAssistant: see you", "\n\nHuman: hi\n\nAssistant: hello\n\nHuman: bye\n\nAssistant: go away"),
            hh("\n\nHuman: x\n\nAssistant: a", "\n\nHuman: y\n\nAssistant: b"),
            conv.to_string(),
            open.to_string(),
        ]
        .join("\n");
        std::fs::write(&c, text).expect("w");
        let f = read_comparisons_file(&c).expect("hh");
        assert_eq!(f.comparisons.len(), 3);
        assert_eq!(f.comparisons[2].context, vec![Message::user("q")]);
        assert_eq!(f.comparisons[0].context, vec![Message::user("hi"), Message::assistant("hello"), Message::user("bye")]);
        assert_eq!(f.comparisons[0].completions, vec!["see you".to_string(), "go away".to_string()]);
        assert_eq!(f.comparisons[1].context, vec![Message::user("q")]);
        assert!(f.skipped.len() == 1 && f.skipped[0].contains("cmp.jsonl:2"), "{:?}", f.skipped);
        std::fs::write(&c, hh("Human: no leading blank line", "x")).expect("w");
        assert!(read_comparisons_file(&c).map(|f| f.comparisons).expect_err("layout").to_string().contains("cmp.jsonl:1"));
        std::fs::write(&c, hh("\n\nHuman: only a question", "\n\nHuman: only a question")).expect("w");
        assert!(read_comparisons_file(&c).map(|f| f.comparisons).expect_err("no reply").to_string().contains("assistant's reply"));
        // Alpaca's JSON array
        let a = dir.path().join("alpaca.json");
        std::fs::write(&a, r#"[{"instruction": "Add", "input": "2, 3", "output": "5"}, {"instruction": "Greet", "input": "", "output": "Hi"}]"#).expect("w");
        let ex = read_sft(&a).expect("alpaca");
        assert_eq!(ex[0].messages, vec![Message::user("Add\n\n2, 3"), Message::assistant("5")]);
        assert_eq!(ex[1].messages, vec![Message::user("Greet"), Message::assistant("Hi")]);
        std::fs::write(&a, r#"[{"instruction": "Add", "output": 5}]"#).expect("w");
        let e = read_sft(&a).expect_err("number").to_string();
        assert!(e.contains("alpaca.json: record 1") && e.contains("output"), "{e}");
        let empty = dir.path().join("empty.txt");
        std::fs::write(&empty, "  \n").expect("w");
        assert!(matches!(read_corpus(&empty), Err(Error::Empty(_))));
        let r = dir.path().join("prompts.jsonl");
        std::fs::write(&r, "{\"prompt\": \"go\"}\n\n{\"nope\": 1}\n").expect("w");
        assert!(read_prompts(&r).expect_err("missing").to_string().contains("prompts.jsonl:3"));
    }
}
