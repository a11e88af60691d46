//! Creating labeling tasks (`gptlab label tasks`): for each prompt a demonstration task and a
//! ranking task whose K outputs are sampled from the models (output j from model j mod M, as
//! InstructGPT compared outputs of several models), identical outputs merged into one. A
//! seeded fraction of the tasks are overlap tasks, wanted from several labelers.

use super::db::{insert_tasks, NewTask};
use super::{LabelError, LabelResult, TaskKind};
use crate::store::Store;
use gptlab_core::rng::{stream_seed, Rng};
use gptlab_engine::{chat::chat_replies, SampleConfig};
use gptlab_model::roles::{self, Mode};
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct TaskOptions {
    /// Outputs sampled per ranking task (K; InstructGPT used 4 to 9).
    pub k: usize,
    /// Fraction of tasks that are overlap tasks.
    pub overlap: f64,
    /// Labelers an overlap task is given to.
    pub overlap_labelers: usize,
    pub max_new_tokens: usize,
    pub temperature: f64,
    pub seed: u64,
    pub device: gptlab_model::DeviceSpec,
}

#[derive(Debug, Clone, Serialize)]
pub struct TasksReport {
    pub prompts: usize,
    pub demonstration_tasks: usize,
    pub ranking_tasks: usize,
    pub overlap_tasks: usize,
    /// Sampled outputs merged into an identical one.
    pub merged_outputs: usize,
    /// Prompts without a ranking task: every output was the same text.
    pub all_outputs_identical: usize,
    pub models: Vec<String>,
}

/// A prompt to label and who wrote it.
#[derive(Debug, Clone)]
pub struct PromptRow {
    pub prompt: String,
    pub user: String,
}

/// Reads a prompts file (JSONL `{"prompt", "user"?}`, as `gptlab data prompts` and `gptlab
/// world generate` write them); errors name the file and line.
pub fn read_prompt_rows(path: &Path) -> LabelResult<Vec<PromptRow>> {
    let text = gptlab_core::fsio::read_text(path).map_err(|e| LabelError::Store(crate::Error::Input(e.to_string())))?;
    let mut out = vec![];
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |msg: &str| LabelError::Invalid { field: format!("{}:{}", path.display(), i + 1), msg: msg.into() };
        let v: serde_json::Value = serde_json::from_str(line).map_err(|e| bad(&format!("invalid JSON: {e}")))?;
        let prompt = v.get("prompt").and_then(|p| p.as_str()).filter(|p| !p.trim().is_empty()).ok_or_else(|| bad("field `prompt` must be a non-empty string"))?;
        let user = match v.get("user") {
            None | Some(serde_json::Value::Null) => String::new(),
            Some(u) => u.as_str().ok_or_else(|| bad("field `user` must be a string"))?.to_string(),
        };
        out.push(PromptRow { prompt: prompt.into(), user });
    }
    if out.is_empty() {
        return Err(LabelError::Invalid { field: path.display().to_string(), msg: "no prompts".into() });
    }
    Ok(out)
}

/// Merges identical outputs: the distinct texts in first-seen order, each with the models it
/// came from.
pub fn merge_outputs(samples: &[(String, String)]) -> (Vec<String>, Vec<Vec<String>>) {
    let (mut outputs, mut sources): (Vec<String>, Vec<Vec<String>>) = (vec![], vec![]);
    for (text, model) in samples {
        match outputs.iter().position(|o| o == text) {
            Some(i) => {
                if !sources[i].contains(model) {
                    sources[i].push(model.clone());
                }
            }
            None => {
                outputs.push(text.clone());
                sources.push(vec![model.clone()]);
            }
        }
    }
    (outputs, sources)
}

/// Samples the outputs and writes the tasks into `store` (one transaction).
pub fn create_tasks(store: &Store, prompts: &Path, models: &[(String, PathBuf)], o: &TaskOptions) -> LabelResult<TasksReport> {
    let bad = |field: &str, msg: &str| LabelError::Invalid { field: field.into(), msg: msg.into() };
    if models.is_empty() {
        return Err(bad("--model", "no model to sample outputs from"));
    }
    if o.k < 2 {
        return Err(bad("-k", "a ranking task needs at least 2 outputs"));
    }
    if !(0.0..=1.0).contains(&o.overlap) {
        return Err(bad("--overlap", "a fraction from 0 to 1"));
    }
    if o.overlap > 0.0 && o.overlap_labelers < 2 {
        return Err(bad("--overlap-labelers", "an overlap task goes to at least 2 labelers"));
    }
    let rows = read_prompt_rows(prompts)?;
    let device = gptlab_model::device::setup(o.device, 0).map_err(crate::Error::from)?;
    let texts: Vec<String> = rows.iter().map(|r| r.prompt.clone()).collect();
    let mut samples: Vec<Vec<(String, String)>> = vec![vec![]; rows.len()];
    for (m, (name, dir)) in models.iter().enumerate() {
        let l = roles::lm(dir, device, Mode::Frozen).map_err(crate::Error::from)?;
        for j in (m..o.k).step_by(models.len()) {
            let cfg = SampleConfig { max_new_tokens: o.max_new_tokens, temperature: o.temperature, seed: stream_seed(o.seed, &format!("label/tasks/sample/{j}")), ..Default::default() };
            let replies = chat_replies(&l.model, &l.tok, &texts, &cfg).map_err(crate::Error::from)?;
            for (s, r) in samples.iter_mut().zip(replies) {
                s.push((r.trim().to_string(), name.clone()));
            }
        }
    }
    let mut rng = Rng::stream(o.seed, "label/tasks/overlap");
    let mut copies = || {
        if rng.uniform() < o.overlap {
            o.overlap_labelers
        } else {
            1
        }
    };
    let mut tasks = vec![];
    let (mut merged, mut identical) = (0, 0);
    for (row, s) in rows.iter().zip(&samples) {
        tasks.push(NewTask { kind: TaskKind::Demonstration, prompt: row.prompt.clone(), author: row.user.clone(), outputs: vec![], sources: vec![], copies: copies() });
        let (outputs, sources) = merge_outputs(s);
        merged += s.len() - outputs.len();
        if outputs.len() < 2 {
            identical += 1;
            continue;
        }
        tasks.push(NewTask { kind: TaskKind::Ranking, prompt: row.prompt.clone(), author: row.user.clone(), outputs, sources, copies: copies() });
    }
    insert_tasks(store, &tasks)?;
    let count = |k: TaskKind| tasks.iter().filter(|t| t.kind == k).count();
    Ok(TasksReport {
        prompts: rows.len(),
        demonstration_tasks: count(TaskKind::Demonstration),
        ranking_tasks: count(TaskKind::Ranking),
        overlap_tasks: tasks.iter().filter(|t| t.copies > 1).count(),
        merged_outputs: merged,
        all_outputs_identical: identical,
        models: models.iter().map(|(n, _)| n.clone()).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_outputs_are_merged_with_their_sources() {
        let s = |t: &str, m: &str| (t.to_string(), m.to_string());
        let (o, src) = merge_outputs(&[s("a", "m1"), s("b", "m2"), s("a", "m2"), s("a", "m1")]);
        assert_eq!(o, ["a", "b"]);
        assert_eq!(src, [vec!["m1".to_string(), "m2".into()], vec!["m2".into()]]);
    }

    #[test]
    fn prompt_rows_name_the_bad_line() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("p.jsonl");
        std::fs::write(&p, "{\"prompt\": \"hi\", \"user\": \"u1\"}\n{\"prompt\": \"x\"}\n{\"text\": \"x\"}\n").expect("w");
        let e = read_prompt_rows(&p).expect_err("no prompt").to_string();
        assert!(e.contains("p.jsonl:3") && e.contains("prompt"), "{e}");
        std::fs::write(&p, "{\"prompt\": \"hi\", \"user\": \"u1\"}\n{\"prompt\": \"x\"}\n").expect("w");
        let r = read_prompt_rows(&p).expect("rows");
        assert_eq!((r[0].user.as_str(), r[1].user.as_str()), ("u1", ""));
    }
}
