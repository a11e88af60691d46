//! `gptlab demo`: InstructGPT's method end to end on the synthetic world, at toy scale on a
//! CPU, ending in `<out>/report.md` (with plots) and `<out>/report.json` (gptlab-pipeline's
//! `demo` module says what runs); `gptlab demo codex`: Codex's findings (`demo_codex.rs`);
//! `gptlab demo detect`: detectors at fixed false-positive rates (`demo_detect.rs`).

use anyhow::Result;
use clap::{Parser, Subcommand};
use gptlab_pipeline::demo::{self, DemoOptions};
use std::path::PathBuf;

#[path = "demo_codex.rs"]
mod demo_codex;
#[path = "demo_detect.rs"]
mod demo_detect;

#[derive(Parser)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    codex: Option<Sub>,
    #[command(flatten)]
    instruct: InstructArgs,
}

#[derive(Subcommand)]
enum Sub {
    /// Codex at toy scale: code fine-tuning from a GPT vs from scratch, Codex-S, the sampling study.
    Codex(demo_codex::CodexArgs),
    /// Detectors at toy scale on tiny Shakespeare, at fixed false-positive rates.
    Detect(demo_detect::DetectArgs),
}

/// The InstructGPT demo (no subcommand).
#[derive(Parser)]
struct InstructArgs {
    /// Output directory (the report is <out>/report.md).
    #[arg(long, default_value = "runs/demo")]
    out: PathBuf,
    /// Folder with pretrain.toml, sft.toml, rm.toml and ppo.toml.
    #[arg(long, default_value = "configs/tiny")]
    configs: PathBuf,
    /// Seed of the synthetic world.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Sentences of pretraining text in the world.
    #[arg(long, default_value_t = 20_000)]
    corpus_sentences: usize,
    /// Prompts logged from the world's API users.
    #[arg(long, default_value_t = 6_000)]
    prompts: usize,
    /// Samples per prompt the labelers rank.
    #[arg(short = 'k', long, default_value_t = 4)]
    k: usize,
    /// Prompts sent to the labelers for ranking, per round.
    #[arg(long, default_value_t = 2_400)]
    label_prompts: usize,
    /// Rounds of comparison collection. Round 1 ranks SFT samples; each later round first runs
    /// PPO against the current RM, then ranks samples of SFT and that policy side by side, and
    /// retrains the RM on every comparison so far (InstructGPT's comparisons came from several
    /// models). The final PPO and PPO-ptx start from SFT with the last RM.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=5))]
    rounds: u32,
    /// Override one stage's config key, e.g. --set pretrain:train.max_iters=50 (repeatable;
    /// stages: pretrain, sft, rm, ppo).
    #[arg(long = "set", value_name = "STAGE:KEY=VALUE")]
    overrides: Vec<String>,
    #[arg(long)]
    quiet: bool,
}

pub fn run(a: Args) -> Result<()> {
    match a.codex {
        Some(Sub::Codex(c)) => demo_codex::run(c),
        Some(Sub::Detect(d)) => demo_detect::run(d),
        None => instruct(a.instruct),
    }
}

fn instruct(a: InstructArgs) -> Result<()> {
    let o = DemoOptions {
        out: a.out,
        configs: a.configs,
        seed: a.seed,
        corpus_sentences: a.corpus_sentences,
        prompts: a.prompts,
        k: a.k,
        label_prompts: a.label_prompts,
        rounds: a.rounds,
        overrides: a.overrides,
        progress: !a.quiet,
    };
    let r = demo::run(&o)?;
    let line = serde_json::json!({"report": o.out.join("report.md"), "rm_accuracy": r.rm_accuracy, "labeler_agreement": r.labeler_agreement,
        "win_rate_ppo_vs_sft": r.win_rate_ppo_vs_sft, "win_rate_ppo_ptx_vs_sft": r.win_rate_ppo_ptx_vs_sft, "pretrain_val_loss": r.pretrain_val_loss});
    println!("{line}");
    Ok(())
}
