//! Codex-style function-synthesis problems in HumanEval's format (Chen et al. 2021): a
//! signature and docstring as the prompt, the body as the canonical solution, and a
//! `def check(candidate):` of asserts as the test, so `gptlab eval code` judges completions by
//! running them.
//!
//! Two sources:
//! - [`generate`] (`gptlab data tasks`): problems drawn from task families small enough for a
//!   CPU-sized model to learn ([`families::FAMILIES`]: list, string, arithmetic and dict
//!   manipulations). Each family varies its function and argument names, docstring phrasing
//!   (at least three per family), constants and docstring examples, so instances differ in
//!   text; the expected values of the asserts come from a Rust reference of each family. A
//!   few families ([`families::DEFAULT_HELD_OUT`], one per kind, or `--held-out`) are never
//!   written to the training file, so a model can be measured on tasks it has not seen. The
//!   training file also carries `completion` (the canonical body), so it is SFT data too.
//! - [`doctests::mine_corpus`] (`gptlab data doctests`): problems mined from the doctests of
//!   top-level Python functions in a code corpus (`gptlab data code`'s `corpus.jsonl`).
//!
//! Determinism: every draw of family `f` comes from [`Rng::stream`]`(seed, "data/tasks/<f>")`
//! (its training instances) and `"data/tasks/<f>/test"` (its test instances), so the output
//! is a function of the seed and the options, and a family's instances do not change when
//! other families are added or held out.

pub mod doctest_examples;
pub mod doctests;
pub mod fam_dicts;
pub mod fam_lists;
pub mod fam_numbers;
pub mod fam_strings;
pub mod families;
pub mod pyscope;
pub mod pysrc;

use crate::{Error, Result};
use families::{Category, Family, Spec, FAMILIES};
use gptlab_core::{fsio, rng::Rng};
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

/// One problem record in HumanEval's format; `completion` only in the training file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub task_id: String,
    pub prompt: String,
    pub entry_point: String,
    pub canonical_solution: String,
    pub test: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completion: Option<String>,
}

/// Greedy word wrap of `text` to lines of at most `width` characters (a longer word gets a
/// line of its own).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![];
    let mut cur = String::new();
    for w in text.split_whitespace() {
        if !cur.is_empty() && cur.len() + 1 + w.len() > width {
            lines.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(w);
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    lines
}

/// Lays a drawn instance out as a HumanEval problem. The layout is drawn too: type
/// annotations (three times in four), one of three docstring styles, and zero to two of the
/// instance's examples shown as doctests.
pub fn render(spec: &Spec, r: &mut Rng, task_id: String) -> Problem {
    let annotate = r.below(4) != 0;
    let style = r.below(3);
    let shown = r.below(spec.examples.len().min(2) as u64 + 1) as usize;
    let mut prompt = String::new();
    if annotate {
        let mut typing: Vec<&str> = ["Dict", "List"].into_iter().filter(|t| spec.params.iter().map(|p| p.1).chain([spec.ret]).any(|a| a.contains(&format!("{t}[")))).collect();
        typing.sort_unstable();
        if !typing.is_empty() {
            prompt.push_str(&format!("from typing import {}\n\n\n", typing.join(", ")));
        }
    }
    let params: Vec<String> = spec.params.iter().map(|(n, t)| if annotate { format!("{n}: {t}") } else { n.clone() }).collect();
    let ret = if annotate { format!(" -> {}", spec.ret) } else { String::new() };
    prompt.push_str(&format!("def {}({}){ret}:\n", spec.func, params.join(", ")));
    let text = wrap(&spec.doc, 72);
    let examples: Vec<String> = spec.examples[..shown].iter().map(|c| format!(">>> {}\n{}", c.call(&spec.func), c.expected.repr())).collect();
    let ind = "    ";
    match style {
        0 => {
            // HumanEval's: text on the opening line, examples straight after
            for (i, l) in text.iter().enumerate() {
                prompt.push_str(&if i == 0 { format!("{ind}\"\"\" {l}\n") } else { format!("{ind}{l}\n") });
            }
            for e in &examples {
                for l in e.lines() {
                    prompt.push_str(&format!("{ind}{l}\n"));
                }
            }
        }
        1 => {
            prompt.push_str(&format!("{ind}\"\"\"\n"));
            for l in &text {
                prompt.push_str(&format!("{ind}{l}\n"));
            }
            if !examples.is_empty() {
                prompt.push('\n');
            }
            for e in &examples {
                for l in e.lines() {
                    prompt.push_str(&format!("{ind}{l}\n"));
                }
            }
        }
        _ => {
            for (i, l) in text.iter().enumerate() {
                prompt.push_str(&if i == 0 { format!("{ind}\"\"\"{l}\n") } else { format!("{ind}{l}\n") });
            }
            if !examples.is_empty() {
                prompt.push_str(&format!("\n{ind}Examples:\n"));
            }
            for e in &examples {
                for l in e.lines() {
                    prompt.push_str(&format!("{ind}{ind}{l}\n"));
                }
            }
        }
    }
    prompt.push_str(&format!("{ind}\"\"\"\n"));
    let mut test = String::from("\n\ndef check(candidate):\n");
    for c in &spec.cases {
        test.push_str(&format!("    assert {} == {}\n", c.call("candidate"), c.expected.repr()));
    }
    Problem { task_id, prompt, entry_point: spec.func.clone(), canonical_solution: spec.body.clone(), test, completion: None }
}

/// What `gptlab data tasks` does.
#[derive(Debug, Clone)]
pub struct TasksOptions {
    pub out: PathBuf,
    pub seed: u64,
    /// Training problems per training family.
    pub per_family: usize,
    /// Test problems per family (test_seen for training families, test_heldout for held-out ones).
    pub test_per_family: usize,
    /// Families never written to train.jsonl; `None`: [`families::DEFAULT_HELD_OUT`].
    pub held_out: Option<Vec<String>>,
}

impl TasksOptions {
    pub fn new(out: impl Into<PathBuf>) -> Self {
        Self { out: out.into(), seed: 0, per_family: 50, test_per_family: 10, held_out: None }
    }
}

/// One family's counts.
#[derive(Debug, Clone, Serialize)]
pub struct FamilyReport {
    pub category: Category,
    pub held_out: bool,
    /// Docstring phrasings the family draws from.
    pub phrasings: usize,
    pub train: usize,
    pub test_seen: usize,
    pub test_heldout: usize,
    /// Draws thrown away because their prompt was already written (to this split or, for
    /// test_seen, to train).
    pub redrawn: usize,
    /// Problems asked for but not found within the draw budget (all prompts were repeats).
    pub short: usize,
}

/// `report.json`.
#[derive(Debug, Clone, Serialize)]
pub struct TasksReport {
    pub seed: u64,
    pub per_family: usize,
    pub test_per_family: usize,
    pub held_out: Vec<String>,
    pub families: BTreeMap<String, FamilyReport>,
    pub train: usize,
    pub test_seen: usize,
    pub test_heldout: usize,
    /// test_seen prompts whose text is also a train prompt (always 0: checked before writing).
    pub test_seen_prompts_in_train: usize,
    pub task_ids: &'static str,
    pub streams: &'static str,
}

/// Up to `n` problems of `fam` from `r` whose prompts are not in `taken`, numbered from
/// `first`; also how many draws were thrown away.
fn draw(fam: &Family, r: &mut Rng, n: usize, first: usize, taken: &mut HashSet<String>) -> (Vec<Problem>, usize) {
    let mut out = Vec::with_capacity(n);
    let mut redrawn = 0;
    let budget = 20 * n + 200;
    for _ in 0..budget {
        if out.len() == n {
            break;
        }
        let spec = (fam.make)(r);
        let p = render(&spec, r, format!("Gen/{}/{}", fam.name, first + out.len()));
        if taken.insert(p.prompt.clone()) {
            out.push(p);
        } else {
            redrawn += 1;
        }
    }
    (out, redrawn)
}

fn jsonl(problems: &[Problem]) -> Result<String> {
    let mut s = String::new();
    for p in problems {
        s.push_str(&serde_json::to_string(p).map_err(|e| Error::Invalid(e.to_string()))?);
        s.push('\n');
    }
    Ok(s)
}

/// The held-out list `o` asks for, checked against the family table.
fn held_out_list(o: &TasksOptions) -> Result<Vec<String>> {
    let list: Vec<String> = match &o.held_out {
        None => families::DEFAULT_HELD_OUT.iter().map(|s| s.to_string()).collect(),
        Some(v) => v.iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect(),
    };
    for name in &list {
        if families::family(name).is_none() {
            let known: Vec<&str> = FAMILIES.iter().map(|f| f.name).collect();
            return Err(Error::Invalid(format!("unknown task family `{name}` in --held-out (known: {})", known.join(", "))));
        }
    }
    if FAMILIES.iter().all(|f| list.iter().any(|h| h == f.name)) {
        return Err(Error::Invalid("--held-out names every family: nothing would be left to train on".into()));
    }
    Ok(list)
}

/// The three problem files and the report, as [`build`] returns them.
#[derive(Debug, Clone)]
pub struct Splits {
    pub train: Vec<Problem>,
    pub test_seen: Vec<Problem>,
    pub test_heldout: Vec<Problem>,
    pub report: TasksReport,
}

/// Generates the problem sets of `o` without writing anything.
pub fn build(o: &TasksOptions) -> Result<Splits> {
    if o.per_family == 0 || o.test_per_family == 0 {
        return Err(Error::Invalid("--per-family and --test-per-family must be at least 1".into()));
    }
    let held = held_out_list(o)?;
    let (mut train, mut seen, mut heldout) = (vec![], vec![], vec![]);
    let mut fams = BTreeMap::new();
    for fam in FAMILIES {
        let is_held = held.iter().any(|h| h == fam.name);
        let phrasings = (fam.make)(&mut Rng::new(0)).phrasings;
        let mut rep = FamilyReport { category: fam.category, held_out: is_held, phrasings, train: 0, test_seen: 0, test_heldout: 0, redrawn: 0, short: 0 };
        // train prompts are `taken` for the test draws, which makes test_seen disjoint by text
        let mut taken = HashSet::new();
        if !is_held {
            let (ps, redrawn) = draw(fam, &mut Rng::stream(o.seed, &format!("data/tasks/{}", fam.name)), o.per_family, 0, &mut taken);
            rep.train = ps.len();
            rep.redrawn += redrawn;
            rep.short += o.per_family - ps.len();
            train.extend(ps.into_iter().map(|p| Problem { completion: Some(p.canonical_solution.clone()), ..p }));
        }
        let (ps, redrawn) = draw(fam, &mut Rng::stream(o.seed, &format!("data/tasks/{}/test", fam.name)), o.test_per_family, o.per_family, &mut taken);
        rep.redrawn += redrawn;
        rep.short += o.test_per_family - ps.len();
        if is_held {
            rep.test_heldout = ps.len();
            heldout.extend(ps);
        } else {
            rep.test_seen = ps.len();
            seen.extend(ps);
        }
        fams.insert(fam.name.to_string(), rep);
    }
    // the guarantees, checked on what is about to be written
    let train_prompts: HashSet<&str> = train.iter().map(|p| p.prompt.as_str()).collect();
    let overlap = seen.iter().filter(|p| train_prompts.contains(p.prompt.as_str())).count();
    let leaked = train.iter().find(|p| held.iter().any(|h| p.task_id.starts_with(&format!("Gen/{h}/"))));
    if overlap > 0 || leaked.is_some() {
        return Err(Error::Invalid(format!("internal: {overlap} test_seen prompts are in train; held-out problem in train: {:?}", leaked.map(|p| &p.task_id))));
    }
    let report = TasksReport {
        seed: o.seed,
        per_family: o.per_family,
        test_per_family: o.test_per_family,
        held_out: held,
        families: fams,
        train: train.len(),
        test_seen: seen.len(),
        test_heldout: heldout.len(),
        test_seen_prompts_in_train: overlap,
        task_ids: "Gen/<family>/<n>: n from 0 in train.jsonl, from --per-family in the test files",
        streams: "data/tasks/<family> (train), data/tasks/<family>/test (test_seen, test_heldout)",
    };
    Ok(Splits { train, test_seen: seen, test_heldout: heldout, report })
}

/// `gptlab data tasks`: writes `train.jsonl`, `test_seen.jsonl`, `test_heldout.jsonl` and
/// `report.json` under `o.out` (each atomically) and returns the report.
pub fn generate(o: &TasksOptions) -> Result<TasksReport> {
    let s = build(o)?;
    write_all(&o.out, &[("train.jsonl", &s.train), ("test_seen.jsonl", &s.test_seen), ("test_heldout.jsonl", &s.test_heldout)])?;
    fsio::write_json_atomic(&o.out.join("report.json"), &s.report)?;
    Ok(s.report)
}

fn write_all(dir: &Path, files: &[(&str, &[Problem])]) -> Result<()> {
    for (name, ps) in files {
        fsio::write_atomic(&dir.join(name), jsonl(ps)?.as_bytes())?;
    }
    Ok(())
}

/// Writes `problems` as JSON Lines to `path`, atomically.
pub fn write_problems(path: &Path, problems: &[Problem]) -> Result<()> {
    Ok(fsio::write_atomic(path, jsonl(problems)?.as_bytes())?)
}

#[cfg(test)]
mod tests;
