//! `gptlab world`: the synthetic world (generate its data; have its labelers rank samples).

use crate::common::print_json;
use anyhow::Result;
use clap::{Parser, Subcommand};
use gptlab_eval::world::data::{generate, label, GenerateOptions, LabelOptions};
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

pub fn run(a: Args) -> Result<()> {
    match a.cmd {
        Cmd::Generate { seed, out, corpus_sentences, prompts, known, unknown } => print_json(&generate(&GenerateOptions { seed, corpus_sentences, prompts, known, unknown }, &out)?),
        Cmd::Label { world, model, prompts, k, limit, out, seed } => {
            let models: Vec<&Path> = model.iter().map(PathBuf::as_path).collect();
            print_json(&label(&world, &models, prompts.as_deref(), &LabelOptions { k, limit, seed }, &out)?)
        }
    }
}
