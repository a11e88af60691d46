//! THE training loop, shared by every stage.
//!
//! A stage supplies a [`Task`]: the loss of one micro-batch and an evaluation. The loop owns
//! everything else: AdamW with decay/no-decay groups, warmup + cosine schedule, gradient
//! accumulation, global-norm clipping, evaluation every `eval_interval` steps and at the end,
//! `best/` (lowest eval loss) and `last/` checkpoints, `--resume`, metrics JSONL, a progress
//! bar with tokens/s and ETA, a loss-curve PNG, and a clean stop on a NaN/inf loss that keeps
//! the last good checkpoint.
//!
//! Checkpoint directories hold an HF GPT-2 checkpoint (`config.json`, `model.safetensors`)
//! plus `tokenizer.json`, `optimizer.safetensors`, `trainer_state.json` and the resolved
//! `config.toml`. A directory is written under a temporary name and renamed into place.

use crate::config::TrainSection;
use crate::optim::{lr_at, AdamW, OptimConfig, ScheduleConfig};
use crate::{Error, Result};
use gptlab_core::metrics::{self, MetricsSink};
use gptlab_core::rng::Rng;
use gptlab_model::{checkpoint, Gpt};
use gptlab_tokenizer::Tokenizer;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};
use std::time::Instant;
use tch::{nn, Tensor};

pub const STATE_FILE: &str = "trainer_state.json";
pub const OPTIM_FILE: &str = "optimizer.safetensors";
pub const TOKENIZER_FILE: &str = "tokenizer.json";
pub const FORMAT_VERSION: u32 = 1;

/// One stage's objective and data.
pub trait Task {
    /// Loss of one micro-batch (a scalar to minimise), the number of tokens it covered, and
    /// extra metrics to log. `micro` counts micro-batches from the start of the run (resumed
    /// runs continue the count), so epoch-based tasks know their data position.
    fn train_loss(&mut self, model: &Gpt, rng: &mut Rng, micro: u64) -> Result<(Tensor, usize, Map<String, Value>)>;
    /// Evaluation loss and extra metrics.
    fn evaluate(&mut self, model: &Gpt) -> Result<(f64, Map<String, Value>)>;
    /// What picks `best/` (lower is better): the evaluation loss unless a task knows better
    /// (SFT with a reward model: minus the mean reward on validation prompts).
    fn selection(&self, eval_loss: f64, _extra: &Map<String, Value>) -> f64 {
        eval_loss
    }
}

/// Everything the loop needs besides the task and model.
pub struct LoopConfig {
    pub stage: String,
    pub optim: OptimConfig,
    pub schedule: ScheduleConfig,
    pub train: TrainSection,
    pub out_dir: PathBuf,
    pub resume: bool,
    /// Resolved config, saved beside every checkpoint.
    pub resolved_toml: String,
    /// Show a progress bar (off in tests).
    pub progress: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainerState {
    pub format_version: u32,
    pub stage: String,
    pub step: u64,
    pub rng: Rng,
    /// What chose `best/` ([`Task::selection`]: the eval loss, or minus the mean reward).
    pub best_eval_loss: Option<f64>,
    pub last_eval_loss: Option<f64>,
    pub tokens_seen: u64,
    pub tokenizer_sha256: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub steps: u64,
    pub final_eval_loss: f64,
    /// The selection value of `best/` (see [`TrainerState::best_eval_loss`]).
    pub best_eval_loss: f64,
    pub tokens_per_s: f64,
    pub wall_s: f64,
    pub out_dir: PathBuf,
}

/// Writes a full checkpoint into `dir` (replacing it whole).
pub fn save_checkpoint(dir: &Path, vs: &nn::VarStore, model: &Gpt, tok: &Tokenizer, opt: Option<&AdamW>, state: &TrainerState, resolved_toml: &str) -> Result<()> {
    save_checkpoint_with(dir, vs, model, tok, opt, state, resolved_toml, &|_| Ok(()))
}

/// [`save_checkpoint`], with `extra` writing more files into the checkpoint's temporary
/// directory before it is renamed into place (a stage's own resume state).
#[allow(clippy::too_many_arguments)]
pub fn save_checkpoint_with(
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

fn progress_bar(enabled: bool, total: u64) -> indicatif::ProgressBar {
    if !enabled {
        return indicatif::ProgressBar::hidden();
    }
    let pb = indicatif::ProgressBar::new(total);
    let style = indicatif::ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} [{elapsed_precise}<{eta_precise}]")
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> ");
    pb.set_style(style);
    pb
}

/// Runs the loop. `vs`/`model` are the trainable model; `tok` is saved with checkpoints.
pub fn run(task: &mut dyn Task, vs: &nn::VarStore, model: &Gpt, tok: &Tokenizer, cfg: &LoopConfig) -> Result<Summary> {
    let t = &cfg.train;
    if t.batch_size == 0 || t.grad_accum == 0 || t.eval_interval == 0 || t.eval_iters == 0 {
        return Err(Error::Data("train.batch_size, grad_accum, eval_interval and eval_iters must be positive".into()));
    }
    let last_dir = cfg.out_dir.join("last");
    let best_dir = cfg.out_dir.join("best");
    let metrics_path = cfg.out_dir.join("metrics.jsonl");
    let tok_sha = gptlab_core::fsio::sha256_hex(tok.to_json()?.as_bytes());
    let mut opt = AdamW::new(vs, cfg.optim, gptlab_model::gpt::decays)?;
    let mut state = TrainerState {
        format_version: FORMAT_VERSION,
        stage: cfg.stage.clone(),
        step: 0,
        rng: Rng::new(t.seed),
        best_eval_loss: None,
        last_eval_loss: None,
        tokens_seen: 0,
        tokenizer_sha256: tok_sha.clone(),
    };
    if cfg.resume {
        if !last_dir.join(STATE_FILE).exists() {
            return Err(Error::State { path: last_dir, msg: "--resume given but there is no checkpoint to resume from".into() });
        }
        state = read_state(&last_dir)?;
        if state.tokenizer_sha256 != tok_sha {
            return Err(Error::State { path: last_dir, msg: "checkpoint was trained with a different tokenizer".into() });
        }
        checkpoint::load_weights(vs, &last_dir.join(checkpoint::MODEL_FILE))?;
        opt.load(&last_dir.join(OPTIM_FILE))?;
        metrics::truncate_after_step(&metrics_path, state.step)?;
    } else {
        let _ = std::fs::remove_file(&metrics_path);
    }
    let mut sink = MetricsSink::open(&metrics_path)?;
    let pb = progress_bar(cfg.progress, t.max_iters);
    pb.set_prefix(cfg.stage.clone());
    pb.set_position(state.step);
    let start = Instant::now();
    let mut run_tokens = 0u64;
    let mut final_eval = state.last_eval_loss.unwrap_or(f64::NAN);
    // a resumed run's first step was evaluated (and checkpointed) before the stop
    let skip_eval_at = cfg.resume.then_some(state.step);
    loop {
        let step = state.step;
        let at_end = step >= t.max_iters;
        if (step.is_multiple_of(t.eval_interval) || at_end) && skip_eval_at != Some(step) {
            let (loss, extra) = task.evaluate(model)?;
            let chosen_by = task.selection(loss, &extra);
            final_eval = loss;
            state.last_eval_loss = Some(loss);
            let mut rec = Map::new();
            rec.insert("step".into(), step.into());
            rec.insert("eval_loss".into(), loss.into());
            rec.extend(extra);
            sink.log(&rec)?;
            let line = format!("{} step {step}/{}: eval loss {loss:.4}", cfg.stage, t.max_iters);
            if pb.is_hidden() {
                eprintln!("{line}");
            } else {
                pb.println(line);
            }
            if chosen_by.is_finite() && state.best_eval_loss.is_none_or(|b| chosen_by < b) {
                state.best_eval_loss = Some(chosen_by);
                save_checkpoint(&best_dir, vs, model, tok, None, &state, &cfg.resolved_toml)?;
            }
            save_checkpoint(&last_dir, vs, model, tok, Some(&opt), &state, &cfg.resolved_toml)?;
        }
        if at_end {
            break;
        }
        let lr = lr_at(step, &cfg.optim, &cfg.schedule);
        opt.zero_grad();
        let mut loss_sum = 0.0;
        let mut tokens = 0usize;
        let mut extra = Map::new();
        for i in 0..t.grad_accum {
            let micro = step * t.grad_accum as u64 + i as u64;
            let (loss, n, m) = task.train_loss(model, &mut state.rng, micro)?;
            (&loss / t.grad_accum as f64).backward();
            loss_sum += loss.double_value(&[]);
            tokens += n;
            extra = m;
        }
        let loss = loss_sum / t.grad_accum as f64;
        let grad_norm = opt.clip_and_step(lr);
        if !loss.is_finite() || !grad_norm.is_finite() {
            pb.abandon();
            let bad = if loss.is_finite() { grad_norm } else { loss };
            return Err(Error::Diverged { step, loss: bad, last_good: last_dir.display().to_string() });
        }
        state.step += 1;
        state.tokens_seen += tokens as u64;
        run_tokens += tokens as u64;
        let tps = run_tokens as f64 / start.elapsed().as_secs_f64().max(1e-9);
        if step.is_multiple_of(t.log_interval) {
            let mut rec = Map::new();
            rec.insert("step".into(), step.into());
            rec.insert("loss".into(), loss.into());
            rec.insert("lr".into(), lr.into());
            rec.insert("grad_norm".into(), grad_norm.into());
            rec.insert("tokens_per_s".into(), tps.into());
            rec.extend(extra);
            sink.log(&rec)?;
        }
        pb.set_message(format!("loss {loss:.4} | {:.1}k tok/s", tps / 1000.0));
        pb.inc(1);
    }
    pb.finish_and_clear();
    let wall = start.elapsed().as_secs_f64();
    crate::plot::loss_curve(&metrics_path, &cfg.out_dir.join("loss.png"), &cfg.stage)?;
    Ok(Summary {
        steps: state.step,
        final_eval_loss: final_eval,
        best_eval_loss: state.best_eval_loss.unwrap_or(f64::NAN),
        tokens_per_s: run_tokens as f64 / wall.max(1e-9),
        wall_s: wall,
        out_dir: cfg.out_dir.clone(),
    })
}
