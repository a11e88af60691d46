//! `gptlab eval`: judge a checkpoint. `loss`: held-out next-token loss on a text file.

use crate::common;
use anyhow::Result;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
pub struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Mean next-token cross-entropy over a text file, as the model's tokenizer.json encodes
    /// it (no BOS added), in windows of the model's context. Prints {"loss", "tokens"}.
    Loss {
        #[arg(long)]
        model: PathBuf,
        #[arg(long)]
        data: PathBuf,
        #[arg(long, default_value_t = 8)]
        batch_size: usize,
        #[arg(long, default_value = "cpu")]
        device: String,
    },
    /// Functional correctness: run samples against unit tests in a sandbox, print pass@k
    /// (human-eval compatible files); with --model, sample the completions first.
    Code(crate::eval_code::Args),
    /// Win rate of --model against --baseline on the world's held-out prompts, by the hidden
    /// true preference (and by held-out labelers), with a 95% interval.
    World {
        #[arg(long)]
        world: PathBuf,
        #[arg(long)]
        model: PathBuf,
        #[arg(long)]
        baseline: PathBuf,
        /// Prompts (default: <world>/prompts_val.jsonl).
        #[arg(long)]
        prompts: Option<PathBuf>,
        #[arg(long, default_value_t = 400)]
        limit: usize,
        /// Sampling temperature of both models' replies (1.0: the labelers compare samples, as
        /// in the paper; 0: greedy).
        #[arg(long, default_value_t = 1.0)]
        temperature: f64,
        /// Samples per prompt and model (pairs are compared in order).
        #[arg(long, default_value_t = 4)]
        samples: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
}

pub fn run(a: Args) -> Result<()> {
    match a.cmd {
        Cmd::Loss { model, data, batch_size, device } => {
            let device = common::setup(&device, 0)?;
            let l = common::load_checkpoint(&model, device)?;
            let text = gptlab_tokenizer::read_corpus(&data)?;
            let ids = l.tok.encode(&text)?;
            let r = gptlab_eval::loss::loss_over_tokens(&l.model, &ids, batch_size)?;
            println!("{}", serde_json::to_string(&r)?);
        }
        Cmd::Code(a) => super::eval_sample::run(a)?,
        Cmd::World { world, model, baseline, prompts, limit, temperature, samples, seed } => {
            let how = super::eval_world::Sampling { temperature, samples, seed };
            let r = super::eval_world::win_rate(&world, &model, &baseline, prompts.as_deref(), limit, &how)?;
            println!("{}", serde_json::to_string(&r)?);
        }
    }
    Ok(())
}
