//! The HTTP server: OpenAI's routes over one scheduler per model, API keys, a per-key rate
//! limit, the request log, the chat page, and the labeling pages ([`crate::label::http`]).
//!
//! A request goes: key → rate limit → body (size and time limits) → checks ([`crate::api`]) →
//! its log row, committed → one engine request per choice → the response, whole or streamed
//! as server-sent events → the log row completed. A client that goes away mid-stream cancels
//! its sequences (their rows leave the batch at the next step) and is logged as
//! `client_closed`.

use crate::api::{parse_request, ApiError, ChatRequest, Common, CompletionRequest, Job, Limits, ModelInfo};
use crate::openai::{self, Choice, Endpoint};
use crate::store::{Outcome, Principal, Store};
use axum::body::{Body, Bytes};
use axum::extract::{Path as UrlPath, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::StreamExt;
use gptlab_core::rng::stream_seed;
use gptlab_engine::sched::{Event, Handle, Request, SubmitError};
use gptlab_engine::SampleConfig;
use gptlab_tokenizer::Tokenizer;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

/// One served model.
pub struct Model {
    pub handle: Handle,
    /// The checkpoint directory (`/v1/detect` loads its own copy).
    pub dir: std::path::PathBuf,
    pub tok: Tokenizer,
    pub context: usize,
    pub created: u64,
}

/// Requests per minute each key may make, refilled continuously, with bursts up to `burst`.
#[derive(Debug, Clone, Copy)]
pub struct RateLimit {
    pub per_minute: f64,
    pub burst: f64,
}

pub struct AppState {
    pub models: BTreeMap<String, Model>,
    pub store: Arc<Store>,
    pub limits: Limits,
    pub rate: Option<RateLimit>,
    /// How long a request body may take to arrive.
    pub body_timeout: Duration,
    /// Seconds a labeler may hold a labeling task before it goes back to the queue.
    pub lease_s: f64,
    /// Applied to every completion request's sampling (`gptlab serve --watermark`).
    pub watermark: Option<gptlab_engine::Watermark>,
    /// Where `/v1/detect` scores, one request at a time.
    pub detect_device: tch::Device,
    pub detect_lock: Mutex<()>,
    /// Trained detectors (`gptlab serve --detector NAME=DIR`) by name.
    pub detectors: BTreeMap<String, std::path::PathBuf>,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
    counter: AtomicU64,
}

impl AppState {
    pub fn new(models: BTreeMap<String, Model>, store: Store, limits: Limits, rate: Option<RateLimit>, body_timeout: Duration, lease_s: f64) -> Self {
        Self { models, store: Arc::new(store), limits, rate, body_timeout, lease_s, watermark: None, detect_device: tch::Device::Cpu, detect_lock: Mutex::default(), detectors: BTreeMap::new(), buckets: Mutex::default(), counter: AtomicU64::new(0) }
    }

    /// A fresh id suffix and a seed for requests that give none.
    fn next(&self) -> (String, u64) {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0);
        (format!("{t:x}{n:04x}"), stream_seed(t ^ n, "serve/seed"))
    }
}

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(|| async { Html(include_str!("page/chat.html")) }))
        .route("/health", get(health))
        .route("/v1/models", get(models))
        .route("/v1/models/{id}", get(model))
        .route("/v1/chat/completions", post(|s: State<Arc<AppState>>, h: HeaderMap, b: Body| serve(s, h, b, Endpoint::Chat)))
        .route("/v1/completions", post(|s: State<Arc<AppState>>, h: HeaderMap, b: Body| serve(s, h, b, Endpoint::Completions)))
        .route("/v1/detect", post(crate::detect::detect))
        .merge(crate::label::http::routes())
        .fallback(|| async { ApiError::invalid(None, "unknown URL; see /v1/models, /v1/chat/completions, /v1/completions").status(StatusCode::NOT_FOUND) })
        .with_state(state)
}

async fn health(State(st): State<Arc<AppState>>) -> Json<Value> {
    Json(json!({"status": "ok", "models": st.models.keys().collect::<Vec<_>>()}))
}

fn model_object(name: &str, m: &Model) -> Value {
    json!({"id": name, "object": "model", "created": m.created, "owned_by": "gptlab", "context_length": m.context})
}

async fn models(State(st): State<Arc<AppState>>, h: HeaderMap) -> Response {
    match authorize(&st, &h) {
        Ok(_) => Json(json!({"object": "list", "data": st.models.iter().map(|(k, m)| model_object(k, m)).collect::<Vec<_>>()})).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn model(State(st): State<Arc<AppState>>, h: HeaderMap, UrlPath(id): UrlPath<String>) -> Response {
    match authorize(&st, &h).and_then(|_| st.models.get(&id).ok_or_else(|| not_found(&id))) {
        Ok(m) => Json(model_object(&id, m)).into_response(),
        Err(e) => e.into_response(),
    }
}

fn not_found(model: &str) -> ApiError {
    ApiError::invalid("model".to_string(), format!("The model `{model}` does not exist")).status(StatusCode::NOT_FOUND).with_code("model_not_found")
}

/// The key's principal; without a key, anonymous only on a server whose store has no keys.
pub(crate) fn authorize(st: &AppState, h: &HeaderMap) -> Result<Principal, ApiError> {
    let store_err = |e: crate::Error| ApiError::server(e.to_string());
    let key = h.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")).map(str::trim).filter(|k| !k.is_empty());
    match key {
        Some(k) => st.store.principal(k).map_err(store_err)?.ok_or_else(|| ApiError::unauthorized("Incorrect API key provided.")),
        None if st.store.has_keys().map_err(store_err)? => Err(ApiError::unauthorized("You didn't provide an API key (Authorization: Bearer KEY).")),
        None => Ok(Principal::anonymous()),
    }
}

/// Takes a token from the principal's bucket, or says when one is due.
fn rate_limit(st: &AppState, who: &Principal) -> Result<(), ApiError> {
    let Some(r) = st.rate else { return Ok(()) };
    let mut b = st.buckets.lock().unwrap_or_else(|p| p.into_inner());
    let now = Instant::now();
    let (tokens, at) = b.entry(who.user.clone()).or_insert((r.burst, now));
    *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * r.per_minute / 60.0).min(r.burst);
    *at = now;
    if *tokens < 1.0 {
        let wait = (1.0 - *tokens) * 60.0 / r.per_minute;
        return Err(ApiError::rate_limited(format!("Rate limit reached for {}: {} requests per minute. Try again in {wait:.1}s.", who.user, r.per_minute)));
    }
    *tokens -= 1.0;
    Ok(())
}

pub(crate) async fn read_body(st: &AppState, h: &HeaderMap, body: Body) -> Result<Bytes, ApiError> {
    let limit = st.limits.max_body_bytes;
    let too_large = || ApiError::invalid(None, format!("the request body is over this server's limit of {limit} bytes")).status(StatusCode::PAYLOAD_TOO_LARGE);
    if h.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok()).is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    match tokio::time::timeout(st.body_timeout, axum::body::to_bytes(body, limit)).await {
        Err(_) => Err(ApiError::invalid(None, format!("the request body did not arrive within {} s", st.body_timeout.as_secs())).status(StatusCode::REQUEST_TIMEOUT)),
        Ok(Err(e)) if e.to_string().contains("length limit") => Err(too_large()),
        Ok(Err(e)) => Err(ApiError::invalid(None, format!("cannot read the request body: {e}"))),
        Ok(Ok(b)) => Ok(b),
    }
}

/// Marks a log row `client_closed` if the request ends without an outcome.
struct LogGuard {
    store: Arc<Store>,
    id: i64,
    prompt_tokens: usize,
    done: bool,
}

impl LogGuard {
    fn finish(mut self, o: Outcome) {
        self.done = true;
        if let Err(e) = self.store.finish(self.id, &o) {
            eprintln!("gptlab serve: request {}: {e}", self.id);
        }
    }
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        if !self.done {
            let o = Outcome { status: "client_closed", response: None, error: None, prompt_tokens: self.prompt_tokens, completion_tokens: 0 };
            let _ = self.store.finish(self.id, &o);
        }
    }
}

async fn serve(State(st): State<Arc<AppState>>, h: HeaderMap, body: Body, ep: Endpoint) -> Response {
    match accept(&st, &h, body, ep).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

/// The parsed request: settings, the checked job, and what the log keeps of it.
fn prepare(st: &AppState, bytes: &[u8], ep: Endpoint, seed: u64) -> Result<(Common, Job, Value), ApiError> {
    let (common, job, input, body) = match ep {
        Endpoint::Chat => {
            let (c, r, mut body) = parse_request::<ChatRequest>(bytes)?;
            let m = st.models.get(&c.model).ok_or_else(|| not_found(&c.model))?;
            let job = r.job(&c, &ModelInfo { tok: &m.tok, context: m.context }, &st.limits, seed)?;
            let input = body.get_mut("messages").map(Value::take);
            (c, job, input, body)
        }
        Endpoint::Completions => {
            let (c, r, mut body) = parse_request::<CompletionRequest>(bytes)?;
            let m = st.models.get(&c.model).ok_or_else(|| not_found(&c.model))?;
            let job = r.job(&c, &ModelInfo { tok: &m.tok, context: m.context }, &st.limits, seed)?;
            let input = body.get_mut("prompt").map(Value::take);
            (c, job, input, body)
        }
    };
    Ok((common, job, json!({"input": input, "params": body})))
}

async fn accept(st: &Arc<AppState>, h: &HeaderMap, body: Body, ep: Endpoint) -> Result<Response, ApiError> {
    let who = authorize(st, h)?;
    rate_limit(st, &who)?;
    let bytes = read_body(st, h, body).await?;
    let (suffix, fresh_seed) = st.next();
    let (common, job, logged) = prepare(st, &bytes, ep, fresh_seed)?;
    let m = st.models.get(&common.model).ok_or_else(|| not_found(&common.model))?;
    let id = st.store.log_request(&who, &common.model, ep.name(), &logged["input"], &logged["params"]).map_err(|e| ApiError::server(e.to_string()))?;
    // as OpenAI counts: each prompt once, whatever `n`
    let prompt_tokens: usize = job.prompts.iter().map(Vec::len).sum();
    let guard = LogGuard { store: st.store.clone(), id, prompt_tokens, done: false };
    let mut rxs = vec![];
    for (p, prompt) in job.prompts.iter().enumerate() {
        for i in 0..job.n {
            let k = p * job.n + i;
            let (tx, rx) = unbounded_channel();
            let cfg = SampleConfig { seed: stream_seed(job.seed, &format!("choice/{k}")), watermark: st.watermark.clone(), ..job.cfg.clone() };
            if let Err(e) = m.handle.submit(Request { prompt: prompt.clone(), cfg, logprobs: job.logprobs, events: tx }) {
                let err = match e {
                    SubmitError::QueueFull(_) => ApiError::rate_limited(format!("The server is busy ({e}); retry shortly.")),
                    SubmitError::Stopped => ApiError::server(e.to_string()),
                };
                guard.finish(Outcome { status: "rejected", response: None, error: Some(err.message.clone()), prompt_tokens, completion_tokens: 0 });
                return Err(err);
            }
            rxs.push(rx);
        }
    }
    let rid = format!("{}-{suffix}", if ep == Endpoint::Chat { "chatcmpl" } else { "cmpl" });
    let created = crate::store::now() as u64;
    let ctx = Ctx { ep, id: rid, created, model: common.model.clone(), logprobs: job.logprobs.is_some(), prompt_tokens, include_usage: job.include_usage };
    if job.stream {
        return Ok(stream(ctx, rxs, guard).into_response());
    }
    let mut choices = vec![Choice::default(); rxs.len()];
    for (c, rx) in choices.iter_mut().zip(rxs.iter_mut()) {
        while let Some(ev) = rx.recv().await {
            if let Err(e) = apply(c, ev) {
                guard.finish(Outcome { status: "error", response: None, error: Some(e.clone()), prompt_tokens, completion_tokens: 0 });
                return Err(ApiError::server(e));
            }
        }
    }
    let body = openai::response(ep, &ctx.id, created, &ctx.model, &choices, ctx.logprobs, prompt_tokens);
    let completion_tokens = choices.iter().map(|c| c.completion_tokens).sum();
    guard.finish(Outcome { status: "ok", response: Some(body.clone()), error: None, prompt_tokens, completion_tokens });
    Ok(Json(body).into_response())
}

/// Adds an engine event to a choice; an engine failure is an error.
fn apply(c: &mut Choice, ev: Event) -> Result<(), String> {
    match ev {
        Event::Token(t) => {
            c.text.push_str(&t.text);
            c.tokens.push(t);
        }
        Event::Done { finish, completion_tokens, .. } => {
            c.finish = Some(finish);
            c.completion_tokens = completion_tokens;
        }
        Event::Failed(e) => return Err(e),
    }
    Ok(())
}

struct Ctx {
    ep: Endpoint,
    id: String,
    created: u64,
    model: String,
    logprobs: bool,
    prompt_tokens: usize,
    include_usage: bool,
}

fn events(rx: UnboundedReceiver<Event>) -> impl futures_util::Stream<Item = Event> {
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|e| (e, rx)) })
}

/// Server-sent events: a chunk per token of each choice, then the usage chunk if asked for,
/// then `[DONE]`. A task forwards the engine's events; when the client is gone its sends fail,
/// and dropping the engine receivers cancels the sequences.
fn stream(ctx: Ctx, rxs: Vec<UnboundedReceiver<Event>>, guard: LogGuard) -> impl IntoResponse {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<SseEvent, std::convert::Infallible>>(64);
    tokio::spawn(async move {
        let mut choices = vec![Choice::default(); rxs.len()];
        let mut merged = futures_util::stream::select_all(rxs.into_iter().enumerate().map(|(k, rx)| events(rx).map(move |e| (k, e)).boxed()));
        let send = |v: Value| tx.send(Ok(SseEvent::default().data(v.to_string())));
        while let Some((k, ev)) = merged.next().await {
            let first = choices[k].tokens.is_empty() && choices[k].finish.is_none();
            let chunk = match &ev {
                Event::Token(t) if t.text.is_empty() && !ctx.logprobs => None,
                Event::Token(t) => Some(openai::chunk(ctx.ep, &ctx.id, ctx.created, &ctx.model, k, Some(&t.text), first, ctx.logprobs.then_some(std::slice::from_ref(t)), None)),
                Event::Done { finish, .. } => Some(openai::chunk(ctx.ep, &ctx.id, ctx.created, &ctx.model, k, None, first, None, Some(*finish))),
                Event::Failed(_) => None,
            };
            if let Err(e) = apply(&mut choices[k], ev) {
                let _ = send(ApiError::server(e.clone()).body()).await;
                guard.finish(Outcome { status: "error", response: None, error: Some(e), prompt_tokens: ctx.prompt_tokens, completion_tokens: 0 });
                return;
            }
            if let Some(c) = chunk {
                if send(c).await.is_err() {
                    return; // the client is gone: the guard logs it, dropping `merged` cancels
                }
            }
        }
        let completion: usize = choices.iter().map(|c| c.completion_tokens).sum();
        if ctx.include_usage && send(openai::usage_chunk(ctx.ep, &ctx.id, ctx.created, &ctx.model, ctx.prompt_tokens, completion)).await.is_err() {
            return;
        }
        if tx.send(Ok(SseEvent::default().data("[DONE]"))).await.is_err() {
            return;
        }
        let body = openai::response(ctx.ep, &ctx.id, ctx.created, &ctx.model, &choices, ctx.logprobs, ctx.prompt_tokens);
        guard.finish(Outcome { status: "ok", response: Some(body), error: None, prompt_tokens: ctx.prompt_tokens, completion_tokens: completion });
    });
    Sse::new(futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|e| (e, rx)) })).keep_alive(KeepAlive::default())
}
