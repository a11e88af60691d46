//! `gptlab sample`: generate from a checkpoint (KV cache, batched, seeded).

use anyhow::Result;
use clap::Parser;
use gptlab_engine::{generate, SampleConfig};
use gptlab_model::roles::{self, Mode};
use gptlab_model::DeviceSpec;
use std::path::PathBuf;

#[derive(Parser)]
pub struct Args {
    /// Checkpoint directory (config.json, model.safetensors, tokenizer.json).
    #[arg(long)]
    pub model: PathBuf,
    /// Prompt text (empty: start from the end-of-document token).
    #[arg(long, default_value = "")]
    pub prompt: String,
    /// Number of samples (generated as one batch).
    #[arg(short = 'n', long, default_value_t = 1)]
    pub num_samples: usize,
    #[arg(long, default_value_t = 100)]
    pub max_new_tokens: usize,
    /// 0 = greedy.
    #[arg(long, default_value_t = 0.8)]
    pub temperature: f64,
    #[arg(long)]
    pub top_k: Option<usize>,
    #[arg(long)]
    pub top_p: Option<f64>,
    /// Stop sequence (repeatable).
    #[arg(long)]
    pub stop: Vec<String>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long, default_value = "cpu")]
    pub device: DeviceSpec,
    /// Treat the prompt as a user turn of the chat format and sample the assistant's reply
    /// (stops at <|end|>).
    #[arg(long)]
    pub chat: bool,
    /// Print one JSON object per sample instead of plain text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub wm: crate::common::WatermarkArgs,
}

pub fn run(a: Args) -> Result<()> {
    let l = roles::lm(&a.model, gptlab_model::device::setup(a.device, 0)?, Mode::Frozen)?;
    let prompt = if a.chat { l.tok.render_prompt(&a.prompt)? } else { l.tok.encode(&a.prompt)? };
    let watermark = a.wm.get()?;
    let cfg = SampleConfig { max_new_tokens: a.max_new_tokens, temperature: a.temperature, top_k: a.top_k, top_p: a.top_p, stop: a.stop.clone(), seed: a.seed, stop_at_end: true, watermark };
    for g in generate(&l.model, Some(&l.tok), &vec![prompt; a.num_samples], &cfg)? {
        if a.json {
            let rec = serde_json::json!({"prompt": a.prompt, "completion": g.text, "finish_reason": g.finish, "tokens": g.tokens.len(), "mean_logprob": g.mean_logprob()});
            println!("{rec}");
        } else {
            println!("{}{}\n---", a.prompt, g.text);
        }
    }
    Ok(())
}
