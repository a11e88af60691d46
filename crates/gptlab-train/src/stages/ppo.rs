//! The `ppo` stage: InstructGPT step 3's run, and RL from unit tests (Codex-style problems)
//! or a command. Each iteration takes `rollout.batch` prompts in a seeded shuffled order, each
//! `rollout.group_size` times, then [`sample_until`] → [`Reward::score`] and [`score`] → GAE
//! ([`advantages`]) or the group baseline ([`group::advantages`]) →
//! [`ppo::update`](crate::rl::ppo::update); the KL coefficient adapts (optionally) and an EMA
//! of the policy is kept (optionally). With `ppo.ptx_corpus` the update adds the pretraining
//! term (PPO-ptx). `ppo.reward` picks the reward ([`crate::rl::reward`]), `ppo.advantage` the
//! advantage estimate (`group` trains no value model), `rollout.format` the prompt encoding
//! and where responses stop ([`crate::rl::prompts`]).
//!
//! The run directory is the shared [`RunDir`]: `last/` is the policy (an ordinary checkpoint)
//! plus everything `--resume` needs to continue bit for bit: `trainer_state.json` (iteration
//! count and random stream), `ppo_state.json` ([`PpoState`]), `value/` (value model and its
//! optimizer; GAE only) and `ema.safetensors`. `ema/` holds the averaged policy at the end,
//! `snapshots/step_NNNNNN/` the policy every `train.snapshot_interval` iterations; the plots
//! are `reward.png`, `kl.png` and `entropy.png` (each iteration and a trailing mean).

use crate::config::{AdvantageKind, PpoConfig, PromptFormat, RewardKind};
use crate::optim::{lr_at, AdamW};
use crate::plot::{line_plot, series_from, with_trend};
use crate::rl::ppo::{self, PtxMix, Update, ValueStep};
use crate::rl::prompts::{self, Prompt};
use crate::rl::reward::Reward;
use crate::rl::rollout::{advantages, sample_until, score};
use crate::rl::group;
use crate::rundir::{read_state, RunDir, Slot, OPTIM_FILE};
use crate::stages::RunOptions;
use crate::{ctx, same_tokenizer, Error, Result};
use gptlab_model::roles::{self, Mode};
use gptlab_model::checkpoint;
use gptlab_model::Gpt;
use gptlab_tokenizer::Tokenizer;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tch::{Kind, Tensor};

#[derive(Debug, Clone, Serialize)]
pub struct PpoReport {
    pub steps: u64,
    /// Mean reward of greedy replies to the validation prompts, before and after (with
    /// `unit_tests`: the mean fraction of asserts passed on the validation problems).
    pub val_score_before: f64,
    pub val_score_after: f64,
    /// Summed per-response KL to the reference at the last iteration.
    pub last_kl: f64,
    /// Prompts the episodes were drawn from, and validation prompts.
    pub prompts: usize,
    pub val_prompts: usize,
    pub reward: RewardKind,
    pub advantage: AdvantageKind,
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

/// Validation prompts taken from the training prompts when no file is given.
const DEFAULT_VAL: usize = 32;

/// The settings that depend on each other, checked before anything loads; each error names
/// the key.
pub fn check(cfg: &PpoConfig) -> Result<()> {
    let (p, ro) = (&cfg.ppo, &cfg.rollout);
    let bad = |key: &str, msg: &str| Err(Error::Data(format!("{key}: {msg}")));
    let kind = match p.reward {
        RewardKind::Model => "\"model\"",
        RewardKind::UnitTests => "\"unit_tests\"",
        RewardKind::Command => "\"command\"",
    };
    let unused = |key: &str| Error::Data(format!("{key}: not used with ppo.reward = {kind}; remove it"));
    let given = [
        ("ppo.reward_from", p.reward_from.is_some(), p.reward == RewardKind::Model),
        ("ppo.problems", p.problems.is_some(), p.reward == RewardKind::UnitTests),
        ("ppo.val_problems", p.val_problems.is_some(), p.reward == RewardKind::UnitTests),
        ("ppo.reward_command", p.reward_command.is_some(), p.reward == RewardKind::Command),
        ("ppo.prompts", p.prompts.is_some(), p.reward != RewardKind::UnitTests),
        ("ppo.val_prompts", p.val_prompts.is_some(), p.reward != RewardKind::UnitTests),
    ];
    if let Some((key, _, _)) = given.iter().find(|(_, set, used)| *set && !*used) {
        return Err(unused(key));
    }
    let needed = match p.reward {
        RewardKind::Model => [("ppo.reward_from", p.reward_from.is_some()), ("ppo.prompts", p.prompts.is_some())],
        RewardKind::UnitTests => [("ppo.problems", p.problems.is_some()), ("ppo.problems", true)],
        RewardKind::Command => [("ppo.reward_command", p.reward_command.as_ref().is_some_and(|c| !c.trim().is_empty())), ("ppo.prompts", p.prompts.is_some())],
    };
    if let Some((key, _)) = needed.iter().find(|(_, ok)| !ok) {
        return bad(key, &format!("required with ppo.reward = {kind}"));
    }
    if !(ro.temperature > 0.0) {
        return bad("rollout.temperature", &format!("must be positive (PPO samples its episodes), got {}", ro.temperature));
    }
    if !(p.test_timeout > 0.0 && p.test_timeout.is_finite()) {
        return bad("ppo.test_timeout", &format!("must be a positive number of seconds, got {}", p.test_timeout));
    }
    if ro.group_size == 0 || ro.batch == 0 {
        return bad(if ro.batch == 0 { "rollout.batch" } else { "rollout.group_size" }, "must be at least 1");
    }
    match p.advantage {
        AdvantageKind::Group => {
            if ro.group_size < 2 {
                return bad("rollout.group_size", &format!("ppo.advantage = \"group\" compares samples of one prompt: needs at least 2, got {}", ro.group_size));
            }
            if p.value_from.is_some() {
                return bad("ppo.value_from", "ppo.advantage = \"group\" trains no value model; remove it");
            }
        }
        AdvantageKind::Gae if p.reward != RewardKind::Model && p.value_from.is_none() => {
            return bad("ppo.value_from", &format!("required for ppo.advantage = \"gae\" with ppo.reward = {kind} (there is no reward model to start the value model from)"));
        }
        AdvantageKind::Gae => {}
    }
    if let Some(stop) = &ro.stop {
        if stop.iter().any(String::is_empty) {
            return bad("rollout.stop", "an empty stop sequence would stop every response at once");
        }
    }
    Ok(())
}

/// The training and validation prompts: from `ppo.problems` / `ppo.val_problems` with
/// `unit_tests` (and the problems, for the scorer), else from `ppo.prompts` / `ppo.val_prompts`.
fn load_prompts(cfg: &PpoConfig, tok: &Tokenizer, max_prompt: usize) -> Result<(Vec<Prompt>, Vec<Prompt>, Vec<gptlab_code::problems::Problem>)> {
    let (p, format) = (&cfg.ppo, cfg.rollout.format);
    let files = match p.reward {
        RewardKind::UnitTests => (p.problems.clone(), p.val_problems.clone()),
        _ => (p.prompts.clone(), p.val_prompts.clone()),
    };
    let (train_f, val_f) = (files.0.ok_or_else(|| Error::Data("no prompts file".into()))?, files.1);
    let mut problems = vec![];
    let mut read = |f: &Path, key: &str| -> Result<Vec<(String, Option<String>)>> {
        if p.reward == RewardKind::UnitTests {
            let ps = ctx(gptlab_code::problems::load_problems(f).map_err(|e| Error::Data(e.to_string())), || format!("{key} = {}", f.display()))?;
            let items = ps.iter().map(|q| (q.prompt.clone(), Some(q.task_id.clone()))).collect();
            problems.extend(ps);
            Ok(items)
        } else {
            ctx(prompts::read(f), || format!("{key} = {}", f.display()))
        }
    };
    let key = if p.reward == RewardKind::UnitTests { "ppo.problems" } else { "ppo.prompts" };
    let train_items = read(&train_f, key)?;
    let val_items = match &val_f {
        Some(v) => Some(read(v, if p.reward == RewardKind::UnitTests { "ppo.val_problems" } else { "ppo.val_prompts" })?),
        None => None,
    };
    let train = prompts::prepare(tok, format, train_items, &train_f, max_prompt)?;
    let val = match (val_items, &val_f) {
        (Some(items), Some(v)) => prompts::prepare(tok, format, items, v, max_prompt)?,
        _ => train.iter().take(DEFAULT_VAL).cloned().collect(),
    };
    Ok((train, val, problems))
}

/// The reward of `cfg.ppo.reward`, ready to score (`problems`: every problem a prompt may
/// name, for `unit_tests`).
fn load_reward(cfg: &PpoConfig, tok: &Tokenizer, device: tch::Device, problems: Vec<gptlab_code::problems::Problem>) -> Result<Reward> {
    let p = &cfg.ppo;
    Ok(match p.reward {
        RewardKind::Model => {
            let dir = p.reward_from.clone().ok_or_else(|| Error::Data("ppo.reward_from: required".into()))?;
            let what = || format!("ppo.reward_from = {}", dir.display());
            let mut rm = ctx(roles::scalar(&dir, device, Mode::Frozen), what)?;
            same_tokenizer(tok, &rm.tok, &what())?;
            rm.model.gpt.set_precision(cfg.train.dtype);
            Reward::Model(rm.model)
        }
        RewardKind::UnitTests => {
            let workers = if p.test_workers > 0 { p.test_workers } else { std::thread::available_parallelism().map_or(1, usize::from) };
            let seed = gptlab_core::rng::stream_seed(cfg.train.seed, "ppo/reward/unit_tests");
            let python = gptlab_code::sandbox::default_python();
            let scorer = gptlab_code::reward::AssertScorer::start(problems, &python, workers, p.test_timeout, gptlab_code::sandbox::Limits::default(), seed);
            Reward::UnitTests(ctx(scorer.map_err(|e| Error::Data(e.to_string())), || "the unit-test reward's sandbox".to_string())?)
        }
        RewardKind::Command => Reward::Command(p.reward_command.clone().unwrap_or_default()),
    })
}

/// Mean reward of greedy responses to `prompts`.
fn val_score(policy: &Gpt, reward: &mut Reward, tok: &Tokenizer, prompts: &[Prompt], max_new: usize, stop: &[String]) -> Result<f64> {
    let mut sum = 0.0;
    for chunk in prompts.chunks(16) {
        let ids: Vec<Vec<u32>> = chunk.iter().map(|p| p.ids.clone()).collect();
        let s = sample_until(policy, tok, &ids, max_new, 0.0, stop, 0)?;
        let refs: Vec<&Prompt> = chunk.iter().collect();
        sum += reward.score(&s, &refs, None)?.sum(Kind::Float).double_value(&[]);
    }
    Ok(sum / prompts.len().max(1) as f64)
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
    check(cfg)?;
    let (p, ro, t) = (&cfg.ppo, &cfg.rollout, &cfg.train);
    let group_size = ro.group_size;
    let (device, dist) = crate::dist::join(t.device, t.threads)?;
    let shard = crate::dist::Shard::of(dist.as_deref());
    let main = shard.rank == 0;
    tch::manual_seed(t.seed as i64);
    let reference = ctx(roles::lm(&p.policy_from, device, Mode::Frozen), || format!("ppo.policy_from = {}", p.policy_from.display()))?;
    let tok = reference.tok.clone();
    let rd = RunDir::new("ppo", &cfg.run.out_dir, &tok, &o.resolved_toml)?;
    let last_dir = rd.dir(Slot::Last);
    let mut state = rd.start(o.resume, t.seed)?;
    // a resumed run continues from its own policy and value model; the reference stays SFT
    let policy_dir = if o.resume { last_dir.clone() } else { p.policy_from.clone() };
    let value_dir = match p.advantage {
        AdvantageKind::Group => None,
        AdvantageKind::Gae if o.resume => Some(last_dir.join(VALUE_DIR)),
        AdvantageKind::Gae => p.value_from.clone().or_else(|| p.reward_from.clone()),
    };
    let policy = ctx(roles::lm(&policy_dir, device, Mode::Trainable), || format!("policy {}", policy_dir.display()))?;
    let (value_vs, mut value_m) = match &value_dir {
        Some(d) => {
            let v = ctx(roles::scalar(d, device, Mode::Trainable), || format!("value model {}", d.display()))?;
            same_tokenizer(&tok, &v.tok, &format!("value model {}", d.display()))?;
            (Some(v.vs), Some(v.model))
        }
        None => (None, None),
    };
    let (vs_p, mut policy_m, mut reference_m) = (policy.vs, policy.model, reference.model);
    for m in [&mut policy_m, &mut reference_m].into_iter().chain(value_m.as_mut().map(|v| &mut v.gpt)) {
        m.set_precision(t.dtype);
    }
    let n_pos = policy_m.cfg.n_positions as usize;
    let max_prompt = n_pos - ro.max_new_tokens.min(n_pos - 1);
    let (prompts, val_prompts, problems) = load_prompts(cfg, &tok, max_prompt)?;
    let mut reward = load_reward(cfg, &tok, device, problems)?;
    let stop: Vec<String> = ro.stop.clone().unwrap_or_else(|| match ro.format {
        PromptFormat::Chat => vec![],
        PromptFormat::Completion => gptlab_code::problems::STOPS.iter().map(|s| s.to_string()).collect(),
    });
    let ptx = p.ptx_corpus.as_ref().map(|c| ptx_data(&tok, c, policy_m.cfg.n_positions, device)).transpose()?;
    // windows of pretraining text per minibatch: ptx_ratio per RL episode
    let ptx_windows = ((p.ptx_ratio * p.minibatch_size as f64).round() as usize).max(1);
    let mut popt = AdamW::new(&vs_p, cfg.optim, gptlab_model::gpt::decays)?;
    let mut vopt = value_vs.as_ref().map(|vs| AdamW::new(vs, cfg.optim, gptlab_model::gpt::decays)).transpose()?;
    let mut ema: Option<Vec<Tensor>> = p.ema_decay.map(|_| vs_p.trainable_variables().iter().map(|v| v.detach().copy()).collect());
    let mut ps = if o.resume {
        let f = last_dir.join(PPO_STATE);
        let ps: PpoState = serde_json::from_str(&gptlab_core::fsio::read_text(&f)?).map_err(|e| Error::State { path: f.clone(), msg: e.to_string() })?;
        if ps.order.len() != prompts.len() || ps.cursor > ps.order.len() {
            return Err(Error::State { path: last_dir, msg: format!("the prompt file changed since the checkpoint ({} prompts, the run had {})", prompts.len(), ps.order.len()) });
        }
        popt.load(&last_dir.join(OPTIM_FILE))?;
        if let Some(v) = vopt.as_mut() {
            v.load(&last_dir.join(VALUE_DIR).join(OPTIM_FILE))?;
        }
        if let Some(e) = ema.as_mut() {
            load_ema(&last_dir.join(EMA_FILE), e)?;
        }
        ps
    } else {
        let mut order: Vec<usize> = (0..prompts.len()).collect();
        state.rng.shuffle(&mut order);
        let before = val_score(&policy_m, &mut reward, &tok, &val_prompts, ro.max_new_tokens, &stop)?;
        PpoState { beta: p.kl_coef, last_kl: 0.0, order, cursor: 0, val_score_before: before, val_score_after: None }
    };
    if let Some(d) = dist.as_deref() {
        // the policy and the value model
        let stores: Vec<&tch::nn::VarStore> = std::iter::once(&vs_p).chain(value_vs.as_ref()).collect();
        crate::dist::sync_start(d, &stores, t.seed)?;
    }
    let mut sink = if main { Some(rd.metrics(o.resume.then_some(state.step))?) } else { None };
    let value_cfg = value_m.as_ref().map(|v| v.gpt.cfg.clone());
    let save_last = |state: &crate::rundir::TrainerState, ps: &PpoState, popt: &AdamW, vopt: Option<&AdamW>, ema: Option<&Vec<Tensor>>| -> Result<()> {
        let extra = |tmp: &Path| -> Result<()> {
            if let (Some(vs), Some(vcfg), Some(vopt)) = (&value_vs, &value_cfg, vopt) {
                let vdir = tmp.join(VALUE_DIR);
                checkpoint::save_model(&vdir, vs, vcfg)?;
                tok.save(&vdir.join(crate::rundir::TOKENIZER_FILE))?;
                vopt.save(&vdir.join(OPTIM_FILE))?;
            }
            gptlab_core::fsio::write_json_atomic(&tmp.join(PPO_STATE), ps)?;
            if let Some(e) = ema {
                let named: Vec<(String, Tensor)> = e.iter().enumerate().map(|(i, t)| (format!("ema.{i}"), t.shallow_clone())).collect();
                checkpoint::write_tensors(&tmp.join(EMA_FILE), &named)?;
            }
            Ok(())
        };
        if main {
            rd.save(Slot::Last, &vs_p, &policy_m, Some(popt), state, &extra)?;
        }
        Ok(())
    };
    let pb = rd.progress(o.progress && main, t.max_iters, state.step);
    while state.step < t.max_iters {
        let step = state.step;
        let t_iter = std::time::Instant::now();
        // the global batch of prompts from the shared order; this rank samples its share
        let global: Vec<usize> = (0..ro.batch * shard.world)
            .map(|_| {
                if ps.cursor == ps.order.len() {
                    state.rng.shuffle(&mut ps.order);
                    ps.cursor = 0;
                }
                ps.cursor += 1;
                ps.order[ps.cursor - 1]
            })
            .collect();
        let picked = &global[shard.range(ro.batch)];
        // each prompt `group_size` times, a group's samples in consecutive rows
        let batch: Vec<&Prompt> = picked.iter().flat_map(|&i| std::iter::repeat(&prompts[i]).take(group_size)).collect();
        let ids: Vec<Vec<u32>> = batch.iter().map(|q| q.ids.clone()).collect();
        // rank r > 0 samples with its own seed: the stream `rank/<r>` of the shared draw
        let seed = state.rng.next_u64();
        let seed = if main { seed } else { gptlab_core::rng::stream_seed(seed, &format!("rank/{}", shard.rank)) };
        let samples = sample_until(&policy_m, &tok, &ids, ro.max_new_tokens, ro.temperature, &stop, seed)?;
        let scores = reward.score(&samples, &batch, ro.missing_eos_penalty)?;
        let scored = score(&samples, &reference_m, value_m.as_ref(), scores)?;
        let rollout = match p.advantage {
            AdvantageKind::Gae => advantages(samples, scored, ps.beta, p.gamma, p.lam, p.whiten_rewards),
            AdvantageKind::Group => group::advantages(samples, scored, group_size, p.group_std),
        };
        let rollout_s = t_iter.elapsed().as_secs_f64();
        let mut rec = ppo::rollout_metrics(&rollout, ps.beta);
        if p.advantage == AdvantageKind::Group {
            rec.insert("objective/flat_groups".into(), group::flat_groups(&rollout.scores, group_size).into());
        }
        if p.reward == RewardKind::UnitTests {
            // samples that pass every assert
            let passed = rollout.scores.ge(1.0 - 1e-6).to_kind(Kind::Float).mean(Kind::Float).double_value(&[]);
            rec.insert("objective/pass_frac".into(), passed.into());
        }
        let lr = lr_at(step, &cfg.optim, &cfg.schedule);
        let value_lr = lr * p.value_lr.map_or(1.0, |v| v / cfg.optim.lr);
        let mut u = Update {
            policy: &policy_m,
            policy_opt: &mut popt,
            lr,
            cliprange: p.cliprange,
            value: value_m.as_mut().zip(vopt.as_mut()).map(|(model, opt)| ValueStep { model, opt, lr: value_lr, cliprange: p.cliprange_value, vf_coef: p.vf_coef }),
            kl_loss: (p.advantage == AdvantageKind::Group).then_some(ps.beta),
            ptx: ptx.as_ref().map(|(data, block)| PtxMix { data, batch: ptx_windows, block: *block, coef: p.ptx_coef }),
            dist: dist.as_deref(),
        };
        rec.extend(ppo::update(&mut u, &rollout, p.ppo_epochs, p.minibatch_size, &mut state.rng)?);
        if let Some(d) = dist.as_deref() {
            // every metric (the KL that adapts β among them) is the mean over the ranks
            let keys: Vec<String> = rec.iter().filter(|(_, v)| v.is_f64()).map(|(k, _)| k.clone()).collect();
            let vals: Vec<f64> = keys.iter().map(|k| rec[k].as_f64().unwrap_or(f64::NAN)).collect();
            for (k, v) in keys.into_iter().zip(d.sum_f64(&vals)?) {
                rec.insert(k, (v / shard.world as f64).into());
            }
        }
        ps.last_kl = rec.get("objective/kl").and_then(|v| v.as_f64()).unwrap_or(f64::NAN);
        if let Some((k, v)) = rec.iter().find_map(|(k, v)| v.as_f64().filter(|x| !x.is_finite()).map(|x| (k.clone(), x))) {
            pb.abandon();
            return Err(rd.diverged(step, &k, v));
        }
        if p.adaptive_kl {
            ps.beta = ppo::adapt_kl(ps.beta, ps.last_kl, p.target_kl, (batch.len() * shard.world) as f64, p.kl_horizon);
        }
        if let (Some(e), Some(d)) = (ema.as_mut(), p.ema_decay) {
            ppo::ema_update(e, &vs_p.trainable_variables(), d);
        }
        rec.insert("step".into(), step.into());
        rec.insert("lr".into(), lr.into());
        // rollout + update of this iteration, in seconds (bench/ppo_vs_trl.py reads it)
        rec.insert("time/iteration_s".into(), t_iter.elapsed().as_secs_f64().into());
        rec.insert("time/rollout_s".into(), rollout_s.into());
        if let Some(sink) = sink.as_mut() {
            sink.log(&rec)?;
        }
        pb.set_message(format!("score {:.3} kl {:.3}", rec.get("objective/scores").and_then(|v| v.as_f64()).unwrap_or(0.0), ps.last_kl));
        pb.inc(1);
        state.step += 1;
        if main && t.snapshot_interval > 0 && state.step % t.snapshot_interval == 0 {
            let dir = rd.out_dir.join("snapshots").join(format!("step_{:06}", state.step));
            crate::rundir::save_checkpoint(&dir, &vs_p, &policy_m, &tok, None, &state, &o.resolved_toml, &|_| Ok(()))?;
        }
        if t.checkpoint_interval > 0 && state.step % t.checkpoint_interval == 0 && state.step < t.max_iters {
            save_last(&state, &ps, &popt, vopt.as_ref(), ema.as_ref())?;
        }
    }
    pb.finish_and_clear();
    let after = val_score(&policy_m, &mut reward, &tok, &val_prompts, ro.max_new_tokens, &stop)?;
    ps.val_score_after = Some(after);
    save_last(&state, &ps, &popt, vopt.as_ref(), ema.as_ref())?;
    if let Some(e) = ema.filter(|_| main) {
        tch::no_grad(|| {
            for (v, x) in vs_p.trainable_variables().iter_mut().zip(&e) {
                v.copy_(x);
            }
        });
        let st = read_state(&last_dir)?;
        crate::rundir::save_checkpoint(&rd.out_dir.join("ema"), &vs_p, &policy_m, &tok, None, &st, &o.resolved_toml, &|_| Ok(()))?;
    }
    if main {
        let recs = gptlab_core::metrics::read_jsonl(&rd.metrics_path())?;
        for (key, file) in [("objective/scores", "reward.png"), ("objective/kl", "kl.png"), ("objective/entropy", "entropy.png")] {
            line_plot(&rd.out_dir.join(file), &format!("ppo: {key}"), "PPO iteration", &with_trend(series_from(&recs, key)))?;
        }
    }
    Ok(PpoReport {
        steps: state.step,
        val_score_before: ps.val_score_before,
        val_score_after: after,
        last_kl: ps.last_kl,
        prompts: prompts.len(),
        val_prompts: val_prompts.len(),
        reward: p.reward,
        advantage: p.advantage,
        out_dir: rd.out_dir.clone(),
    })
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
