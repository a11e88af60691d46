//! `gptlab ppo` with the rewards other than a reward model, end to end on the real binary:
//! the unit-test reward (the sandbox runs each sample's asserts) with GRPO's group advantage
//! and the completion format, on a tiny `gptlab data tasks` problem set and a tiny model
//! pretrained on its prompt + completion text; a command reward; and the config errors.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn gptlab(args: &[String]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gptlab")).current_dir(root()).args(args).output().expect("spawn gptlab")
}

/// The JSON of the last stdout line of a command that must succeed.
fn ok(args: &[String]) -> Value {
    let o = gptlab(args);
    assert!(o.status.success(), "gptlab {args:?} failed:\n{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8(o.stdout).expect("utf8");
    serde_json::from_str(out.lines().last().expect("a report line")).expect("json")
}

fn fails(args: &[String], needles: &[&str]) {
    let o = gptlab(args);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(!o.status.success(), "gptlab {args:?} should fail");
    for n in needles {
        assert!(err.contains(n), "error for {args:?} should mention {n:?}, got:\n{err}");
    }
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

fn set(key: &str, path: &Path) -> [String; 2] {
    ["--set".into(), format!("{key}={:?}", path.display().to_string())]
}

fn metrics(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("metrics.jsonl")).expect("metrics").lines().map(|l| serde_json::from_str(l).expect("json")).collect()
}

/// Problems (2 per training family) and a tiny model pretrained on their prompt + completion
/// text, with `<|end|>` after each.
fn setup(d: &Path) -> (PathBuf, PathBuf) {
    let tasks = d.join("tasks");
    ok(&s(&["data", "tasks", "--out", tasks.to_str().expect("p"), "--per-family", "2", "--test-per-family", "1"]));
    let corpus: String = std::fs::read_to_string(tasks.join("train.jsonl"))
        .expect("train")
        .lines()
        .map(|l| {
            let r: Value = serde_json::from_str(l).expect("json");
            format!("{}{}<|end|>", r["prompt"].as_str().expect("prompt"), r["completion"].as_str().expect("completion"))
        })
        .collect();
    let c = d.join("corpus.txt");
    std::fs::write(&c, corpus).expect("w");
    let base = d.join("base");
    let mut args = s(&["pretrain", "--config", "configs/tiny/pretrain.toml", "--quiet"]);
    args.extend(set("data.corpus", &c));
    args.extend(set("run.out_dir", &base));
    for kv in [
        "data.vocab_size=600", "model.n_layer=1", "model.n_embd=32", "model.n_head=2", "model.block_size=256", "train.batch_size=4",
        "train.max_iters=4", "train.eval_interval=4", "train.eval_iters=1", "schedule.warmup_iters=1", "schedule.decay_iters=4", "train.threads=1",
    ] {
        args.extend(["--set".to_string(), kv.to_string()]);
    }
    ok(&args);
    (tasks, base.join("best"))
}

/// `gptlab ppo` on the example unit-test config at toy size, plus `extra` settings.
fn rl_args(config: &Path, policy: &Path, out: &Path, extra: &[&str]) -> Vec<String> {
    let mut a = s(&["ppo", "--config", config.to_str().expect("p"), "--quiet"]);
    a.extend(set("ppo.policy_from", policy));
    a.extend(set("run.out_dir", out));
    for kv in ["train.max_iters=2", "rollout.batch=2", "rollout.group_size=2", "ppo.minibatch_size=4", "ppo.ppo_epochs=1", "rollout.max_new_tokens=8", "ppo.test_workers=1", "train.threads=1"] {
        a.extend(["--set".to_string(), kv.to_string()]);
    }
    for kv in extra {
        a.extend(["--set".to_string(), kv.to_string()]);
    }
    a
}

/// The example config without its `problems` keys (for the other rewards).
fn config_without_problems(d: &Path) -> PathBuf {
    let text = std::fs::read_to_string(root().join("configs/tiny/rl_unit_tests.toml")).expect("config");
    let kept: Vec<&str> = text.lines().filter(|l| !(l.starts_with("problems") || l.starts_with("val_problems") || l.starts_with("reward ="))).collect();
    let f = d.join("rl_no_problems.toml");
    std::fs::write(&f, kept.join("\n")).expect("w");
    f
}

#[test]
fn unit_test_and_command_rewards_train_with_group_advantages() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let (tasks, policy) = setup(d);
    let config = root().join("configs/tiny/rl_unit_tests.toml");

    // the unit-test reward: scores are fractions of asserts, the run dir has no value model
    let out = d.join("rl");
    let mut a = rl_args(&config, &policy, &out, &[]);
    a.extend(set("ppo.problems", &tasks.join("train.jsonl")));
    a.extend(set("ppo.val_problems", &tasks.join("test_heldout.jsonl")));
    let r = ok(&a);
    assert_eq!((r["steps"].as_u64(), r["reward"].as_str(), r["advantage"].as_str()), (Some(2), Some("unit_tests"), Some("group")), "{r}");
    assert_eq!(r["val_prompts"].as_u64(), Some(4), "the 4 held-out problems: {r}");
    for k in ["val_score_before", "val_score_after"] {
        let v = r[k].as_f64().expect("score");
        assert!((0.0..=1.0).contains(&v), "{k} is a fraction of asserts: {v}");
    }
    let m = metrics(&out);
    assert_eq!(m.len(), 2);
    for rec in &m {
        let sc = rec["objective/scores"].as_f64().expect("scores");
        assert!((0.0..=1.0).contains(&sc), "{rec}");
        for k in ["objective/flat_groups", "objective/pass_frac", "loss/kl_avg", "loss/policy_avg"] {
            assert!(rec[k].as_f64().is_some_and(f64::is_finite), "{k} in {rec}");
        }
        assert!(rec.get("loss/value_avg").is_none(), "no value model: {rec}");
    }
    assert!(out.join("last/model.safetensors").exists() && out.join("last/ppo_state.json").exists());
    assert!(!out.join("last/value").exists(), "group advantages save no value model");
    let cfg = std::fs::read_to_string(out.join("last/config.toml")).expect("resolved config");
    assert!(cfg.contains("unit_tests") && cfg.contains("group"), "{cfg}");

    // a command reward: every sample gets what the script prints, and it saw each sample
    let script = d.join("score.py");
    let log = d.join("seen.jsonl");
    std::fs::write(&script, format!("import json, sys\nr = json.loads(sys.stdin.readline())\nopen({:?}, 'a').write(json.dumps(r) + '\\n')\nprint(0.25)\n", log.display().to_string())).expect("w");
    let out_c = d.join("rl_cmd");
    let mut a = rl_args(&config_without_problems(d), &policy, &out_c, &["ppo.reward=\"command\""]);
    a.extend(["--set".into(), format!("ppo.reward_command={:?}", format!("python3 {}", script.display()))]);
    a.extend(set("ppo.prompts", &tasks.join("train.jsonl")));
    let r = ok(&a);
    assert_eq!(r["reward"].as_str(), Some("command"));
    assert_eq!(r["val_score_before"].as_f64(), Some(0.25));
    for rec in metrics(&out_c) {
        assert_eq!(rec["objective/scores"].as_f64(), Some(0.25), "{rec}");
        assert_eq!(rec["objective/flat_groups"].as_f64(), Some(1.0), "equal rewards: no signal in any group");
    }
    let seen: Vec<Value> = std::fs::read_to_string(&log).expect("log").lines().map(|l| serde_json::from_str(l).expect("json")).collect();
    // greedy validation before and after (the first 32 prompts) and 2 iterations of 2 × 2
    let n_train = std::fs::read_to_string(tasks.join("train.jsonl")).expect("t").lines().count().min(32);
    assert_eq!(seen.len(), 2 * n_train + 8);
    assert!(seen.iter().all(|r| r["prompt"].as_str().is_some_and(|p| p.contains("def ")) && r["completion"].is_string() && r["task_id"].as_str().is_some_and(|t| t.starts_with("Gen/"))), "{:?}", seen[0]);

    // a failing command is an error naming it and the sample
    let mut a = rl_args(&config_without_problems(d), &policy, &d.join("rl_bad"), &["ppo.reward=\"command\"", "ppo.reward_command=\"exit 3\""]);
    a.extend(set("ppo.prompts", &tasks.join("train.jsonl")));
    fails(&a, &["ppo.reward_command `exit 3`", "task_id Gen/", "exit status: 3"]);
}

#[test]
fn bad_reward_settings_are_errors_naming_the_key() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let config = root().join("configs/tiny/rl_unit_tests.toml");
    let policy = d.join("no-model");
    fails(&rl_args(&config, &policy, &d.join("o1"), &["ppo.reward=\"vibes\""]), &["ppo.reward", "vibes"]);
    fails(&rl_args(&config, &policy, &d.join("o2"), &["ppo.advantage=\"median\""]), &["ppo.advantage", "median"]);
    fails(&rl_args(&config, &policy, &d.join("o3"), &["rollout.format=\"poem\""]), &["rollout.format", "poem"]);
    fails(&rl_args(&config_without_problems(d), &policy, &d.join("o4"), &["ppo.reward=\"unit_tests\""]), &["ppo.problems: required with ppo.reward = \"unit_tests\""]);
    fails(&rl_args(&config, &policy, &d.join("o5"), &["rollout.group_size=1"]), &["rollout.group_size", "at least 2"]);
    fails(&rl_args(&config, &policy, &d.join("o6"), &["ppo.reward_from=\"x\""]), &["ppo.reward_from: not used with ppo.reward = \"unit_tests\""]);
    fails(&rl_args(&config_without_problems(d), &policy, &d.join("o7"), &["ppo.reward=\"command\"", "ppo.prompts=\"p.jsonl\""]), &["ppo.reward_command: required"]);
    fails(&rl_args(&config, &policy, &d.join("o8"), &["ppo.advantage=\"gae\""]), &["ppo.value_from: required"]);
    fails(&rl_args(&config, &policy, &d.join("o9"), &["ppo.sparkle=1"]), &["sparkle"]);
    // a missing problems file is named with its key (the policy must load first)
    let (_, real_policy) = setup(d);
    let mut a = rl_args(&config, &real_policy, &d.join("o10"), &[]);
    a.extend(set("ppo.problems", &d.join("absent.jsonl")));
    fails(&a, &["ppo.problems", "absent.jsonl"]);
}

#[test]
fn ppo_runs_data_parallel_with_each_rank_sampling_its_own_prompts() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let (tasks, policy) = setup(d);
    // a command reward that records each sample with the rank that scored it
    let script = d.join("score.py");
    let log = d.join("seen.jsonl");
    std::fs::write(&script, format!("import json, os, sys\nr = json.loads(sys.stdin.readline())\nr['rank'] = os.environ['RANK']\nopen({:?}, 'a').write(json.dumps(r) + '\\n')\nprint(0.25)\n", log.display().to_string())).expect("w");
    let out = d.join("rl_dp");
    let mut a = s(&["launch", "-n", "2", "--"]);
    a.extend(rl_args(&config_without_problems(d), &policy, &out, &["ppo.reward=\"command\""]));
    a.extend(["--set".into(), format!("ppo.reward_command={:?}", format!("python3 {}", script.display()))]);
    a.extend(set("ppo.prompts", &tasks.join("train.jsonl")));
    let o = gptlab(&a);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().filter(|l| l.starts_with('{')).count(), 1, "rank 0 alone reports");
    assert_eq!(metrics(&out).len(), 2, "rank 0 alone logs, once per iteration");
    assert!(out.join("last/model.safetensors").exists());
    // per rank: greedy validation (the first 32 prompts), 2 iterations of its 2 prompts x 2
    // samples, validation again; the 2 ranks' 8 training prompts are all different
    let seen: Vec<Value> = std::fs::read_to_string(&log).expect("log").lines().map(|l| serde_json::from_str(l).expect("json")).collect();
    let n_val = std::fs::read_to_string(tasks.join("train.jsonl")).expect("t").lines().count().min(32);
    let mut train_prompts = std::collections::BTreeSet::new();
    for rank in ["0", "1"] {
        let mine: Vec<&Value> = seen.iter().filter(|r| r["rank"] == rank).collect();
        assert_eq!(mine.len(), 2 * n_val + 8, "rank {rank}");
        let train: Vec<&str> = mine[n_val..n_val + 8].iter().map(|r| r["task_id"].as_str().expect("task_id")).collect();
        // a prompt's 2 samples are consecutive
        assert!(train.chunks(2).all(|g| g[0] == g[1]), "{train:?}");
        train_prompts.extend(train);
    }
    assert_eq!(train_prompts.len(), 8, "the ranks' prompts overlap: {train_prompts:?}");
}
