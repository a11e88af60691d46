//! Every config the repository ships parses as its stage's config (unknown keys are errors),
//! and the RL configs pass the stage's own checks: a config a README points at must load.

use gptlab_train::config::{DetectConfig, PpoConfig, PretrainConfig, RmConfig, SftConfig};
use std::path::{Path, PathBuf};

fn tomls(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("configs dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            tomls(&p, out);
        } else if p.extension().is_some_and(|x| x == "toml") {
            out.push(p);
        }
    }
}

#[test]
fn every_shipped_config_loads() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
    let mut files = vec![];
    tomls(&root, &mut files);
    assert!(files.len() >= 15, "{files:?}");
    for f in &files {
        let name = f.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        let res = if name.starts_with("pretrain") || name.ends_with("-char") {
            gptlab_core::config::load::<PretrainConfig>(f, &[]).map(|_| ())
        } else if name == "sft" {
            gptlab_core::config::load::<SftConfig>(f, &[]).map(|_| ())
        } else if name == "rm" {
            gptlab_core::config::load::<RmConfig>(f, &[]).map(|_| ())
        } else if name == "detect" {
            gptlab_core::config::load::<DetectConfig>(f, &[]).map(|_| ())
        } else if name == "ppo" || name.starts_with("rl_") {
            let c = gptlab_core::config::load::<PpoConfig>(f, &[]);
            if let Ok(c) = &c {
                gptlab_train::stages::ppo::check(c).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            }
            c.map(|_| ())
        } else {
            panic!("{}: which stage's config is this? (name it after its stage)", f.display());
        };
        res.unwrap_or_else(|e| panic!("{}: {e}", f.display()));
    }
}
