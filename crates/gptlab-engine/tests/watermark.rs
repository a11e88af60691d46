//! Watermarked generation from a tiny random model: ~200 sampled tokens with the watermark
//! test far above z = 4, without it well inside |z| < 4; greedy decoding changes under the
//! watermark; the text detector scores a decoded watermarked sample. (The scheduler's
//! watermarked requests are tested in tests/sched.rs.)

use gptlab_engine::watermark::{detect, detect_text, Watermark};
use gptlab_engine::{generate, Generation, SampleConfig};
use gptlab_model::{Gpt, GptConfig};
use gptlab_tokenizer::{Kind, Tokenizer};
use tch::{nn, Device};

fn model(vocab: i64) -> (nn::VarStore, Gpt) {
    tch::manual_seed(13);
    let vs = nn::VarStore::new(Device::Cpu);
    let cfg = GptConfig::new(vocab, 256, 2, 2, 16);
    let m = Gpt::new(&vs.root(), &cfg).expect("model");
    (vs, m)
}

fn wm() -> Watermark {
    Watermark::from_key("test-key", 0.25, 2.0).expect("wm")
}

/// The prompt's last token followed by the generated ones: every generated token is scored.
fn scored(prompt: &[u32], g: &Generation) -> Vec<u32> {
    [&prompt[prompt.len() - 1..], &g.tokens[..]].concat()
}

#[test]
fn sampled_text_carries_the_watermark_and_unmarked_text_does_not() {
    let (_vs, m) = model(100);
    let prompt = vec![5u32, 6, 7];
    let cfg = |w: Option<Watermark>| SampleConfig { max_new_tokens: 200, temperature: 1.0, seed: 21, stop_at_end: false, watermark: w, ..Default::default() };
    let marked = generate(&m, None, std::slice::from_ref(&prompt), &cfg(Some(wm()))).expect("gen");
    let plain = generate(&m, None, std::slice::from_ref(&prompt), &cfg(None)).expect("gen");
    assert_eq!((marked[0].tokens.len(), plain[0].tokens.len()), (200, 200));
    let dm = detect(&wm(), &scored(&prompt, &marked[0]));
    let dp = detect(&wm(), &scored(&prompt, &plain[0]));
    assert_eq!((dm.scored, dp.scored), (200, 200));
    assert!(dm.z > 8.0, "watermarked: {dm:?}");
    assert!(dm.p_value < 1e-12, "{dm:?}");
    assert!(dp.z.abs() < 4.0, "unwatermarked: {dp:?}");
    assert!(dp.p_value > 1e-3, "{dp:?}");
    // another key sees no watermark in the marked text
    let other = Watermark::from_key("other-key", 0.25, 2.0).expect("wm");
    assert!(detect(&other, &scored(&prompt, &marked[0])).z.abs() < 4.0);
    // the reported log-probabilities are the model's own: the unbiased first-step value
    assert_eq!(marked[0].tokens[0] == plain[0].tokens[0], (marked[0].logprobs[0] - plain[0].logprobs[0]).abs() < 1e-6);
    // seeded: the same watermarked sample again
    let again = generate(&m, None, std::slice::from_ref(&prompt), &cfg(Some(wm()))).expect("gen");
    assert_eq!(again[0].tokens, marked[0].tokens);
}

#[test]
fn greedy_decoding_changes_under_the_watermark() {
    let (_vs, m) = model(100);
    let prompt = vec![1u32, 2, 3];
    let cfg = |w: Option<Watermark>| SampleConfig { max_new_tokens: 60, temperature: 0.0, stop_at_end: false, watermark: w, ..Default::default() };
    let marked = generate(&m, None, std::slice::from_ref(&prompt), &cfg(Some(wm()))).expect("gen");
    let plain = generate(&m, None, std::slice::from_ref(&prompt), &cfg(None)).expect("gen");
    assert_ne!(marked[0].tokens, plain[0].tokens);
    let dm = detect(&wm(), &scored(&prompt, &marked[0]));
    assert!(dm.z > 4.0, "{dm:?}");
    // a bad watermark is refused
    let bad = SampleConfig { watermark: Some(Watermark { key: 1, gamma: 1.5, delta: 2.0 }), ..cfg(None) };
    assert!(generate(&m, None, std::slice::from_ref(&prompt), &bad).is_err());
}

#[test]
fn detect_text_scores_a_decoded_sample() {
    let tok = Tokenizer::train(&["the quick brown fox jumps over the lazy dog. 0123456789".repeat(3)], Kind::Char, 0).expect("tok");
    let (_vs, m) = model(tok.vocab_size() as i64);
    let prompt = tok.encode("the ").expect("enc");
    let cfg = SampleConfig { max_new_tokens: 200, temperature: 1.0, seed: 4, stop_at_end: false, watermark: Some(wm()), ..Default::default() };
    let g = generate(&m, Some(&tok), std::slice::from_ref(&prompt), &cfg).expect("gen");
    let d = detect_text(&wm(), &tok, &g[0].text).expect("detect");
    // a character tokenizer gives the tokens back, so the text scores as its tokens (less the first)
    assert_eq!(tok.encode(&g[0].text).expect("enc"), g[0].tokens);
    assert_eq!(d, detect(&wm(), &g[0].tokens));
    assert!(d.z > 6.0, "{d:?}");
    let plain = detect_text(&wm(), &tok, "the quick brown fox jumps over the lazy dog").expect("detect");
    assert!(plain.z.abs() < 4.0, "{plain:?}");
    assert!(detect_text(&wm(), &tok, "t").is_err(), "one token has nothing to score");
    assert!(detect_text(&wm(), &tok, "").is_err());
}
