//! Continuous batching: one scheduler thread owns a model and serves every request for it,
//! with iteration-level scheduling as in Orca and vLLM. Each step it admits waiting requests
//! (prefilled together, each into a free row of a [`SlotCache`]), draws one token for every running
//! sequence, sends the new text, drops the sequences that finished or whose client went away,
//! and runs one decode step for the rest. A sequence draws from its own RNG (seeded by its
//! request), so the same request gives the same text alone or in a batch.
//!
//! Requests wait in a bounded queue; [`Handle::submit`] fails at once when it is full.

use crate::stream::{Detokenizer, Release, StopMatcher};
use crate::{pick, pick_token, Finish, SampleConfig};
use gptlab_core::rng::Rng;
use gptlab_model::roles::Loaded;
use gptlab_model::{Gpt, KvCacheDtype, SlotCache};
use gptlab_tokenizer::Tokenizer;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use tch::Tensor;
use tokio::sync::mpsc::UnboundedSender;

/// Sizes of a scheduler.
#[derive(Debug, Clone, Copy)]
pub struct SchedOptions {
    /// Sequences decoded together (rows of the KV cache).
    pub max_batch: usize,
    /// Requests that may wait for a row.
    pub max_queue: usize,
    /// What the KV cache stores keys and values in; `None`, [`KvCacheDtype::serving_default`].
    pub kv_cache_dtype: Option<KvCacheDtype>,
}

impl Default for SchedOptions {
    fn default() -> Self {
        Self { max_batch: 16, max_queue: 64, kv_cache_dtype: None }
    }
}

/// One sequence to generate.
#[derive(Debug)]
pub struct Request {
    /// Prompt token ids (non-empty).
    pub prompt: Vec<u32>,
    pub cfg: SampleConfig,
    /// Log-probabilities to report: `None`, none (each [`TokenOut`]'s `logprob` is NaN and
    /// its `token_text` empty); `Some(k)`, each token's and its `k` most likely alternatives'.
    pub logprobs: Option<usize>,
    /// Where the sequence's events go; generation stops when the receiver is dropped.
    pub events: UnboundedSender<Event>,
}

/// A token's text and log-probabilities.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenOut {
    /// Text this token releases (may be empty, or hold text earlier tokens started).
    pub text: String,
    pub token: u32,
    /// The token's own text, for log-probability reports.
    pub token_text: String,
    /// Log-probability under the model (temperature 1); NaN unless the request asked for it.
    pub logprob: f32,
    /// The most likely tokens at this step, with their log-probabilities.
    pub top: Vec<(String, f32)>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Token(TokenOut),
    Done { finish: Finish, prompt_tokens: usize, completion_tokens: usize },
    Failed(String),
}

/// Why a request was not queued.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("the queue of {0} waiting requests is full")]
    QueueFull(usize),
    #[error("the model's scheduler has stopped")]
    Stopped,
}

/// The way in to a scheduler; cloning it is cheap.
#[derive(Debug, Clone)]
pub struct Handle {
    tx: SyncSender<Request>,
    max_queue: usize,
}

impl Handle {
    pub fn submit(&self, r: Request) -> Result<(), SubmitError> {
        self.tx.try_send(r).map_err(|e| match e {
            TrySendError::Full(_) => SubmitError::QueueFull(self.max_queue),
            TrySendError::Disconnected(_) => SubmitError::Stopped,
        })
    }
}

/// Starts a scheduler thread; `load` runs on it and gives the model it owns. Loading there
/// matters: libtorch's CPU thread pool belongs to the thread that first runs an operator, and
/// a second thread's pool on the same cores (the model loaded on one thread, run on another)
/// made each decode step several times slower. Returns the way in, the model's tokenizer and
/// its context length once the model is loaded; the thread ends when every [`Handle`] is
/// dropped.
pub fn spawn<F>(load: F, o: SchedOptions) -> crate::Result<(Handle, Tokenizer, usize)>
where
    F: FnOnce() -> Result<Loaded<Gpt>, gptlab_model::Error> + Send + 'static,
{
    let (tx, rx) = sync_channel(o.max_queue.max(1));
    let (ready_tx, ready_rx) = sync_channel(1);
    std::thread::Builder::new()
        .name("gptlab-sched".into())
        .spawn(move || match load() {
            Ok(l) => {
                let _ = ready_tx.send(Ok((l.tok.clone(), l.model.cfg.n_positions as usize)));
                tch::no_grad(|| run(&l.model, &l.tok, o, rx));
            }
            Err(e) => {
                let _ = ready_tx.send(Err(e));
            }
        })
        .map_err(|e| crate::Error::Settings(format!("cannot start a scheduler thread: {e}")))?;
    let (tok, context) = ready_rx.recv().map_err(|_| crate::Error::Settings("the scheduler thread ended while loading its model".into()))??;
    Ok((Handle { tx, max_queue: o.max_queue.max(1) }, tok, context))
}

struct Seq {
    req: Request,
    rng: Rng,
    logits: Vec<f32>,
    tokens: Vec<u32>,
    detok: Detokenizer,
    stops: StopMatcher,
}

impl Seq {
    /// The text still held back (an incomplete character, a possible stop's start), at the end.
    fn rest(&mut self, tok: &Tokenizer) -> String {
        let held = self.detok.flush(tok).unwrap_or_default();
        match self.stops.push(&held) {
            Release::More(x) => x + &self.stops.flush(),
            Release::Stopped(x) => x,
        }
    }

    fn finish(&mut self, finish: Finish, tail: String) {
        if !tail.is_empty() {
            let _ = self.req.events.send(Event::Token(TokenOut { text: tail, token: u32::MAX, token_text: String::new(), logprob: 0.0, top: vec![] }));
        }
        let _ = self.req.events.send(Event::Done { finish, prompt_tokens: self.req.prompt.len(), completion_tokens: self.tokens.len() });
    }
}

fn to_vec(t: &Tensor) -> Vec<f32> {
    Vec::<f32>::try_from(t.contiguous().view([-1])).unwrap_or_default()
}

fn run(model: &Gpt, tok: &Tokenizer, o: SchedOptions, rx: Receiver<Request>) {
    let ctx = model.cfg.n_positions;
    let kv = o.kv_cache_dtype.unwrap_or_else(|| KvCacheDtype::serving_default(model));
    let mut cache = SlotCache::with_dtype(model, o.max_batch.max(1), ctx, kv);
    let specials: Vec<u32> = [Some(tok.bos), Some(tok.end), tok.user, tok.assistant].into_iter().flatten().collect();
    let mut seqs: Vec<Seq> = vec![];
    loop {
        // admit: block only when idle; the requests waiting (as many as there are free rows)
        // are prefilled together, in one forward pass
        let mut batch: Vec<Request> = vec![];
        while cache.rows() + batch.len() < o.max_batch.max(1) {
            let idle = seqs.is_empty() && batch.is_empty();
            let next = if idle { rx.recv().ok() } else { rx.try_recv().ok() };
            let Some(req) = next else {
                if idle {
                    return; // every handle is gone
                }
                break;
            };
            if req.events.is_closed() {
                continue;
            }
            match model.check_prompt(&cache, &req.prompt) {
                Ok(()) => batch.push(req),
                Err(e) => {
                    let _ = req.events.send(Event::Failed(e.to_string()));
                }
            }
        }
        if !batch.is_empty() {
            let prompts: Vec<&[u32]> = batch.iter().map(|r| r.prompt.as_slice()).collect();
            match model.prefill_rows(&mut cache, &prompts) {
                Ok(l) => {
                    let all = to_vec(&l);
                    let v = all.len() / batch.len();
                    for (req, row) in batch.into_iter().zip(all.chunks_exact(v)) {
                        let rng = Rng::new(req.cfg.seed);
                        let stops = StopMatcher::new(&req.cfg.stop);
                        seqs.push(Seq { req, rng, logits: row.to_vec(), tokens: vec![], detok: Detokenizer::default(), stops });
                    }
                }
                Err(e) => {
                    for req in batch {
                        let _ = req.events.send(Event::Failed(e.to_string()));
                    }
                }
            }
        }
        // draw a token for every running sequence
        let mut done = vec![];
        for (r, s) in seqs.iter_mut().enumerate() {
            if s.req.events.is_closed() {
                done.push(r);
                continue;
            }
            // the token before this one seeds a watermark's green list (a prompt is non-empty)
            let prev = s.tokens.last().or(s.req.prompt.last()).copied().unwrap_or(tok.end);
            let (t, lp) = match s.req.logprobs {
                Some(_) => pick(&s.logits, &s.req.cfg, prev, &mut s.rng),
                None => (pick_token(&s.logits, &s.req.cfg, prev, &mut s.rng), f32::NAN),
            };
            if specials.contains(&t) && (s.req.cfg.stop_at_end || t != tok.end) {
                // a special token ends the text and is not part of it (nor of the usage count)
                let tail = s.rest(tok);
                s.finish(Finish::Stop, tail);
                done.push(r);
                continue;
            }
            s.tokens.push(t);
            let top = top_logprobs(tok, &s.logits, s.req.logprobs.unwrap_or(0));
            let delta = s.detok.push(tok, t).unwrap_or_default();
            let (text, stopped) = match s.stops.push(&delta) {
                Release::More(x) => (x, false),
                Release::Stopped(x) => (x, true),
            };
            let token_text = if s.req.logprobs.is_some() { tok.decode(&[t]).unwrap_or_default() } else { String::new() };
            let _ = s.req.events.send(Event::Token(TokenOut { text, token: t, token_text, logprob: lp, top }));
            let full = cache.len(r) + 1 > ctx;
            if stopped {
                s.finish(Finish::Stop, String::new());
                done.push(r);
            } else if s.tokens.len() >= s.req.cfg.max_new_tokens || full {
                let tail = s.rest(tok);
                s.finish(Finish::Length, tail);
                done.push(r);
            }
        }
        // leave at once (highest rows first, so swap-removes keep the other indices valid)
        for &r in done.iter().rev() {
            cache.remove(r);
            seqs.swap_remove(r);
        }
        if seqs.is_empty() {
            continue;
        }
        let next: Vec<u32> = seqs.iter().map(|s| *s.tokens.last().unwrap_or(&0)).collect();
        match model.decode_rows(&mut cache, &next) {
            Ok(logits) => {
                // one copy out of libtorch per step, split by row
                let all = to_vec(&logits);
                let v = all.len() / seqs.len();
                for (s, row) in seqs.iter_mut().zip(all.chunks_exact(v)) {
                    s.logits.clear();
                    s.logits.extend_from_slice(row);
                }
            }
            Err(e) => {
                for s in seqs.drain(..) {
                    let _ = s.req.events.send(Event::Failed(e.to_string()));
                }
                while cache.rows() > 0 {
                    cache.remove(cache.rows() - 1);
                }
            }
        }
    }
}

/// The `n` most likely tokens of a logits row and their log-probabilities.
fn top_logprobs(tok: &Tokenizer, logits: &[f32], n: usize) -> Vec<(String, f32)> {
    if n == 0 {
        return vec![];
    }
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let lse = max + logits.iter().map(|&l| (l - max).exp()).sum::<f32>().ln();
    let mut idx: Vec<usize> = (0..logits.len()).collect();
    idx.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));
    idx.into_iter().take(n).map(|i| (tok.decode(&[i as u32]).unwrap_or_default(), logits[i] - lse)).collect()
}
