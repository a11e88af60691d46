//! What the tests that run the `gptlab` binary share: running it, a tiny checkpoint, a
//! served model, API keys, the project's Python.
#![allow(dead_code)] // each test binary uses its own subset

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gptlab"));
    c.current_dir(root());
    c
}

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn ok(args: &[&str]) -> String {
    let o = bin().args(args).output().expect("spawn gptlab");
    assert!(o.status.success(), "gptlab {args:?} failed:\n{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).expect("utf8")
}

pub fn python() -> PathBuf {
    let venv = root().join(".venv/bin/python");
    if venv.exists() {
        venv
    } else {
        PathBuf::from("python3")
    }
}

/// A tiny chat-format checkpoint (a few pretraining steps on a small corpus).
pub fn checkpoint(dir: &Path) -> PathBuf {
    checkpoint_on(dir, &"The capital of Vanitel is Oxdor. The river runs past the old mill. I hope this helps.\n".repeat(60))
}

/// A tiny checkpoint pretrained for a few steps on `text` (its tokenizer trained on it too).
pub fn checkpoint_on(dir: &Path, text: &str) -> PathBuf {
    checkpoint_steps(dir, text, 5)
}

/// A tiny checkpoint pretrained for `steps` steps on `text`.
pub fn checkpoint_steps(dir: &Path, text: &str, steps: usize) -> PathBuf {
    let corpus = dir.join("corpus.txt");
    std::fs::write(&corpus, text).expect("corpus");
    let out = dir.join("m");
    let s = |k: &str, v: String| ["--set".to_string(), format!("{k}={v}")];
    let mut args: Vec<String> = ["pretrain", "--config", "configs/tiny/pretrain.toml", "--quiet"].map(String::from).to_vec();
    for (k, v) in [
        ("data.corpus", format!("{:?}", corpus.display().to_string())),
        ("run.out_dir", format!("{:?}", out.display().to_string())),
        ("data.vocab_size", "300".into()),
        ("model.n_layer", "2".into()),
        ("model.n_embd", "32".into()),
        ("model.n_head", "2".into()),
        ("model.block_size", "128".into()),
        ("train.max_iters", steps.to_string()),
        ("train.eval_interval", steps.to_string()),
        ("train.eval_iters", "1".into()),
        ("train.threads", "1".into()),
    ] {
        args.extend(s(k, v));
    }
    ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    out.join("best")
}

/// A running server and its URL; killed when dropped.
pub struct Server(pub Child, pub String);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn start(model: &Path, db: &Path, extra: &[&str]) -> Server {
    let mut child = bin()
        .args(["serve", "--model", &format!("m={}", model.display()), "--db", db.to_str().expect("p"), "--addr", "127.0.0.1:0"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("url line");
    assert!(line.starts_with("http://"), "serve printed {line:?}");
    Server(child, line.trim().to_string())
}

pub fn key(db: &Path, user: &str, extra: &[&str]) -> String {
    let mut a = vec!["keys", "add", "--db", db.to_str().expect("p"), "--user", user];
    a.extend_from_slice(extra);
    ok(&a).trim().lines().last().expect("key line").to_string()
}

pub fn py(args: &[&str]) -> std::process::Output {
    Command::new(python()).args(args).output().expect("python")
}
