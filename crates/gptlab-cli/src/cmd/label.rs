//! `gptlab label`: labeling tasks, guidelines, export and status on a server's store
//! (gptlab-serve's `label`); the labeling itself happens at `/label` on `gptlab serve`.

use crate::common::print_json;
use anyhow::Result;
use clap::{Parser, Subcommand};
use gptlab_model::DeviceSpec;
use gptlab_eval::agreement::Group;
use gptlab_serve::label::{agreement, db, export, tasks};
use gptlab_serve::parse_model_arg;
use gptlab_serve::store::Store;
use std::path::PathBuf;

#[derive(Parser)]
pub struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Create tasks: a demonstration task per prompt, and a ranking task of K outputs sampled
    /// from the models (output j from model j mod M; identical outputs merged).
    Tasks {
        #[arg(long, default_value = "gptlab.db")]
        db: PathBuf,
        /// JSONL prompts `{"prompt", "user"?}` (as `gptlab data prompts` writes them).
        #[arg(long)]
        prompts: PathBuf,
        /// A checkpoint to sample from: DIR or NAME=DIR; repeatable.
        #[arg(long = "model", required = true)]
        models: Vec<String>,
        /// Outputs per ranking task.
        #[arg(short = 'k', long, default_value_t = 4)]
        k: usize,
        /// Fraction of tasks given to several labelers, for agreement.
        #[arg(long, default_value_t = 0.1)]
        overlap: f64,
        /// Labelers an overlap task goes to.
        #[arg(long, default_value_t = 3)]
        overlap_labelers: usize,
        #[arg(long, default_value_t = 64)]
        max_new_tokens: usize,
        #[arg(long, default_value_t = 1.0)]
        temperature: f64,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long, default_value = "cpu")]
        device: DeviceSpec,
    },
    /// Set the labeling guidelines from a markdown file (a new version; labels carry it).
    Guidelines {
        #[arg(long, default_value = "gptlab.db")]
        db: PathBuf,
        #[arg(long)]
        file: PathBuf,
        /// Who sets them.
        #[arg(long, default_value = "admin")]
        author: String,
    },
    /// Write the labels as sft.jsonl, comparisons.jsonl, pairs.jsonl and prompts.jsonl (the
    /// formats `gptlab sft`, `gptlab rm` and `gptlab ppo` read), and report.json.
    Export {
        #[arg(long, default_value = "gptlab.db")]
        db: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// Agreement between labelers on shared ranking items: pairwise agreement (strict, ties
    /// as half), Kendall's tau-b, Krippendorff's alpha (ordinal), per labeler and against the
    /// admin's gold labels, with bootstrap intervals; one JSON object.
    Agreement {
        /// The server's store (labels of `held-out` keys form the held-out group).
        #[arg(long, conflicts_with = "comparisons", required_unless_present = "comparisons")]
        db: Option<PathBuf>,
        /// A comparisons file in the K-way format `gptlab rm` reads, with `labeler` ids.
        #[arg(long)]
        comparisons: Option<PathBuf>,
        /// Labeler ids of the comparisons file that are held-out labelers (comma-separated).
        #[arg(long, value_delimiter = ',', requires = "comparisons")]
        held_out: Vec<String>,
        /// Seed of the bootstrap resamples.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Counts of tasks, leases and labels.
    Status {
        #[arg(long, default_value = "gptlab.db")]
        db: PathBuf,
    },
}

pub fn run(a: Args) -> Result<()> {
    match a.cmd {
        Cmd::Tasks { db, prompts, models, k, overlap, overlap_labelers, max_new_tokens, temperature, seed, device } => {
            let models: Vec<_> = models.iter().map(|m| parse_model_arg(m)).collect();
            let o = tasks::TaskOptions { k, overlap, overlap_labelers, max_new_tokens, temperature, seed, device };
            print_json(&tasks::create_tasks(&Store::open(&db)?, &prompts, &models, &o)?)
        }
        Cmd::Guidelines { db, file, author } => {
            let md = gptlab_core::fsio::read_text(&file)?;
            let version = db::set_guidelines(&Store::open(&db)?, &md, &author)?;
            print_json(&serde_json::json!({"version": version}))
        }
        Cmd::Export { db, out } => {
            let e = export::export(&Store::open(&db)?)?;
            export::write(&e, &out)?;
            print_json(&e.report)
        }
        Cmd::Status { db } => print_json(&db::status(&Store::open(&db)?)?),
        Cmd::Agreement { db, comparisons, held_out, seed } => match (db, comparisons) {
            (Some(db), _) => print_json(&agreement::report(&Store::open(&db)?, seed)?),
            (None, Some(c)) => {
                let group = |id: &str| if held_out.iter().any(|h| h == id) { Group::HeldOut } else { Group::Labeler };
                print_json(&gptlab_eval::agreement::agreement(&gptlab_eval::agreement::items_from_comparisons(&c, group)?, seed)?)
            }
            (None, None) => anyhow::bail!("--db or --comparisons"),
        },
    }
}
