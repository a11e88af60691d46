//! A world's files, and the comparisons its labelers make.
//!
//! [`generate`] writes a world directory: `world.json` (the knowledge base and labelers),
//! `corpus.txt` / `corpus_val.txt` (pretraining text), the prompts logged from simulated API
//! users, made into a dataset by gptlab-data's prompt-dataset builder (exact and
//! long-common-prefix dedup over the whole pool, at most 200 prompts a user, split by user):
//! `prompts_train.jsonl`, `prompts_val.jsonl` and `prompts_test.jsonl` in the seen phrasings,
//! `prompts_test_templates.jsonl` (the test users' prompts in the held-out phrasings, which no
//! other file holds), `prompts_report.json` (what each step kept and dropped) and `sft.jsonl`
//! (the training labelers' demonstrations for the training prompts). [`label`] samples K replies per prompt from one or more models and has the
//! training labelers rank them (`comparisons.jsonl`), measuring their agreement on a shared
//! tenth of the prompts.

use super::{labelers, templates, Prompt, World};
use gptlab_data::prompts::{build, BuildOptions, BuildReport, Dedup, PromptRecord};
use crate::{Error, Result};
use gptlab_core::fsio::{write_atomic, write_json_atomic};
use gptlab_core::rng::{stream_seed, Rng};
use gptlab_engine::{chat_replies, SampleConfig};
use gptlab_model::roles::{self, Mode};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Simulated API users.
pub const USERS: usize = 40;

/// How a world's prompts become its splits: a fifth of the users for validation, a fifth for
/// test, prompts sharing [`templates::PREFIX_CHARS`] leading characters merged.
pub fn split_options(seed: u64) -> BuildOptions {
    BuildOptions { dedup: Dedup::Prefix { chars: templates::PREFIX_CHARS }, per_user_cap: 200, val_fraction: 0.2, test_fraction: 0.2, seed }
}

fn record(p: &Prompt) -> Result<PromptRecord> {
    serde_json::from_value(serde_json::to_value(p).map_err(|e| Error::Input(e.to_string()))?).map_err(|e| Error::Input(e.to_string()))
}

fn prompt(r: &PromptRecord) -> Result<Prompt> {
    serde_json::from_value(serde_json::to_value(r).map_err(|e| Error::Input(e.to_string()))?).map_err(|e| Error::Input(e.to_string()))
}

/// Reads `world.json` of a world directory.
pub fn load_world(dir: &Path) -> Result<World> {
    let p = dir.join("world.json");
    serde_json::from_str(&gptlab_core::fsio::read_text(&p)?).map_err(|e| Error::Input(format!("{}: not a world file ({e})", p.display())))
}

fn jsonl<T: Serialize>(path: &Path, items: impl IntoIterator<Item = T>) -> Result<()> {
    let mut s = String::new();
    for it in items {
        s.push_str(&serde_json::to_string(&it).map_err(|e| Error::Input(e.to_string()))?);
        s.push('\n');
    }
    Ok(write_atomic(path, s.as_bytes())?)
}

/// Sizes of a generated world.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub seed: u64,
    /// Sentences of pretraining text.
    pub corpus_sentences: usize,
    /// Prompts logged from the simulated users.
    pub prompts: usize,
    /// Countries whose capital the corpus states.
    pub known: usize,
    /// Countries it never mentions.
    pub unknown: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct GenerateReport {
    pub world: PathBuf,
    pub train_prompts: usize,
    pub val_prompts: usize,
    /// Test users' prompts in the seen phrasings.
    pub test_prompts: usize,
    /// Test users' prompts in the held-out phrasings.
    pub test_template_prompts: usize,
    /// Training and validation users' prompts in held-out phrasings, left out.
    pub held_out_phrasings_dropped: usize,
    /// Distinct prompt texts logged.
    pub distinct_texts: usize,
    /// What the prompt-dataset builder did.
    pub builder: BuildReport,
    pub labelers: usize,
}

#[derive(Serialize)]
struct Demonstration<'a> {
    prompt: &'a str,
    completion: String,
    labeler: &'a str,
}

/// Writes a world into `out` (see the module docs).
pub fn generate(o: &GenerateOptions, out: &Path) -> Result<GenerateReport> {
    if o.known < 2 || o.unknown < 1 {
        return Err(Error::Input(format!("a world needs at least 2 known and 1 unknown country (--known {}, --unknown {})", o.known, o.unknown)));
    }
    let world = World::new(o.seed, o.known, o.unknown, 8);
    let mut rng = Rng::stream(o.seed, "world/data");
    write_atomic(&out.join("corpus.txt"), world.corpus(o.corpus_sentences, &mut rng).as_bytes())?;
    write_atomic(&out.join("corpus_val.txt"), world.corpus(o.corpus_sentences / 10 + 1, &mut rng).as_bytes())?;
    let users: Vec<String> = (0..USERS).map(|i| format!("user-{i:03}")).collect();
    let logged: Vec<Prompt> = (0..o.prompts).map(|_| world.prompt(&users[rng.below(users.len() as u64) as usize], &mut rng)).collect();
    let distinct_texts = logged.iter().map(|p| p.prompt.as_str()).collect::<std::collections::HashSet<_>>().len();
    let splits = build(logged.iter().map(record).collect::<Result<_>>()?, &split_options(o.seed));
    let held_out = |p: &Prompt| templates::by_id(&p.template).is_some_and(|t| t.held_out);
    let parse = |v: &[PromptRecord]| v.iter().map(prompt).collect::<Result<Vec<_>>>();
    let (mut train, mut val) = (parse(&splits.train)?, parse(&splits.val)?);
    let before = train.len() + val.len();
    train.retain(|p| !held_out(p));
    val.retain(|p| !held_out(p));
    let (test_templates, test): (Vec<Prompt>, Vec<Prompt>) = parse(&splits.test)?.into_iter().partition(|p| held_out(p));
    for (name, v) in [("train", &train), ("val", &val), ("test", &test), ("test_templates", &test_templates)] {
        jsonl(&out.join(format!("prompts_{name}.jsonl")), v)?;
    }
    let trainers: Vec<&labelers::Labeler> = world.labelers.iter().filter(|l| !l.held_out).collect();
    let demos: Vec<Demonstration> = train
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let l = trainers[i % trainers.len()];
            Demonstration { prompt: &p.prompt, completion: l.demonstrate(&world, p, &mut rng), labeler: &l.id }
        })
        .collect();
    jsonl(&out.join("sft.jsonl"), demos)?;
    write_json_atomic(&out.join("world.json"), &world)?;
    let report = GenerateReport {
        world: out.into(),
        train_prompts: train.len(),
        val_prompts: val.len(),
        test_prompts: test.len(),
        test_template_prompts: test_templates.len(),
        held_out_phrasings_dropped: before - train.len() - val.len(),
        distinct_texts,
        builder: splits.report,
        labelers: world.labelers.len(),
    };
    write_json_atomic(&out.join("prompts_report.json"), &report)?;
    Ok(report)
}

/// How [`label`] samples and ranks.
#[derive(Debug, Clone)]
pub struct LabelOptions {
    /// Samples per prompt (at least 2).
    pub k: usize,
    /// Prompts taken from the start of the prompts file.
    pub limit: usize,
    pub seed: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct LabelReport {
    pub comparisons: PathBuf,
    /// The labelers' mean pairwise agreement on the shared items.
    pub labeler_agreement: f64,
    /// Prompts ranked (with at least two distinct samples).
    pub groups: usize,
    /// Prompts left out because every sample was the same text.
    pub skipped_identical: usize,
}

#[derive(Serialize)]
struct RankedRecord<'a> {
    prompt: &'a str,
    completions: &'a [String],
    ranking: Vec<usize>,
    labeler: &'a str,
}

/// K samples per prompt (sample j from `models[j % M]`) ranked by the training labelers into
/// `out`; `prompts` defaults to the world's training prompts.
pub fn label(world_dir: &Path, models: &[&Path], prompts: Option<&Path>, o: &LabelOptions, out: &Path) -> Result<LabelReport> {
    let world = load_world(world_dir)?;
    let device = gptlab_model::device::setup(gptlab_model::DeviceSpec::Cpu, 0)?;
    if models.is_empty() {
        return Err(Error::Input("world label: no model to sample from".into()));
    }
    let loaded = models.iter().map(|m| roles::lm(m, device, Mode::Frozen)).collect::<std::result::Result<Vec<_>, _>>()?;
    let path = prompts.map(Path::to_path_buf).unwrap_or_else(|| world_dir.join("prompts_train.jsonl"));
    let texts: Vec<String> = gptlab_data::read_prompts(&path)?.into_iter().take(o.limit).collect();
    let sc = SampleConfig { max_new_tokens: 24, temperature: 1.0, seed: o.seed, ..Default::default() };
    let mut samples: Vec<Vec<String>> = vec![vec![]; texts.len()];
    for j in 0..o.k.max(2) {
        let l = &loaded[j % loaded.len()];
        let r = chat_replies(&l.model, &l.tok, &texts, &SampleConfig { seed: stream_seed(o.seed, &format!("label/sample/{j}")), ..sc.clone() })?;
        for (s, x) in samples.iter_mut().zip(r) {
            s.push(x);
        }
    }
    let trainers: Vec<&labelers::Labeler> = world.labelers.iter().filter(|l| !l.held_out).collect();
    let mut rng = Rng::stream(o.seed, "label/rank");
    let (mut recs, mut shared) = (vec![], vec![]);
    let mut skipped = 0;
    for (i, (t, comps)) in texts.iter().zip(&samples).enumerate() {
        let p = world.judge_data(t).ok_or_else(|| Error::Input(format!("{}: prompt {} is not from this world", path.display(), i + 1)))?;
        // labelers compare distinct outputs (identical ones would only add coin flips)
        let mut comps = comps.clone();
        let mut seen = std::collections::HashSet::new();
        comps.retain(|c| seen.insert(c.clone()));
        if comps.len() < 2 {
            skipped += 1;
            continue;
        }
        let lab = trainers[i % trainers.len()];
        let ranking = lab.rank(&p, &comps, &mut rng);
        if i % 10 == 0 {
            shared.push(trainers.iter().map(|x| x.rank(&p, &comps, &mut rng)).collect::<Vec<_>>());
        }
        recs.push((t.clone(), comps, ranking, lab.id.clone()));
    }
    if recs.is_empty() {
        let names: Vec<String> = models.iter().map(|m| m.display().to_string()).collect();
        return Err(Error::Input(format!("{}: the model gave one distinct answer to every prompt; nothing to rank (sample more, or train less)", names.join(", "))));
    }
    jsonl(out, recs.iter().map(|(prompt, completions, ranking, labeler)| RankedRecord { prompt, completions, ranking: ranking.clone(), labeler }))?;
    Ok(LabelReport { comparisons: out.into(), labeler_agreement: labelers::agreement(&shared), groups: texts.len() - skipped, skipped_identical: skipped })
}

/// How often the world's other training labelers order a pair of completions as the recorded
/// ranking of the comparisons in `path` does (the agreement a reward model's accuracy on the
/// same items is read against). Each comparison's prompt is its last user turn.
pub fn agreement_with_labels(world_dir: &Path, path: &Path, seed: u64) -> Result<f64> {
    let world = load_world(world_dir)?;
    let mut rng = Rng::stream(seed, "label/agreement");
    let mut pairs = vec![];
    for (i, c) in gptlab_data::read_comparisons_file(path)?.comparisons.iter().enumerate() {
        let text = c.context.last().map(|m| m.content.as_str()).unwrap_or_default();
        let p = world.judge_data(text).ok_or_else(|| Error::Input(format!("{}: comparison {} is not from this world", path.display(), i + 1)))?;
        let recorded = c.order();
        for l in world.labelers.iter().filter(|l| !l.held_out && Some(&l.id) != c.labeler.as_ref()) {
            pairs.push(vec![recorded.clone(), l.rank(&p, &c.completions, &mut rng)]);
        }
    }
    Ok(labelers::agreement(&pairs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_world_splits_its_prompts_by_user_text_and_phrasing() {
        let tmp = tempfile::tempdir().expect("tmp");
        let o = GenerateOptions { seed: 4, corpus_sentences: 50, prompts: 3000, known: 16, unknown: 8 };
        let r = generate(&o, tmp.path()).expect("generate");
        let read = |f: &str| -> Vec<Prompt> {
            let text = std::fs::read_to_string(tmp.path().join(format!("prompts_{f}.jsonl"))).expect("read");
            text.lines().map(|l| serde_json::from_str::<Prompt>(l).expect("prompt")).collect()
        };
        let splits: Vec<Vec<Prompt>> = ["train", "val", "test", "test_templates"].iter().map(|f| read(f)).collect();
        let set = |v: &[Prompt], f: &dyn Fn(&Prompt) -> String| v.iter().map(f).collect::<std::collections::HashSet<_>>();
        let user = |p: &Prompt| p.user.clone();
        let text = |p: &Prompt| gptlab_data::prompts::normalise(&p.prompt);
        let prefix = |p: &Prompt| text(p).chars().take(templates::PREFIX_CHARS).collect::<String>();
        for i in 0..3 {
            for j in i + 1..4 {
                let (a, b) = (&splits[i], &splits[j]);
                if j < 3 || i < 2 {
                    assert!(set(a, &user).is_disjoint(&set(b, &user)), "splits {i} and {j} share a user");
                }
                assert!(set(a, &text).is_disjoint(&set(b, &text)), "splits {i} and {j} share a text");
                assert!(set(a, &prefix).is_disjoint(&set(b, &prefix)), "splits {i} and {j} share a long prefix");
            }
        }
        let held = |p: &Prompt| templates::by_id(&p.template).expect("template").held_out;
        assert!(splits[..3].iter().flatten().all(|p| !held(p)), "held-out phrasings only in the template test set");
        assert!(!splits[3].is_empty() && splits[3].iter().all(held));
        assert_eq!(set(&splits[3], &user), set(&splits[2], &user), "both test sets come from the test users");
        assert!(r.distinct_texts > 2000, "thousands of distinct texts: {}", r.distinct_texts);
        assert!(r.builder.exact_duplicates > 0, "the builder dedups");
        let kept = r.train_prompts + r.val_prompts + r.test_prompts + r.test_template_prompts + r.held_out_phrasings_dropped;
        assert_eq!(kept, r.builder.prompts.iter().sum::<usize>());
        assert_eq!(r.builder.users, [USERS * 3 / 5, USERS / 5, USERS / 5]);
        let demos = std::fs::read_to_string(tmp.path().join("sft.jsonl")).expect("sft").lines().count();
        assert_eq!(demos, r.train_prompts, "a demonstration for every training prompt");
        let w = load_world(tmp.path()).expect("world");
        assert!(splits.iter().flatten().all(|p| w.judge_data(&p.prompt).is_some_and(|j| j.family == p.family && j.answer == p.answer)));
    }
}
