//! `gptlab bench`: speed of one training step and of KV-cache generation, one JSON line each.
//! The default model is the benchmark model of the foundation issue: vocab 4096, context 256,
//! 4 layers, 4 heads, width 256, batch 8×256; `bench/` compares it with PyTorch/HF.

use crate::common;
use anyhow::Result;
use clap::{Parser, Subcommand};
use gptlab_engine::{generate, SampleConfig};
use gptlab_model::{Gpt, GptConfig};
use gptlab_train::optim::{AdamW, OptimConfig};
use std::path::PathBuf;
use std::time::Instant;
use tch::{Kind, Tensor};

#[derive(Parser)]
pub struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Parser, Clone)]
struct Shape {
    #[arg(long, default_value_t = 4096)]
    vocab: i64,
    #[arg(long, default_value_t = 256)]
    block: i64,
    #[arg(long, default_value_t = 4)]
    n_layer: i64,
    #[arg(long, default_value_t = 4)]
    n_head: i64,
    #[arg(long, default_value_t = 256)]
    n_embd: i64,
    #[arg(long, default_value = "cpu")]
    device: String,
    /// CPU threads (0 = all cores).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Compute precision: fp32 or bf16 (mixed precision, fp32 master weights).
    #[arg(long, default_value = "fp32")]
    dtype: String,
}

#[derive(Subcommand)]
enum Cmd {
    /// Tokens/s of forward + loss + backward + AdamW on random tokens.
    Train {
        #[command(flatten)]
        shape: Shape,
        #[arg(long, default_value_t = 8)]
        batch: i64,
        #[arg(long, default_value_t = 20)]
        steps: usize,
        #[arg(long, default_value_t = 3)]
        warmup: usize,
    },
    /// Tokens/s of KV-cache generation (greedy, no early stop).
    Generate {
        #[command(flatten)]
        shape: Shape,
        /// Checkpoint to load instead of random weights (same weights as a peer run).
        #[arg(long)]
        model: Option<PathBuf>,
        #[arg(long, default_value_t = 1)]
        batch: usize,
        #[arg(long, default_value_t = 32)]
        prompt_len: usize,
        #[arg(long, default_value_t = 200)]
        new_tokens: usize,
        #[arg(long, default_value_t = 3)]
        repeats: usize,
    },
}

/// Peak resident memory of this process in MiB (Linux VmHWM).
pub fn peak_rss_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

pub fn run(a: Args) -> Result<()> {
    match a.cmd {
        Cmd::Train { shape, batch, steps, warmup } => {
            let device = common::setup(&shape.device, shape.threads)?;
            tch::manual_seed(0);
            let vs = tch::nn::VarStore::new(device);
            let cfg = GptConfig::new(shape.vocab, shape.block, shape.n_layer, shape.n_head, shape.n_embd);
            let mut model = Gpt::new(&vs.root(), &cfg)?;
            model.set_precision(&shape.dtype)?;
            let mut opt = AdamW::new(&vs, OptimConfig::default(), gptlab_model::gpt::decays)?;
            let x = Tensor::randint(shape.vocab, [batch, shape.block + 1], (Kind::Int64, device));
            let (inp, tgt) = (x.narrow(1, 0, shape.block), x.narrow(1, 1, shape.block));
            let mut times = Vec::new();
            let mut last_loss = 0.0;
            for i in 0..warmup + steps {
                let t0 = Instant::now();
                opt.zero_grad();
                let loss = model.loss(&inp, &tgt, true)?;
                loss.backward();
                opt.clip_and_step(1e-4);
                last_loss = loss.double_value(&[]);
                if i >= warmup {
                    times.push(t0.elapsed().as_secs_f64());
                }
            }
            times.sort_by(f64::total_cmp);
            let median = times[times.len() / 2];
            let toks = (batch * shape.block) as f64;
            println!(
                "{}",
                serde_json::json!({"bench": "train", "tokens_per_s": toks / median, "step_ms_median": median * 1e3,
                "step_ms_min": times[0] * 1e3, "step_ms_max": times[times.len() - 1] * 1e3, "steps": steps,
                "peak_rss_mib": peak_rss_mib(), "params": cfg.num_params(), "batch": batch, "block": shape.block,
                "threads": tch::get_num_threads(), "device": format!("{device:?}"), "loss": last_loss, "dtype": shape.dtype,
                "version": env!("CARGO_PKG_VERSION")})
            );
        }
        Cmd::Generate { shape, model, batch, prompt_len, new_tokens, repeats } => {
            let device = common::setup(&shape.device, shape.threads)?;
            tch::manual_seed(0);
            let (_vs, mut gpt) = match &model {
                Some(dir) => {
                    let (mut vs, m) = gptlab_model::checkpoint::load_model(dir, device)?;
                    vs.freeze();
                    (vs, m)
                }
                None => {
                    let vs = tch::nn::VarStore::new(device);
                    let cfg = GptConfig::new(shape.vocab, shape.block, shape.n_layer, shape.n_head, shape.n_embd);
                    let m = Gpt::new(&vs.root(), &cfg)?;
                    (vs, m)
                }
            };
            gpt.set_precision(&shape.dtype)?;
            let prompt: Vec<u32> = (0..prompt_len as u32).map(|i| (i * 7 + 3) % gpt.cfg.vocab_size as u32).collect();
            let cfg = SampleConfig { max_new_tokens: new_tokens, temperature: 0.0, stop_at_end: false, ..Default::default() };
            let mut times = Vec::new();
            let mut produced = 0;
            for _ in 0..repeats + 1 {
                let t0 = Instant::now();
                let g = generate(&gpt, None, &vec![prompt.clone(); batch], &cfg)?;
                times.push(t0.elapsed().as_secs_f64());
                produced = g.iter().map(|g| g.tokens.len()).sum::<usize>();
            }
            let times = &mut times[1..];
            times.sort_by(f64::total_cmp);
            let median = times[times.len() / 2];
            println!(
                "{}",
                serde_json::json!({"bench": "generate", "tokens_per_s": produced as f64 / median, "seconds_median": median,
                "new_tokens": produced, "batch": batch, "prompt_len": prompt_len, "peak_rss_mib": peak_rss_mib(),
                "threads": tch::get_num_threads(), "device": format!("{device:?}"), "dtype": shape.dtype, "version": env!("CARGO_PKG_VERSION")})
            );
        }
    }
    Ok(())
}
