//! gptlab-serve: serving models the way OpenAI's API did. `POST /v1/chat/completions` and
//! `POST /v1/completions` (whole or streamed), `GET /v1/models`, `GET /health` and a chat page
//! at `/`, over the engine's continuous-batching scheduler (one per model); API keys, a
//! per-key rate limit and a request log in SQLite ([`store`]); labeling ([`label`]): tasks,
//! the labeling pages at `/label`, agreement and export, on the same store.

pub mod api;
pub mod detect;
pub mod label;
pub mod openai;
pub mod prompts;
pub mod server;
pub mod store;

use gptlab_engine::sched::{self, SchedOptions};
use gptlab_model::roles::{self, Mode};
use server::{AppState, Model, RateLimit};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {msg}")]
    Store { path: PathBuf, msg: String },
    #[error("{0}")]
    Input(String),
    #[error(transparent)]
    Model(#[from] gptlab_model::Error),
    #[error(transparent)]
    Engine(#[from] gptlab_engine::Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}
pub type Result<T> = std::result::Result<T, Error>;

/// `gptlab serve`'s settings.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// (name, checkpoint directory) of each model.
    pub models: Vec<(String, PathBuf)>,
    pub db: PathBuf,
    /// `HOST:PORT` (port 0: any free port).
    pub addr: String,
    pub device: gptlab_model::DeviceSpec,
    pub sched: SchedOptions,
    pub limits: api::Limits,
    /// Requests per minute per key (0: no limit).
    pub rate_per_minute: f64,
    pub body_timeout: Duration,
    /// libtorch threads per model (0: the cores shared out among the models).
    pub threads: usize,
    /// Seconds a labeler may hold a labeling task before it goes back to the queue.
    pub lease_s: f64,
    /// A watermark applied to every completion request's sampling (not to labeling tasks).
    pub watermark: Option<gptlab_engine::Watermark>,
    /// (name, checkpoint directory) of each trained detector (`gptlab detect train`) that
    /// `/v1/detect` offers as method `classifier`.
    pub detectors: Vec<(String, PathBuf)>,
}

/// `NAME=DIR` or `DIR` (named by the path as given, as vLLM names a model).
pub fn parse_model_arg(s: &str) -> (String, PathBuf) {
    match s.split_once('=') {
        Some((name, dir)) if !name.is_empty() && !name.contains('/') => (name.to_string(), PathBuf::from(dir)),
        _ => (s.trim_end_matches('/').to_string(), PathBuf::from(s)),
    }
}

/// Loads the models, opens the store and serves until interrupted. `ready` is called with the
/// bound address once the server accepts connections.
pub fn serve(o: &ServeOptions, ready: impl FnOnce(std::net::SocketAddr)) -> Result<()> {
    if o.models.is_empty() {
        return Err(Error::Input("no model to serve (--model DIR or --model NAME=DIR)".into()));
    }
    let store = store::Store::open(&o.db)?;
    // each model's scheduler thread loads and runs it with its share of the cores
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let threads = if o.threads > 0 { o.threads } else { (cores / o.models.len()).max(1) };
    let mut models = BTreeMap::new();
    for (name, dir) in &o.models {
        if models.contains_key(name) {
            return Err(Error::Input(format!("--model {name}: two models with one name")));
        }
        let (ckpt, device) = (dir.clone(), o.device);
        let load = move || roles::lm(&ckpt, gptlab_model::device::setup(device, threads)?, Mode::Frozen);
        let (handle, tok, context) = sched::spawn(load, o.sched)?;
        models.insert(name.clone(), Model { handle, dir: dir.clone(), tok, context, created: store::now() as u64 });
    }
    let rate = (o.rate_per_minute > 0.0).then(|| RateLimit { per_minute: o.rate_per_minute, burst: o.rate_per_minute.max(1.0) });
    let mut state = AppState::new(models, store, o.limits.clone(), rate, o.body_timeout, o.lease_s);
    state.watermark = o.watermark.clone();
    for (name, dir) in &o.detectors {
        let cfg = gptlab_model::checkpoint::load_config(dir).map_err(|e| Error::Input(format!("--detector {name}={}: {e}", dir.display())))?;
        if !cfg.is_scalar_model() {
            return Err(Error::Input(format!("--detector {name}={}: not a trained detector (a scalar model from `gptlab detect train`)", dir.display())));
        }
        if state.detectors.insert(name.clone(), dir.clone()).is_some() {
            return Err(Error::Input(format!("--detector {name}: two detectors with one name")));
        }
    }
    state.detect_device = o.device.resolve()?;
    let state = Arc::new(state);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(&o.addr).await.map_err(|e| Error::Input(format!("--addr {}: {e}", o.addr)))?;
        ready(listener.local_addr()?);
        let stop = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        axum::serve(listener, server::router(state)).with_graceful_shutdown(stop).await?;
        Ok(())
    })
}
