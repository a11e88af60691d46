use super::*;
use gptlab_core::rng::Rng;
use gptlab_model::GptConfig;
use tch::{nn::VarStore, Device, Kind, Tensor};

const ALPHABET: &str = "abcdefgh .!?\n";

/// A tiny random GPT (context 32) with a character tokenizer; a large `range` makes its
/// next-token distributions far from uniform.
fn tiny(seed: i64, alphabet: &str, range: f64) -> Loaded<Gpt> {
    tch::manual_seed(seed);
    let tok = Tokenizer::train(&[alphabet.to_string()], gptlab_tokenizer::Kind::Char, 0).expect("tok");
    let mut cfg = GptConfig::new(tok.vocab_size() as i64, 32, 2, 2, 16);
    cfg.initializer_range = range;
    let vs = VarStore::new(Device::Cpu);
    let model = Gpt::new(&vs.root(), &cfg).expect("gpt");
    Loaded { vs, model, tok }
}

/// `log softmax` of the model's logits for `ids`, row `t` predicting token `t + 1`.
fn log_probs(m: &Gpt, ids: &[u32]) -> Vec<Vec<f64>> {
    let x = Tensor::from_slice(&ids.iter().map(|&i| i64::from(i)).collect::<Vec<_>>()).view([1, -1]);
    let lp = tch::no_grad(|| m.forward(&x, false).expect("fwd")).to_kind(Kind::Double).log_softmax(-1, Kind::Double).squeeze_dim(0);
    (0..ids.len() - 1).map(|t| Vec::<f64>::try_from(lp.get(t as i64)).expect("row")).collect()
}

fn token_lps(m: &Gpt, ids: &[u32]) -> Vec<f64> {
    log_probs(m, ids).iter().enumerate().map(|(t, row)| row[ids[t + 1] as usize]).collect()
}

fn one(method: Method, m: &Loaded<Gpt>, r: Option<&Loaded<Gpt>>, text: &str) -> Scored {
    score_texts(method, m, r, &[text.to_string()]).expect("score").remove(0)
}

const TEXT: &str = "abc hag. bed fed cab! ache ha?"; // 30 tokens: within the context

#[test]
fn methods_round_trip_and_serialize_by_name() {
    for m in Method::ALL {
        assert_eq!(Method::parse(m.as_str()), Some(m));
        assert_eq!(serde_json::to_string(&m).expect("json"), format!("\"{}\"", m.as_str()));
    }
    assert_eq!(Method::parse("detectgpt"), None);
    let s = serde_json::to_value(Scored::err("x".into(), 1)).expect("json");
    assert_eq!(s, serde_json::json!({"score": null, "tokens": 1, "error": "x"}));
}

#[test]
fn perplexity_is_minus_the_eval_loss() {
    let m = tiny(1, ALPHABET, 0.3);
    let ids = m.tok.encode(TEXT).expect("enc");
    let s = one(Method::Perplexity, &m, None, TEXT);
    let loss = crate::loss::loss_over_tokens(&m.model, &ids, 4).expect("loss").loss;
    let score = s.score.expect("score");
    assert!((score + loss).abs() < 1e-5, "{score} vs -{loss}");
    let lps = token_lps(&m.model, &ids);
    assert!((score - lps.iter().sum::<f64>() / lps.len() as f64).abs() < 1e-5);
    assert_eq!(s.tokens, ids.len());
}

#[test]
fn windows_cover_every_target_once_with_half_a_context() {
    for ctx in [2usize, 3, 8, 32] {
        for n in 2..100 {
            let ws = stats::windows(n, ctx);
            let mut targets = vec![];
            for &(start, keep) in &ws {
                let len = (n - start).min(ctx);
                assert!(start + len <= n && keep < len.max(1), "n {n} ctx {ctx}: {ws:?}");
                for t in keep..len - 1 {
                    let target = start + t + 1;
                    // past the first window, a target sees at least ctx − ⌈ctx/2⌉ tokens before it
                    assert!(start == 0 || target - start >= ctx - ctx.div_ceil(2), "n {n} ctx {ctx}: {ws:?}");
                    targets.push(target);
                }
            }
            assert_eq!(targets, (1..n).collect::<Vec<_>>(), "n {n} ctx {ctx}: {ws:?}");
        }
    }
}

#[test]
fn texts_past_the_context_are_scored_in_windows() {
    let m = tiny(1, ALPHABET, 0.3);
    let long = TEXT.repeat(3); // 90 tokens, context 32: windows at 0, 16, 32, 48, 58
    let ids = m.tok.encode(&long).expect("enc");
    let s = one(Method::Perplexity, &m, None, &long);
    assert_eq!(s.tokens, ids.len());
    // every target from a direct forward over its window: 1..=31 from [0, 32), then each
    // window's new targets
    let mut lps = token_lps(&m.model, &ids[..32]);
    let mut covered = 32;
    for start in [16usize, 32, 48, 58] {
        let w = token_lps(&m.model, &ids[start..start + 32]);
        lps.extend(&w[covered - 1 - start..]);
        covered = start + 32;
    }
    assert_eq!((lps.len(), covered), (ids.len() - 1, ids.len()));
    let want = lps.iter().sum::<f64>() / lps.len() as f64;
    assert!((s.score.expect("score") - want).abs() < 1e-5, "{:?} vs {want}", s.score);
    // not the score of the first window alone
    let first = token_lps(&m.model, &ids[..32]);
    assert!((want - first.iter().sum::<f64>() / 31.0).abs() > 1e-4);
    // Fast-DetectGPT reads the same windows: the sums cover all 89 positions
    let f = one(Method::FastDetectGpt, &m, None, &long);
    assert!(f.score.is_some() && f.tokens == ids.len());
}

#[test]
fn batches_score_as_texts_one_by_one() {
    let m = tiny(2, ALPHABET, 0.3);
    let texts: Vec<String> = ["ab", "abc. dab! gag", "", "hag bed fed cab. ache ha. ", "a", &TEXT.repeat(2)].iter().map(|s| s.to_string()).collect();
    for method in [Method::Perplexity, Method::FastDetectGpt, Method::Burstiness] {
        let all = score_texts(method, &m, None, &texts).expect("batch");
        for (t, s) in texts.iter().zip(&all) {
            let o = one(method, &m, None, t);
            assert_eq!((o.tokens, &o.error), (s.tokens, &s.error), "{method} {t:?}");
            if let (Some(a), Some(b)) = (o.score, s.score) {
                assert!((a - b).abs() < 1e-4, "{method} {t:?}: {a} vs {b}");
            }
        }
    }
}

#[test]
fn short_texts_get_an_error_record_not_a_score() {
    let m = tiny(3, ALPHABET, 0.3);
    let r = tiny(4, ALPHABET, 0.3);
    for method in [Method::Perplexity, Method::Burstiness, Method::FastDetectGpt, Method::Binoculars] {
        let reference = (method == Method::Binoculars).then_some(&r);
        for (text, n) in [("", 0), ("a", 1)] {
            let s = one(method, &m, reference, text);
            assert_eq!(s.score, None);
            assert_eq!(s.tokens, n);
            assert_eq!(s.error.as_deref(), Some(format!("text too short: {n} tokens; {method} needs at least 2").as_str()));
        }
    }
    let s = one(Method::Burstiness, &m, None, "abc dab gag");
    assert_eq!((s.score, s.error.as_deref()), (None, Some("burstiness needs at least 2 sentences")));
}

#[test]
fn methods_and_references_are_checked() {
    let m = tiny(5, ALPHABET, 0.3);
    let texts = vec![TEXT.to_string()];
    for (method, r, msg) in [
        (Method::Classifier, None, "classifier"),
        (Method::Watermark, None, "watermark"),
        (Method::Binoculars, None, "needs a reference"),
        (Method::Perplexity, Some(&m), "takes no reference"),
        (Method::Burstiness, Some(&m), "takes no reference"),
    ] {
        let e = score_texts(method, &m, r, &texts).err().expect("refused").to_string();
        assert!(e.contains(msg), "{e}");
    }
}

#[test]
fn a_reference_with_another_tokenizer_is_refused_naming_both_dirs() {
    let m = tiny(6, ALPHABET, 0.3);
    let other = tiny(7, "abcdefgh .!?:", 0.3); // same size, other ids (the space's, for one)
    let bigger = tiny(8, "abcdefghij .!?\n", 0.3);
    for r in [&other, &bigger] {
        let e = score_texts(Method::Binoculars, &m, Some(r), &[TEXT.to_string()]).err().expect("mismatch").to_string();
        assert!(e.contains("do not share a tokenizer"), "{e}");
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let save = |name: &str, l: &Loaded<Gpt>| {
        let d = tmp.path().join(name);
        gptlab_model::checkpoint::save_model(&d, &l.vs, &l.model.cfg).expect("save");
        l.tok.save(&d.join(gptlab_model::roles::TOKENIZER_FILE)).expect("tok");
        d
    };
    let (a, b) = (save("obs", &m), save("perf", &other));
    let e = score_dirs(Method::FastDetectGpt, &a, Some(&b), Device::Cpu, &[TEXT.to_string()]).err().expect("mismatch").to_string();
    assert!(e.contains("obs") && e.contains("perf") && e.contains("tokenizer"), "{e}");
    let s = score_dirs(Method::FastDetectGpt, &a, Some(&a), Device::Cpu, &[TEXT.to_string()]).expect("same");
    assert!((s[0].score.expect("score") - one(Method::FastDetectGpt, &m, None, TEXT).score.expect("score")).abs() < 1e-5);
}

#[test]
fn sentences_split_after_end_punctuation_before_whitespace() {
    let m = tiny(9, ALPHABET, 0.3);
    let ids = m.tok.encode("ab. cd! ef?g. hi").expect("enc");
    assert_eq!(sentences(&m.tok, &ids).expect("split"), vec![0..3, 3..7, 7..13, 13..16]);
    let ids = m.tok.encode("ab.\n\ncd.").expect("enc");
    assert_eq!(sentences(&m.tok, &ids).expect("split"), vec![0..3, 3..8]);
}

#[test]
fn burstiness_is_minus_the_spread_of_sentence_log_perplexities() {
    let m = tiny(10, ALPHABET, 0.5);
    // sentences (token ranges): "ab." 0..3, " c!" 3..6, " dd ee ff." 6..16, " g" 16..18
    let text = "ab. c! dd ee ff. g";
    let ids = m.tok.encode(text).expect("enc");
    let lps = token_lps(&m.model, &ids);
    // token i (≥ 1) has log-probability lps[i - 1]; the first sentence scores tokens 1, 2
    let sent = |r: Range<usize>| -r.clone().map(|i| lps[i - 1]).sum::<f64>() / r.len() as f64;
    let v = [sent(1..3), sent(3..6), sent(6..16), sent(16..18)];
    let mean = v.iter().sum::<f64>() / 4.0;
    let sd = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 4.0).sqrt();
    let s = one(Method::Burstiness, &m, None, text).score.expect("score");
    assert!((s + sd).abs() < 1e-6, "{s} vs -{sd}");
    assert!(sd > 1e-3, "the example has spread");
}

/// Fast-DetectGPT's criterion by sampling: x̃_t ~ q_t independently at each position,
/// S(x̃) = Σ_t log p_t(x̃_t), criterion = (S(x) − mean S(x̃)) / sd S(x̃).
fn monte_carlo(p: &[Vec<f64>], q: &[Vec<f64>], ll: f64, n: usize) -> f64 {
    let mut rng = Rng::stream(0, "detect/test/monte_carlo");
    let cdfs: Vec<Vec<f64>> = q.iter().map(|row| row.iter().scan(0.0, |c, l| Some(*c + l.exp()).inspect(|v| *c = *v)).collect()).collect();
    let (mut s1, mut s2) = (0.0, 0.0);
    for _ in 0..n {
        let s: f64 = cdfs
            .iter()
            .zip(p)
            .map(|(cdf, lp)| {
                let u = rng.uniform() * cdf[cdf.len() - 1];
                lp[cdf.iter().position(|&c| c > u).unwrap_or(cdf.len() - 1)]
            })
            .sum();
        s1 += s;
        s2 += s * s;
    }
    let mean = s1 / n as f64;
    let var = (s2 - n as f64 * mean * mean) / (n as f64 - 1.0);
    (ll - mean) / var.sqrt()
}

#[test]
fn fast_detectgpt_analytic_equals_its_monte_carlo_form() {
    let m = tiny(11, ALPHABET, 0.5);
    let r = tiny(12, ALPHABET, 0.5);
    let text = "ache bed. fig";
    let ids = m.tok.encode(text).expect("enc");
    let p = log_probs(&m.model, &ids);
    let ll: f64 = token_lps(&m.model, &ids).iter().sum();
    const N: usize = 200_000;
    for (q, reference) in [(log_probs(&m.model, &ids), None), (log_probs(&r.model, &ids), Some(&r))] {
        let d = one(Method::FastDetectGpt, &m, reference, text).score.expect("score");
        let mc = monte_carlo(&p, &q, ll, N);
        // The sample mean of S(x̃) errs by sd/√N and the sample sd by about
        // sd·sqrt((κ − 1)/(4N)) (κ the kurtosis, near 3 for a sum of 12 independent terms),
        // so d errs by about (1 + 0.7|d|)/√N ≈ 0.0022 (1 + 0.7|d|): the tolerance is ~9 such.
        let tol = 0.02 * (1.0 + d.abs());
        assert!((d - mc).abs() < tol, "analytic {d} vs Monte-Carlo {mc}");
        // the test detects a sign flip and a variance without its −μ² term
        let mu: Vec<f64> = q.iter().zip(&p).map(|(q, p)| q.iter().zip(p).map(|(q, p)| q.exp() * p).sum()).collect();
        let second: f64 = q.iter().zip(&p).map(|(q, p)| q.iter().zip(p).map(|(q, p)| q.exp() * p * p).sum::<f64>()).sum();
        let no_mu2 = (ll - mu.iter().sum::<f64>()) / second.sqrt();
        assert!((no_mu2 - mc).abs() > tol && (-d - mc).abs() > tol, "{no_mu2} {d} {mc}");
    }
}

#[test]
fn binoculars_with_one_model_is_log_perplexity_over_entropy() {
    let m = tiny(13, ALPHABET, 0.5);
    let ids = m.tok.encode(TEXT).expect("enc");
    let p = log_probs(&m.model, &ids);
    let lps = token_lps(&m.model, &ids);
    let n = lps.len() as f64;
    let log_ppl = -lps.iter().sum::<f64>() / n;
    let entropy = p.iter().map(|row| -row.iter().map(|l| l.exp() * l).sum::<f64>()).sum::<f64>() / n;
    let s = one(Method::Binoculars, &m, Some(&m), TEXT).score.expect("score");
    assert!((s + log_ppl / entropy).abs() < 1e-5, "{s} vs -{log_ppl}/{entropy}");
    // with another performer, x-ppl weighs the observer's log-probabilities by the performer's
    let r = tiny(14, ALPHABET, 0.5);
    let q = log_probs(&r.model, &ids);
    let x_ppl = p.iter().zip(&q).map(|(p, q)| -p.iter().zip(q).map(|(p, q)| q.exp() * p).sum::<f64>()).sum::<f64>() / n;
    let s = one(Method::Binoculars, &m, Some(&r), TEXT).score.expect("score");
    assert!((s + log_ppl / x_ppl).abs() < 1e-5, "{s} vs -{log_ppl}/{x_ppl}");
}
