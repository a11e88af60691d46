//! The continuous-batching scheduler: a request gives the same tokens alone as among others
//! that join and leave mid-way, its text is what the tokenizer decodes, stop sequences cut it,
//! a full queue refuses at once, a client that goes away frees its row, and a watermarked
//! request is watermarked (and still the same alone or in a batch).

use gptlab_engine::sched::{spawn, Event, Handle, Request, SchedOptions, SubmitError};
use gptlab_engine::watermark::{detect, Watermark};
use gptlab_engine::{Finish, SampleConfig};
use gptlab_model::roles::Loaded;
use gptlab_model::{Gpt, GptConfig, KvCacheDtype};
use gptlab_tokenizer::{Kind, Tokenizer};
use tch::{nn, Device};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

fn setup(o: SchedOptions) -> (Handle, Tokenizer) {
    let tok = Tokenizer::train(&["the quick brown fox jumps over the lazy dog. é ü 42!".repeat(3)], Kind::Char, 0).expect("tok");
    let t = tok.clone();
    let load = move || {
        tch::manual_seed(5);
        let vs = nn::VarStore::new(Device::Cpu);
        let cfg = GptConfig::new(t.vocab_size() as i64, 64, 2, 2, 16);
        let model = Gpt::new(&vs.root(), &cfg)?;
        Ok(Loaded { vs, model, tok: t })
    };
    let (h, tok2, ctx) = spawn(load, o).expect("scheduler");
    assert_eq!((tok2.vocab_size(), ctx), (tok.vocab_size(), 64));
    (h, tok)
}

fn submit(h: &Handle, prompt: Vec<u32>, seed: u64, max: usize, stop: &[&str]) -> UnboundedReceiver<Event> {
    submit_marked(h, prompt, seed, max, stop, None)
}

fn submit_marked(h: &Handle, prompt: Vec<u32>, seed: u64, max: usize, stop: &[&str], watermark: Option<Watermark>) -> UnboundedReceiver<Event> {
    let (tx, rx) = unbounded_channel();
    let cfg = SampleConfig { max_new_tokens: max, temperature: 1.0, seed, stop: stop.iter().map(|s| s.to_string()).collect(), stop_at_end: true, watermark, ..Default::default() };
    h.submit(Request { prompt, cfg, logprobs: Some(2), events: tx }).expect("queued");
    rx
}

/// (tokens, text, finish) of one request's events.
fn collect(mut rx: UnboundedReceiver<Event>) -> (Vec<u32>, String, Finish) {
    let (mut toks, mut text) = (vec![], String::new());
    while let Some(e) = rx.blocking_recv() {
        match e {
            Event::Token(t) => {
                if t.token != u32::MAX {
                    toks.push(t.token);
                    assert!(t.top.len() == 2 && t.top[0].1 >= t.top[1].1 && t.logprob <= 0.0);
                }
                text.push_str(&t.text);
            }
            Event::Done { finish, completion_tokens, .. } => {
                assert_eq!(completion_tokens, toks.len());
                return (toks, text, finish);
            }
            Event::Failed(e) => panic!("{e}"),
        }
    }
    panic!("no Done event")
}

/// With keys and values in the model's precision and in half precision.
#[test]
fn same_request_same_text_alone_or_in_a_changing_batch() {
    for kv_cache_dtype in [KvCacheDtype::Auto, KvCacheDtype::F16] {
        same_text_alone_or_in_a_batch(SchedOptions { max_batch: 4, max_queue: 16, kv_cache_dtype: Some(kv_cache_dtype) });
    }
}

fn same_text_alone_or_in_a_batch(o: SchedOptions) {
    let (h, tok) = setup(o);
    let prompt = tok.encode("the quick").expect("enc");
    let alone = collect(submit(&h, prompt.clone(), 7, 30, &[]));
    // the same request among others: some shorter (they leave early), some joining later
    let others: Vec<_> = (0..3).map(|i| submit(&h, tok.encode(&"lazy dog ".repeat(i + 1)).expect("enc"), 100 + i as u64, 5 + 5 * i, &[])).collect();
    let again = submit(&h, prompt.clone(), 7, 30, &[]);
    let late: Vec<_> = (0..3).map(|i| submit(&h, tok.encode("fox").expect("enc"), 200 + i, 12, &[])).collect();
    let batched = collect(again);
    for rx in others.into_iter().chain(late) {
        collect(rx);
    }
    assert_eq!(alone.0, batched.0, "same seed and request: same tokens");
    assert_eq!(alone.1, batched.1);
    assert_eq!(alone.1, tok.decode(&alone.0).expect("dec"), "streamed deltas add up to the decoded text");
    // a stop sequence cuts the text before it (the sample above has some character to stop at)
    if let Some(c) = alone.1.chars().nth(3) {
        let (_, text, finish) = collect(submit(&h, prompt.clone(), 7, 30, &[&c.to_string()]));
        assert_eq!(finish, Finish::Stop);
        assert_eq!(text, alone.1[..alone.1.find(c).expect("char")]);
    }
}

#[test]
fn watermarked_requests_are_marked_and_the_same_alone_or_in_a_batch() {
    let (h, tok) = setup(SchedOptions { max_batch: 4, max_queue: 16, ..Default::default() });
    let prompt = tok.encode("the quick").expect("enc");
    let wm = Watermark::from_key("sched", 0.25, 3.0).expect("wm");
    // long enough to score, short of the context (64); no end token cuts it short by chance
    let run = |h: &Handle, seed, w: Option<Watermark>| submit_marked(h, prompt.clone(), seed, 50, &[], w);
    let alone = collect(run(&h, 0, Some(wm.clone())));
    let others: Vec<_> = (0..3).map(|i| submit(&h, tok.encode(&"lazy dog ".repeat(i + 1)).expect("enc"), 100 + i as u64, 5 + 5 * i, &[])).collect();
    let again = run(&h, 0, Some(wm.clone()));
    let late: Vec<_> = (0..2).map(|i| submit_marked(&h, tok.encode("fox").expect("enc"), 200 + i, 12, &[], Some(wm.clone()))).collect();
    let batched = collect(again);
    for rx in others.into_iter().chain(late) {
        collect(rx);
    }
    assert_eq!(alone.0, batched.0, "same seed, request and watermark: same tokens");
    assert_eq!(alone.1, batched.1);
    let plain = collect(run(&h, 0, None));
    assert_ne!(alone.0, plain.0, "the watermark changes the sample");
    // scored from the prompt's last token on
    let score = |toks: &[u32]| detect(&wm, &[&prompt[prompt.len() - 1..], toks].concat());
    let (dm, dp) = (score(&alone.0), score(&plain.0));
    assert!(dm.scored >= 20, "{dm:?}");
    assert!(dm.z > 4.0, "watermarked: {dm:?}");
    assert!(dp.z < 3.0, "unwatermarked: {dp:?}");
}

#[test]
fn a_full_queue_refuses_and_a_dropped_client_frees_its_row() {
    let (h, tok) = setup(SchedOptions { max_batch: 1, max_queue: 1, ..Default::default() });
    let p = tok.encode("the").expect("enc");
    // a client that leaves: its long generation must not hold the only row
    let gone = submit(&h, p.clone(), 1, 60, &[]);
    drop(gone);
    let mut queued = vec![];
    let mut refused = 0;
    for i in 0..50 {
        let (tx, rx) = unbounded_channel();
        let cfg = SampleConfig { max_new_tokens: 20, seed: i, ..Default::default() };
        match h.submit(Request { prompt: p.clone(), cfg, logprobs: None, events: tx }) {
            Ok(()) => queued.push(rx),
            Err(SubmitError::QueueFull(1)) => refused += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert!(refused > 0, "a queue of one fills up");
    for mut rx in queued {
        while let Some(e) = rx.blocking_recv() {
            match e {
                // no log-probabilities asked for: none computed
                Event::Token(t) if t.token != u32::MAX => assert!(t.logprob.is_nan() && t.token_text.is_empty() && t.top.is_empty()),
                Event::Done { .. } => break,
                _ => {}
            }
        }
    }
}

