//! Speed measurements behind `gptlab bench`: one training step (forward, cross-entropy,
//! backward, clipping, AdamW), KV-cache generation and continuous batching's decode step, on a
//! model of a given shape (or, for generation, a checkpoint). Each reports the median over timed repetitions after warm-up,
//! with min and max, peak memory and where it ran. `bench/` compares these with PyTorch and
//! Hugging Face. Under a data-parallel launch (`gptlab launch`, torchrun) the training step
//! is data-parallel as in the training loop (gradients averaged across ranks), and
//! [`all_reduce`] measures the collective itself.

use crate::optim::{AdamW, OptimConfig};
use crate::Result;
use gptlab_engine::{generate, SampleConfig};
use gptlab_model::roles::{self, Mode};
use gptlab_model::{DeviceSpec, Dtype, Gpt, GptConfig, KvCacheDtype, SlotCache};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Instant;
use tch::{Kind, Tensor};

/// A model shape and where it runs.
#[derive(Debug, Clone)]
pub struct Shape {
    pub vocab: i64,
    pub block: i64,
    pub n_layer: i64,
    pub n_head: i64,
    pub n_embd: i64,
    pub device: DeviceSpec,
    pub threads: usize,
    pub dtype: Dtype,
}

impl Shape {
    fn config(&self) -> GptConfig {
        GptConfig::new(self.vocab, self.block, self.n_layer, self.n_head, self.n_embd)
    }
}

/// Peak resident memory of this process (MiB), from /proc.
pub fn peak_rss_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// The fastest, median (the upper one of an even count) and slowest of timings (non-empty).
struct Spread {
    min: f64,
    median: f64,
    max: f64,
}

fn spread(times: &[f64]) -> Spread {
    let mut t = times.to_vec();
    t.sort_by(f64::total_cmp);
    Spread { min: t[0], median: t[t.len() / 2], max: t[t.len() - 1] }
}

#[derive(Debug, Clone, Serialize)]
pub struct TrainBench {
    pub bench: &'static str,
    pub tokens_per_s: f64,
    pub step_ms_median: f64,
    pub step_ms_min: f64,
    pub step_ms_max: f64,
    pub steps: usize,
    pub peak_rss_mib: Option<f64>,
    pub params: i64,
    pub batch: i64,
    pub block: i64,
    pub threads: i32,
    pub device: String,
    pub loss: f64,
    pub dtype: Dtype,
    /// Processes in the data-parallel run (1: a single process); `tokens_per_s` counts the
    /// global batch (batch × world size).
    pub world_size: usize,
    /// AdamW's moments sharded across the ranks (ZeRO stage 1).
    pub zero1: bool,
    pub version: &'static str,
}

/// `steps` timed training steps on random tokens after `warmup` untimed ones; with `zero1` in
/// a data-parallel run, AdamW's moments are sharded across the ranks.
pub fn train_step(shape: &Shape, batch: i64, steps: usize, warmup: usize, zero1: bool) -> Result<TrainBench> {
    let (device, dist) = crate::dist::join(shape.device, shape.threads)?;
    let world = dist.as_ref().map_or(1, |d| d.world_size());
    tch::manual_seed(0);
    let vs = tch::nn::VarStore::new(device);
    let cfg = shape.config();
    let mut model = Gpt::new(&vs.root(), &cfg)?;
    model.set_precision(shape.dtype);
    let mut opt = AdamW::new(&vs, OptimConfig::default(), gptlab_model::gpt::decays)?;
    if let Some(d) = &dist {
        crate::dist::sync_start(d, &[&vs], 0)?;
        if zero1 {
            opt.shard(d.clone())?;
        }
    }
    let x = Tensor::randint(shape.vocab, [batch, shape.block + 1], (Kind::Int64, device));
    let (inp, tgt) = (x.narrow(1, 0, shape.block), x.narrow(1, 1, shape.block));
    let mut times = Vec::new();
    let mut last_loss = 0.0;
    for i in 0..warmup + steps.max(1) {
        let t0 = Instant::now();
        opt.zero_grad();
        if let Some(d) = &dist {
            opt.arm_reduction(d)?;
        }
        let loss = model.loss(&inp, &tgt, true)?;
        loss.backward();
        if let Some(d) = &dist {
            opt.average_grads(d)?;
        }
        opt.clip_and_step(1e-4)?;
        last_loss = loss.double_value(&[]);
        if i >= warmup {
            times.push(t0.elapsed().as_secs_f64());
        }
    }
    let t = spread(&times);
    Ok(TrainBench {
        bench: "train",
        tokens_per_s: (batch * shape.block * world as i64) as f64 / t.median,
        step_ms_median: t.median * 1e3,
        step_ms_min: t.min * 1e3,
        step_ms_max: t.max * 1e3,
        steps: times.len(),
        peak_rss_mib: peak_rss_mib(),
        params: cfg.num_params(),
        batch,
        block: shape.block,
        threads: tch::get_num_threads(),
        device: format!("{device:?}"),
        loss: last_loss,
        dtype: shape.dtype,
        world_size: world,
        zero1: zero1 && world > 1,
        version: env!("CARGO_PKG_VERSION"),
    })
}

/// One all-reduce size's timings.
#[derive(Debug, Clone, Serialize)]
pub struct AllReduceBench {
    pub bench: &'static str,
    pub bytes: usize,
    pub world_size: usize,
    pub backend: String,
    pub ms_median: f64,
    pub ms_min: f64,
    pub ms_max: f64,
    /// Bytes reduced per second at the median (the tensor's size over the time, nccl-tests'
    /// "algorithm bandwidth"), GB/s.
    pub algbw_gbs: f64,
    pub rounds: usize,
}

/// Times an in-place sum all-reduce of a float32 tensor of each of `sizes` bytes across the
/// data-parallel run of the environment: `rounds` timed collectives after 2 untimed ones, each
/// started together (after a barrier) and timed on this rank until it completes.
pub fn all_reduce(sizes: &[usize], rounds: usize, threads: usize) -> Result<Vec<AllReduceBench>> {
    let (_, dist) = crate::dist::join(DeviceSpec::Cpu, threads)?;
    let d = dist.ok_or_else(|| crate::Error::Data("bench allreduce needs a data-parallel launch: gptlab launch -n 2 -- bench allreduce".into()))?;
    let mut out = Vec::new();
    for &bytes in sizes {
        let t = Tensor::ones([(bytes / 4).max(1) as i64], (Kind::Float, tch::Device::Cpu));
        let mut times = Vec::new();
        for i in 0..rounds.max(1) + 2 {
            d.barrier()?;
            let t0 = Instant::now();
            d.all_reduce(std::slice::from_ref(&t), gptlab_dist::ReduceOp::Sum)?;
            if i >= 2 {
                times.push(t0.elapsed().as_secs_f64());
            }
        }
        let s = spread(&times);
        out.push(AllReduceBench {
            bench: "allreduce",
            bytes,
            world_size: d.world_size(),
            backend: d.backend(),
            ms_median: s.median * 1e3,
            ms_min: s.min * 1e3,
            ms_max: s.max * 1e3,
            algbw_gbs: bytes as f64 / s.median / 1e9,
            rounds: times.len(),
        });
    }
    Ok(out)
}

#[derive(Debug, Clone, Serialize)]
pub struct GenerateBench {
    pub bench: &'static str,
    pub tokens_per_s: f64,
    pub seconds_median: f64,
    pub seconds_min: f64,
    pub seconds_max: f64,
    pub new_tokens: usize,
    pub batch: usize,
    pub prompt_len: usize,
    pub peak_rss_mib: Option<f64>,
    pub threads: i32,
    pub device: String,
    pub dtype: Dtype,
    pub version: &'static str,
}

/// Greedy generation of `new_tokens` tokens for `batch` copies of a `prompt_len`-token
/// prompt, timed `repeats` times after one warm-up; from `model` (a checkpoint) or a fresh
/// model of `shape`.
pub fn generation(shape: &Shape, model: Option<&PathBuf>, batch: usize, prompt_len: usize, new_tokens: usize, repeats: usize) -> Result<GenerateBench> {
    let device = gptlab_model::device::setup(shape.device, shape.threads)?;
    tch::manual_seed(0);
    let (_vs, mut gpt) = match model {
        Some(dir) => roles::lm_weights_only(dir, device, Mode::Frozen)?,
        None => {
            let vs = tch::nn::VarStore::new(device);
            let m = Gpt::new(&vs.root(), &shape.config())?;
            (vs, m)
        }
    };
    gpt.set_precision(shape.dtype);
    let prompt: Vec<u32> = (0..prompt_len as u32).map(|i| (i * 7 + 3) % gpt.cfg.vocab_size as u32).collect();
    let cfg = SampleConfig { max_new_tokens: new_tokens, temperature: 0.0, stop_at_end: false, ..Default::default() };
    let mut times = Vec::new();
    let mut produced = 0;
    for _ in 0..repeats.max(1) + 1 {
        let t0 = Instant::now();
        let g = generate(&gpt, None, &vec![prompt.clone(); batch], &cfg).map_err(|e| crate::Error::Data(format!("generate: {e}")))?;
        times.push(t0.elapsed().as_secs_f64());
        produced = g.iter().map(|g| g.tokens.len()).sum::<usize>();
    }
    let t = spread(&times[1..]);
    Ok(GenerateBench {
        bench: "generate",
        tokens_per_s: produced as f64 / t.median,
        seconds_median: t.median,
        seconds_min: t.min,
        seconds_max: t.max,
        new_tokens: produced,
        batch,
        prompt_len,
        peak_rss_mib: peak_rss_mib(),
        threads: tch::get_num_threads(),
        device: format!("{device:?}"),
        dtype: shape.dtype,
        version: env!("CARGO_PKG_VERSION"),
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct DecodeBench {
    pub bench: &'static str,
    /// Rows (sequences) decoded together.
    pub rows: usize,
    /// New tokens per second over all rows: `rows` over the median step.
    pub tokens_per_s: f64,
    pub ms_per_step_median: f64,
    pub ms_per_step_min: f64,
    pub ms_per_step_max: f64,
    pub prompt_len: usize,
    pub steps: usize,
    pub kv_cache_dtype: String,
    pub threads: i32,
    pub device: String,
    pub dtype: Dtype,
    pub version: &'static str,
}

/// Continuous batching's decode step alone (`Gpt::decode_rows` on a [`SlotCache`] with keys
/// and values in `kv`): `rows` sequences, each prefilled with a `prompt_len`-token prompt of
/// its own, then `steps` decode steps of every row; a step's time is a run's over its steps,
/// over `repeats` runs after one warm-up, each on a fresh cache. A fresh model of `shape`.
pub fn decode(shape: &Shape, rows: usize, prompt_len: usize, steps: usize, repeats: usize, kv: KvCacheDtype) -> Result<DecodeBench> {
    if rows == 0 || prompt_len == 0 || steps == 0 || (prompt_len + steps) as i64 > shape.block {
        return Err(crate::Error::Data(format!("bench decode: {rows} rows of a {prompt_len}-token prompt and {steps} steps (each at least 1) must fit the context of {} (--block)", shape.block)));
    }
    let device = gptlab_model::device::setup(shape.device, shape.threads)?;
    tch::manual_seed(0);
    let vs = tch::nn::VarStore::new(device);
    let mut gpt = Gpt::new(&vs.root(), &shape.config())?;
    gpt.set_precision(shape.dtype);
    let v = gpt.cfg.vocab_size as u32;
    let prompts: Vec<Vec<u32>> = (0..rows as u32).map(|r| (0..prompt_len as u32).map(|i| (i * 7 + r * 13 + 3) % v).collect()).collect();
    let prompts: Vec<&[u32]> = prompts.iter().map(Vec::as_slice).collect();
    let next: Vec<u32> = (0..rows as u32).map(|r| (r * 31 + 5) % v).collect();
    let mut times = Vec::new();
    tch::no_grad(|| -> Result<()> {
        for _ in 0..repeats.max(1) + 1 {
            let mut cache = SlotCache::with_dtype(&gpt, rows, shape.block, kv);
            let _ = gpt.prefill_rows(&mut cache, &prompts)?;
            let t0 = Instant::now();
            for _ in 0..steps {
                let _ = gpt.decode_rows(&mut cache, &next)?;
            }
            times.push(t0.elapsed().as_secs_f64() / steps as f64);
        }
        Ok(())
    })?;
    let t = spread(&times[1..]);
    Ok(DecodeBench {
        bench: "decode",
        rows,
        tokens_per_s: rows as f64 / t.median,
        ms_per_step_median: t.median * 1e3,
        ms_per_step_min: t.min * 1e3,
        ms_per_step_max: t.max * 1e3,
        prompt_len,
        steps,
        kv_cache_dtype: kv.to_string(),
        threads: tch::get_num_threads(),
        device: format!("{device:?}"),
        dtype: shape.dtype,
        version: env!("CARGO_PKG_VERSION"),
    })
}
