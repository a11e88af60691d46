//! `gptlab demo`: the whole pipeline at toy scale on CPU, ending in `<out>/report.md`.
//!
//! Today's pipeline: train a byte-level BPE tokenizer and a small GPT on a corpus
//! (`configs/tiny/pretrain.toml`), measure held-out loss with `eval loss`, sample from the
//! best checkpoint, and write the report with the loss curve.

use crate::cmd::pretrain;
use crate::common;
use anyhow::{Context, Result};
use clap::Parser;
use gptlab_engine::{generate, SampleConfig};
use gptlab_train::config::PretrainConfig;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Parser)]
pub struct Args {
    /// Output directory (the report is <out>/report.md).
    #[arg(long, default_value = "runs/demo")]
    out: PathBuf,
    /// Text corpus to pretrain on.
    #[arg(long, default_value = "../shared/data/tinyshakespeare/input.txt")]
    corpus: PathBuf,
    /// Pretraining config.
    #[arg(long, default_value = "configs/tiny/pretrain.toml")]
    config: PathBuf,
    /// Override a pretraining config key (repeatable), e.g. --set train.max_iters=50.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    overrides: Vec<String>,
    #[arg(long)]
    quiet: bool,
}

pub fn run(a: Args) -> Result<()> {
    let t0 = Instant::now();
    if !a.corpus.exists() {
        anyhow::bail!("{}: corpus not found (pass --corpus FILE)", a.corpus.display());
    }
    let mut ov = vec![
        format!("data.corpus={}", toml_str(&a.corpus.display().to_string())),
        format!("run.out_dir={}", toml_str(&a.out.join("pretrain").display().to_string())),
    ];
    ov.extend(a.overrides.iter().cloned());
    let cfg: PretrainConfig = gptlab_core::config::load(&a.config, &ov)?;
    let resolved = gptlab_core::config::to_toml(&cfg);
    eprintln!("demo: pretraining ({} steps) → {}", cfg.train.max_iters, cfg.run.out_dir.display());
    let summary = pretrain::run_config(&cfg, &resolved, false, !a.quiet).context("pretrain stage")?;

    let best = cfg.run.out_dir.join("best");
    let device = common::setup(&cfg.train.device, cfg.train.threads)?;
    let l = common::load_checkpoint(&best, device)?;
    let corpus = gptlab_tokenizer::read_corpus(&cfg.data.corpus)?;
    let cut = corpus.char_indices().nth((corpus.chars().count() as f64 * (1.0 - cfg.data.val_fraction)) as usize).map_or(0, |(i, _)| i);
    let val_ids = l.tok.encode(&corpus[cut..])?;
    let val = gptlab_eval::loss::loss_over_tokens(&l.model, &val_ids, 8)?;
    let prompts = ["", "ROMEO:", "The king"];
    let sc = SampleConfig { max_new_tokens: 80, temperature: 0.8, top_k: Some(50), seed: 1, ..Default::default() };
    let mut samples = Vec::new();
    for p in prompts {
        let ids = l.tok.encode(p)?;
        let g = generate(&l.model, Some(&l.tok), &[ids], &sc)?;
        samples.push((p, g.into_iter().next().map(|g| g.text).unwrap_or_default()));
    }

    let mut r = String::new();
    writeln!(r, "# gptlab demo report\n")?;
    writeln!(r, "Pipeline: tokenizer → pretrain → eval loss → sample. Wall time {:.1} s.\n", t0.elapsed().as_secs_f64())?;
    writeln!(r, "## Pretraining\n")?;
    writeln!(r, "- corpus: `{}` ({} tokens with a {}-token vocabulary)", cfg.data.corpus.display(), l.tok.encode(&corpus)?.len(), l.tok.vocab_size())?;
    writeln!(r, "- model: {} layers, {} heads, width {}, context {} ({} parameters)", l.model.cfg.n_layer, l.model.cfg.n_head, l.model.cfg.n_embd, l.model.cfg.n_positions, l.model.cfg.num_params())?;
    writeln!(r, "- {} steps of batch {}×{}, {:.0} tokens/s, {:.1} s", summary.steps, cfg.train.batch_size, cfg.model.block_size, summary.tokens_per_s, summary.wall_s)?;
    writeln!(r, "- eval loss at the end {:.4}, best {:.4}", summary.final_eval_loss, summary.best_eval_loss)?;
    writeln!(r, "- `eval loss` of the best checkpoint over the whole validation split: **{:.4}** nats/token over {} tokens\n", val.loss, val.tokens)?;
    writeln!(r, "![loss curve](pretrain/loss.png)\n")?;
    writeln!(r, "## Samples (temperature 0.8, top-k 50, seed 1)\n")?;
    for (p, s) in &samples {
        writeln!(r, "**prompt** `{}`\n\n```text\n{}{}\n```\n", if p.is_empty() { "<empty>" } else { p }, p, s)?;
    }
    writeln!(r, "## Config\n\n```toml\n{resolved}```")?;
    gptlab_core::fsio::write_atomic(&a.out.join("report.md"), r.as_bytes())?;
    let report = serde_json::json!({
        "pretrain_final_eval_loss": summary.final_eval_loss,
        "pretrain_best_eval_loss": summary.best_eval_loss,
        "pretrain_val_loss": val.loss,
        "pretrain_tokens_per_s": summary.tokens_per_s,
        "wall_s": t0.elapsed().as_secs_f64(),
    });
    gptlab_core::fsio::write_json_atomic(&a.out.join("report.json"), &report)?;
    println!("{}", serde_json::json!({"report": a.out.join("report.md"), "pretrain_val_loss": val.loss}));
    Ok(())
}

fn toml_str(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}
