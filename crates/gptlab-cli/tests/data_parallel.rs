//! Data-parallel pretraining on CPU with Gloo over loopback: two processes with half of the
//! global batch each train like one process with the whole batch (same examples per step,
//! losses and gradient norms within a float-rounding tolerance, same final weights), a run
//! resumes under a different world size, a bad resume or environment is a clear error, and a
//! killed peer stops the others with an error instead of a hang.

mod common;

use common::{bin, root};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Relative tolerance of per-step losses and gradient norms: two half-batch means averaged
/// equal the whole-batch mean up to float rounding (~1e-7), which AdamW carries forward.
const LOSS_RTOL: f64 = 1e-4;
/// Largest absolute weight difference after the run (the learning rate is 1e-3 a step).
const WEIGHT_ATOL: f64 = 1e-4;

fn corpus(dir: &Path) -> PathBuf {
    let words = ["the", "cat", "a", "dog", "sees", "likes", "red", "apple", "house", "boat", "tall", "tree", "idea", "and", "old", "king"];
    let mut s = String::new();
    let mut x: u64 = 11;
    for i in 0..3000 {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        s.push_str(words[(x >> 40) as usize % words.len()]);
        s.push(if i % 9 == 8 { '\n' } else { ' ' });
    }
    let p = dir.join("corpus.txt");
    std::fs::write(&p, s).expect("corpus");
    p
}

fn args(corpus: &Path, out: &Path, batch: usize, iters: u32) -> Vec<String> {
    let mut v: Vec<String> = ["pretrain", "--config", "configs/tiny/pretrain.toml", "--quiet"].map(String::from).to_vec();
    for (k, val) in [
        ("data.corpus", format!("{:?}", corpus.display().to_string())),
        ("run.out_dir", format!("{:?}", out.display().to_string())),
        ("data.vocab_size", "260".into()),
        ("model.n_layer", "2".into()),
        ("model.n_embd", "32".into()),
        ("model.n_head", "2".into()),
        ("model.block_size", "32".into()),
        ("train.batch_size", batch.to_string()),
        ("train.max_iters", iters.to_string()),
        ("train.eval_interval", "4".into()),
        ("train.eval_iters", "2".into()),
        ("train.log_interval", "1".into()),
        ("train.threads", "1".into()),
        ("schedule.warmup_iters", "2".into()),
        ("schedule.decay_iters", "8".into()),
    ] {
        v.push("--set".into());
        v.push(format!("{k}={val}"));
    }
    v
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// `gptlab <a>` as rank `rank` of `world` (the variables torchrun sets).
fn rank_cmd(a: &[String], rank: usize, world: usize, port: u16) -> Command {
    let mut c = bin();
    c.args(a)
        .env("RANK", rank.to_string())
        .env("LOCAL_RANK", rank.to_string())
        .env("WORLD_SIZE", world.to_string())
        .env("MASTER_ADDR", "127.0.0.1")
        .env("MASTER_PORT", port.to_string())
        .env("GPTLAB_DIST_TIMEOUT", "60")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// Runs `a` on `world` processes (1: without any distributed environment) and checks success.
fn run(a: &[String], world: usize) {
    if world == 1 {
        let o = bin().args(a).output().expect("spawn");
        assert!(o.status.success(), "{}", text(&o));
        return;
    }
    let port = free_port();
    let kids: Vec<Child> = (0..world).map(|r| rank_cmd(a, r, world, port).spawn().expect("spawn rank")).collect();
    for (r, k) in kids.into_iter().enumerate() {
        let o = k.wait_with_output().expect("wait");
        assert!(o.status.success(), "rank {r}: {}", text(&o));
    }
}

fn metrics(out: &Path) -> Vec<Value> {
    std::fs::read_to_string(out.join("metrics.jsonl")).expect("metrics").lines().map(|l| serde_json::from_str(l).expect("record")).collect()
}

/// (step, loss, grad_norm) of every logged training step.
fn curve(out: &Path) -> Vec<(u64, f64, f64)> {
    metrics(out).iter().filter_map(|r| Some((r["step"].as_u64()?, r["loss"].as_f64()?, r["grad_norm"].as_f64()?))).collect()
}

fn weights(dir: &Path) -> Vec<(String, Vec<f32>)> {
    let bytes = std::fs::read(dir.join("model.safetensors")).expect("weights");
    let st = safetensors::SafeTensors::deserialize(&bytes).expect("safetensors");
    let mut v: Vec<(String, Vec<f32>)> = st
        .tensors()
        .into_iter()
        .map(|(n, t)| {
            assert_eq!(t.dtype(), safetensors::Dtype::F32, "{n}");
            (n, t.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

fn max_weight_diff(a: &Path, b: &Path) -> f64 {
    let (wa, wb) = (weights(a), weights(b));
    assert_eq!(wa.iter().map(|x| &x.0).collect::<Vec<_>>(), wb.iter().map(|x| &x.0).collect::<Vec<_>>());
    wa.iter().zip(&wb).flat_map(|((_, x), (_, y))| x.iter().zip(y).map(|(p, q)| (f64::from(*p) - f64::from(*q)).abs())).fold(0.0, f64::max)
}

fn state(out: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("last/trainer_state.json")).expect("state")).expect("json")
}

/// Prints both curves step by step and checks they agree within [`LOSS_RTOL`].
fn same_curve(what: &str, a: &Path, b: &Path) {
    let (ca, cb) = (curve(a), curve(b));
    assert_eq!(ca.len(), cb.len(), "{what}: logged steps");
    for ((s, la, ga), (t, lb, gb)) in ca.iter().zip(&cb) {
        assert_eq!(s, t);
        let (dl, dg) = ((la - lb).abs() / la.abs(), (ga - gb).abs() / ga.abs());
        println!("{what} step {s}: loss {la:.6} vs {lb:.6} (rel diff {dl:.1e}), grad norm {ga:.6} vs {gb:.6} (rel diff {dg:.1e}), tolerance {LOSS_RTOL:.0e}");
        assert!(dl < LOSS_RTOL && dg < LOSS_RTOL, "{what}: step {s} differs");
    }
}

#[test]
fn two_processes_with_half_the_batch_train_like_one_with_all_of_it() {
    let dir = tempfile::tempdir().expect("tmp");
    let c = corpus(dir.path());
    let d = |n: &str| dir.path().join(n);
    // one process, batch 4; two processes, batch 2 each: the same global batch of 4
    run(&args(&c, &d("one"), 4, 8), 1);
    run(&args(&c, &d("two"), 2, 8), 2);
    same_curve("1x4 vs 2x2", &d("one"), &d("two"));
    let w = max_weight_diff(&d("one/last"), &d("two/last"));
    println!("final weights: max |diff| {w:.2e} (tolerance {WEIGHT_ATOL:.0e})");
    assert!(w < WEIGHT_ATOL, "final weights differ by {w}");
    let (s1, s2) = (state(&d("one")), state(&d("two")));
    for k in ["step", "rng", "tokens_seen", "global_batch"] {
        assert_eq!(s1[k], s2[k], "trainer_state.{k}");
    }
    assert_eq!(s1["tokens_seen"], 8 * 4 * 32, "global tokens: steps x global batch x block");
    // rank 0 alone wrote the metrics: one record per step and evaluation
    assert_eq!(metrics(&d("two")).len(), metrics(&d("one")).len());

    // the same checkpoint resumed by either world size continues the same way: 2 processes
    // to step 4, then 1 process to 8; and 1 process to step 4, then 2 processes to 8
    run(&args(&c, &d("2then1"), 2, 4), 2);
    run(&args(&c, &d("1then2"), 4, 4), 1);
    let mut resume1 = args(&c, &d("2then1"), 4, 8);
    resume1.push("--resume".into());
    run(&resume1, 1);
    let mut resume2 = args(&c, &d("1then2"), 2, 8);
    resume2.push("--resume".into());
    run(&resume2, 2);
    for r in ["2then1", "1then2"] {
        same_curve(&format!("1x4 vs {r}"), &d("one"), &d(r));
        let w = max_weight_diff(&d("one/last"), &d(&format!("{r}/last")));
        println!("{r}: final weights max |diff| {w:.2e}");
        assert!(w < WEIGHT_ATOL, "{r}: final weights differ by {w}");
        for k in ["step", "rng", "tokens_seen", "global_batch"] {
            assert_eq!(state(&d("one"))[k], state(&d(r))[k], "{r}: trainer_state.{k}");
        }
    }

    // a resume whose global batch differs (2 x 4 = 8, checkpoint 4) names the fields
    let mut bad = args(&c, &d("two"), 4, 12);
    bad.push("--resume".into());
    let port = free_port();
    let kids: Vec<Child> = (0..2).map(|r| rank_cmd(&bad, r, 2, port).spawn().expect("spawn")).collect();
    for k in kids {
        let o = k.wait_with_output().expect("wait");
        let t = text(&o);
        assert!(!o.status.success() && t.contains("global batch of 4") && t.contains("train.batch_size 4 x WORLD_SIZE 2"), "{t}");
    }
}

#[test]
fn a_killed_peer_stops_the_run_with_an_error() {
    let dir = tempfile::tempdir().expect("tmp");
    let c = corpus(dir.path());
    let out = dir.path().join("run");
    let a = args(&c, &out, 2, 100_000);
    let port = free_port();
    let mut r0 = rank_cmd(&a, 0, 2, port).spawn().expect("rank 0");
    let mut r1 = rank_cmd(&a, 1, 2, port).spawn().expect("rank 1");
    // wait until training is under way (rank 0 logged a few steps), then kill rank 1
    let t0 = Instant::now();
    while !out.join("metrics.jsonl").exists() || curve(&out).len() < 3 {
        assert!(t0.elapsed() < Duration::from_secs(120), "training did not start");
        std::thread::sleep(Duration::from_millis(200));
    }
    r1.kill().expect("kill rank 1");
    let _ = r1.wait();
    let killed = Instant::now();
    let waited = loop {
        if let Some(st) = r0.try_wait().expect("poll") {
            break st;
        }
        if killed.elapsed() > Duration::from_secs(90) {
            let _ = r0.kill();
            panic!("rank 0 still running 90 s after its peer died");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let o = r0.wait_with_output().expect("output");
    let t = text(&o);
    println!("rank 0 exited {waited} {:.1}s after its peer was killed: {}", killed.elapsed().as_secs_f64(), t.trim());
    assert!(!waited.success(), "{t}");
    assert!(t.contains("failed on rank 0 of 2"), "{t}");
}

#[test]
fn launch_and_torchrun_start_the_same_run_and_a_failed_rank_stops_launch() {
    let dir = tempfile::tempdir().expect("tmp");
    let c = corpus(dir.path());
    let (la, tr) = (dir.path().join("launch"), dir.path().join("torchrun"));
    let mut a: Vec<String> = ["launch", "-n", "2", "--"].map(String::from).to_vec();
    a.extend(args(&c, &la, 2, 4));
    let o = bin().args(&a).output().expect("launch");
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().filter(|l| l.starts_with('{')).count(), 1, "rank 0 alone prints the report");
    assert_eq!(curve(&la).len(), 4);
    // torchrun (the torch wheel's launcher, with its own agent store) runs the same
    let torchrun = root().join(".venv/bin/torchrun");
    if torchrun.exists() {
        let mut t = Command::new(&torchrun);
        t.current_dir(root()).args(["--nproc-per-node", "2", "--no-python", env!("CARGO_BIN_EXE_gptlab")]).args(args(&c, &tr, 2, 4));
        let o = t.output().expect("torchrun");
        assert!(o.status.success(), "{}", text(&o));
        same_curve("launch vs torchrun", &la, &tr);
    } else {
        println!("no {}: torchrun not checked", torchrun.display());
    }
    // a rank that fails stops the launch with an error naming it
    let o = bin().args(["launch", "-n", "2", "--", "pretrain", "--config", "nope.toml"]).output().expect("launch");
    let t = text(&o);
    assert!(!o.status.success() && t.contains("of 2 failed") && t.contains("nope.toml"), "{t}");
}

#[test]
fn a_half_set_environment_is_an_error_naming_the_variables() {
    let dir = tempfile::tempdir().expect("tmp");
    let c = corpus(dir.path());
    let o = bin().args(args(&c, &dir.path().join("x"), 2, 2)).env("RANK", "0").env("WORLD_SIZE", "2").output().expect("spawn");
    let t = text(&o);
    assert!(!o.status.success() && t.contains("MASTER_ADDR") && t.contains("MASTER_PORT") && t.contains("half set"), "{t}");
    let _ = root();
}

/// The f32 tensors of a safetensors file, by name.
fn f32_tensors(file: &Path) -> Vec<(String, Vec<f32>)> {
    let bytes = std::fs::read(file).expect("tensors");
    let st = safetensors::SafeTensors::deserialize(&bytes).expect("safetensors");
    let mut v: Vec<(String, Vec<f32>)> = st
        .tensors()
        .into_iter()
        .filter(|(_, t)| t.dtype() == safetensors::Dtype::F32)
        .map(|(n, t)| (n, t.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// ZeRO stage 1 over 3 processes (the tiny model's 34,816 parameters do not split evenly in
/// three, so the last rank's slice runs past the parameters) trains like one process with the whole
/// batch, and its checkpoint holds the whole optimizer state: the same moments as the one
/// process's, and a run resumes from it without ZeRO, or with it from a plain checkpoint.
#[test]
fn zero1_shards_the_optimizer_state_and_trains_like_one_process() {
    let dir = tempfile::tempdir().expect("tmp");
    let c = corpus(dir.path());
    let d = |n: &str| dir.path().join(n);
    let zero = |out: &str, batch: usize, iters: u32| {
        let mut a = args(&c, &d(out), batch, iters);
        a.extend(["--set".into(), "train.zero1=true".into()]);
        a
    };
    run(&args(&c, &d("one"), 6, 8), 1);
    run(&zero("zero", 2, 8), 3);
    same_curve("1x6 vs ZeRO-1 3x2", &d("one"), &d("zero"));
    let w = max_weight_diff(&d("one/last"), &d("zero/last"));
    println!("final weights: max |diff| {w:.2e}");
    assert!(w < WEIGHT_ATOL, "final weights differ by {w}");
    let (a, b) = (f32_tensors(&d("one/last/optimizer.safetensors")), f32_tensors(&d("zero/last/optimizer.safetensors")));
    assert_eq!(a.iter().map(|x| &x.0).collect::<Vec<_>>(), b.iter().map(|x| &x.0).collect::<Vec<_>>(), "the same moments, by name");
    let m = a.iter().zip(&b).flat_map(|((_, x), (_, y))| x.iter().zip(y).map(|(p, q)| (f64::from(*p) - f64::from(*q)).abs())).fold(0.0, f64::max);
    println!("optimizer moments: max |diff| {m:.2e}");
    assert!(m < 1e-5, "optimizer moments differ by {m}");
    assert!(a.iter().any(|(_, x)| x.iter().any(|&v| v != 0.0)), "moments are not all zero");

    // ZeRO-1 to step 4, then one plain process to 8; one process to 4, then ZeRO-1 to 8
    run(&zero("zthen1", 2, 4), 3);
    run(&args(&c, &d("1thenz"), 6, 4), 1);
    let mut r1 = args(&c, &d("zthen1"), 6, 8);
    r1.push("--resume".into());
    run(&r1, 1);
    let mut r2 = zero("1thenz", 2, 8);
    r2.push("--resume".into());
    run(&r2, 3);
    for r in ["zthen1", "1thenz"] {
        same_curve(&format!("1x6 vs {r}"), &d("one"), &d(r));
        let w = max_weight_diff(&d("one/last"), &d(&format!("{r}/last")));
        assert!(w < WEIGHT_ATOL, "{r}: final weights differ by {w}");
    }
}
