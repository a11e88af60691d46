//! `gptlab bench`: speed of one training step (data-parallel under `gptlab launch`), of KV-cache
//! generation, of continuous batching's decode step and of the data-parallel all-reduce, one
//! JSON line each.
//! The default shape is vocab 4096, context 256, 4 layers, 4 heads, width 256 (batch 8×256 for
//! training); `bench/` compares these with PyTorch and Hugging Face.

use crate::common::print_json;
use anyhow::Result;
use clap::{Parser, Subcommand};
use gptlab_model::{DeviceSpec, Dtype, KvCacheDtype};
use gptlab_train::bench;
use std::path::PathBuf;

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
    /// cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "cpu")]
    device: DeviceSpec,
    /// CPU threads (0 = all cores).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// fp32, or bf16 mixed precision.
    #[arg(long, default_value = "fp32")]
    dtype: Dtype,
}

impl Shape {
    fn lib(&self) -> bench::Shape {
        bench::Shape { vocab: self.vocab, block: self.block, n_layer: self.n_layer, n_head: self.n_head, n_embd: self.n_embd, device: self.device, threads: self.threads, dtype: self.dtype }
    }
}

#[derive(Subcommand)]
enum Cmd {
    /// Training step throughput (tokens/s) on random tokens.
    Train {
        #[command(flatten)]
        shape: Shape,
        #[arg(long, default_value_t = 8)]
        batch: i64,
        /// Timed steps (after the warm-up).
        #[arg(long, default_value_t = 20)]
        steps: usize,
        #[arg(long, default_value_t = 3)]
        warmup: usize,
        /// ZeRO stage 1 in a data-parallel run (AdamW's moments sharded across the ranks).
        #[arg(long)]
        zero1: bool,
    },
    /// All-reduce time and bandwidth across a data-parallel launch (`gptlab launch -n 2 -- bench allreduce`); rank 0 prints.
    Allreduce {
        /// Tensor sizes in MiB (float32).
        #[arg(long, value_delimiter = ',', default_values_t = [1.0, 16.0, 64.0])]
        sizes_mib: Vec<f64>,
        /// Timed all-reduces per size (after two untimed ones).
        #[arg(long, default_value_t = 10)]
        rounds: usize,
        /// CPU threads (0 = all cores).
        #[arg(long, default_value_t = 1)]
        threads: usize,
    },
    /// Greedy KV-cache generation throughput (new tokens/s).
    Generate {
        #[command(flatten)]
        shape: Shape,
        /// An HF GPT-2 checkpoint directory instead of a random model of the shape.
        #[arg(long)]
        model: Option<PathBuf>,
        #[arg(long, default_value_t = 1)]
        batch: usize,
        #[arg(long, default_value_t = 32)]
        prompt_len: usize,
        #[arg(long, default_value_t = 200)]
        new_tokens: usize,
        /// Timed repetitions (after one warm-up).
        #[arg(long, default_value_t = 3)]
        repeats: usize,
    },
    /// Continuous batching's decode step (the serving scheduler's slot KV cache): ms per step and new tokens/s at a number of rows.
    Decode {
        #[command(flatten)]
        shape: Shape,
        #[arg(long, default_value_t = 16)]
        rows: usize,
        #[arg(long, default_value_t = 32)]
        prompt_len: usize,
        /// Decode steps per run.
        #[arg(long, default_value_t = 200)]
        steps: usize,
        /// Timed runs (after one warm-up).
        #[arg(long, default_value_t = 3)]
        repeats: usize,
        /// auto (the model's precision) or f16, as `gptlab serve --kv-cache-dtype`.
        #[arg(long, default_value = "auto")]
        kv_cache_dtype: KvCacheDtype,
    },
}

/// Whether this process reports: rank 0 of a data-parallel launch, or a single process.
fn rank0() -> bool {
    std::env::var("RANK").map_or(true, |r| r.trim() == "0")
}

pub fn run(a: Args) -> Result<()> {
    match a.cmd {
        Cmd::Train { shape, batch, steps, warmup, zero1 } => {
            let r = bench::train_step(&shape.lib(), batch, steps, warmup, zero1)?;
            if rank0() {
                print_json(&r)?;
            }
            Ok(())
        }
        Cmd::Allreduce { sizes_mib, rounds, threads } => {
            let sizes: Vec<usize> = sizes_mib.iter().map(|m| (m * 1048576.0) as usize).collect();
            for r in bench::all_reduce(&sizes, rounds, threads)? {
                if rank0() {
                    print_json(&r)?;
                }
            }
            Ok(())
        }
        Cmd::Generate { shape, model, batch, prompt_len, new_tokens, repeats } => print_json(&bench::generation(&shape.lib(), model.as_ref(), batch, prompt_len, new_tokens, repeats)?),
        Cmd::Decode { shape, rows, prompt_len, steps, repeats, kv_cache_dtype } => print_json(&bench::decode(&shape.lib(), rows, prompt_len, steps, repeats, kv_cache_dtype)?),
    }
}
