//! `gptlab world`: the synthetic world (generate its data; have its labelers rank samples).

use crate::common;
use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use gptlab_core::fsio::{write_atomic, write_json_atomic};
use gptlab_core::rng::Rng;
use gptlab_engine::SampleConfig;
use gptlab_eval::world::{labelers, World};
use std::path::{Path, PathBuf};

#[derive(Parser)]
pub struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Write a world: world.json, corpus.txt / corpus_val.txt, prompts (train users / val
    /// users), demonstrations by the training labelers (sft.jsonl).
    Generate {
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long)]
        out: PathBuf,
        /// Sentences of pretraining text.
        #[arg(long, default_value_t = 20_000)]
        corpus_sentences: usize,
        /// Prompts logged from simulated API users.
        #[arg(long, default_value_t = 2_000)]
        prompts: usize,
        /// Countries the corpus states a capital for.
        #[arg(long, default_value_t = 16)]
        known: usize,
        /// Countries it never mentions (the preferred answer declines).
        #[arg(long, default_value_t = 8)]
        unknown: usize,
    },
    /// Sample K completions per prompt from a model and have the training labelers rank them
    /// (comparisons.jsonl); a shared subset is ranked by every labeler to measure agreement.
    /// With several --model, sample j of a prompt comes from model j mod M (comparisons across
    /// policies, as InstructGPT collected them from several models over time).
    Label {
        #[arg(long)]
        world: PathBuf,
        #[arg(long, required = true)]
        model: Vec<PathBuf>,
        /// Prompts file (default: <world>/prompts_train.jsonl).
        #[arg(long)]
        prompts: Option<PathBuf>,
        #[arg(short = 'k', long, default_value_t = 4)]
        k: usize,
        #[arg(long, default_value_t = 400)]
        limit: usize,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
}

pub fn load_world(dir: &Path) -> Result<World> {
    let p = dir.join("world.json");
    let w: World = serde_json::from_str(&gptlab_core::fsio::read_text(&p)?).with_context(|| format!("{}: not a world file", p.display()))?;
    Ok(w)
}

fn jsonl<T: serde::Serialize>(path: &Path, items: impl IntoIterator<Item = T>) -> Result<()> {
    let mut s = String::new();
    for it in items {
        s.push_str(&serde_json::to_string(&it)?);
        s.push('\n');
    }
    write_atomic(path, s.as_bytes())?;
    Ok(())
}

pub fn run(a: Args) -> Result<()> {
    match a.cmd {
        Cmd::Generate { seed, out, corpus_sentences, prompts, known, unknown } => generate(&GenerateOptions { seed, corpus_sentences, prompts, known, unknown }, &out).map(|_| ()),
        Cmd::Label { world, model, prompts, k, limit, out, seed } => {
            let models: Vec<&Path> = model.iter().map(PathBuf::as_path).collect();
            let r = label(&world, &models, prompts.as_deref(), k, limit, &out, seed)?;
            println!("{}", serde_json::json!({"comparisons": out, "labeler_agreement": r.agreement, "groups": r.groups, "skipped_identical": r.skipped_identical}));
            Ok(())
        }
    }
}

/// Sizes of a generated world.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub seed: u64,
    pub corpus_sentences: usize,
    pub prompts: usize,
    pub known: usize,
    pub unknown: usize,
}

pub fn generate(o: &GenerateOptions, out: &Path) -> Result<World> {
    let (seed, corpus_sentences, n_prompts) = (o.seed, o.corpus_sentences, o.prompts);
    if o.known < 2 || o.unknown < 1 {
        anyhow::bail!("a world needs at least 2 known and 1 unknown country (--known {}, --unknown {})", o.known, o.unknown);
    }
    let world = World::new(seed, o.known, o.unknown, 8);
    let mut rng = Rng::new(seed ^ 0xC0);
    write_atomic(&out.join("corpus.txt"), world.corpus(corpus_sentences, &mut rng).as_bytes())?;
    write_atomic(&out.join("corpus_val.txt"), world.corpus(corpus_sentences / 10 + 1, &mut rng).as_bytes())?;
    // prompts from simulated API users; users are split, not prompts
    let users: Vec<String> = (0..40).map(|i| format!("user-{i:03}")).collect();
    let mut seen = std::collections::HashSet::new();
    let mut all = vec![];
    while all.len() < n_prompts && seen.len() < 10 * n_prompts {
        let u = &users[rng.below(users.len() as u64) as usize];
        let p = world.prompt(u, &mut rng);
        if seen.insert((p.user.clone(), p.prompt.clone())) {
            all.push(p);
        }
    }
    let val_user = |u: &str| u.trim_start_matches("user-").parse::<usize>().unwrap_or(0) % 5 == 0;
    let (val, train): (Vec<_>, Vec<_>) = all.into_iter().partition(|p| val_user(&p.user));
    jsonl(&out.join("prompts_train.jsonl"), &train)?;
    jsonl(&out.join("prompts_val.jsonl"), &val)?;
    let trainers: Vec<&labelers::Labeler> = world.labelers.iter().filter(|l| !l.held_out).collect();
    let demos = train.iter().enumerate().map(|(i, p)| {
        let l = trainers[i % trainers.len()];
        serde_json::json!({"prompt": p.prompt, "completion": l.demonstrate(&world, p, &mut rng), "labeler": l.id})
    });
    jsonl(&out.join("sft.jsonl"), demos.collect::<Vec<_>>())?;
    write_json_atomic(&out.join("world.json"), &world)?;
    println!("{}", serde_json::json!({"world": out, "train_prompts": train.len(), "val_prompts": val.len(), "labelers": world.labelers.len()}));
    Ok(world)
}

#[derive(Debug, serde::Serialize)]
pub struct LabelReport {
    /// The labelers' mean pairwise agreement on the shared items.
    pub agreement: f64,
    /// Prompts ranked (with at least two distinct samples).
    pub groups: usize,
    /// Prompts left out because every sample was the same text.
    pub skipped_identical: usize,
}

/// K samples per prompt (sample j from `models[j % M]`) ranked by the training labelers.
pub fn label(world_dir: &Path, models: &[&Path], prompts: Option<&Path>, k: usize, limit: usize, out: &Path, seed: u64) -> Result<LabelReport> {
    let world = load_world(world_dir)?;
    let device = common::setup("cpu", 0)?;
    if models.is_empty() {
        anyhow::bail!("world label: no model to sample from");
    }
    let loaded = models.iter().map(|m| common::load_checkpoint(m, device)).collect::<Result<Vec<_>, _>>()?;
    let path = prompts.map(Path::to_path_buf).unwrap_or_else(|| world_dir.join("prompts_train.jsonl"));
    let texts: Vec<String> = gptlab_tokenizer::chat::read_prompts(&path)?.into_iter().take(limit).collect();
    let sc = SampleConfig { max_new_tokens: 24, temperature: 1.0, seed, ..Default::default() };
    let mut samples: Vec<Vec<String>> = vec![vec![]; texts.len()];
    for j in 0..k.max(2) {
        let l = &loaded[j % loaded.len()];
        let r = common::chat_replies(&l.model, &l.tok, &texts, &SampleConfig { seed: seed.wrapping_add(j as u64 * 104_729), ..sc.clone() })?;
        for (s, x) in samples.iter_mut().zip(r) {
            s.push(x);
        }
    }
    let trainers: Vec<&labelers::Labeler> = world.labelers.iter().filter(|l| !l.held_out).collect();
    let mut rng = Rng::new(seed ^ 0x1A);
    let (mut recs, mut shared) = (vec![], vec![]);
    let mut skipped = 0;
    for (i, (t, comps)) in texts.iter().zip(&samples).enumerate() {
        let p = world.judge_data(t).with_context(|| format!("{}: prompt {} is not from this world", path.display(), i + 1))?;
        // labelers compare distinct outputs (identical ones would only add coin flips)
        let mut comps = comps.clone();
        let mut seen = std::collections::HashSet::new();
        comps.retain(|c| seen.insert(c.clone()));
        if comps.len() < 2 {
            skipped += 1;
            continue;
        }
        let comps = &comps;
        let lab = trainers[i % trainers.len()];
        let ranking = lab.rank(&p, comps, &mut rng);
        recs.push(serde_json::json!({"prompt": t, "completions": comps, "ranking": ranking, "labeler": lab.id}));
        if i % 10 == 0 {
            shared.push(trainers.iter().map(|x| x.rank(&p, comps, &mut rng)).collect::<Vec<_>>());
        }
    }
    if recs.is_empty() {
        let names: Vec<String> = models.iter().map(|m| m.display().to_string()).collect();
        anyhow::bail!("{}: the model gave one distinct answer to every prompt; nothing to rank (sample more, or train less)", names.join(", "));
    }
    jsonl(out, recs)?;
    Ok(LabelReport { agreement: labelers::agreement(&shared), groups: texts.len() - skipped, skipped_identical: skipped })
}
