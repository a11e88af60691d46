//! `gptlab sample`: generate from a checkpoint (KV cache, batched, seeded).

use crate::common;
use anyhow::Result;
use clap::Parser;
use gptlab_engine::{generate, SampleConfig};
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
    pub device: String,
    /// Treat the prompt as a user turn of the chat format and sample the assistant's reply
    /// (stops at <|end|>).
    #[arg(long)]
    pub chat: bool,
    /// Print one JSON object per sample instead of plain text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: Args) -> Result<()> {
    let device = common::setup(&a.device, 0)?;
    let l = common::load_checkpoint(&a.model, device)?;
    let prompt = if a.chat {
        l.tok.render_chat(&[gptlab_tokenizer::chat::Message::user(&a.prompt)], true)?.ids
    } else {
        l.tok.encode(&a.prompt)?
    };
    let cfg = SampleConfig {
        max_new_tokens: a.max_new_tokens,
        temperature: a.temperature,
        top_k: a.top_k,
        top_p: a.top_p,
        stop: a.stop.clone(),
        seed: a.seed,
        stop_at_end: true,
    };
    let gens = generate(&l.model, Some(&l.tok), &vec![prompt; a.num_samples], &cfg)?;
    for g in gens {
        if a.json {
            println!("{}", serde_json::json!({"prompt": a.prompt, "completion": g.text, "finish_reason": g.finish,
                "tokens": g.tokens.len(), "mean_logprob": g.mean_logprob()}));
        } else {
            println!("{}{}\n---", a.prompt, g.text);
        }
    }
    Ok(())
}
