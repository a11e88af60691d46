//! Exporting labels (`gptlab label export`, `GET /label/api/export` for admins) in the formats
//! the training stages read, each record carrying its labeler, role, guideline version and
//! task id:
//! - `sft.jsonl`: demonstrations as `{"messages": [user, assistant]}` (`gptlab sft`);
//! - `comparisons.jsonl`: K-way groups `{"prompt", "completions", "ranking"}` with ties as
//!   lists (`[2, [0, 1], 3]`), plus the scores and flags (`gptlab rm`);
//! - `pairs.jsonl`: every strictly ordered pair of a group as `{"prompt", "chosen",
//!   "rejected"}` (TRL's names; `gptlab rm` reads these too), tied pairs left out;
//! - `prompts.jsonl`: the tasks' distinct prompts with their users (`gptlab ppo`);
//! - `report.json`: the counts.
//!
//! Skipped tasks give no record. Every file is written atomically.

use super::db::{self, LabelRecord};
use super::{LabelResult, TaskKind};
use crate::store::Store;
use serde::Serialize;
use serde_json::{json, Value};
use std::path::Path;

#[derive(Debug, Clone, Default, Serialize)]
pub struct ExportReport {
    pub demonstrations: usize,
    pub comparisons: usize,
    pub pairs: usize,
    pub prompts: usize,
    pub skipped: usize,
    pub labelers: usize,
}

/// The export's records, file by file.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Export {
    pub sft: Vec<Value>,
    pub comparisons: Vec<Value>,
    pub pairs: Vec<Value>,
    pub prompts: Vec<Value>,
    pub report: ExportReport,
}

fn stamp(mut v: Value, l: &LabelRecord) -> Value {
    if let Value::Object(m) = &mut v {
        m.insert("labeler".into(), json!(l.labeler));
        m.insert("role".into(), json!(l.role));
        m.insert("guidelines_version".into(), json!(l.guidelines));
        m.insert("task".into(), json!(l.task));
    }
    v
}

/// A ranking as the comparisons format writes it: singletons as indices, ties as lists.
fn ranking_json(r: &[Vec<usize>]) -> Value {
    Value::Array(r.iter().map(|g| if g.len() == 1 { json!(g[0]) } else { json!(g) }).collect())
}

/// Builds the export from the store's labels.
pub fn export(store: &Store) -> LabelResult<Export> {
    let mut e = Export::default();
    let mut labelers = std::collections::BTreeSet::new();
    for l in db::labels(store)? {
        let s = &l.submission;
        if s.skip.is_some() {
            e.report.skipped += 1;
            continue;
        }
        labelers.insert(l.labeler.clone());
        match (l.kind, &s.demonstration, &s.ranking) {
            (TaskKind::Demonstration, Some(d), _) => {
                e.sft.push(stamp(json!({"messages": [{"role": "user", "content": l.prompt}, {"role": "assistant", "content": d}]}), &l));
            }
            (TaskKind::Ranking, _, Some(r)) => {
                e.comparisons.push(stamp(json!({"prompt": l.prompt, "completions": l.outputs, "ranking": ranking_json(r), "scores": s.scores, "flags": s.flags}), &l));
                for (a, better) in r.iter().enumerate() {
                    for worse in &r[a + 1..] {
                        for &i in better {
                            for &j in worse {
                                e.pairs.push(stamp(json!({"prompt": l.prompt, "chosen": l.outputs[i], "rejected": l.outputs[j]}), &l));
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
    e.prompts = db::task_prompts(store)?.into_iter().map(|(p, u)| json!({"prompt": p, "user": u})).collect();
    e.report = ExportReport { demonstrations: e.sft.len(), comparisons: e.comparisons.len(), pairs: e.pairs.len(), prompts: e.prompts.len(), labelers: labelers.len(), ..e.report };
    Ok(e)
}

fn jsonl(path: &Path, rows: &[Value]) -> crate::Result<()> {
    let mut text = String::new();
    for r in rows {
        text.push_str(&r.to_string());
        text.push('\n');
    }
    gptlab_core::fsio::write_atomic(path, text.as_bytes()).map_err(|e| crate::Error::Input(e.to_string()))
}

/// Writes the export's files into `out` (created if needed); empty files are written too, so
/// an export always has the same five files.
pub fn write(e: &Export, out: &Path) -> LabelResult<()> {
    for (name, rows) in [("sft.jsonl", &e.sft), ("comparisons.jsonl", &e.comparisons), ("pairs.jsonl", &e.pairs), ("prompts.jsonl", &e.prompts)] {
        jsonl(&out.join(name), rows)?;
    }
    gptlab_core::fsio::write_json_atomic(&out.join("report.json"), &e.report).map_err(|x| crate::Error::Input(x.to_string()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_are_lists_and_pairs_skip_them() {
        assert_eq!(ranking_json(&[vec![2], vec![0, 1], vec![3]]), json!([2, [0, 1], 3]));
    }
}
