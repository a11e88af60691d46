//! `gptlab demo codex` end to end at a size CI affords, on a code tree the test writes: every
//! stage runs and the report holds every section. The findings come from the full-size run
//! (README, "Codex").

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A small Python package: functions with docstrings, loops and arithmetic, each file different.
fn code_tree(dir: &Path) {
    let pkg = dir.join("pkg");
    std::fs::create_dir_all(&pkg).expect("mkdir");
    std::fs::write(dir.join("LICENSE"), "MIT License\n\nPermission is hereby granted, free of charge, to any person obtaining a copy\n").expect("licence");
    for i in 0..24 {
        let mut s = format!("\"\"\"Module {i}: small helpers.\"\"\"\n\n");
        for j in 0..6 {
            s.push_str(&format!(
                "def f_{i}_{j}(items, k={j}):\n    \"\"\"Return the items above {i} times k, plus {j}.\"\"\"\n    out = []\n    for x in items:\n        if x > {i} * k:\n            out.append(x + {j})\n    return out\n\n\n"
            ));
        }
        std::fs::write(pkg.join(format!("m{i}.py")), s).expect("write");
    }
}

#[test]
fn codex_demo_runs_every_stage_and_writes_the_report() {
    let dir = tempfile::tempdir().expect("tmp");
    code_tree(&dir.path().join("src"));
    let out = dir.path().join("codex");
    let set = |s: &str| ["--set".to_string(), s.to_string()];
    let mut args: Vec<String> = [
        "demo", "codex", "--quiet", "--out", out.to_str().expect("p"), "--code-src", dir.path().join("src").to_str().expect("p"),
        "--nl-sentences", "800", "--per-family", "3", "--study-per-family", "1", "-n", "3", "--compare-n", "2", "--temperatures", "1.0,0.5", "--max-new-tokens", "12", "--vocab-size", "400",
    ]
    .map(String::from)
    .to_vec();
    for s in [
        "pretrain:train.max_iters=6", "pretrain:train.eval_interval=3", "pretrain:train.eval_iters=2", "pretrain:model.n_layer=1", "pretrain:model.n_embd=32",
        "pretrain:model.n_head=2", "pretrain:model.block_size=128", "pretrain_code:train.max_iters=6", "pretrain_code:train.eval_interval=2", "pretrain_code:train.eval_iters=2",
        "pretrain_code:model.n_layer=1", "pretrain_code:model.n_embd=32", "pretrain_code:model.n_head=2", "pretrain_code:model.block_size=128", "sft:sft.epochs=1",
        "ppo:train.max_iters=2", "ppo:rollout.batch=2", "ppo:rollout.group_size=2", "ppo:rollout.max_new_tokens=8", "ppo:ppo.minibatch_size=4",
    ] {
        args.extend(set(s));
    }
    let o = Command::new(env!("CARGO_BIN_EXE_gptlab")).current_dir(root()).args(&args).output().expect("spawn");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let j: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).expect("json")).expect("parse");
    // both code runs evaluated at the same token counts, from the same start of the budget
    let c = &j["from_scratch_vs_from_gpt"];
    let pts = |k: &str| c[k]["points"].as_array().expect("points").iter().map(|p| p[0].as_u64().expect("tokens")).collect::<Vec<_>>();
    assert_eq!(pts("from_gpt"), pts("from_scratch"));
    assert_eq!(pts("from_gpt").last().copied(), Some(6 * c["tokens_per_step"].as_u64().expect("tps")));
    assert_eq!(c["target_loss"], c["from_scratch"]["final_loss"]);
    // the sampling study: temperatures ascending, pass@k for k ≤ n, a best temperature per k
    let t = j["pass_at_k_by_temperature"].as_array().expect("study");
    assert_eq!(t.iter().map(|p| p["temperature"].as_f64().expect("t")).collect::<Vec<_>>(), vec![0.5, 1.0]);
    assert!(t.iter().all(|p| p["pass_at_k"].as_object().expect("k").keys().eq(["pass@1"])), "{t:?}");
    assert!(j["best_temperature"]["pass@1"].is_number());
    let r = &j["ranking"];
    assert_eq!(r["temperature"], 1.0, "ranking at the temperature nearest Codex's 0.8");
    for k in ["mean_logprob", "random", "oracle"] {
        let v = r[k].as_f64().expect("rank");
        assert!((0.0..=1.0).contains(&v) && v <= r["oracle"].as_f64().expect("o"), "{k} = {v}");
    }
    let b = &j["bleu_vs_pass"];
    assert_eq!(b["passed"].as_u64().expect("p") + b["failed"].as_u64().expect("f"), 3 * j["datasets"]["study_problems"].as_u64().expect("n"));
    let cs = &j["codex_s_vs_base"];
    for k in ["base", "codex_s", "held_out_base", "held_out_codex_s"] {
        assert!(cs[k]["pass@1"].is_number(), "{k}");
    }
    let rl = &j["rl_unit_tests"];
    assert_eq!(rl["iterations"], 2);
    for k in ["before_unseen", "after_unseen", "before_held_out", "after_held_out"] {
        assert!(rl[k]["pass@1"].is_number(), "rl_unit_tests.{k}");
    }
    for k in ["before_unseen", "after_unseen", "before_held_out", "after_held_out"] {
        assert_eq!(rl[k].as_object().expect("k").keys().collect::<Vec<_>>(), ["pass@1"], "--compare-n 2: pass@1 only");
    }
    assert!(out.join("rl/last/model.safetensors").exists() && !out.join("rl/last/value").exists(), "GRPO keeps no value model");
    let d = &j["datasets"];
    assert_eq!(d["code_corpus_files"], d["code_filters"]["kept"]);
    assert!(d["code_train_files"].as_u64().expect("n") >= 1 && d["code_filters"]["files_seen"] == 24, "the 24 modules: {d}");
    assert_eq!(d["study_problems"], d["tasks"]["families"].as_object().expect("f").values().filter(|f| f["held_out"] == false).count());
    assert_eq!(d["codex_s"][0].as_u64().expect("n") + d["codex_s"][1].as_u64().expect("n"), d["tasks"]["train"].as_u64().expect("n"));
    let report = std::fs::read_to_string(out.join("report.md")).expect("md");
    for s in ["from a GPT vs from scratch", "Sampling study", "highest mean log-probability", "BLEU vs functional correctness", "Codex-S vs", "Reinforcement learning from unit tests"] {
        assert!(report.contains(s), "report.md lacks {s:?}");
    }
    for f in ["code_loss.png", "pass_at_k.png", "bleu.png", "codex_s/best/model.safetensors", "data/tokenizer.json", "samples/codex_s_t0.5.jsonl_results.jsonl"] {
        assert!(out.join(f).exists(), "{f}");
    }
    // Codex-S trained on the bodies only: its demonstrations are prompt + completion records
    let demo: serde_json::Value = serde_json::from_str(std::fs::read_to_string(out.join("data/codex_s_train.jsonl")).expect("d").lines().next().expect("line")).expect("j");
    assert!(demo["prompt"].as_str().expect("p").contains("def ") && demo["completion"].is_string());
    // a stage override must name one of the Codex stages
    let bad = Command::new(env!("CARGO_BIN_EXE_gptlab")).current_dir(root()).args(["demo", "codex", "--out", out.to_str().expect("p"), "--set", "rm:train.max_iters=1"]).output().expect("spawn");
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("unknown stage `rm`"));
}

#[test]
fn pretrain_reads_the_code_corpus_jsonl_as_documents() {
    // the GPU path: `gptlab data code` then `gptlab pretrain` on its corpus.jsonl
    let dir = tempfile::tempdir().expect("tmp");
    code_tree(&dir.path().join("src"));
    let bin = || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_gptlab"));
        c.current_dir(root());
        c
    };
    let data = dir.path().join("data");
    let o = bin().args(["data", "code", "--quiet", "--src", dir.path().join("src").to_str().expect("p"), "--out", data.to_str().expect("p")]).output().expect("spawn");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let run = dir.path().join("run");
    let mut args: Vec<String> = ["pretrain", "--config", "configs/tiny/pretrain.toml", "--quiet"].map(String::from).to_vec();
    for s in [
        format!("data.corpus={:?}", data.join("corpus.jsonl").display().to_string()),
        format!("run.out_dir={:?}", run.display().to_string()),
        "data.vocab_size=300".into(), "model.n_layer=1".into(), "model.n_embd=32".into(), "model.n_head=2".into(), "model.block_size=32".into(),
        "train.max_iters=2".into(), "train.eval_interval=2".into(), "train.eval_iters=1".into(), "train.batch_size=2".into(),
    ] {
        args.extend(["--set".to_string(), s]);
    }
    let o = bin().args(&args).output().expect("spawn");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(run.join("best/model.safetensors").exists());
    let metrics = std::fs::read_to_string(run.join("metrics.jsonl")).expect("metrics");
    assert!(metrics.contains("eval_loss"), "{metrics}");
    // a record without `text` is an error naming the file and line
    std::fs::write(data.join("bad.jsonl"), "{\"text\": \"x = 1\"}\n{\"path\": \"y.py\"}\n").expect("w");
    let i = args.iter().position(|a| a.starts_with("data.corpus=")).expect("corpus arg");
    args[i] = format!("data.corpus={:?}", data.join("bad.jsonl").display().to_string());
    let o = bin().args(&args).output().expect("spawn");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("bad.jsonl") && err.contains("text"), "{err}");
}
