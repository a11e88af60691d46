//! `gptlab demo detect`: detectors at toy scale on tiny Shakespeare, evaluated at fixed
//! false-positive rates (gptlab-pipeline's `detect` module says what runs). Included from
//! `demo.rs`.

use anyhow::Result;
use clap::Parser;
use gptlab_pipeline::detect::{self, DetectDemoOptions};
use std::path::PathBuf;

/// Detectors at toy scale: an observer GPT trained on 90% of the human text and a performer
/// trained further, held-out human passages and both models' continuations of their prefixes
/// (four decodings, a watermark, paraphrases), perplexity, burstiness, Fast-DetectGPT,
/// Binoculars and the watermark evaluated with thresholds fitted on human text only. Writes
/// <out>/report.md, report.json and roc.png; prints a summary line.
#[derive(Parser)]
pub struct DetectArgs {
    #[arg(long, default_value = "runs/detect")]
    out: PathBuf,
    /// Folder with pretrain.toml and pretrain_performer.toml.
    #[arg(long, default_value = "configs/tiny/detect")]
    configs: PathBuf,
    /// The human text (plain text; passages at blank lines).
    #[arg(long, default_value = "../shared/data/tinyshakespeare/input.txt")]
    human: PathBuf,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Held-out human passages (each also gives the model texts).
    #[arg(long, default_value_t = 400)]
    passages: usize,
    #[arg(long, default_value = "gptlab-demo")]
    watermark_key: String,
    /// Bootstrap resamples of each AUROC interval.
    #[arg(long, default_value_t = 1000)]
    resamples: usize,
    /// Override one stage's config key, e.g. --set pretrain:train.max_iters=50 (repeatable;
    /// stages: pretrain, pretrain_performer).
    #[arg(long = "set", value_name = "STAGE:KEY=VALUE")]
    overrides: Vec<String>,
    #[arg(long)]
    quiet: bool,
}

pub fn run(a: DetectArgs) -> Result<()> {
    let o = DetectDemoOptions { out: a.out, configs: a.configs, human: a.human, seed: a.seed, passages: a.passages, watermark_key: a.watermark_key, resamples: a.resamples, overrides: a.overrides, progress: !a.quiet };
    let r = detect::run(&o)?;
    let line = serde_json::json!({"report": o.out.join("report.md"), "methods": r.methods, "human_test": r.human_test, "seconds": r.total_seconds});
    println!("{line}");
    Ok(())
}
