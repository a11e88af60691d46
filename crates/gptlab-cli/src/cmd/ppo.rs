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
use gptlab_train::trainer::{read_state, save_checkpoint, save_checkpoint_with, TrainerState, FORMAT_VERSION, OPTIM_FILE};
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

/// What a PPO run needs besides weights, optimizer moments and `trainer_state.json` (which
/// holds the iteration count and RNG) to continue where it stopped (`last/ppo_state.json`;
/// the value model and its optimizer are in `last/value/`, EMA weights in
/// `last/ema.safetensors`).
#[derive(serde::Serialize, serde::Deserialize)]
struct PpoState {
    /// The KL coefficient (moved by the adaptive controller).
    beta: f64,
    last_kl: f64,
    /// Prompt order of the current pass and the position in it.
    order: Vec<usize>,
    cursor: usize,
    val_score_before: f64,
}

const PPO_STATE: &str = "ppo_state.json";
const EMA_FILE: &str = "ema.safetensors";

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
    run_config(&cfg, &resolved, a.stage.resume, !a.stage.quiet)
}

pub fn run_config(cfg: &PpoConfig, resolved: &str, resume: bool, progress: bool) -> Result<PpoReport> {
    let p = &cfg.ppo;
    let t = &cfg.train;
    let device = common::setup(&t.device, t.threads)?;
    tch::manual_seed(t.seed as i64);
    let tok = gptlab_tokenizer::Tokenizer::load(&p.policy_from.join("tokenizer.json")).with_context(|| format!("ppo.policy_from = {}", p.policy_from.display()))?;
    let last_dir = cfg.run.out_dir.join("last");
    let resumed: Option<(PpoState, TrainerState)> = if resume {
        let f = last_dir.join(PPO_STATE);
        if !f.exists() {
            anyhow::bail!("--resume given but there is no checkpoint to resume from ({} is missing)", f.display());
        }
        let st: PpoState = serde_json::from_str(&gptlab_core::fsio::read_text(&f)?).with_context(|| format!("{}", f.display()))?;
        Some((st, read_state(&last_dir)?))
    } else {
        None
    };
    // a resumed run continues from its own policy and value model; the reference stays SFT
    let (policy_dir, value_dir) = match &resumed {
        Some(_) => (last_dir.clone(), last_dir.join("value")),
        None => (p.policy_from.clone(), p.value_from.clone().unwrap_or_else(|| p.reward_from.clone())),
    };
    let (vs_p, mut policy) = lm(&policy_dir, device, true)?;
    let (_vs_ref, mut reference) = lm(&p.policy_from, device, false)?;
    let (vs_v, mut value) = scalar(&value_dir, device, true)?;
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
    let mut popt = AdamW::new(&vs_p, cfg.optim, gptlab_model::gpt::decays)?;
    let mut vopt = AdamW::new(&vs_v, cfg.optim, gptlab_model::gpt::decays)?;
    let mut ema: Option<Vec<tch::Tensor>> = p.ema_decay.map(|_| vs_p.trainable_variables().iter().map(|v| v.detach().copy()).collect());
    std::fs::create_dir_all(&cfg.run.out_dir).with_context(|| format!("{}", cfg.run.out_dir.display()))?;
    let metrics_path = cfg.run.out_dir.join("metrics.jsonl");
    let tok_sha = gptlab_core::fsio::sha256_hex(tok.to_json()?.as_bytes());
    let (mut rng, mut order, mut cursor, mut beta, mut last_kl, before, first) = match resumed {
        Some((st, ts)) => {
            if ts.tokenizer_sha256 != tok_sha {
                anyhow::bail!("{}: checkpoint was trained with a different tokenizer than ppo.policy_from", last_dir.display());
            }
            if st.order.len() != prompts.len() || st.cursor > st.order.len() {
                anyhow::bail!("{}: the prompt file changed since the checkpoint ({} prompts, the run had {})", last_dir.display(), prompts.len(), st.order.len());
            }
            popt.load(&last_dir.join(OPTIM_FILE))?;
            vopt.load(&last_dir.join("value").join(OPTIM_FILE))?;
            if let Some(e) = ema.as_mut() {
                let f = last_dir.join(EMA_FILE);
                let mut saved = checkpoint::read_tensors(&f).with_context(|| format!("{} (ppo.ema_decay is set)", f.display()))?;
                for (i, dst) in e.iter_mut().enumerate() {
                    let src = saved.remove(&format!("ema.{i}")).with_context(|| format!("{}: missing ema.{i}", f.display()))?;
                    tch::no_grad(|| dst.f_copy_(&src.to_device(dst.device()))).with_context(|| format!("{}: ema.{i}", f.display()))?;
                }
            }
            match ts.step.checked_sub(1) {
                Some(s) => gptlab_core::metrics::truncate_after_step(&metrics_path, s)?,
                None => {
                    let _ = std::fs::remove_file(&metrics_path);
                }
            }
            (ts.rng, st.order, st.cursor, st.beta, st.last_kl, st.val_score_before, ts.step)
        }
        None => {
            let _ = std::fs::remove_file(&metrics_path);
            let mut rng = Rng::new(t.seed);
            let mut order: Vec<usize> = (0..prompts.len()).collect();
            rng.shuffle(&mut order);
            let before = ppo::mean_score(&policy, &reward, &tok, &val_prompts, p.max_new_tokens)?;
            (rng, order, 0, p.kl_coef, 0.0, before, 0)
        }
    };
    let mut sink = MetricsSink::open(&metrics_path)?;
    let value_cfg = value.gpt.cfg.clone();
    // `last/`: the policy (an ordinary checkpoint) plus everything `--resume` needs
    let save_last = |step: u64, rng: &Rng, order: &[usize], cursor: usize, beta: f64, last_kl: f64, score: Option<f64>, popt: &AdamW, vopt: &AdamW, ema: Option<&Vec<tch::Tensor>>| -> Result<()> {
        let state = TrainerState {
            format_version: FORMAT_VERSION,
            stage: "ppo".into(),
            step,
            rng: *rng,
            best_eval_loss: None,
            last_eval_loss: score.map(|s| -s),
            tokens_seen: 0,
            tokenizer_sha256: tok_sha.clone(),
        };
        let ps = PpoState { beta, last_kl, order: order.to_vec(), cursor, val_score_before: before };
        let extra = |tmp: &Path| -> gptlab_train::Result<()> {
            let vdir = tmp.join("value");
            checkpoint::save_model(&vdir, &vs_v, &value_cfg)?;
            vopt.save(&vdir.join(OPTIM_FILE))?;
            gptlab_core::fsio::write_json_atomic(&tmp.join(PPO_STATE), &ps)?;
            if let Some(e) = ema {
                let named: Vec<(String, tch::Tensor)> = e.iter().enumerate().map(|(i, t)| (format!("ema.{i}"), t.shallow_clone())).collect();
                checkpoint::write_tensors(&tmp.join(EMA_FILE), &named)?;
            }
            Ok(())
        };
        save_checkpoint_with(&last_dir, &vs_p, &policy, &tok, Some(popt), &state, resolved, &extra)?;
        Ok(())
    };
    let pb = if progress { indicatif::ProgressBar::new(t.max_iters) } else { indicatif::ProgressBar::hidden() };
    pb.set_position(first);
    for step in first..t.max_iters {
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
            value: &mut value,
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
        if t.eval_interval > 0 && (step + 1) % t.eval_interval == 0 && step + 1 < t.max_iters {
            save_last(step + 1, &rng, &order, cursor, beta, last_kl, None, &popt, &vopt, ema.as_ref())?;
        }
    }
    pb.finish_and_clear();
    let after = ppo::mean_score(&policy, &reward, &tok, &val_prompts, p.max_new_tokens)?;
    let done = first.max(t.max_iters);
    save_last(done, &rng, &order, cursor, beta, last_kl, Some(after), &popt, &vopt, ema.as_ref())?;
    let state = read_state(&last_dir)?;
    if let Some(e) = ema {
        tch::no_grad(|| {
            for (v, x) in vs_p.trainable_variables().iter_mut().zip(&e) {
                v.copy_(x);
            }
        });
        save_checkpoint(&cfg.run.out_dir.join("ema"), &vs_p, &policy, &tok, None, &state, resolved)?;
    }
    let recs = gptlab_core::metrics::read_jsonl(&metrics_path)?;
    for (key, file) in [("objective/rlhf_reward", "reward.png"), ("objective/kl", "kl.png"), ("objective/entropy", "entropy.png")] {
        line_plot(&cfg.run.out_dir.join(file), &format!("ppo: {key}"), "PPO iteration", &[series_from(&recs, key)])?;
    }
    let report = PpoReport { steps: done, val_score_before: before, val_score_after: after, last_kl, out_dir: cfg.run.out_dir.clone() };
    println!("{}", serde_json::to_string(&report)?);
    Ok(report)
}
