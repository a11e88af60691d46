//! Reward over-optimisation, as Gao et al. ("Scaling laws for reward model overoptimization")
//! chart it: along a PPO run, the proxy reward (the RM that PPO optimises) and the true
//! preference score of the policy's replies, against the KL to the SFT model. The world's
//! hidden preference is the gold reward, so the gap between the two curves is measured, not
//! guessed.
//!
//! Each point: a policy snapshot (SFT itself at KL 0) replies once, at temperature 1, to the
//! first held-out prompts; the RM and the true preference score the same replies. The KL is
//! the mean summed per-response KL of the PPO iterations before the snapshot (its rollouts,
//! on training prompts).

use crate::Result;
use gptlab_data::chat::Message;
use gptlab_engine::{chat_replies, SampleConfig};
use gptlab_eval::world::prefs::true_score;
use gptlab_eval::world::World;
use gptlab_model::roles::{self, Mode};
use gptlab_train::objectives::rm::mean_reward;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Held-out prompts each snapshot answers.
pub const PROMPTS: usize = 200;

#[derive(Debug, Clone, Serialize)]
pub struct OptPoint {
    /// PPO iterations done (0: the SFT model).
    pub step: u64,
    pub kl: f64,
    /// Mean RM score (the proxy reward) and true preference score of the same replies.
    pub rm_score: f64,
    pub true_score: f64,
}

/// The snapshots of a PPO run directory, by step.
pub fn snapshots(ppo_dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let dir = ppo_dir.join("snapshots");
    let mut out = vec![];
    for e in std::fs::read_dir(&dir).map_err(|e| gptlab_core::Error::io(&dir, e))? {
        let p = e.map_err(|e| gptlab_core::Error::io(&dir, e))?.path();
        if let Some(step) = p.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_prefix("step_")).and_then(|s| s.parse().ok()) {
            out.push((step, p));
        }
    }
    out.sort();
    Ok(out)
}

/// Mean `objective/kl` of the iterations in `[from, to)` of a PPO metrics log.
fn kl_between(metrics: &[serde_json::Map<String, serde_json::Value>], from: u64, to: u64) -> f64 {
    let v: Vec<f64> = metrics
        .iter()
        .filter(|m| m.get("step").and_then(|s| s.as_u64()).is_some_and(|s| s >= from && s < to))
        .filter_map(|m| m.get("objective/kl").and_then(|k| k.as_f64()))
        .collect();
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// One point: `policy`'s replies to `prompts`, scored by the RM at `rm_dir` and by the world.
fn point(world: &World, policy: &Path, rm_dir: &Path, prompts: &[String], seed: u64) -> Result<(f64, f64)> {
    let dev = tch::Device::Cpu;
    let p = roles::lm(policy, dev, Mode::Frozen)?;
    let rm = roles::scalar(rm_dir, dev, Mode::Frozen)?;
    let replies = chat_replies(&p.model, &p.tok, prompts, &SampleConfig { max_new_tokens: 24, temperature: 1.0, seed, ..Default::default() })?;
    let mut truth = 0.0;
    let mut seqs = vec![];
    for (q, r) in prompts.iter().zip(&replies) {
        let judged = world.judge_data(q).ok_or_else(|| crate::Error::Input(format!("prompt `{q}` is not from this world")))?;
        truth += true_score(&judged, r);
        seqs.push(rm.tok.render_reply(&[Message::user(q)], r)?.0);
    }
    let block = rm.model.gpt.cfg.n_positions as usize;
    let proxy = mean_reward(&rm.model.gpt, &rm.model.head, &seqs, 32, block, rm.tok.end).map_err(|e| crate::Error::Stage { stage: "overoptimisation".into(), source: e })?;
    Ok((proxy, truth / prompts.len().max(1) as f64))
}

/// The curve of a PPO run (`ppo_dir`, with snapshots) started from `sft` against `rm_dir`.
pub fn curve(world: &World, sft: &Path, ppo_dir: &Path, rm_dir: &Path, prompts_file: &Path, seed: u64) -> Result<Vec<OptPoint>> {
    let prompts: Vec<String> = gptlab_data::read_prompts(prompts_file)?.into_iter().take(PROMPTS).collect();
    let metrics = gptlab_core::metrics::read_jsonl(&ppo_dir.join("metrics.jsonl"))?;
    let (rm0, t0) = point(world, sft, rm_dir, &prompts, seed)?;
    let mut out = vec![OptPoint { step: 0, kl: 0.0, rm_score: rm0, true_score: t0 }];
    let snaps = snapshots(ppo_dir)?;
    let mut prev = 0;
    for (step, dir) in snaps {
        let (rm_score, true_score) = point(world, &dir, rm_dir, &prompts, seed)?;
        out.push(OptPoint { step, kl: kl_between(&metrics, prev.max(step.saturating_sub(5)), step), rm_score, true_score });
        prev = step;
    }
    Ok(out)
}
