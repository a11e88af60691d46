//! End-to-end tests of the real `gptlab` binary on data the test generates itself.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gptlab"));
    c.current_dir(root());
    c
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("spawn gptlab")
}

fn ok(args: &[&str]) -> String {
    let o = run(args);
    assert!(o.status.success(), "gptlab {args:?} failed:\n{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).expect("utf8")
}

fn fails(args: &[&str], needle: &str) -> String {
    let o = run(args);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(!o.status.success(), "gptlab {args:?} should fail");
    assert!(err.contains(needle), "error for {args:?} should mention {needle:?}, got:\n{err}");
    err
}

/// A small deterministic corpus: sentences from a toy grammar (~40 KB).
fn corpus(dir: &Path) -> PathBuf {
    let subj = ["the cat", "a dog", "my friend", "the old king", "our teacher", "this robot"];
    let verb = ["sees", "likes", "eats", "finds", "builds", "paints"];
    let obj = ["a red apple", "the blue house", "some bread", "a small boat", "the tall tree", "an idea"];
    let mut s = String::new();
    let mut x: u64 = 7;
    for _ in 0..1500 {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let (a, b, c) = ((x >> 33) as usize % 6, (x >> 40) as usize % 6, (x >> 50) as usize % 6);
        s.push_str(&format!("{} {} {}.\n", subj[a], verb[b], obj[c]));
    }
    let p = dir.join("corpus.txt");
    std::fs::write(&p, s).expect("write corpus");
    p
}

fn tiny_args(corpus: &Path, out: &Path, iters: u32) -> Vec<String> {
    [
        "pretrain", "--config", "configs/tiny/pretrain.toml", "--quiet",
        "--set", &format!("data.corpus={:?}", corpus.display().to_string()),
        "--set", &format!("run.out_dir={:?}", out.display().to_string()),
        "--set", "data.vocab_size=300", "--set", "model.n_layer=2", "--set", "model.n_embd=32",
        "--set", "model.n_head=2", "--set", "model.block_size=32", "--set", "train.batch_size=8",
        "--set", &format!("train.max_iters={iters}"), "--set", "train.eval_interval=10",
        "--set", "train.eval_iters=4", "--set", "schedule.warmup_iters=5", "--set", "schedule.decay_iters=40",
        "--set", "train.log_interval=1", "--set", "train.threads=1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn sargs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s.trim().lines().last().unwrap_or("")).expect("json output")
}

#[test]
fn help_for_every_command() {
    for cmd in [vec![], vec!["tok"], vec!["tok", "encode"], vec!["pretrain"], vec!["sample"], vec!["eval", "loss"], vec!["bench", "train"], vec!["demo"], vec!["demo", "codex"], vec!["serve"], vec!["keys", "add"], vec!["data", "prompts"], vec!["data", "code"], vec!["data", "tasks"], vec!["data", "doctests"]] {
        let mut a = cmd.clone();
        a.push("--help");
        assert!(ok(&a).contains("Usage"), "{cmd:?}");
    }
}

#[test]
fn tokenizer_train_encode_decode() {
    let dir = tempfile::tempdir().expect("tmp");
    let c = corpus(dir.path());
    let tj = dir.path().join("tokenizer.json");
    let out = ok(&["tok", "train", "--corpus", c.to_str().expect("p"), "--vocab-size", "300", "--out", tj.to_str().expect("p")]);
    assert_eq!(json(&out)["vocab_size"], 300);
    let enc = bin().args(["tok", "encode", "--tokenizer", tj.to_str().expect("p")]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().expect("spawn");
    use std::io::Write;
    enc.stdin.as_ref().expect("stdin").write_all("the cat sees 東京 🚀\n".as_bytes()).expect("write");
    let out = enc.wait_with_output().expect("wait");
    let ids: Vec<u32> = serde_json::from_slice(&out.stdout).expect("ids");
    let mut dec = bin().args(["tok", "decode", "--tokenizer", tj.to_str().expect("p")]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().expect("spawn");
    dec.stdin.take().expect("stdin").write_all(serde_json::to_string(&ids).expect("j").as_bytes()).expect("write");
    let text = dec.wait_with_output().expect("wait").stdout;
    assert_eq!(String::from_utf8(text).expect("utf8"), "the cat sees 東京 🚀\n");
}

#[test]
fn pretrain_resume_sample_and_eval_loss() {
    let dir = tempfile::tempdir().expect("tmp");
    let c = corpus(dir.path());
    // an uninterrupted run of 30 steps ...
    let full = dir.path().join("full");
    let s = json(&ok(&sargs(&tiny_args(&c, &full, 30))));
    assert_eq!(s["steps"], 30);
    let recs: Vec<serde_json::Value> = std::fs::read_to_string(full.join("metrics.jsonl")).expect("metrics").lines().map(|l| serde_json::from_str(l).expect("rec")).collect();
    let evals: Vec<f64> = recs.iter().filter_map(|r| r["eval_loss"].as_f64()).collect();
    assert_eq!(evals.len(), 4, "evals at 0, 10, 20, 30");
    assert!(evals[3] < evals[0] - 0.5, "loss must fall: {evals:?}");
    for f in ["best/model.safetensors", "best/config.json", "best/tokenizer.json", "last/optimizer.safetensors", "last/trainer_state.json", "last/config.toml", "loss.png"] {
        assert!(full.join(f).exists(), "missing {f}");
    }
    // ... equals a run killed after 20 steps and resumed to 30
    let part = dir.path().join("part");
    ok(&sargs(&tiny_args(&c, &part, 20)));
    // as if killed after logging steps past the checkpoint: those records go on resume
    let mut log = std::fs::read_to_string(part.join("metrics.jsonl")).expect("m");
    log.push_str("{\"step\":20,\"loss\":9.9}\n{\"step\":21,\"loss\":9.9}\n");
    std::fs::write(part.join("metrics.jsonl"), log).expect("w");
    let mut a = tiny_args(&c, &part, 30);
    a.push("--resume".into());
    let r = json(&ok(&sargs(&a)));
    assert_eq!(r["steps"], 30);
    assert_eq!(r["final_eval_loss"], s["final_eval_loss"], "resume continues bit-for-bit");
    // the resumed run's log is the straight run's, record for record (speeds aside)
    let log = |d: &std::path::Path| -> Vec<serde_json::Value> {
        std::fs::read_to_string(d.join("metrics.jsonl")).expect("m").lines().map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).expect("j");
            v.as_object_mut().expect("o").remove("tokens_per_s");
            v
        }).collect()
    };
    assert_eq!(log(&part), log(&full), "no duplicated or missing records after resume");

    // sampling: same seed → same text; JSON lines
    let best = full.join("best");
    let b = best.to_str().expect("p");
    let s1 = ok(&["sample", "--model", b, "--prompt", "the cat", "-n", "2", "--seed", "5", "--max-new-tokens", "20", "--json"]);
    let s2 = ok(&["sample", "--model", b, "--prompt", "the cat", "-n", "2", "--seed", "5", "--max-new-tokens", "20", "--json"]);
    assert_eq!(s1, s2);
    assert_eq!(s1.lines().count(), 2);
    let st = ok(&["sample", "--model", b, "--prompt", "the cat", "--temperature", "0", "--stop", ".", "--max-new-tokens", "30", "--json"]);
    let v = json(&st);
    assert!(!v["completion"].as_str().expect("s").contains('.'), "stop sequence cut: {v}");

    // eval loss over the corpus: every token but the first is predicted once
    let e = json(&ok(&["eval", "loss", "--model", b, "--data", c.to_str().expect("p")]));
    let tok = gptlab_tokenizer::Tokenizer::load(&best.join("tokenizer.json")).expect("tok");
    let n = tok.encode(&std::fs::read_to_string(&c).expect("c")).expect("enc").len();
    assert_eq!(e["tokens"].as_u64(), Some(n as u64 - 1));
    assert!(e["loss"].as_f64().expect("loss") < (300f64).ln() - 1.0, "trained model beats uniform: {e}");

    // Hugging Face transformers + tokenizers load the checkpoint and agree on the loss
    hf_agrees(&best, &c, e["loss"].as_f64().expect("loss"));
}

fn hf_agrees(ckpt: &Path, data: &Path, gptlab_loss: f64) {
    let py = root().join(".venv/bin/python");
    match Command::new(&py).args(["-c", "import transformers, tokenizers"]).output() {
        Ok(o) => assert!(
            o.status.success(),
            "{} cannot import transformers and tokenizers (./dev.sh setup installs them into .venv):\n{}",
            py.display(),
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => panic!("cannot run {} ({e}): the HF check needs the project's .venv (./dev.sh setup)", py.display()),
    }
    let script = r#"
import sys, json, torch
from transformers import GPT2LMHeadModel
from tokenizers import Tokenizer
ckpt, data = sys.argv[1], sys.argv[2]
m = GPT2LMHeadModel.from_pretrained(ckpt).eval()
ids = Tokenizer.from_file(ckpt + "/tokenizer.json").encode(open(data, encoding="utf-8").read()).ids
ctx = m.config.n_positions
tot, n = 0.0, 0
with torch.no_grad():
    for s in range(0, len(ids) - 1, ctx):
        L = min(ctx, len(ids) - 1 - s)
        x = torch.tensor([ids[s:s + L]]); y = torch.tensor(ids[s + 1:s + 1 + L])
        tot += torch.nn.functional.cross_entropy(m(x).logits[0], y, reduction="sum").item(); n += L
print(json.dumps({"loss": tot / n, "tokens": n}))
"#;
    let o = Command::new(&py).args(["-c", script, ckpt.to_str().expect("p"), data.to_str().expect("p")]).output().expect("python");
    assert!(o.status.success(), "HF failed to load the gptlab checkpoint:\n{}", String::from_utf8_lossy(&o.stderr));
    let v = json(&String::from_utf8_lossy(&o.stdout));
    let hf = v["loss"].as_f64().expect("loss");
    assert!((hf - gptlab_loss).abs() < 1e-4, "HF loss {hf} vs gptlab {gptlab_loss}");
}

#[test]
fn bad_inputs_give_clear_errors_and_no_partial_files() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let c = corpus(d);
    // unknown config key, by path
    let mut a = tiny_args(&c, &d.join("o1"), 2);
    a.extend(["--set".into(), "optim.lrr=1".into()]);
    fails(&sargs(&a), "optim.lrr");
    fails(&["pretrain", "--config", "nope.toml"], "nope.toml");
    // empty and non-UTF-8 corpora
    let empty = d.join("empty.txt");
    std::fs::write(&empty, "").expect("w");
    fails(&sargs(&tiny_args(&empty, &d.join("o2"), 2)), "empty.txt");
    let bad = d.join("bad.txt");
    std::fs::write(&bad, b"abc\xff\xfe").expect("w");
    fails(&sargs(&tiny_args(&bad, &d.join("o3"), 2)), "UTF-8");
    assert!(!d.join("o2").exists() && !d.join("o3").exists(), "nothing written for bad input");
    // resume with nothing to resume
    let mut a = tiny_args(&c, &d.join("o4"), 2);
    a.push("--resume".into());
    fails(&sargs(&a), "no checkpoint to resume");
    // checkpoints: missing, corrupt tokenizer, shape/config disagreement, corrupt weights
    fails(&["sample", "--model", d.join("missing").to_str().expect("p")], "does not exist");
    let out = d.join("ok");
    ok(&sargs(&tiny_args(&c, &out, 2)));
    let best = out.join("best");
    let b = best.to_str().expect("p");
    // a prompt longer than the context
    let long = "the cat sees a red apple. ".repeat(40);
    fails(&["sample", "--model", b, "--prompt", &long], "longer than the model's context");
    let cfgp = best.join("config.json");
    let orig = std::fs::read_to_string(&cfgp).expect("cfg");
    std::fs::write(&cfgp, orig.replace("\"n_embd\": 32", "\"n_embd\": 64")).expect("w");
    fails(&["sample", "--model", b], "shape");
    std::fs::write(&cfgp, "{\"vocab_size\": ").expect("w");
    fails(&["sample", "--model", b], "config.json");
    std::fs::write(&cfgp, orig).expect("w");
    std::fs::write(best.join("tokenizer.json"), "{}").expect("w");
    fails(&["sample", "--model", b], "tokenizer.json");
    std::fs::copy(out.join("last/tokenizer.json"), best.join("tokenizer.json")).expect("cp");
    std::fs::write(best.join("model.safetensors"), "junk").expect("w");
    fails(&["sample", "--model", b], "model.safetensors");
    fails(&["eval", "loss", "--model", out.join("last").to_str().expect("p"), "--data", empty.to_str().expect("p")], "empty.txt");
    // no temp files left anywhere in the run directory
    let mut stack = vec![out.clone()];
    while let Some(p) = stack.pop() {
        for e in std::fs::read_dir(&p).expect("ls") {
            let e = e.expect("entry");
            let name = e.file_name().to_string_lossy().to_string();
            assert!(!name.contains(".tmp"), "temp file left: {}", e.path().display());
            if e.path().is_dir() {
                stack.push(e.path());
            }
        }
    }
}

#[test]
fn demo_runs_every_instructgpt_stage_and_writes_the_report() {
    // plumbing at a size CI affords; the findings themselves come from the full-size demo
    let dir = tempfile::tempdir().expect("tmp");
    let out = dir.path().join("demo");
    let args: Vec<String> = [
        "demo", "--quiet", "--out", out.to_str().expect("p"), "--corpus-sentences", "1500", "--prompts", "200", "--label-prompts", "40", "-k", "3",
        "--set", "pretrain:train.max_iters=20", "--set", "pretrain:train.eval_interval=10", "--set", "pretrain:train.eval_iters=2",
        "--set", "pretrain:model.n_layer=1", "--set", "pretrain:model.n_embd=32", "--set", "pretrain:model.n_head=2", "--set", "pretrain:data.vocab_size=300",
        "--set", "pretrain:model.block_size=128", "--set", "sft:sft.epochs=1", "--set", "rm:rm.epochs=1",
        "--set", "ppo:train.max_iters=2", "--set", "ppo:train.snapshot_interval=1", "--set", "ppo:rollout.batch=4", "--set", "ppo:ppo.minibatch_size=2", "--set", "ppo:ppo.ptx_ratio=1",
    ]
    .map(String::from)
    .to_vec();
    let o = ok(&sargs(&args));
    assert!(o.contains("report.md"), "{o}");
    let report = std::fs::read_to_string(out.join("report.md")).expect("report");
    assert!(report.contains("Findings") && report.contains("Alignment tax") && report.contains("PPO-ptx"), "{report}");
    let j: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).expect("json")).expect("parse");
    for k in ["rm_accuracy", "labeler_agreement", "win_rate_ppo_vs_sft", "win_rate_ppo_ptx_vs_sft"] {
        let v = j[k].as_f64().unwrap_or(f64::NAN);
        assert!((0.0..=1.0).contains(&v), "{k} = {v}");
    }
    for k in ["sft", "ppo", "ppo_ptx"] {
        assert!(j["pretrain_val_loss"][k].as_f64().expect("loss").is_finite(), "pretrain_val_loss.{k}");
    }
    // the RM's accuracy is on test comparisons, beside the labelers' agreement on them; the
    // alignment tax on the world's public tasks, for every model
    assert!((0.0..=1.0).contains(&j["rm_test_labeler_agreement"].as_f64().expect("agreement")));
    for k in ["pretrain", "sft", "ppo", "ppo_ptx"] {
        for t in ["fact_completion", "next_sentence"] {
            assert!((0.0..=1.0).contains(&j["public_tasks"][k][t].as_f64().expect("task")), "public_tasks.{k}.{t}");
        }
    }
    assert!(report.contains("public tasks"), "{report}");
    // dataset sizes in the shape of the paper's Table 6
    let lines = |f: &str| std::fs::read_to_string(out.join(f)).expect("data").lines().count() as u64;
    let d = &j["datasets"];
    let n = |k: &str, i: usize| d[k][i].as_u64().expect("count");
    assert_eq!(n("sft", 0) + n("sft", 1), lines("world/sft.jsonl"));
    assert_eq!(n("rm", 0) + n("rm", 1) + n("rm", 2), j["comparisons"].as_u64().expect("n"));
    assert!(n("ppo", 0) > 0 && n("ppo", 0) <= lines("world/prompts_train.jsonl"));
    assert_eq!(d["eval"][0], j["test_prompts"]);
    assert_eq!(d["eval"][1], j["win_rate_held_out_templates"]["prompts"]);
    assert!(d["eval"][1].as_u64().expect("n") > 0, "the held-out phrasings are evaluated");
    for k in ["ppo", "ppo_ptx"] {
        assert!((0.0..=1.0).contains(&j["win_rate_held_out_templates"]["win_rate"][k].as_f64().expect("win rate")), "{k}");
    }
    assert_eq!(d["prompts"]["builder"]["prompts"].as_array().expect("splits").len(), 3);
    assert!(report.contains("Table 6"), "{report}");
    // the over-optimisation curve: SFT at KL 0, then the final PPO run's snapshots
    let opt = j["overoptimisation"].as_array().expect("curve");
    assert!(opt.len() >= 2 && opt[0]["step"] == 0, "{opt:?}");
    assert!(opt[0]["kl"].as_f64().expect("kl").abs() < 1e-4, "SFT's KL to itself is 0 up to float noise: {opt:?}");
    assert!(out.join("overoptimisation.png").exists() && out.join("ppo/snapshots").is_dir());
    for f in ["pretrain/loss.png", "sft/loss.png", "rm/loss.png", "reward.png", "kl.png", "entropy.png", "ppo/last/model.safetensors", "ppo_ptx/last/model.safetensors"] {
        assert!(out.join(f).exists(), "{f}");
    }
    // two comparison rounds: the second ranks samples of SFT and of the round-1 PPO policy, and
    // the final RM is trained on both rounds' comparisons
    let rounds = j["rounds"].as_array().expect("rounds");
    assert_eq!(rounds.len(), 2);
    assert_eq!(rounds[1]["sampled_from"].as_array().expect("from").len(), 2);
    assert!(rounds[1]["sampled_from"][1].as_str().expect("s").ends_with("ppo_r1/last"));
    assert!(out.join("rm_r1/best/model.safetensors").exists() && out.join("ppo_r1/last/model.safetensors").exists());
    let n = |f: &str| std::fs::read_to_string(out.join("data").join(f)).expect("cmp").lines().count();
    assert_eq!(n("comparisons.jsonl"), n("comparisons_r1.jsonl") + n("comparisons_r2.jsonl"));
    assert!(j["by_family"]["ppo"]["fact"]["prompts"].as_u64().is_some() && report.contains("By task family"));
    // a stage override must name a stage
    fails(&["demo", "--out", out.to_str().expect("p"), "--set", "train.max_iters=1"], "STAGE:KEY=VALUE");
    // the demo is deterministic: the same seed gives the same report (wall times and the
    // output paths aside). On one thread per stage: with several, libtorch's parallel
    // reductions may add floats in another order while other tests load the machine.
    let one_thread = |to: &std::path::Path| -> Vec<String> {
        let mut a = args.clone();
        a[3] = to.to_str().expect("p").to_string();
        for stage in ["pretrain", "sft", "rm", "ppo"] {
            a.extend(["--set".to_string(), format!("{stage}:train.threads=1")]);
        }
        a
    };
    let (out, again) = (dir.path().join("one"), dir.path().join("again"));
    ok(&sargs(&one_thread(&out)));
    ok(&sargs(&one_thread(&again)));
    let strip = |d: &std::path::Path| -> String {
        let mut v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(d.join("report.json")).expect("json")).expect("parse");
        let o = v.as_object_mut().expect("object");
        o.remove("stage_seconds");
        o.remove("wall_s");
        v.to_string().replace(d.to_str().expect("p"), "OUT")
    };
    assert_eq!(strip(&out), strip(&again), "same seed, same report");
}

#[test]
fn print_config_shows_the_resolved_config_and_unused_keys_are_errors() {
    let o = ok(&["ppo", "--config", "configs/tiny/ppo.toml", "--set", "rollout.batch=3", "--print-config"]);
    let cfg: toml::Table = o.parse().expect("TOML");
    assert_eq!(cfg["rollout"]["batch"].as_integer(), Some(3), "the override");
    assert_eq!(cfg["ppo"]["kl_coef"].as_float(), Some(0.5));
    assert_eq!(cfg["train"]["dtype"].as_str(), Some("fp32"), "a default the file leaves out");
    assert_eq!(cfg["ppo"]["target_kl"].as_float(), Some(6.0), "a default the file leaves out");
    // keys a stage does not use are errors naming them, and closed sets are checked by type
    fails(&["ppo", "--config", "configs/tiny/ppo.toml", "--set", "train.batch_size=8", "--print-config"], "batch_size");
    fails(&["ppo", "--config", "configs/tiny/ppo.toml", "--set", "train.device=tpu", "--print-config"], "train.device");
    fails(&["pretrain", "--config", "configs/tiny/pretrain.toml", "--set", "train.dtype=fp16", "--print-config"], "train.dtype");
    fails(&["pretrain", "--config", "configs/tiny/pretrain.toml", "--set", "train.device=tpu", "--print-config"], "train.device");
    let o = ok(&["sft", "--config", "configs/tiny/sft.toml", "--print-config"]);
    assert!(o.contains("[sft]") && o.contains("resid_pdrop = 0.2"), "{o}");
}

#[test]
fn eval_code_hides_the_environment_and_samples_from_a_model() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    // a secret in gptlab's environment is invisible to samples, even through /proc
    let problems = d.join("p.jsonl");
    std::fs::write(&problems, "{\"task_id\": \"e/0\", \"prompt\": \"def f():\\n\", \"canonical_solution\": \"    return 1\\n\", \"test\": \"def check(c):\\n    assert c() == 1\\n\", \"entry_point\": \"f\"}\n").expect("w");
    let probe = "    import os, posix\n    seen = []\n    for p in posix.listdir('/proc'):\n        try:\n            with open('/proc/%s/environ' % p, 'rb') as fh:\n                seen.append(fh.read())\n        except Exception:\n            pass\n    leaked = any(b'hunter2' in e for e in seen) or 'GPTLAB_TEST_SECRET' in os.environ\n    return 0 if leaked else 1\n";
    let samples = d.join("s.jsonl");
    std::fs::write(&samples, format!("{}\n", serde_json::json!({"task_id": "e/0", "completion": probe}))).expect("w");
    let o = bin()
        .args(["eval", "code", "--problems", problems.to_str().expect("p"), "--samples", samples.to_str().expect("p"), "--k", "1", "--quiet"])
        .env("GPTLAB_TEST_SECRET", "hunter2")
        .output()
        .expect("run");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "{\"pass@1\": 1.0}", "secret leaked: {}", std::fs::read_to_string(format!("{}_results.jsonl", samples.display())).unwrap_or_default());
    // sampling from a (tiny) gptlab model, then evaluating
    let c = corpus(d);
    let out = d.join("m");
    ok(&sargs(&tiny_args(&c, &out, 5)));
    let s2 = d.join("model_samples.jsonl");
    let o = ok(&[
        "eval", "code", "--model", out.join("best").to_str().expect("p"), "--problems", "testdata/golden/humaneval_ref/problems.jsonl",
        "-n", "2", "--k", "1,2", "--max-new-tokens", "8", "--samples", s2.to_str().expect("p"), "--quiet",
    ]);
    let v = json(&o);
    assert!(v["pass@1"].as_f64().is_some() && v["pass@2"].as_f64().is_some(), "{o}");
    let lines = std::fs::read_to_string(&s2).expect("samples").lines().count();
    assert_eq!(lines, 8, "2 samples × 4 problems");
    assert!(std::fs::read_to_string(&s2).expect("s").contains("mean_logprob"));
    // bad input: a malformed samples line is named by file and line
    std::fs::write(&samples, "{\"task_id\": \"e/0\", \"completion\": \"x\"}\nnot json\n").expect("w");
    fails(&["eval", "code", "--problems", problems.to_str().expect("p"), "--samples", samples.to_str().expect("p")], "s.jsonl:2");
}

#[test]
fn eval_code_runs_without_libtorch_and_other_commands_go_to_gptlab_torch() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let problems = "testdata/golden/humaneval_ref/problems.jsonl";
    let samples = d.join("s.jsonl");
    std::fs::copy(root().join("testdata/golden/humaneval_ref/samples.jsonl"), &samples).expect("copy samples");
    // `gptlab` does not link libtorch: `eval code` on a samples file works where the dynamic
    // loader cannot find it (`gptlab-torch` would not even start there)
    let o = bin()
        .args(["eval", "code", "--problems", problems, "--samples", samples.to_str().expect("p"), "--k", "1", "--quiet"])
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .expect("run");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(json(&String::from_utf8_lossy(&o.stdout))["pass@1"].as_f64().is_some());
    let torch = Command::new(env!("CARGO_BIN_EXE_gptlab-torch")).arg("--version").env_remove("LD_LIBRARY_PATH").output().expect("run");
    if torch.status.success() {
        eprintln!("note: gptlab-torch finds libtorch without LD_LIBRARY_PATH here (an rpath), so that half is not shown");
    }
    // every other command is gptlab-torch's, under the same name, arguments and exit status
    assert!(ok(&["--version"]).starts_with("gptlab "));
    let err = fails(&["eval", "loss", "--model", d.join("none").to_str().expect("p"), "--data", problems], "none");
    assert!(!err.contains("gptlab-torch"), "errors speak as gptlab: {err}");
    // a `gptlab` without its other half says what is missing
    let lone = d.join("gptlab");
    std::fs::copy(env!("CARGO_BIN_EXE_gptlab"), &lone).expect("copy");
    let o = Command::new(&lone).args(["sft", "--help"]).output().expect("run");
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("gptlab-torch") && err.contains("cargo build"), "{err}");
    // and it still evaluates on its own
    let o = Command::new(&lone).args(["eval", "code", "--problems"]).arg(root().join(problems)).arg("--samples").arg(&samples).args(["--k", "1", "--quiet"]).output().expect("run");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn sft_trains_on_demonstrations_only() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let c = corpus(d);
    let base = d.join("base");
    ok(&sargs(&tiny_args(&c, &base, 10)));
    // demonstrations the test makes itself: copy or reverse three words
    let words = ["the", "cat", "dog", "sees", "a", "red", "apple", "house"];
    let mut text = String::new();
    for i in 0..120usize {
        let w: Vec<&str> = (0..3).map(|j| words[(i * 7 + j * 3 + i / 5) % words.len()]).collect();
        let rec = if i % 2 == 0 {
            serde_json::json!({"prompt": format!("copy: {}", w.join(" ")), "completion": w.join(" ")})
        } else {
            let r: Vec<&str> = w.iter().rev().copied().collect();
            serde_json::json!({"messages": [{"role": "user", "content": format!("reverse: {}", w.join(" "))}, {"role": "assistant", "content": r.join(" ")}]})
        };
        text.push_str(&rec.to_string());
        text.push('\n');
    }
    let data = d.join("sft.jsonl");
    std::fs::write(&data, &text).expect("w");
    let out = d.join("sft");
    let args = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = ["sft", "--config", "configs/tiny/sft.toml", "--quiet",
            "--set", &format!("sft.init_from={:?}", base.join("best").display().to_string()),
            "--set", &format!("sft.train={:?}", data.display().to_string()),
            "--set", &format!("run.out_dir={:?}", out.display().to_string()),
            "--set", "sft.epochs=3", "--set", "train.batch_size=8", "--set", "train.eval_interval=10", "--set", "train.threads=1", "--set", "optim.lr=2e-3"]
            .iter().map(|s| s.to_string()).collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let s = json(&ok(&sargs(&args(&[]))));
    // 108 training examples / 8 per batch = 14 steps per epoch, 3 epochs
    assert_eq!(s["steps"], 42);
    let recs: Vec<serde_json::Value> = std::fs::read_to_string(out.join("metrics.jsonl")).expect("m").lines().map(|l| serde_json::from_str(l).expect("j")).collect();
    let evals: Vec<f64> = recs.iter().filter_map(|r| r["eval_loss"].as_f64()).collect();
    assert!(evals.last().expect("last") < &(evals[0] - 0.5), "SFT lowers the held-out response loss: {evals:?}");
    assert!(recs.iter().any(|r| r["epoch"].as_f64().is_some_and(|e| e > 2.0)));
    // chat sampling from the SFT model stops at <|end|>
    let o = ok(&["sample", "--model", out.join("best").to_str().expect("p"), "--chat", "--prompt", "copy: the cat dog", "--temperature", "0", "--max-new-tokens", "12", "--json"]);
    assert!(json(&o)["completion"].is_string());
    // bad data is named by file and line; GPT-2-style tokenizers without chat tokens are refused
    std::fs::write(&data, format!("{text}{{\"prompt\": \"only a prompt\"}}\n")).expect("w");
    fails(&sargs(&args(&[])), "sft.jsonl:121");
}

#[test]
fn rm_learns_k_wise_rankings_and_centres_demonstrations() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let c = corpus(d);
    let base = d.join("base");
    ok(&sargs(&tiny_args(&c, &base, 10)));
    // comparisons the test makes itself, on 240 distinct prompts (17 is prime to 1000, so the
    // word triples never repeat): K = 4 replies mixing the prompt's words with "apple", ranked
    // by how many apples they hold, a preference a reward model can carry to unseen prompts
    let words = ["the", "cat", "dog", "sees", "a", "red", "house", "blue", "tree", "boat"];
    let (mut cmp, mut demos) = (String::new(), String::new());
    for i in 0..240usize {
        let w: Vec<&str> = (0..3).map(|j| words[(i * 17 + 3) % 1000 / 10usize.pow(j) % 10]).collect();
        let prompt = format!("describe: {}", w.join(" "));
        // reply j holds 3 − j apples among the prompt's words; replies appear rotated by i
        let reply = |apples: usize| -> String { (0..3).map(|k| if k < apples { "apple" } else { w[k] }).collect::<Vec<_>>().join(" ") };
        let comps: Vec<String> = (0..4).map(|pos| reply(3 - (pos + i) % 4)).collect();
        let mut order: Vec<usize> = (0..4).collect();
        order.sort_by_key(|&pos| (pos + i) % 4);
        // every fourth labeler marks the two worst as equally bad (a tie)
        let ranking = if i % 4 == 0 { serde_json::json!([order[0], order[1], [order[2], order[3]]]) } else { serde_json::json!(order) };
        cmp.push_str(&serde_json::json!({"prompt": prompt, "completions": comps, "ranking": ranking, "labeler": format!("L{}", i % 3)}).to_string());
        cmp.push('\n');
        demos.push_str(&serde_json::json!({"prompt": prompt, "completion": reply(3)}).to_string());
        demos.push('\n');
    }
    let (cmp_p, demo_p) = (d.join("cmp.jsonl"), d.join("demos.jsonl"));
    std::fs::write(&cmp_p, &cmp).expect("w");
    std::fs::write(&demo_p, &demos).expect("w");
    let out = d.join("rm");
    let args = [
        "rm", "--config", "configs/tiny/rm.toml", "--quiet",
        "--set", &format!("rm.init_from={:?}", base.join("best").display().to_string()),
        "--set", &format!("rm.train={:?}", cmp_p.display().to_string()),
        "--set", &format!("rm.demos={:?}", demo_p.display().to_string()),
        "--set", &format!("run.out_dir={:?}", out.display().to_string()),
        "--set", "rm.epochs=3", "--set", "optim.lr=1e-3", "--set", "train.threads=1",
    ]
    .map(String::from);
    let r = json(&ok(&sargs(&args)));
    // the comparisons are split by prompt: every one is in one split, no prompt in two
    let split = |name: &str| -> Vec<serde_json::Value> {
        std::fs::read_to_string(out.join("data").join(format!("{name}.jsonl"))).expect("split").lines().map(|l| serde_json::from_str(l).expect("j")).collect()
    };
    let (tr, va, te) = (split("train"), split("val"), split("test"));
    assert_eq!((tr.len(), va.len(), te.len()), (r["train_groups"].as_u64().expect("n") as usize, r["val_groups"].as_u64().expect("n") as usize, r["test_groups"].as_u64().expect("n") as usize));
    assert_eq!(tr.len() + va.len() + te.len(), 240);
    assert!(!va.is_empty() && !te.is_empty());
    let prompts = |v: &[serde_json::Value]| v.iter().map(|c| c["prompt"].to_string()).collect::<std::collections::HashSet<_>>();
    assert!(prompts(&tr).is_disjoint(&prompts(&va)) && prompts(&tr).is_disjoint(&prompts(&te)) && prompts(&va).is_disjoint(&prompts(&te)));
    // a tied pair adds no loss and is counted: one per tied record
    let tied = |v: &[serde_json::Value]| v.iter().filter(|c| c["ranking"].as_array().expect("r").len() == 3).count() as u64;
    assert_eq!(r["test"]["tied_pairs"].as_u64(), Some(tied(&te)));
    assert_eq!(r["test"]["pairs"].as_u64(), Some(6 * te.len() as u64 - tied(&te)));
    assert!(r["rm_accuracy"].as_f64().expect("acc") > 0.6, "held-out pairwise accuracy above chance: {r}");
    assert_eq!(r["rm_accuracy"], r["test"]["accuracy"], "the accuracy reported is on test");
    // the bias centres the demonstrations: re-scoring them now gives mean ≈ 0
    let before = r["demo_mean_reward_before_bias"].as_f64().expect("before");
    let after = r["demo_mean_reward_after_bias"].as_f64().expect("after");
    let bias = r["bias"].as_f64().expect("bias");
    assert!(before.abs() > 1e-3 && bias.is_finite(), "the demonstrations' mean reward needed centring: {before}");
    assert!(after.abs() < 1e-4, "the saved RM scores the demonstrations {after} on average, not 0");
    let cfg: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("best/config.json")).expect("cfg")).expect("j");
    assert_eq!(cfg["num_labels"], 1);
    assert_eq!(cfg["architectures"][0], "GPT2ForSequenceClassification");
    // a reward model is not a language model: sampling from it is refused with a clear error
    fails(&["sample", "--model", out.join("best").to_str().expect("p")], "score");
    // SFT can keep the checkpoint its greedy replies score best by this reward model
    let sft = d.join("sft");
    let s = json(&ok(&[
        "sft", "--config", "configs/tiny/sft.toml", "--quiet",
        "--set", &format!("sft.init_from={:?}", base.join("best").display().to_string()),
        "--set", &format!("sft.train={:?}", demo_p.display().to_string()),
        "--set", &format!("sft.reward_from={:?}", out.join("best").display().to_string()),
        "--set", &format!("run.out_dir={:?}", sft.display().to_string()),
        "--set", "sft.epochs=2", "--set", "sft.reward_max_new_tokens=6", "--set", "train.eval_interval=9", "--set", "train.threads=1",
    ]));
    let recs: Vec<serde_json::Value> = std::fs::read_to_string(sft.join("metrics.jsonl")).expect("m").lines().map(|l| serde_json::from_str(l).expect("j")).collect();
    let rewards: Vec<f64> = recs.iter().filter_map(|r| r["eval_score"].as_f64()).collect();
    assert!(rewards.len() >= 3 && rewards.iter().all(|x| x.is_finite()), "{rewards:?}");
    let best = rewards.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    assert_eq!(s["best_eval_loss"].as_f64().expect("sel"), -best, "best/ is the highest-reward evaluation");
    let st: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(sft.join("best/trainer_state.json")).expect("state")).expect("j");
    let at = recs.iter().find(|r| r["eval_score"].as_f64() == Some(best)).expect("rec")["step"].clone();
    assert_eq!(st["step"], at, "best/ was saved at the highest-reward evaluation");
}

#[test]
fn ppo_ptx_runs_stably_with_every_option() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let c = corpus(d);
    let base = d.join("base");
    ok(&sargs(&tiny_args(&c, &base, 10)));
    let (mut cmp, mut prompts) = (String::new(), String::new());
    for i in 0..40usize {
        let p = format!("say something about item {i}");
        cmp.push_str(&serde_json::json!({"prompt": p, "chosen": "the cat sees a red apple.", "rejected": "dog dog dog"}).to_string());
        cmp.push('\n');
        prompts.push_str(&serde_json::json!({"prompt": p}).to_string());
        prompts.push('\n');
    }
    let (cmp_p, prompts_p) = (d.join("cmp.jsonl"), d.join("prompts.jsonl"));
    std::fs::write(&cmp_p, cmp).expect("w");
    std::fs::write(&prompts_p, prompts).expect("w");
    let rm = d.join("rm");
    ok(&[
        "rm", "--config", "configs/tiny/rm.toml", "--quiet",
        "--set", &format!("rm.init_from={:?}", base.join("best").display().to_string()),
        "--set", &format!("rm.train={:?}", cmp_p.display().to_string()),
        "--set", &format!("run.out_dir={:?}", rm.display().to_string()), "--set", "train.threads=1",
    ]);
    let out = d.join("ppo");
    let ppo_args = |out: &std::path::Path, iters: u32| -> Vec<String> {
        [
            "ppo", "--config", "configs/tiny/ppo.toml", "--quiet",
            "--set", &format!("ppo.policy_from={:?}", base.join("best").display().to_string()),
            "--set", &format!("ppo.reward_from={:?}", rm.join("best").display().to_string()),
            "--set", &format!("ppo.prompts={:?}", prompts_p.display().to_string()),
            "--set", &format!("ppo.ptx_corpus={:?}", c.display().to_string()),
            "--set", &format!("run.out_dir={:?}", out.display().to_string()),
            "--set", &format!("train.max_iters={iters}"), "--set", "rollout.batch=4", "--set", "ppo.minibatch_size=2",
            "--set", "ppo.ppo_epochs=2", "--set", "rollout.max_new_tokens=6", "--set", "ppo.adaptive_kl=true",
            "--set", "ppo.ema_decay=0.9", "--set", "rollout.missing_eos_penalty=1.0", "--set", "ppo.whiten_rewards=true",
            "--set", "train.threads=1", "--set", "train.checkpoint_interval=1",
        ]
        .map(String::from)
        .to_vec()
    };
    let r = json(&ok(&sargs(&ppo_args(&out, 3))));
    assert_eq!(r["steps"], 3);
    let recs: Vec<serde_json::Value> = std::fs::read_to_string(out.join("metrics.jsonl")).expect("m").lines().map(|l| serde_json::from_str(l).expect("j")).collect();
    assert_eq!(recs.len(), 3);
    for rec in &recs {
        for key in ["objective/rlhf_reward", "objective/kl", "objective/entropy", "policy/approxkl_avg", "policy/clipfrac_avg", "objective/kl_k3", "loss/policy_avg", "loss/value_avg", "val/clipfrac_avg", "loss/ptx_avg", "time/iteration_s", "time/rollout_s"] {
            let v = rec[key].as_f64().unwrap_or_else(|| panic!("missing {key}: {rec}"));
            assert!(v.is_finite(), "{key} is {v}");
        }
        assert!(rec["objective/kl_k3"].as_f64().expect("kl") >= 0.0, "the k3 KL estimate is never negative");
    }
    assert_ne!(recs[2]["kl_coef"], recs[0]["kl_coef"], "the adaptive controller moves β");
    for f in ["last/model.safetensors", "last/tokenizer.json", "ema/model.safetensors", "reward.png", "kl.png", "entropy.png"] {
        assert!(out.join(f).exists(), "missing {f}");
    }
    // the PPO policy is an ordinary checkpoint
    ok(&["sample", "--model", out.join("last").to_str().expect("p"), "--chat", "--prompt", "hi", "--max-new-tokens", "4"]);
    // a run stopped after 2 iterations and resumed to 3 ends where the straight run ended:
    // same policy, value model and EMA bytes, same metrics (policy, value, optimizers, RNG,
    // prompt order, adaptive β and EMA all come back from last/)
    let split = d.join("ppo_split");
    let mut resume = ppo_args(&split, 3);
    resume.push("--resume".into());
    fails(&sargs(&resume), "no checkpoint to resume");
    ok(&sargs(&ppo_args(&split, 2)));
    let r2 = json(&ok(&sargs(&resume)));
    assert_eq!(r2["steps"], 3);
    assert_eq!(r2["val_score_before"], r["val_score_before"]);
    for f in ["last/model.safetensors", "last/value/model.safetensors", "last/ema.safetensors", "ema/model.safetensors"] {
        assert!(std::fs::read(out.join(f)).expect("a") == std::fs::read(split.join(f)).expect("b"), "{f} differs after resume");
    }
    let strip = |dir: &std::path::Path| -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(dir.join("metrics.jsonl")).expect("m");
        text.lines().map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).expect("j");
            v.as_object_mut().expect("o").retain(|k, _| !k.starts_with("time/"));
            v
        }).collect()
    };
    assert_eq!(strip(&out), strip(&split), "the resumed run logs the same iterations, once each");
    // a language model is not a reward model
    fails(&["ppo", "--config", "configs/tiny/ppo.toml", "--set", &format!("ppo.reward_from={:?}", base.join("best").display().to_string()),
        "--set", &format!("ppo.policy_from={:?}", base.join("best").display().to_string()), "--set", &format!("ppo.prompts={:?}", prompts_p.display().to_string()),
        "--set", &format!("run.out_dir={:?}", d.join("x").display().to_string())], "not a reward/value model");
}

#[test]
fn world_generate_label_and_win_rate() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let w = d.join("world");
    let g = json(&ok(&["world", "generate", "--seed", "3", "--out", w.to_str().expect("p"), "--corpus-sentences", "3000", "--prompts", "300"]));
    let n = |k: &str| g[k].as_u64().expect("n");
    assert!(n("train_prompts") > 100 && n("val_prompts") > 20 && n("test_prompts") > 20 && n("test_template_prompts") > 5, "{g}");
    // users are split, and texts: no user and no text on two sides
    let field = |f: &str, k: &str| -> std::collections::HashSet<String> {
        std::fs::read_to_string(w.join(f)).expect("r").lines().map(|l| serde_json::from_str::<serde_json::Value>(l).expect("j")[k].as_str().expect("u").to_string()).collect()
    };
    assert!(field("prompts_train.jsonl", "user").is_disjoint(&field("prompts_val.jsonl", "user")));
    assert!(field("prompts_train.jsonl", "user").is_disjoint(&field("prompts_test.jsonl", "user")));
    assert!(field("prompts_train.jsonl", "prompt").is_disjoint(&field("prompts_test.jsonl", "prompt")));
    assert!(field("prompts_train.jsonl", "template").is_disjoint(&field("prompts_test_templates.jsonl", "template")), "held-out phrasings");
    assert_eq!(serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(w.join("prompts_report.json")).expect("report")).expect("json"), g);
    let base = d.join("base");
    let mut a = tiny_args(&w.join("corpus.txt"), &base, 10);
    a.extend(["--set".to_string(), "model.block_size=96".to_string()]);
    ok(&sargs(&a));
    let cmp = d.join("cmp.jsonl");
    let l = json(&ok(&["world", "label", "--world", w.to_str().expect("p"), "--model", base.join("best").to_str().expect("p"), "-k", "3", "--limit", "30", "--out", cmp.to_str().expect("p")]));
    let agreement = l["labeler_agreement"].as_f64().expect("agreement");
    assert!((0.0..=1.0).contains(&agreement));
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&cmp).expect("r").lines().map(|x| serde_json::from_str(x).expect("j")).collect();
    // prompts whose samples were all the same text are left out; the others keep distinct ones
    assert_eq!(lines.len() as u64 + l["skipped_identical"].as_u64().expect("skipped"), 30);
    for x in &lines {
        let c: Vec<&str> = x["completions"].as_array().expect("a").iter().map(|c| c.as_str().expect("s")).collect();
        assert!((2..=3).contains(&c.len()) && c.iter().collect::<std::collections::HashSet<_>>().len() == c.len(), "{x}");
        let mut r: Vec<u64> = x["ranking"].as_array().expect("r").iter().map(|v| v.as_u64().expect("i")).collect();
        r.sort_unstable();
        assert_eq!(r, (0..c.len() as u64).collect::<Vec<_>>());
    }
    // two models: sample j comes from model j mod 2, so the first sample of every prompt is the
    // first model's (same seed) and some later ones are the other model's
    let other = d.join("other");
    let mut a = tiny_args(&w.join("corpus.txt"), &other, 2);
    a.extend(["--set".to_string(), "model.block_size=96".to_string(), "--set".to_string(), "train.seed=9".to_string()]);
    ok(&sargs(&a));
    let label2 = |models: &[&Path], out: &Path| -> Vec<serde_json::Value> {
        let mut args = vec!["world".to_string(), "label".into(), "--world".into(), w.display().to_string(), "-k".into(), "2".into(), "--limit".into(), "30".into()];
        for m in models {
            args.extend(["--model".to_string(), m.join("best").display().to_string()]);
        }
        args.extend(["--out".to_string(), out.display().to_string()]);
        ok(&sargs(&args));
        std::fs::read_to_string(out).expect("r").lines().map(|x| serde_json::from_str(x).expect("j")).collect()
    };
    let single = label2(&[&base], &d.join("c1.jsonl"));
    let mixed = label2(&[&base, &other], &d.join("c2.jsonl"));
    let seen: std::collections::HashSet<(String, String)> =
        single.iter().flat_map(|x| x["completions"].as_array().expect("a").iter().map(move |c| (x["prompt"].to_string(), c.to_string()))).collect();
    let in_single: std::collections::HashSet<String> = single.iter().map(|x| x["prompt"].to_string()).collect();
    let both: Vec<&serde_json::Value> = mixed.iter().filter(|x| in_single.contains(&x["prompt"].to_string())).collect();
    assert!(!both.is_empty());
    assert!(both.iter().all(|x| seen.contains(&(x["prompt"].to_string(), x["completions"][0].to_string()))), "first samples come from the first model");
    assert!(both.iter().any(|x| !seen.contains(&(x["prompt"].to_string(), x["completions"][1].to_string()))), "second samples come from the other model");
    // a model against itself wins exactly half, and the interval covers 0.5
    let b = base.join("best");
    let r = json(&ok(&["eval", "world", "--world", w.to_str().expect("p"), "--model", b.to_str().expect("p"), "--baseline", b.to_str().expect("p"), "--limit", "20"]));
    assert_eq!(r["win_rate"], 0.5);
    assert!(r["ci95"][0].as_f64().expect("lo") <= 0.5 && r["ci95"][1].as_f64().expect("hi") >= 0.5);
}

#[test]
fn installed_binary_runs_without_ld_library_path() {
    // `gptlab-torch` carries the libtorch directory it was built against (build.rs: rpath), so
    // the built or installed `gptlab` runs without LD_LIBRARY_PATH, which only ./dev.sh sets
    let run_bare = |args: &[&str]| -> String {
        let o = bin().args(args).env_remove("LD_LIBRARY_PATH").output().expect("spawn gptlab");
        assert!(o.status.success(), "gptlab {args:?} without LD_LIBRARY_PATH failed:\n{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).expect("utf8")
    };
    // --version names the libtorch it was built against and whether CUDA is usable
    for flag in ["--version", "-V"] {
        let v = run_bare(&[flag]);
        let rest = v.strip_prefix(&format!("gptlab {} (libtorch ", env!("CARGO_PKG_VERSION"))).unwrap_or_else(|| panic!("{flag}: {v}"));
        assert!(rest.starts_with(|c: char| c.is_ascii_digit()), "{flag} names a libtorch version: {v}");
        assert!(rest.trim_end().ends_with(", CUDA available: no)") || rest.trim_end().ends_with(", CUDA available: yes)"), "{flag}: {v}");
    }
    // a command that computes with libtorch
    let o = run_bare(&["bench", "train", "--steps", "1", "--warmup", "0", "--n-layer", "1", "--n-embd", "32", "--n-head", "2", "--vocab", "64", "--block", "16", "--batch", "1", "--threads", "1"]);
    assert!(json(&o).is_object(), "{o}");
    // the serving scheduler's decode step, with keys and values in half precision
    let tiny = ["--n-layer", "1", "--n-embd", "32", "--n-head", "2", "--vocab", "64", "--block", "16", "--threads", "1", "--repeats", "1"];
    let o = json(&run_bare(&[&["bench", "decode", "--rows", "3", "--prompt-len", "4", "--steps", "5", "--kv-cache-dtype", "f16"][..], &tiny].concat()));
    assert!(o["rows"] == 3 && o["steps"] == 5 && o["kv_cache_dtype"] == "f16" && o["tokens_per_s"].as_f64().is_some_and(|t| t > 0.0), "{o}");
    let e = bin().args([&["bench", "decode", "--prompt-len", "10", "--steps", "7"][..], &tiny].concat()).output().expect("run");
    assert!(!e.status.success() && String::from_utf8_lossy(&e.stderr).contains("context of 16 (--block)"), "{}", String::from_utf8_lossy(&e.stderr));
}
