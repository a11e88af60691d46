//! `gptlab ppo`: InstructGPT step 3, PPO (and PPO-ptx with `ppo.ptx_corpus`).

use crate::common;
use anyhow::{Context, Result};
use clap::Parser;
use gptlab_core::metrics::MetricsSink;
use gptlab_core::rng::Rng;
use gptlab_model::heads::ScalarHead;
use gptlab_model::{checkpoint, Gpt};
use gptlab_tokenizer::chat::{read_prompts, Message};
use gptlab_train::config::PpoConfig;
use gptlab_train::objectives::ppo::{self, Scalar, Settings, Update};
use gptlab_train::optim::{lr_at, AdamW};
use gptlab_train::plot::{line_plot, series_from};
use gptlab_train::trainer::{save_checkpoint, TrainerState, FORMAT_VERSION};
use std::path::{Path, PathBuf};

#[derive(Parser)]
pub struct Args {
    #[command(flatten)]
    pub stage: common::StageArgs,
}

#[derive(Debug, serde::Serialize)]
pub struct PpoReport {
    pub steps: u64,
    pub val_score_before: f64,
    pub val_score_after: f64,
    pub last_kl: f64,
    pub out_dir: PathBuf,
}

fn lm(dir: &Path, device: tch::Device, trainable: bool) -> Result<(tch::nn::VarStore, Gpt)> {
    let (mut vs, m) = checkpoint::load_model(dir, device).with_context(|| format!("loading {}", dir.display()))?;
    if !trainable {
        vs.freeze();
    }
    Ok((vs, m))
}

pub fn scalar(dir: &Path, device: tch::Device, trainable: bool) -> Result<(tch::nn::VarStore, Scalar)> {
    let cfg = checkpoint::load_config(dir)?;
    if !cfg.is_scalar_model() {
        anyhow::bail!("{}: not a reward/value model (config.json has no num_labels = 1); train one with `gptlab rm`", dir.display());
    }
    let mut vs = tch::nn::VarStore::new(device);
    let gpt = Gpt::new(&vs.root(), &cfg)?;
    let head = ScalarHead::new(&vs.root(), cfg.n_embd);
    checkpoint::load_weights(&vs, &dir.join(checkpoint::MODEL_FILE))?;
    if !trainable {
        vs.freeze();
    }
    Ok((vs, Scalar { gpt, head }))
}

pub fn run(a: Args) -> Result<PpoReport> {
    let (cfg, resolved) = a.stage.load::<PpoConfig>()?;
    if a.stage.resume {
        anyhow::bail!("ppo has no --resume yet: a PPO run restarts from its config");
    }
    run_config(&cfg, &resolved, !a.stage.quiet)
}

pub fn run_config(cfg: &PpoConfig, resolved: &str, progress: bool) -> Result<PpoReport> {
    let p = &cfg.ppo;
    let t = &cfg.train;
    let device = common::setup(&t.device, t.threads)?;
    tch::manual_seed(t.seed as i64);
    let tok = gptlab_tokenizer::Tokenizer::load(&p.policy_from.join("tokenizer.json")).with_context(|| format!("ppo.policy_from = {}", p.policy_from.display()))?;
    let (vs_p, mut policy) = lm(&p.policy_from, device, true)?;
    let (_vs_ref, mut reference) = lm(&p.policy_from, device, false)?;
    let (vs_v, mut value) = scalar(p.value_from.as_ref().unwrap_or(&p.reward_from), device, true)?;
    let (_vs_r, mut reward) = scalar(&p.reward_from, device, false)?;
    for m in [&mut policy, &mut reference, &mut value.gpt, &mut reward.gpt] {
        m.set_precision(&t.dtype).context("train.dtype")?;
    }
    if !["k1", "k3"].contains(&p.kl_estimator.as_str()) {
        anyhow::bail!("ppo.kl_estimator must be `k1` or `k3`, got `{}`", p.kl_estimator);
    }
    let max_prompt = policy.cfg.n_positions as usize - p.max_new_tokens.min(policy.cfg.n_positions as usize - 1);
    let render = |path: &Path| -> Result<Vec<Vec<u32>>> {
        let all: Vec<Vec<u32>> = read_prompts(path)?.iter().map(|q| tok.render_chat(&[Message::user(q)], true).map(|r| r.ids)).collect::<Result<_, _>>()?;
        let kept: Vec<Vec<u32>> = all.iter().filter(|ids| ids.len() <= max_prompt).cloned().collect();
        if kept.len() < all.len() {
            eprintln!("note: {}: {} prompts longer than {max_prompt} tokens are skipped", path.display(), all.len() - kept.len());
        }
        if kept.is_empty() {
            anyhow::bail!("{}: no usable prompts", path.display());
        }
        Ok(kept)
    };
    let prompts = render(&p.prompts)?;
    let val_prompts = match &p.val_prompts {
        Some(v) => render(v)?,
        None => prompts.iter().take(32).cloned().collect(),
    };
    let ptx = match &p.ptx_corpus {
        Some(c) => {
            let ids: Vec<i64> = tok.encode(&gptlab_tokenizer::read_corpus(c)?)?.into_iter().map(i64::from).collect();
            let block = policy.cfg.n_positions.min(64);
            if ids.len() as i64 <= block + 1 {
                anyhow::bail!("{}: too short for ptx windows of {block} tokens", c.display());
            }
            Some((tch::Tensor::from_slice(&ids).to_device(device), block))
        }
        None => None,
    };
    let settings = Settings {
        kl_coef: p.kl_coef,
        k3: p.kl_estimator == "k3",
        max_new_tokens: p.max_new_tokens,
        temperature: p.temperature,
        gamma: p.gamma,
        lam: p.lam,
        whiten_rewards: p.whiten_rewards,
        missing_eos_penalty: p.missing_eos_penalty,
    };
    let before = ppo::mean_score(&policy, &reward, &tok, &val_prompts, p.max_new_tokens)?;
    let mut popt = AdamW::new(&vs_p, cfg.optim, gptlab_model::gpt::decays)?;
    let mut vopt = AdamW::new(&vs_v, cfg.optim, gptlab_model::gpt::decays)?;
    let mut ema: Option<Vec<tch::Tensor>> = p.ema_decay.map(|_| vs_p.trainable_variables().iter().map(|v| v.detach().copy()).collect());
    std::fs::create_dir_all(&cfg.run.out_dir).with_context(|| format!("{}", cfg.run.out_dir.display()))?;
    let metrics_path = cfg.run.out_dir.join("metrics.jsonl");
    let _ = std::fs::remove_file(&metrics_path);
    let mut sink = MetricsSink::open(&metrics_path)?;
    let mut rng = Rng::new(t.seed);
    let mut order: Vec<usize> = (0..prompts.len()).collect();
    rng.shuffle(&mut order);
    let mut cursor = 0;
    let mut beta = p.kl_coef;
    let mut last_kl = 0.0;
    let pb = if progress { indicatif::ProgressBar::new(t.max_iters) } else { indicatif::ProgressBar::hidden() };
    for step in 0..t.max_iters {
        let t_iter = std::time::Instant::now();
        let batch: Vec<Vec<u32>> = (0..p.rollout_batch)
            .map(|_| {
                if cursor == order.len() {
                    rng.shuffle(&mut order);
                    cursor = 0;
                }
                cursor += 1;
                prompts[order[cursor - 1]].clone()
            })
            .collect();
        let s = Settings { kl_coef: beta, ..settings.clone() };
        let ro = ppo::rollout(&policy, &reference, &value, &reward, &tok, &batch, &s, rng.next_u64())?;
        let rollout_s = t_iter.elapsed().as_secs_f64();
        let mut rec = ppo::rollout_metrics(&ro, beta);
        let lr = lr_at(step, &cfg.optim, &cfg.schedule);
        let mut u = Update {
            policy: &policy,
            value: &value,
            policy_opt: &mut popt,
            value_opt: &mut vopt,
            lr,
            cliprange: p.cliprange,
            cliprange_value: p.cliprange_value,
            vf_coef: p.vf_coef,
            ptx: ptx.as_ref().map(|(d, block)| (d, p.ptx_batch, *block, p.ptx_coef)),
        };
        rec.extend(ppo::update(&mut u, &ro, p.ppo_epochs, p.minibatch_size, &mut rng)?);
        last_kl = rec.get("objective/kl").and_then(|v| v.as_f64()).unwrap_or(f64::NAN);
        if rec.values().any(|v| v.as_f64().is_some_and(|x| !x.is_finite())) {
            anyhow::bail!("PPO diverged at step {step} (non-finite metric: {})", serde_json::Value::Object(rec));
        }
        if p.adaptive_kl {
            beta = ppo::adapt_kl(beta, last_kl, p.target_kl, p.rollout_batch as f64, p.kl_horizon);
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
        pb.set_message(format!("score {:.3} kl {last_kl:.3}", rec.get("objective/scores").and_then(|v| v.as_f64()).unwrap_or(0.0)));
        pb.inc(1);
    }
    pb.finish_and_clear();
    let after = ppo::mean_score(&policy, &reward, &tok, &val_prompts, p.max_new_tokens)?;
    let state = TrainerState {
        format_version: FORMAT_VERSION,
        stage: "ppo".into(),
        step: t.max_iters,
        rng,
        best_eval_loss: None,
        last_eval_loss: Some(-after),
        tokens_seen: 0,
        tokenizer_sha256: gptlab_core::fsio::sha256_hex(tok.to_json()?.as_bytes()),
    };
    save_checkpoint(&cfg.run.out_dir.join("last"), &vs_p, &policy, &tok, None, &state, resolved)?;
    if let Some(e) = ema {
        tch::no_grad(|| {
            for (v, x) in vs_p.trainable_variables().iter_mut().zip(&e) {
                let _ = v.copy_(x);
            }
        });
        save_checkpoint(&cfg.run.out_dir.join("ema"), &vs_p, &policy, &tok, None, &state, resolved)?;
    }
    let recs = gptlab_core::metrics::read_jsonl(&metrics_path)?;
    for (key, file) in [("objective/rlhf_reward", "reward.png"), ("objective/kl", "kl.png"), ("objective/entropy", "entropy.png")] {
        line_plot(&cfg.run.out_dir.join(file), &format!("ppo: {key}"), "PPO iteration", &[series_from(&recs, key)])?;
    }
    let report = PpoReport { steps: t.max_iters, val_score_before: before, val_score_after: after, last_kl, out_dir: cfg.run.out_dir.clone() };
    println!("{}", serde_json::to_string(&report)?);
    Ok(report)
}
