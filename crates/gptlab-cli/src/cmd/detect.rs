//! `gptlab detect`: is this text model-written? Scores a JSONL file (or `--text`) with one
//! method; `detect make-set` builds human and model texts; `detect train` fine-tunes the
//! classifier (gptlab-train's `detect` stage); `detect eval` evaluates methods at fixed
//! false-positive rates (gptlab-eval's `detect`, `detect_set`, `detect_eval`).

use crate::common::{print_json, run_stage, StageArgs, WatermarkArgs};
use anyhow::{bail, Result};
use clap::{Args as ClapArgs, Parser, Subcommand};
use gptlab_eval::detect::files::{detect_lines, eval_run, inputs, EvalRunOptions};
use gptlab_eval::detect::Method;
use gptlab_eval::detect_set::{make_set, Decoding, MakeSetOptions};
use std::path::PathBuf;

#[derive(Parser)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    sub: Option<Sub>,
    #[command(flatten)]
    score: ScoreArgs,
}

/// Scoring (no subcommand).
#[derive(ClapArgs)]
struct ScoreArgs {
    /// perplexity, burstiness, fast-detectgpt, binoculars, classifier, watermark (with --watermark KEY).
    #[arg(long)]
    method: Option<Method>,
    /// The scoring model (Binoculars' observer; the classifier: `detect train`'s checkpoint).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Fast-DetectGPT's sampling model, or Binoculars' performer (same tokenizer).
    #[arg(long)]
    reference: Option<PathBuf>,
    /// JSONL with a `text` per record.
    #[arg(long, conflicts_with = "text")]
    file: Option<PathBuf>,
    /// One text to score.
    #[arg(long)]
    text: Option<String>,
    /// A calibration from `detect eval` (`calibration_<method>.json`): adds p_model and fpr_at_score.
    #[arg(long)]
    calibration: Option<PathBuf>,
    /// Output JSONL (default: stdout).
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    wm: WatermarkArgs,
}

#[derive(Subcommand)]
enum Sub {
    /// Human passages (held-out text) and a model's continuations of their prefixes at
    /// matched length under several decodings: human.jsonl, model.jsonl.
    MakeSet {
        /// Human text the model was not trained on (plain text, passages at blank lines; or JSONL `text`).
        #[arg(long)]
        human: PathBuf,
        #[arg(long)]
        model: PathBuf,
        /// The name model texts are tagged with (default: the model path as given).
        #[arg(long)]
        generator: Option<String>,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 16)]
        prefix_tokens: usize,
        #[arg(long, default_value_t = 64)]
        min_tokens: usize,
        #[arg(long, default_value_t = 128)]
        max_tokens: usize,
        /// Passages skipped from the start (another set's), then --limit passages used.
        #[arg(long, default_value_t = 0)]
        skip: usize,
        #[arg(long, default_value_t = 200)]
        limit: usize,
        #[arg(long, value_delimiter = ',', default_value = "greedy,sample,top-p,top-k")]
        decodings: Vec<Decoding>,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Add a sentence-shuffled copy of each model text (paraphrased: true).
        #[arg(long)]
        paraphrase: bool,
        /// Add watermarked model texts (decoding `watermark`) under this key.
        #[command(flatten)]
        wm: WatermarkArgs,
    },
    /// Fine-tune the classifier (a scalar head on a GPT trunk) on human vs model texts.
    Train(StageArgs),
    /// Evaluate methods: thresholds fitted on a human-only calibration split, false-positive
    /// rates measured on a disjoint human split; AUROC, TPR at 1% and 0.1% FPR, breakdowns;
    /// report.json, report.md, roc.png, calibration_<method>.json.
    Eval {
        #[arg(long)]
        human: PathBuf,
        #[arg(long = "model-text")]
        model_text: PathBuf,
        #[arg(long, value_delimiter = ',', default_value = "perplexity,burstiness,fast-detectgpt")]
        methods: Vec<Method>,
        #[arg(long)]
        model: PathBuf,
        #[arg(long)]
        reference: Option<PathBuf>,
        /// The classifier (`detect train`'s checkpoint), for --methods classifier.
        #[arg(long)]
        classifier: Option<PathBuf>,
        /// Texts of this generator are white-box (the detector's model wrote them).
        #[arg(long)]
        white_box: Option<String>,
        #[arg(long, default_value_t = 0.5)]
        cal_fraction: f64,
        #[arg(long, default_value_t = 1000)]
        resamples: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        wm: WatermarkArgs,
    },
}

pub fn run(a: Args) -> Result<()> {
    match a.sub {
        Some(Sub::MakeSet { human, model, generator, out, prefix_tokens, min_tokens, max_tokens, skip, limit, decodings, seed, paraphrase, wm }) => {
            let generator = generator.unwrap_or_else(|| model.display().to_string());
            let o = MakeSetOptions { prefix_tokens, min_tokens, max_tokens, skip, limit, decodings, generator, seed, watermark: wm.get()?, paraphrase };
            print_json(&make_set(&human, &model, &o, &out)?)
        }
        Some(Sub::Train(a)) => run_stage(&a, gptlab_train::stages::detect::run),
        Some(Sub::Eval { human, model_text, methods, model, reference, classifier, white_box, cal_fraction, resamples, seed, out, wm }) => {
            let o = EvalRunOptions { human, model_text, methods, model, reference, white_box, cal_fraction, seed, resamples, watermark: wm.get()?, classifier };
            let r = eval_run(&o, &out)?;
            eprintln!("detect eval: report in {}", out.join("report.md").display());
            print_json(&r)
        }
        None => score(a.score),
    }
}

fn score(a: ScoreArgs) -> Result<()> {
    let (Some(method), Some(model)) = (a.method, a.model.as_ref()) else { bail!("--method and --model are required (or a subcommand: make-set, eval)") };
    let inputs = inputs(a.file.as_deref(), a.text.as_deref())?;
    let rows = detect_lines(method, model, a.reference.as_deref(), &inputs, a.wm.get()?.as_ref(), a.calibration.as_deref())?;
    match &a.out {
        Some(p) => gptlab_core::fsio::write_atomic(p, rows.as_bytes())?,
        None => print!("{rows}"),
    }
    Ok(())
}
