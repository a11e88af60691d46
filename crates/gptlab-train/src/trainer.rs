//! THE supervised training loop, shared by pretraining, SFT and the reward model.
//!
//! A stage supplies a [`Task`]: the loss of one micro-batch and an evaluation. The loop owns
//! everything else: AdamW with decay/no-decay groups, warmup + cosine schedule, gradient
//! accumulation, global-norm clipping, evaluation every `eval_interval` steps and at the end,
//! `best/` and `last/` checkpoints, `--resume`, metrics JSONL, a progress bar with tokens/s and
//! ETA, a loss-curve PNG, and a clean stop on a NaN/inf loss that keeps the last good
//! checkpoint. The run directory (checkpoints, state, resume, metrics) is [`crate::rundir`],
//! which the RL loop shares. With a [`Dist`] the loop is data-parallel ([`crate::dist`] states
//! the contract: sharded batches, averaged gradients, rank 0 writes).

use crate::config::TrainSection;
pub use crate::dist::Shard;
use crate::optim::{lr_at, AdamW, OptimConfig, ScheduleConfig};
use crate::rundir::{RunDir, Slot, TrainerState};
use crate::{Error, Result};
use gptlab_core::rng::Rng;
use gptlab_dist::Dist;
use gptlab_model::{checkpoint, Gpt};
use serde::Serialize;
use serde_json::{Map, Value};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use tch::{nn, Tensor};

/// One evaluation of a task.
#[derive(Debug, Clone, Default)]
pub struct Evaluation {
    /// Held-out loss.
    pub loss: f64,
    /// A score that picks `best/` instead of the loss (higher is better), for tasks that
    /// select by something else (SFT with a reward model: the mean reward of greedy replies).
    pub score: Option<f64>,
    /// More metrics to log.
    pub metrics: Map<String, Value>,
}

impl Evaluation {
    /// What picks `best/`: lower is better.
    pub fn selection(&self) -> f64 {
        self.score.map_or(self.loss, |s| -s)
    }
}

/// One stage's objective and data.
pub trait Task {
    /// Loss of one micro-batch (a scalar to minimise), the number of tokens it covered, and
    /// extra metrics to log. `micro` counts micro-batches from the start of the run (resumed
    /// runs continue the count), so epoch-based tasks know their data position. The global
    /// micro-batch is `world` times the task's batch size; `shard` says which part of it is
    /// this process's, and `rng` (the same stream on every rank) must advance as it would for
    /// the whole global micro-batch.
    fn train_loss(&mut self, model: &Gpt, rng: &mut Rng, micro: u64, shard: Shard) -> Result<(Tensor, usize, Map<String, Value>)>;
    /// The whole evaluation, batched by `shard.world` times the task's batch size (so that its
    /// result does not depend on the world size); every rank computes it.
    fn evaluate(&mut self, model: &Gpt, shard: Shard) -> Result<Evaluation>;
}

/// Everything the loop needs besides the task and model.
pub struct LoopConfig {
    pub optim: OptimConfig,
    pub schedule: ScheduleConfig,
    pub train: TrainSection,
    pub resume: bool,
    /// Show a progress bar (off in tests).
    pub progress: bool,
    /// The data-parallel run this process is part of (`None`: a single process).
    pub dist: Option<Arc<Dist>>,
}

impl LoopConfig {
    /// The settings of an epoch-based stage: `max_iters = 0` becomes `epochs × steps per
    /// epoch` over `examples` (a step takes the global batch), `decay_iters = 0` the whole run.
    #[allow(clippy::too_many_arguments)]
    pub fn epochs(optim: OptimConfig, mut schedule: ScheduleConfig, train: &TrainSection, epochs: u64, examples: usize, resume: bool, progress: bool, dist: Option<Arc<Dist>>) -> Self {
        let mut t = train.clone();
        let world = Shard::of(dist.as_deref()).world;
        if t.max_iters == 0 {
            t.max_iters = epochs * (examples.div_ceil(t.batch_size.max(1) * t.grad_accum.max(1) * world)).max(1) as u64;
        }
        if schedule.decay_iters == 0 {
            schedule.decay_iters = t.max_iters;
        }
        Self { optim, schedule, train: t, resume, progress, dist }
    }

    /// Sequences per optimizer step across all processes: batch × world size × accumulation.
    pub fn global_batch(&self) -> u64 {
        (self.train.batch_size * self.train.grad_accum * Shard::of(self.dist.as_deref()).world) as u64
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub steps: u64,
    pub final_eval_loss: f64,
    /// The selection value of `best/` ([`Evaluation::selection`]).
    pub best_eval_loss: f64,
    pub tokens_per_s: f64,
    pub wall_s: f64,
    pub out_dir: PathBuf,
}

/// Runs the loop. `vs`/`model` are the trainable model.
pub fn run(task: &mut dyn Task, vs: &nn::VarStore, model: &Gpt, rd: &RunDir, cfg: &LoopConfig) -> Result<Summary> {
    let t = &cfg.train;
    if t.batch_size == 0 || t.grad_accum == 0 || t.eval_interval == 0 || t.eval_iters == 0 {
        return Err(Error::Data("train.batch_size, grad_accum, eval_interval and eval_iters must be positive".into()));
    }
    let dist = cfg.dist.as_deref();
    let shard = Shard::of(dist);
    let main = shard.rank == 0;
    let global_batch = cfg.global_batch();
    let mut opt = AdamW::new(vs, cfg.optim, gptlab_model::gpt::decays)?;
    let mut state: TrainerState = rd.start(cfg.resume, t.seed)?;
    if cfg.resume {
        let last = rd.dir(Slot::Last);
        if let Some(saved) = state.global_batch.filter(|&g| g != global_batch) {
            return Err(Error::State {
                path: last,
                msg: format!(
                    "the checkpoint was trained with a global batch of {saved} sequences per step, this run has {global_batch} (train.batch_size {} x WORLD_SIZE {} x train.grad_accum {}): its data position does not carry over; choose a train.batch_size that gives {saved}",
                    t.batch_size, shard.world, t.grad_accum
                ),
            });
        }
        checkpoint::load_weights(vs, &last.join(checkpoint::MODEL_FILE))?;
        opt.load(&last.join(crate::rundir::OPTIM_FILE))?;
    }
    state.global_batch = Some(global_batch);
    if let Some(d) = dist {
        crate::dist::sync_start(d, &[vs], t.seed)?;
    }
    if let (Some(d), true) = (&cfg.dist, t.zero1) {
        opt.shard(d.clone())?;
    }
    let mut sink = if main { Some(rd.metrics(cfg.resume.then_some(state.step))?) } else { None };
    let pb = rd.progress(cfg.progress && main, t.max_iters, state.step);
    let start = Instant::now();
    let mut run_tokens = 0u64;
    let mut final_eval = state.last_eval_loss.unwrap_or(f64::NAN);
    // a resumed run's first step was evaluated (and checkpointed) before the stop
    let skip_eval_at = cfg.resume.then_some(state.step);
    let none = |_: &std::path::Path| Ok(());
    loop {
        let step = state.step;
        let at_end = step >= t.max_iters;
        if (step.is_multiple_of(t.eval_interval) || at_end) && skip_eval_at != Some(step) {
            let ev = task.evaluate(model, shard)?;
            let chosen_by = ev.selection();
            final_eval = ev.loss;
            state.last_eval_loss = Some(ev.loss);
            // only rank 0 has a metrics sink
            if let Some(sink) = sink.as_mut() {
                let mut rec = Map::new();
                rec.insert("step".into(), step.into());
                rec.insert("eval_loss".into(), ev.loss.into());
                if let Some(s) = ev.score {
                    rec.insert("eval_score".into(), s.into());
                }
                rec.extend(ev.metrics);
                sink.log(&rec)?;
                let line = format!("{} step {step}/{}: eval loss {:.4}", rd.stage, t.max_iters, ev.loss);
                if pb.is_hidden() {
                    eprintln!("{line}");
                } else {
                    pb.println(line);
                }
            }
            if chosen_by.is_finite() && state.best_selection.is_none_or(|b| chosen_by < b) {
                state.best_selection = Some(chosen_by);
                if main {
                    rd.save(Slot::Best, vs, model, None, &state, &none)?;
                }
            }
            opt.gather_state()?;
            if main {
                rd.save(Slot::Last, vs, model, Some(&opt), &state, &none)?;
            }
            opt.release_state();
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
            if let (Some(d), true) = (dist, i + 1 == t.grad_accum) {
                // the last micro-batch's backward starts averaging the gradients as it goes
                opt.arm_reduction(d)?;
            }
            let (loss, n, m) = task.train_loss(model, &mut state.rng, micro, shard)?;
            (&loss / t.grad_accum as f64).backward();
            loss_sum += loss.double_value(&[]);
            tokens += n;
            extra = m;
        }
        let mut loss = loss_sum / t.grad_accum as f64;
        if let Some(d) = dist {
            opt.average_grads(d)?;
            // the logged loss and token count are the whole global batch's
            let s = d.sum_f64(&[loss, tokens as f64])?;
            loss = s[0] / shard.world as f64;
            tokens = s[1].round() as usize;
        }
        let grad_norm = opt.clip_and_step(lr)?;
        if !loss.is_finite() || !grad_norm.is_finite() {
            pb.abandon();
            return Err(if loss.is_finite() { rd.diverged(step, "gradient norm", grad_norm) } else { rd.diverged(step, "loss", loss) });
        }
        state.step += 1;
        state.tokens_seen += tokens as u64;
        run_tokens += tokens as u64;
        let tps = run_tokens as f64 / start.elapsed().as_secs_f64().max(1e-9);
        if let Some(sink) = sink.as_mut().filter(|_| step.is_multiple_of(t.log_interval)) {
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
    if main {
        crate::plot::loss_curve(&rd.metrics_path(), &rd.out_dir.join("loss.png"), &rd.stage)?;
    }
    Ok(Summary {
        steps: state.step,
        final_eval_loss: final_eval,
        best_eval_loss: state.best_selection.unwrap_or(f64::NAN),
        tokens_per_s: run_tokens as f64 / wall.max(1e-9),
        wall_s: wall,
        out_dir: rd.out_dir.clone(),
    })
}
