//! The run directory, shared by every stage (the supervised loop and RL alike).
//!
//! `<out_dir>/` holds `metrics.jsonl`, the plots, and checkpoint directories: `last/` (what
//! `--resume` continues from: weights, optimizer moments, `trainer_state.json`, and whatever
//! else the stage needs) and, for stages that select one, `best/`. A checkpoint directory is
//! an HF GPT-2 checkpoint (`config.json`, `model.safetensors`) plus `tokenizer.json`,
//! `trainer_state.json` and the resolved `config.toml`; it is written under a temporary name
//! and renamed into place, so a stop never leaves half a checkpoint.
//!
//! This layer owns: starting fresh or resuming (the state comes back from `last/`, its
//! tokenizer hash must match), truncating the metrics log to what the resumed state had
//! seen, the progress bar (rate and ETA), and atomic checkpoint writes.

use crate::optim::AdamW;
use crate::{Error, Result};
use gptlab_core::metrics::{self, MetricsSink};
use gptlab_core::rng::Rng;
use gptlab_model::{checkpoint, Gpt};
use gptlab_tokenizer::Tokenizer;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tch::nn;

pub const STATE_FILE: &str = "trainer_state.json";
pub const OPTIM_FILE: &str = "optimizer.safetensors";
pub const TOKENIZER_FILE: &str = "tokenizer.json";
pub const METRICS_FILE: &str = "metrics.jsonl";
pub const FORMAT_VERSION: u32 = 2;

/// What every stage saves about where its loop stands (`trainer_state.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainerState {
    pub format_version: u32,
    pub stage: String,
    /// Optimizer steps (RL: iterations) done.
    pub step: u64,
    /// The loop's random stream where it stands.
    pub rng: Rng,
    /// The selection value of `best/` (lower is better: an eval loss, or minus a reward).
    pub best_selection: Option<f64>,
    pub last_eval_loss: Option<f64>,
    pub tokens_seen: u64,
    pub tokenizer_sha256: String,
    /// Sequences per optimizer step across all processes (batch × world size × accumulation),
    /// which fixes the data position a resumed run continues from; absent in RL states and
    /// checkpoints from before data parallelism.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub global_batch: Option<u64>,
}

/// Reads `trainer_state.json` of a checkpoint directory.
pub fn read_state(dir: &Path) -> Result<TrainerState> {
    let p = dir.join(STATE_FILE);
    let text = gptlab_core::fsio::read_text(&p)?;
    let st: TrainerState = serde_json::from_str(&text).map_err(|e| Error::State { path: p.clone(), msg: e.to_string() })?;
    if st.format_version != FORMAT_VERSION {
        return Err(Error::State { path: p, msg: format!("format_version {} is not supported (expected {FORMAT_VERSION})", st.format_version) });
    }
    Ok(st)
}

/// Writes a full checkpoint into `dir` (replacing it whole); `extra` writes a stage's own
/// files into the temporary directory before it is renamed into place.
#[allow(clippy::too_many_arguments)]
pub fn save_checkpoint(
    dir: &Path,
    vs: &nn::VarStore,
    model: &Gpt,
    tok: &Tokenizer,
    opt: Option<&AdamW>,
    state: &TrainerState,
    resolved_toml: &str,
    extra: &dyn Fn(&Path) -> Result<()>,
) -> Result<()> {
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.with_file_name(format!(".{name}.tmp"));
    let old = dir.with_file_name(format!(".{name}.old"));
    let _ = std::fs::remove_dir_all(&tmp);
    checkpoint::save_model(&tmp, vs, &model.cfg)?;
    tok.save(&tmp.join(TOKENIZER_FILE))?;
    if let Some(opt) = opt {
        opt.save(&tmp.join(OPTIM_FILE))?;
    }
    gptlab_core::fsio::write_json_atomic(&tmp.join(STATE_FILE), state)?;
    gptlab_core::fsio::write_atomic(&tmp.join("config.toml"), resolved_toml.as_bytes())?;
    extra(&tmp)?;
    let io = |p: &Path, e| Error::Core(gptlab_core::Error::io(p, e));
    if dir.exists() {
        let _ = std::fs::remove_dir_all(&old);
        std::fs::rename(dir, &old).map_err(|e| io(dir, e))?;
    }
    std::fs::rename(&tmp, dir).map_err(|e| io(dir, e))?;
    let _ = std::fs::remove_dir_all(&old);
    Ok(())
}

/// Which checkpoint directory of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    Last,
    Best,
}

/// One stage's run directory.
pub struct RunDir {
    pub stage: String,
    pub out_dir: PathBuf,
    tok: Tokenizer,
    tok_sha: String,
    resolved_toml: String,
}

impl RunDir {
    /// Creates `out_dir` if needed. `resolved_toml` is saved beside every checkpoint.
    pub fn new(stage: &str, out_dir: &Path, tok: &Tokenizer, resolved_toml: &str) -> Result<Self> {
        std::fs::create_dir_all(out_dir).map_err(|e| gptlab_core::Error::io(out_dir, e))?;
        let tok_sha = gptlab_core::fsio::sha256_hex(tok.to_json()?.as_bytes());
        Ok(Self { stage: stage.into(), out_dir: out_dir.into(), tok: tok.clone(), tok_sha, resolved_toml: resolved_toml.into() })
    }

    pub fn dir(&self, slot: Slot) -> PathBuf {
        self.out_dir.join(match slot {
            Slot::Last => "last",
            Slot::Best => "best",
        })
    }

    pub fn metrics_path(&self) -> PathBuf {
        self.out_dir.join(METRICS_FILE)
    }

    /// A fresh state (its random stream: `<stage>/loop` of `seed`), or with `resume` the state saved in
    /// `last/`, which must exist and have been trained with this tokenizer.
    pub fn start(&self, resume: bool, seed: u64) -> Result<TrainerState> {
        if !resume {
            return Ok(TrainerState {
                format_version: FORMAT_VERSION,
                stage: self.stage.clone(),
                step: 0,
                rng: Rng::stream(seed, &format!("{}/loop", self.stage)),
                best_selection: None,
                last_eval_loss: None,
                tokens_seen: 0,
                tokenizer_sha256: self.tok_sha.clone(),
                global_batch: None,
            });
        }
        let last = self.dir(Slot::Last);
        let old = last.with_file_name(".last.old");
        if !last.exists() && old.join(STATE_FILE).exists() {
            // a stop between the two renames of a save: the previous checkpoint is whole
            std::fs::rename(&old, &last).map_err(|e| gptlab_core::Error::io(&last, e))?;
        }
        if !last.join(STATE_FILE).exists() {
            return Err(Error::State { path: last, msg: "--resume given but there is no checkpoint to resume from".into() });
        }
        let state = read_state(&last)?;
        if state.tokenizer_sha256 != self.tok_sha {
            return Err(Error::State { path: last, msg: "checkpoint was trained with a different tokenizer".into() });
        }
        Ok(state)
    }

    /// The metrics log: emptied for a fresh run. A run resumed at `step` (steps done) keeps
    /// the records of earlier steps and the evaluation at `step` (checkpointed with it), and
    /// drops what was logged after the checkpoint, which the resumed run logs again.
    pub fn metrics(&self, resumed_at: Option<u64>) -> Result<MetricsSink> {
        let path = self.metrics_path();
        match resumed_at {
            Some(at) => metrics::retain(&path, |m| match m.get("step").and_then(serde_json::Value::as_u64) {
                Some(s) => s < at || (s == at && m.contains_key("eval_loss")),
                None => true,
            })?,
            None => {
                let _ = std::fs::remove_file(&path);
            }
        }
        Ok(MetricsSink::open(&path)?)
    }

    /// Saves `vs`/`model` (and `opt`, `extra`) as the run's `slot` checkpoint.
    pub fn save(&self, slot: Slot, vs: &nn::VarStore, model: &Gpt, opt: Option<&AdamW>, state: &TrainerState, extra: &dyn Fn(&Path) -> Result<()>) -> Result<()> {
        save_checkpoint(&self.dir(slot), vs, model, &self.tok, opt, state, &self.resolved_toml, extra)
    }

    /// A progress bar over `total` steps starting at `position` (hidden when `enabled` is off):
    /// the stage's name, position, rate and ETA.
    pub fn progress(&self, enabled: bool, total: u64, position: u64) -> indicatif::ProgressBar {
        if !enabled {
            return indicatif::ProgressBar::hidden();
        }
        let pb = indicatif::ProgressBar::new(total);
        let style = indicatif::ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} [{elapsed_precise}<{eta_precise}, {per_sec}]")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> ");
        pb.set_style(style);
        pb.set_prefix(self.stage.clone());
        pb.set_position(position);
        pb
    }

    /// The typed error for a non-finite loss or metric at `step`.
    pub fn diverged(&self, step: u64, what: &str, value: f64) -> Error {
        Error::Diverged { stage: self.stage.clone(), step, what: what.into(), value, last_good: self.dir(Slot::Last).display().to_string() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resume_checks_state_and_tokenizer_and_truncates_metrics() {
        let tmp = tempfile::tempdir().expect("tmp");
        let tok = Tokenizer::train(&["abcdef".into()], gptlab_tokenizer::Kind::Char, 0).expect("tok");
        let rd = RunDir::new("unit", tmp.path(), &tok, "").expect("rundir");
        let e = rd.start(true, 0).expect_err("nothing to resume").to_string();
        assert!(e.contains("no checkpoint to resume"), "{e}");
        let mut st = rd.start(false, 5).expect("fresh");
        assert_eq!((st.step, st.rng), (0, Rng::stream(5, "unit/loop")));
        let mut sink = rd.metrics(None).expect("metrics");
        for s in 0..4u64 {
            let mut m = serde_json::Map::new();
            m.insert("step".into(), s.into());
            sink.log(&m).expect("log");
        }
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let model = Gpt::new(&vs.root(), &gptlab_model::GptConfig::new(tok.vocab_size() as i64, 8, 1, 2, 8)).expect("gpt");
        st.step = 2;
        rd.save(Slot::Last, &vs, &model, None, &st, &|p| Ok(gptlab_core::fsio::write_atomic(&p.join("extra.txt"), b"x")?)).expect("save");
        assert!(rd.dir(Slot::Last).join("extra.txt").exists());
        assert_eq!(rd.start(true, 0).expect("resume").step, 2);
        // a stop between the renames of a save leaves the old checkpoint as .last.old
        std::fs::rename(rd.dir(Slot::Last), tmp.path().join(".last.old")).expect("mv");
        assert_eq!(rd.start(true, 0).expect("resume from .last.old").step, 2);
        assert!(rd.dir(Slot::Last).exists());
        rd.metrics(Some(2)).expect("truncate");
        assert_eq!(metrics::read_jsonl(&rd.metrics_path()).expect("read").len(), 2, "steps 0 and 1 stay");
        let other = Tokenizer::train(&["xyz".into()], gptlab_tokenizer::Kind::Char, 0).expect("tok");
        let e = RunDir::new("unit", tmp.path(), &other, "").expect("rd").start(true, 0).expect_err("tokenizer").to_string();
        assert!(e.contains("different tokenizer"), "{e}");
        let e = rd.diverged(7, "loss", f64::NAN).to_string();
        assert!(e.contains("diverged") && e.contains("step 7") && e.contains("last"), "{e}");
    }
}
