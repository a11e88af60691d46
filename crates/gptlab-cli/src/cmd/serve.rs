//! `gptlab serve`: the OpenAI-compatible server and chat page (gptlab-serve).

use anyhow::Result;
use clap::Parser;
use gptlab_engine::sched::SchedOptions;
use gptlab_model::{DeviceSpec, KvCacheDtype};
use gptlab_serve::api::Limits;
use gptlab_serve::{parse_model_arg, serve, ServeOptions};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
pub struct Args {
    /// A checkpoint to serve: DIR (named by the path as given) or NAME=DIR; repeatable.
    #[arg(long = "model", required = true)]
    pub models: Vec<String>,
    /// SQLite file of API keys and the request log (created if absent).
    #[arg(long, default_value = "gptlab.db")]
    pub db: PathBuf,
    /// Address to listen on (port 0: any free port, printed at start).
    #[arg(long, default_value = "127.0.0.1:8000")]
    pub addr: String,
    #[arg(long, default_value = "cpu")]
    pub device: DeviceSpec,
    /// Sequences decoded together per model (continuous batching).
    #[arg(long, default_value_t = 16)]
    pub max_batch: usize,
    /// Requests that may wait for a free sequence slot; more are answered 429.
    #[arg(long, default_value_t = 64)]
    pub max_queue: usize,
    /// What the KV cache stores keys and values in: auto (the model's precision) or f16 (half
    /// the memory, and faster decode steps at a batch on the CPU). Default: f16 for a model on
    /// the CPU in fp32, auto elsewhere.
    #[arg(long)]
    pub kv_cache_dtype: Option<KvCacheDtype>,
    /// Requests per minute per API key (0: no limit).
    #[arg(long, default_value_t = 600.0)]
    pub rate_limit: f64,
    /// Most tokens one choice may generate.
    #[arg(long, default_value_t = 1024)]
    pub max_tokens: usize,
    /// Most choices per request.
    #[arg(long, default_value_t = 16)]
    pub max_n: usize,
    /// Largest request body, in bytes.
    #[arg(long, default_value_t = 1 << 20)]
    pub max_body: usize,
    /// Most messages in a chat request.
    #[arg(long, default_value_t = 256)]
    pub max_messages: usize,
    /// Seconds a request body may take to arrive.
    #[arg(long, default_value_t = 30)]
    pub body_timeout: u64,
    /// libtorch threads per model (0: the cores shared out among the models).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Seconds a labeler may hold a labeling task before it goes back to the queue.
    #[arg(long, default_value_t = 1800.0)]
    pub lease_seconds: f64,
    /// A trained detector (`gptlab detect train`) for /v1/detect's method `classifier`: NAME=DIR; repeatable.
    #[arg(long = "detector")]
    pub detectors: Vec<String>,
    #[command(flatten)]
    pub wm: crate::common::WatermarkArgs,
}

pub fn run(a: Args) -> Result<()> {
    let watermark = a.wm.get()?;
    let o = ServeOptions {
        models: a.models.iter().map(|m| parse_model_arg(m)).collect(),
        db: a.db,
        addr: a.addr,
        device: a.device,
        sched: SchedOptions { max_batch: a.max_batch, max_queue: a.max_queue, kv_cache_dtype: a.kv_cache_dtype },
        limits: Limits { max_body_bytes: a.max_body, max_messages: a.max_messages, max_tokens: a.max_tokens, max_n: a.max_n },
        rate_per_minute: a.rate_limit,
        body_timeout: Duration::from_secs(a.body_timeout),
        threads: a.threads,
        lease_s: a.lease_seconds,
        watermark,
        detectors: a.detectors.iter().map(|m| parse_model_arg(m)).collect(),
    };
    let names: Vec<String> = o.models.iter().map(|(n, _)| n.clone()).collect();
    let db = o.db.display().to_string();
    serve(&o, |addr| {
        // the URL line is printed last and flushed: scripts wait for it
        eprintln!("gptlab serve: models {names:?}, log {db}; chat page and API at:");
        println!("http://{addr}");
    })?;
    Ok(())
}
