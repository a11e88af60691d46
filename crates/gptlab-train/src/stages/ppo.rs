//! The `ppo` stage: InstructGPT step 3's run. Each iteration takes `rollout.batch` prompts in
//! a seeded shuffled order, then [`sample`] → [`score`] → [`advantages`] →
//! [`ppo::update`](crate::rl::ppo::update); the KL coefficient adapts (optionally) and an EMA of
//! the policy is kept (optionally). With `ppo.ptx_corpus` the update adds the pretraining term
//! (PPO-ptx).
//!
//! The run directory is the shared [`RunDir`]: `last/` is the policy (an ordinary checkpoint)
//! plus everything `--resume` needs to continue bit for bit: `trainer_state.json` (iteration
//! count and random stream), `ppo_state.json` ([`PpoState`]), `value/` (value model and its
//! optimizer) and `ema.safetensors`. `ema/` holds the averaged policy at the end,
//! `snapshots/step_NNNNNN/` the policy every `train.snapshot_interval` iterations; the plots
//! are `reward.png`, `kl.png` and `entropy.png` (each iteration and a trailing mean).

use crate::config::PpoConfig;
use crate::optim::{lr_at, AdamW};
use crate::plot::{line_plot, series_from, with_trend};
use crate::rl::ppo::{self, PtxMix, Update};
use crate::rl::rollout::{advantages, mean_score, sample, score};
use crate::rundir::{read_state, RunDir, Slot, OPTIM_FILE};
use crate::stages::RunOptions;
use crate::{ctx, same_tokenizer, Error, Result};
use gptlab_model::roles::{self, Mode};
use gptlab_model::checkpoint;
use gptlab_data::read_prompts;
use gptlab_tokenizer::Tokenizer;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tch::Tensor;

#[derive(Debug, Clone, Serialize)]
pub struct PpoReport {
    pub steps: u64,
    /// Mean reward-model score of greedy replies to the validation prompts, before and after.
    pub val_score_before: f64,
    pub val_score_after: f64,
    /// Summed per-response KL to the reference at the last iteration.
    pub last_kl: f64,
    /// Prompts the episodes were drawn from, and validation prompts.
    pub prompts: usize,
    pub val_prompts: usize,
    pub out_dir: PathBuf,
}

/// What a PPO run keeps besides weights, optimizer moments and `trainer_state.json`
/// (`last/ppo_state.json`).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PpoState {
    /// The KL coefficient β (moved by the adaptive controller).
    pub beta: f64,
    pub last_kl: f64,
    /// Prompt order of the current pass and the position in it.
    pub order: Vec<usize>,
    pub cursor: usize,
    pub val_score_before: f64,
    /// Set when the run has finished.
    pub val_score_after: Option<f64>,
}

pub const PPO_STATE: &str = "ppo_state.json";
pub const EMA_FILE: &str = "ema.safetensors";
pub const VALUE_DIR: &str = "value";

/// Prompts of a JSONL file rendered as user turns awaiting the reply; those longer than
/// `max_prompt` tokens are skipped with a note.
fn render_prompts(tok: &Tokenizer, path: &Path, max_prompt: usize) -> Result<Vec<Vec<u32>>> {
    let all: Vec<Vec<u32>> = read_prompts(path)?.iter().map(|q| tok.render_prompt(q)).collect::<std::result::Result<_, _>>()?;
    let kept: Vec<Vec<u32>> = all.iter().filter(|ids| ids.len() <= max_prompt).cloned().collect();
    if kept.len() < all.len() {
        eprintln!("note: {}: {} prompts longer than {max_prompt} tokens are skipped", path.display(), all.len() - kept.len());
    }
    if kept.is_empty() {
        return Err(Error::Data(format!("{}: no usable prompts", path.display())));
    }
    Ok(kept)
}

/// The ptx corpus as one token tensor and its window length.
fn ptx_data(tok: &Tokenizer, corpus: &Path, n_positions: i64, device: tch::Device) -> Result<(Tensor, i64)> {
    let ids: Vec<i64> = tok.encode(&gptlab_data::read_corpus(corpus)?)?.into_iter().map(i64::from).collect();
    let block = n_positions.min(64);
    if ids.len() as i64 <= block + 1 {
        return Err(Error::Data(format!("{}: too short for ptx windows of {block} tokens", corpus.display())));
    }
    Ok((Tensor::from_slice(&ids).to_device(device), block))
}

pub fn run(cfg: &PpoConfig, o: &RunOptions) -> Result<PpoReport> {
    let (p, ro, t) = (&cfg.ppo, &cfg.rollout, &cfg.train);
    if ro.temperature.is_nan() || ro.temperature <= 0.0 {
        return Err(Error::Data(format!("rollout.temperature must be positive (PPO samples its episodes), got {}", ro.temperature)));
    }
    let device = gptlab_model::device::setup(t.device, t.threads)?;
    tch::manual_seed(t.seed as i64);
    let reference = ctx(roles::lm(&p.policy_from, device, Mode::Frozen), || format!("ppo.policy_from = {}", p.policy_from.display()))?;
    let tok = reference.tok.clone();
    let rd = RunDir::new("ppo", &cfg.run.out_dir, &tok, &o.resolved_toml)?;
    let last_dir = rd.dir(Slot::Last);
    let mut state = rd.start(o.resume, t.seed)?;
    // a resumed run continues from its own policy and value model; the reference stays SFT
    let (policy_dir, value_dir) = if o.resume {
        (last_dir.clone(), last_dir.join(VALUE_DIR))
    } else {
        (p.policy_from.clone(), p.value_from.clone().unwrap_or_else(|| p.reward_from.clone()))
    };
    let policy = ctx(roles::lm(&policy_dir, device, Mode::Trainable), || format!("policy {}", policy_dir.display()))?;
    let mut value = ctx(roles::scalar(&value_dir, device, Mode::Trainable), || format!("value model {}", value_dir.display()))?;
    let reward = ctx(roles::scalar(&p.reward_from, device, Mode::Frozen), || format!("ppo.reward_from = {}", p.reward_from.display()))?;
    same_tokenizer(&tok, &reward.tok, &format!("ppo.reward_from = {}", p.reward_from.display()))?;
    same_tokenizer(&tok, &value.tok, &format!("value model {}", value_dir.display()))?;
    let (vs_p, mut policy_m, mut reference_m) = (policy.vs, policy.model, reference.model);
    let mut reward_m = reward.model;
    for m in [&mut policy_m, &mut reference_m, &mut value.model.gpt, &mut reward_m.gpt] {
        m.set_precision(t.dtype);
    }
    let n_pos = policy_m.cfg.n_positions as usize;
    let max_prompt = n_pos - ro.max_new_tokens.min(n_pos - 1);
    let prompts = render_prompts(&tok, &p.prompts, max_prompt)?;
    let val_prompts = match &p.val_prompts {
        Some(v) => render_prompts(&tok, v, max_prompt)?,
        None => prompts.iter().take(32).cloned().collect(),
    };
    let ptx = p.ptx_corpus.as_ref().map(|c| ptx_data(&tok, c, policy_m.cfg.n_positions, device)).transpose()?;
    // windows of pretraining text per minibatch: ptx_ratio per RL episode
    let ptx_windows = ((p.ptx_ratio * p.minibatch_size as f64).round() as usize).max(1);
    let mut popt = AdamW::new(&vs_p, cfg.optim, gptlab_model::gpt::decays)?;
    let mut vopt = AdamW::new(&value.vs, cfg.optim, gptlab_model::gpt::decays)?;
    let mut ema: Option<Vec<Tensor>> = p.ema_decay.map(|_| vs_p.trainable_variables().iter().map(|v| v.detach().copy()).collect());
    let mut ps = if o.resume {
        let f = last_dir.join(PPO_STATE);
        let ps: PpoState = serde_json::from_str(&gptlab_core::fsio::read_text(&f)?).map_err(|e| Error::State { path: f.clone(), msg: e.to_string() })?;
        if ps.order.len() != prompts.len() || ps.cursor > ps.order.len() {
            return Err(Error::State { path: last_dir, msg: format!("the prompt file changed since the checkpoint ({} prompts, the run had {})", prompts.len(), ps.order.len()) });
        }
        popt.load(&last_dir.join(OPTIM_FILE))?;
        vopt.load(&last_dir.join(VALUE_DIR).join(OPTIM_FILE))?;
        if let Some(e) = ema.as_mut() {
            load_ema(&last_dir.join(EMA_FILE), e)?;
        }
        ps
    } else {
        let mut order: Vec<usize> = (0..prompts.len()).collect();
        state.rng.shuffle(&mut order);
        let before = mean_score(&policy_m, &reward_m, &tok, &val_prompts, ro.max_new_tokens)?;
        PpoState { beta: p.kl_coef, last_kl: 0.0, order, cursor: 0, val_score_before: before, val_score_after: None }
    };
    let mut sink = rd.metrics(o.resume.then_some(state.step))?;
    let value_cfg = value.model.gpt.cfg.clone();
    let save_last = |state: &crate::rundir::TrainerState, ps: &PpoState, popt: &AdamW, vopt: &AdamW, ema: Option<&Vec<Tensor>>| -> Result<()> {
        let extra = |tmp: &Path| -> Result<()> {
            let vdir = tmp.join(VALUE_DIR);
            checkpoint::save_model(&vdir, &value.vs, &value_cfg)?;
            tok.save(&vdir.join(crate::rundir::TOKENIZER_FILE))?;
            vopt.save(&vdir.join(OPTIM_FILE))?;
            gptlab_core::fsio::write_json_atomic(&tmp.join(PPO_STATE), ps)?;
            if let Some(e) = ema {
                let named: Vec<(String, Tensor)> = e.iter().enumerate().map(|(i, t)| (format!("ema.{i}"), t.shallow_clone())).collect();
                checkpoint::write_tensors(&tmp.join(EMA_FILE), &named)?;
            }
            Ok(())
        };
        rd.save(Slot::Last, &vs_p, &policy_m, Some(popt), state, &extra)
    };
    let pb = rd.progress(o.progress, t.max_iters, state.step);
    while state.step < t.max_iters {
        let step = state.step;
        let t_iter = std::time::Instant::now();
        let batch: Vec<Vec<u32>> = (0..ro.batch)
            .map(|_| {
                if ps.cursor == ps.order.len() {
                    state.rng.shuffle(&mut ps.order);
                    ps.cursor = 0;
                }
                ps.cursor += 1;
                prompts[ps.order[ps.cursor - 1]].clone()
            })
            .collect();
        let samples = sample(&policy_m, &tok, &batch, ro.max_new_tokens, ro.temperature, state.rng.next_u64())?;
        let scored = score(&samples, &reference_m, &value.model, &reward_m, ro.missing_eos_penalty)?;
        let rollout = advantages(samples, scored, ps.beta, p.gamma, p.lam, p.whiten_rewards);
        let rollout_s = t_iter.elapsed().as_secs_f64();
        let mut rec = ppo::rollout_metrics(&rollout, ps.beta);
        let lr = lr_at(step, &cfg.optim, &cfg.schedule);
        let value_lr = lr * p.value_lr.map_or(1.0, |v| v / cfg.optim.lr);
        let mut u = Update {
            policy: &policy_m,
            value: &mut value.model,
            policy_opt: &mut popt,
            value_opt: &mut vopt,
            lr,
            value_lr,
            cliprange: p.cliprange,
            cliprange_value: p.cliprange_value,
            vf_coef: p.vf_coef,
            ptx: ptx.as_ref().map(|(data, block)| PtxMix { data, batch: ptx_windows, block: *block, coef: p.ptx_coef }),
        };
        rec.extend(ppo::update(&mut u, &rollout, p.ppo_epochs, p.minibatch_size, &mut state.rng)?);
        ps.last_kl = rec.get("objective/kl").and_then(|v| v.as_f64()).unwrap_or(f64::NAN);
        if let Some((k, v)) = rec.iter().find_map(|(k, v)| v.as_f64().filter(|x| !x.is_finite()).map(|x| (k.clone(), x))) {
            pb.abandon();
            return Err(rd.diverged(step, &k, v));
        }
        if p.adaptive_kl {
            ps.beta = ppo::adapt_kl(ps.beta, ps.last_kl, p.target_kl, ro.batch as f64, p.kl_horizon);
        }
        if let (Some(e), Some(d)) = (ema.as_mut(), p.ema_decay) {
            ppo::ema_update(e, &vs_p.trainable_variables(), d);
        }
        rec.insert("step".into(), step.into());
        rec.insert("lr".into(), lr.into());
        // rollout + update of this iteration, in seconds (bench/ppo_vs_trl.py reads it)
        rec.insert("time/iteration_s".into(), t_iter.elapsed().as_secs_f64().into());
        rec.insert("time/rollout_s".into(), rollout_s.into());
        sink.log(&rec)?;
        pb.set_message(format!("score {:.3} kl {:.3}", rec.get("objective/scores").and_then(|v| v.as_f64()).unwrap_or(0.0), ps.last_kl));
        pb.inc(1);
        state.step += 1;
        if t.snapshot_interval > 0 && state.step % t.snapshot_interval == 0 {
            let dir = rd.out_dir.join("snapshots").join(format!("step_{:06}", state.step));
            crate::rundir::save_checkpoint(&dir, &vs_p, &policy_m, &tok, None, &state, &o.resolved_toml, &|_| Ok(()))?;
        }
        if t.checkpoint_interval > 0 && state.step % t.checkpoint_interval == 0 && state.step < t.max_iters {
            save_last(&state, &ps, &popt, &vopt, ema.as_ref())?;
        }
    }
    pb.finish_and_clear();
    let after = mean_score(&policy_m, &reward_m, &tok, &val_prompts, ro.max_new_tokens)?;
    ps.val_score_after = Some(after);
    save_last(&state, &ps, &popt, &vopt, ema.as_ref())?;
    if let Some(e) = ema {
        tch::no_grad(|| {
            for (v, x) in vs_p.trainable_variables().iter_mut().zip(&e) {
                v.copy_(x);
            }
        });
        let st = read_state(&last_dir)?;
        crate::rundir::save_checkpoint(&rd.out_dir.join("ema"), &vs_p, &policy_m, &tok, None, &st, &o.resolved_toml, &|_| Ok(()))?;
    }
    let recs = gptlab_core::metrics::read_jsonl(&rd.metrics_path())?;
    for (key, file) in [("objective/scores", "reward.png"), ("objective/kl", "kl.png"), ("objective/entropy", "entropy.png")] {
        line_plot(&rd.out_dir.join(file), &format!("ppo: {key}"), "PPO iteration", &with_trend(series_from(&recs, key)))?;
    }
    Ok(PpoReport { steps: state.step, val_score_before: ps.val_score_before, val_score_after: after, last_kl: ps.last_kl, prompts: prompts.len(), val_prompts: val_prompts.len(), out_dir: rd.out_dir.clone() })
}

/// Copies the EMA weights saved at `f` into `ema`.
fn load_ema(f: &Path, ema: &mut [Tensor]) -> Result<()> {
    let mut saved = checkpoint::read_tensors(f).map_err(|e| Error::State { path: f.into(), msg: format!("{e} (ppo.ema_decay is set)") })?;
    for (i, dst) in ema.iter_mut().enumerate() {
        let src = saved.remove(&format!("ema.{i}")).ok_or_else(|| Error::State { path: f.into(), msg: format!("missing ema.{i}") })?;
        tch::no_grad(|| dst.f_copy_(&src.to_device(dst.device())))?;
    }
    Ok(())
}
