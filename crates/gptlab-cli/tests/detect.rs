//! `gptlab detect` end to end on a tiny checkpoint and text the test makes: a detection set,
//! the evaluation at fixed false-positive rates with its files, scoring with a calibration,
//! bad input, and a watermarked sample found by its key only.

mod common;

use common::{bin, checkpoint_on, checkpoint_steps, ok};
use serde_json::Value;
use std::path::Path;

/// Varied sentences (a seeded mix of words), one paragraph per few sentences.
fn corpus(seed: u64, paragraphs: usize) -> String {
    let words = ["the", "river", "king", "runs", "past", "old", "mill", "and", "a", "queen", "sings", "of", "stone", "light", "over", "hills", "slowly", "bright", "winter", "comes"];
    let mut rng = gptlab_core::rng::Rng::stream(seed, "test/detect/corpus");
    let mut out = String::new();
    for _ in 0..paragraphs {
        for _ in 0..4 {
            let n = 5 + rng.below(8) as usize;
            let s: Vec<&str> = (0..n).map(|_| words[rng.below(words.len() as u64) as usize]).collect();
            out.push_str(&s.join(" "));
            out.push_str(". ");
        }
        out.push_str("\n\n");
    }
    out
}

fn jsonl(p: &Path) -> Vec<Value> {
    std::fs::read_to_string(p).expect("read").lines().map(|l| serde_json::from_str(l).expect("json")).collect()
}

#[test]
fn make_set_eval_score_and_bad_input() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let m = checkpoint_on(d, &corpus(1, 300));
    let ms = m.to_str().expect("p");
    let human = d.join("held_out.txt");
    std::fs::write(&human, corpus(2, 320)).expect("w");
    let set = d.join("set");
    let r: Value = serde_json::from_str(&ok(&["detect", "make-set", "--human", human.to_str().expect("p"), "--model", ms, "--generator", "tiny", "--out", set.to_str().expect("p"), "--limit", "240", "--prefix-tokens", "8", "--min-tokens", "40", "--max-tokens", "100"])).expect("json");
    assert_eq!((r["human"].as_u64(), r["model"].as_u64()), (Some(240), Some(960)), "{r}");
    let model_rows = jsonl(&set.join("model.jsonl"));
    let human_rows = jsonl(&set.join("human.jsonl"));
    let prefix_of = |m: &Value| human_rows[m["prefix_of"].as_u64().expect("id") as usize]["text"].as_str().expect("t").to_string();
    assert!(model_rows.iter().all(|m| m["text"].as_str().expect("t").chars().take(5).eq(prefix_of(m).chars().take(5))), "model texts continue their human prefix");
    let out = d.join("eval");
    let e: Value = serde_json::from_str(&ok(&[
        "detect", "eval", "--human", set.join("human.jsonl").to_str().expect("p"), "--model-text", set.join("model.jsonl").to_str().expect("p"), "--model", ms, "--reference", ms,
        "--methods", "perplexity,fast-detectgpt,binoculars", "--white-box", "tiny", "--resamples", "50", "--out", out.to_str().expect("p"),
    ]))
    .expect("json");
    assert_eq!((e["human_cal"].as_u64(), e["human_test"].as_u64()), (Some(120), Some(120)), "{e}");
    for method in ["perplexity", "fast-detectgpt", "binoculars"] {
        let r = &e["methods"][method];
        let auroc = r["auroc"].as_f64().unwrap_or_else(|| panic!("{method}: {r}"));
        assert!((0.0..=1.0).contains(&auroc) && r["measured_fpr"].is_number() && r["tpr_at_1pct_fpr"]["target_fpr"] == 0.01, "{method}: {r}");
        assert_eq!(r["tpr_at_0_1pct_fpr"]["threshold_resolved"], false, "120 calibration texts cannot resolve 0.1%");
        assert!(out.join(format!("calibration_{method}.json")).exists());
    }
    assert!(std::fs::read(out.join("roc.png")).expect("png").starts_with(b"\x89PNG"));
    assert!(std::fs::read_to_string(out.join("report.md")).expect("md").contains("fast-detectgpt"));
    // scoring a file with the calibration: each record keeps its fields and gains the figures
    let input = d.join("in.jsonl");
    std::fs::write(&input, format!("{}\n{{\"id\": 7, \"text\": \"\"}}\n{{\"id\": 8}}\n", serde_json::json!({"id": 6, "text": human_rows[0]["text"]}))).expect("w");
    let scored = d.join("scored.jsonl");
    let cal = out.join("calibration_perplexity.json");
    ok(&["detect", "--method", "perplexity", "--model", ms, "--file", input.to_str().expect("p"), "--calibration", cal.to_str().expect("p"), "--out", scored.to_str().expect("p")]);
    let rows = jsonl(&scored);
    assert!(rows[0]["score"].is_number() && rows[0]["fpr_at_score"].is_number() && rows[0]["p_model"].is_number() && rows[0]["id"] == 6, "{}", rows[0]);
    assert!(rows[1]["error"].as_str().expect("error").contains("too short") && rows[1]["score"].is_null(), "{}", rows[1]);
    assert!(rows[2]["error"].as_str().expect("error").contains("text"), "{}", rows[2]);
    // a line that is not JSON, or a file that is not UTF-8: a clear error, nothing written
    let bad = d.join("bad.jsonl");
    std::fs::write(&bad, "{\"text\": \"fine\"}\nnot json\n").expect("w");
    let gone = d.join("never.jsonl");
    let o = bin().args(["detect", "--method", "perplexity", "--model", ms, "--file", bad.to_str().expect("p"), "--out", gone.to_str().expect("p")]).output().expect("run");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("bad.jsonl:2"), "{err}");
    assert!(!gone.exists());
    std::fs::write(&bad, b"{\"text\": \"\xff\xfe\"}\n").expect("w");
    let o = bin().args(["detect", "--method", "perplexity", "--model", ms, "--file", bad.to_str().expect("p")]).output().expect("run");
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("bad.jsonl"), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn a_trained_classifier_scores_and_is_evaluated() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let m = checkpoint_on(d, &corpus(6, 300));
    let ms = m.to_str().expect("p");
    let human = d.join("held_out.txt");
    std::fs::write(&human, corpus(7, 200)).expect("w");
    let p = |x: &Path| x.to_str().expect("p").to_string();
    // two sets from one text: the classifier trains on passages 60.., the evaluation reads 0..60
    let set = |skip: &str, out: &Path| ok(&["detect", "make-set", "--human", &p(&human), "--model", ms, "--generator", "tiny", "--out", &p(out), "--skip", skip, "--limit", "60", "--prefix-tokens", "8", "--min-tokens", "40", "--max-tokens", "100", "--decodings", "sample,top-k"]);
    let (train_set, eval_set) = (d.join("train_set"), d.join("eval_set"));
    set("60", &train_set);
    set("0", &eval_set);
    let ids = |f: &Path| jsonl(f).iter().map(|r| r["id"].as_u64().expect("id")).collect::<Vec<_>>();
    assert_eq!(ids(&train_set.join("human.jsonl")), (60..120).collect::<Vec<_>>(), "passages numbered from the start of the text");
    let run = d.join("clf");
    let sets: Vec<String> = [
        format!("detect.init_from={:?}", ms),
        format!("detect.human={:?}", p(&train_set.join("human.jsonl"))),
        format!("detect.model_text={:?}", p(&train_set.join("model.jsonl"))),
        format!("run.out_dir={:?}", p(&run)),
        "train.eval_interval=20".into(),
        "train.threads=1".into(),
        "optim.lr=1e-3".into(),
    ]
    .into_iter()
    .flat_map(|s| ["--set".to_string(), s])
    .collect();
    let mut a = vec!["detect", "train", "--config", "configs/tiny/detect/detect.toml", "--quiet"];
    a.extend(sets.iter().map(String::as_str));
    let r: Value = serde_json::from_str(ok(&a).lines().last().expect("line")).expect("json");
    assert_eq!((r["train_human"].as_u64().expect("n") + r["val_human"].as_u64().expect("n"), r["train_model"].as_u64().expect("n") + r["val_model"].as_u64().expect("n")), (60, 120), "{r}");
    // no passage in both splits
    let passages = |f: &str| jsonl(&run.join("data").join(f)).iter().map(|r| r["passage"].as_str().expect("p").to_string()).collect::<std::collections::HashSet<_>>();
    assert!(passages("train.jsonl").is_disjoint(&passages("val.jsonl")));
    let clf = run.join("best");
    let e: Value = serde_json::from_str(&ok(&[
        "detect", "eval", "--human", &p(&eval_set.join("human.jsonl")), "--model-text", &p(&eval_set.join("model.jsonl")), "--model", ms, "--classifier", &p(&clf),
        "--methods", "classifier,perplexity", "--resamples", "20", "--out", &p(&d.join("eval")),
    ]))
    .expect("json");
    // the sampled continuations of a 5-step model are far from the corpus: the classifier learns that
    let auroc = e["methods"]["classifier"]["auroc"].as_f64().expect("auroc");
    assert!(auroc > 0.9, "classifier AUROC {auroc}: {}", e["methods"]["classifier"]);
    let cells = &e["methods"]["classifier"]["breakdowns"];
    assert!(cells.as_array().expect("b").iter().any(|b| b["by"] == "human text"), "{cells}");
    // scoring: a number per text, the too-short text an error
    let input = d.join("in.jsonl");
    std::fs::write(&input, "{\"text\": \"the river runs past the old mill and a queen sings\"}\n{\"text\": \"t\"}\n").expect("w");
    let rows: Vec<Value> = ok(&["detect", "--method", "classifier", "--model", &p(&clf), "--file", &p(&input)]).lines().map(|l| serde_json::from_str(l).expect("json")).collect();
    assert!(rows[0]["score"].is_number() && rows[1]["error"].as_str().expect("e").contains("too short"), "{rows:?}");
    // the server offers it under --detector, with the command line's score
    let db = d.join("g.db");
    let key = common::key(&db, "dee", &[]);
    let srv = common::start(&m, &db, &["--detector", &format!("clf={}", p(&clf)), "--rate-limit", "0"]);
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let post = |body: Value| -> (u16, Value) {
        let mut r = agent.post(format!("{}/v1/detect", srv.1)).header("Authorization", &format!("Bearer {key}")).send_json(&body).expect("http");
        (r.status().as_u16(), r.body_mut().read_json::<Value>().unwrap_or(Value::Null))
    };
    let text = "the river runs past the old mill and a queen sings";
    let (st, v) = post(serde_json::json!({"model": "clf", "method": "classifier", "input": text}));
    assert_eq!(st, 200, "{v}");
    assert!((v["data"][0]["score"].as_f64().expect("s") - rows[0]["score"].as_f64().expect("s")).abs() < 1e-9, "{v} vs {}", rows[0]);
    let (st, v) = post(serde_json::json!({"model": "m", "method": "classifier", "input": text}));
    assert!(st == 404 && v["error"]["message"].as_str().expect("m").contains("detector"), "a served LM is not a detector: {v}");
    drop(srv);
    // a language model is not a classifier; eval needs --classifier for the method
    let o = bin().args(["detect", "--method", "classifier", "--model", ms, "--file", &p(&input)]).output().expect("run");
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("not a reward/value model"), "{}", String::from_utf8_lossy(&o.stderr));
    let o = bin().args(["detect", "eval", "--human", &p(&eval_set.join("human.jsonl")), "--model-text", &p(&eval_set.join("model.jsonl")), "--model", ms, "--methods", "classifier", "--out", &p(&d.join("e2"))]).output().expect("run");
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("--classifier"), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn a_watermarked_sample_is_found_by_its_key_only() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    // trained enough that its samples re-tokenize as they were generated (a 5-step model's
    // near-uniform picks decode to text that encodes to other tokens)
    let m = checkpoint_steps(d, &corpus(3, 200), 200);
    let ms = m.to_str().expect("p");
    let sample = |extra: &[&str]| -> String {
        let mut a = vec!["sample", "--model", ms, "--prompt", "the river", "--max-new-tokens", "120", "--seed", "5", "--json"];
        a.extend_from_slice(extra);
        let v: Value = serde_json::from_str(ok(&a).lines().next().expect("line")).expect("json");
        format!("the river{}", v["completion"].as_str().expect("completion"))
    };
    let input = d.join("texts.jsonl");
    let rows = [sample(&["--watermark", "k1"]), sample(&[])];
    std::fs::write(&input, rows.iter().map(|t| serde_json::json!({"text": t}).to_string() + "\n").collect::<String>()).expect("w");
    let z = |key: &str| -> Vec<f64> { ok(&["detect", "--method", "watermark", "--watermark", key, "--model", ms, "--file", input.to_str().expect("p")]).lines().map(|l| serde_json::from_str::<Value>(l).expect("json")["score"].as_f64().expect("z")).collect() };
    let (with_key, other_key) = (z("k1"), z("k2"));
    assert!(with_key[0] > 4.0 && with_key[1].abs() < 4.0, "watermarked {}, plain {}", with_key[0], with_key[1]);
    assert!(other_key[0].abs() < 4.0, "another key finds nothing: {}", other_key[0]);
    let o = bin().args(["detect", "--method", "watermark", "--model", ms, "--file", input.to_str().expect("p")]).output().expect("run");
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("--watermark"));
}

#[test]
fn the_server_detects_with_a_key() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let m = checkpoint_on(d, &corpus(4, 100));
    let db = d.join("g.db");
    let key = common::key(&db, "dee", &[]);
    let s = common::start(&m, &db, &["--model", &format!("m2={}", m.display()), "--rate-limit", "0"]);
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let post = |k: &str, body: Value| -> (u16, Value) {
        let mut r = agent.post(format!("{}/v1/detect", s.1)).header("Authorization", &format!("Bearer {k}")).send_json(&body).expect("http");
        (r.status().as_u16(), r.body_mut().read_json::<Value>().unwrap_or(Value::Null))
    };
    let text = corpus(5, 1);
    let (st, v) = post(&key, serde_json::json!({"model": "m", "method": "fast-detectgpt", "input": [text, ""]}));
    assert_eq!(st, 200, "{v}");
    assert!(v["data"][0]["score"].is_number() && v["data"][1]["error"].as_str().expect("error").contains("too short"), "{v}");
    // the same score as the command line gives
    let input = d.join("one.jsonl");
    std::fs::write(&input, serde_json::json!({"text": text}).to_string() + "\n").expect("w");
    let cli: Value = serde_json::from_str(&ok(&["detect", "--method", "fast-detectgpt", "--model", m.to_str().expect("p"), "--file", input.to_str().expect("p")])).expect("json");
    assert!((cli["score"].as_f64().expect("s") - v["data"][0]["score"].as_f64().expect("s")).abs() < 1e-9, "{cli} vs {v}");
    let (st, v) = post(&key, serde_json::json!({"model": "m", "method": "binoculars", "reference": "m2", "input": text}));
    assert!(st == 200 && v["data"][0]["score"].is_number(), "{v}");
    for (body, want, param) in [
        (serde_json::json!({"model": "nope", "method": "perplexity", "input": "x"}), 404, "model"),
        (serde_json::json!({"model": "m", "method": "vibes", "input": "x"}), 400, "method"),
        (serde_json::json!({"model": "m", "method": "watermark", "input": "x"}), 400, "watermark"),
        (serde_json::json!({"model": "m", "method": "perplexity", "input": []}), 400, "input"),
    ] {
        let (st, v) = post(&key, body);
        assert_eq!((st, v["error"]["param"].as_str()), (want, Some(param)), "{v}");
    }
    assert_eq!(post("gl-wrong", serde_json::json!({"model": "m", "method": "perplexity", "input": "x"})).0, 401);
}

#[test]
fn the_detect_demo_runs_end_to_end_on_a_small_budget() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = dir.path().join("demo");
    let mut a = vec!["demo", "detect", "--out", out.to_str().expect("p"), "--passages", "20", "--resamples", "10", "--quiet"];
    for s in ["pretrain:train.max_iters=5", "pretrain:train.eval_interval=5", "pretrain_performer:train.max_iters=5", "pretrain_performer:train.eval_interval=5", "detect:train.max_iters=4", "detect:train.eval_interval=4"] {
        a.extend(["--set", s]);
    }
    let line: Value = serde_json::from_str(ok(&a).lines().last().expect("line")).expect("json");
    let r: Value = serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).expect("report")).expect("json");
    for m in ["perplexity", "burstiness", "fast-detectgpt", "binoculars", "classifier", "watermark"] {
        assert!(r["methods"][m]["auroc"].is_number(), "{m}: {}", r["methods"]);
    }
    assert_eq!(line["methods"], r["methods"]);
    assert!(r["detail"]["methods"]["watermark"]["breakdowns"].as_array().is_some_and(|b| !b.is_empty()));
    assert!(out.join("roc.png").exists() && out.join("report.md").exists() && out.join("calibration_binoculars.json").exists());
}
