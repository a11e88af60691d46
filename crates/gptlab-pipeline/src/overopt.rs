//! Reward over-optimisation, as Gao et al. ("Scaling laws for reward model overoptimization")
//! chart it: along a PPO run, the proxy reward (the RM that PPO optimises) and the true
//! preference score of the policy's replies, against the KL to the SFT model. The world's
//! hidden preference is the gold reward, so the gap between the two curves is measured, not
//! guessed.
//!
//! Each point: a policy snapshot (SFT itself at KL 0) samples one reply to each of the first
//! held-out prompts, as the PPO run's rollouts did (its `rollout.max_new_tokens` and
//! temperature, read from the run's saved config); on those same replies the RM gives the
//! proxy score, the world's hidden preference the true score, and the log-ratio to SFT, summed
//! per reply, the KL (k1: its mean is KL(π‖π_SFT)).

use crate::Result;
use gptlab_engine::chat::cut_at_special;
use gptlab_eval::world::prefs::true_score;
use gptlab_eval::world::World;
use gptlab_model::rl::kl_k1;
use gptlab_model::roles::{self, Mode, Scalar};
use gptlab_model::Gpt;
use gptlab_train::config::{PpoConfig, RolloutSection};
use gptlab_train::rl::rollout::{final_scores, response_logprobs, sample};
use serde::Serialize;
use std::path::{Path, PathBuf};
use tch::Kind;

/// Held-out prompts each snapshot answers.
pub const PROMPTS: usize = 200;

#[derive(Debug, Clone, Serialize)]
pub struct OptPoint {
    /// PPO iterations done (0: the SFT model).
    pub step: u64,
    /// KL to SFT of the replies (summed per reply; k1).
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

/// One point: `policy`'s replies to `prompts`, scored by `rm` and the world, and their KL to
/// `sft`: (KL, proxy, true).
fn point(world: &World, policy: &Path, sft: &Gpt, rm: &Scalar, prompts: &[String], rollout: &RolloutSection, seed: u64) -> Result<(f64, f64, f64)> {
    let p = roles::lm(policy, tch::Device::Cpu, Mode::Frozen)?;
    let ids: Vec<Vec<u32>> = prompts.iter().map(|q| p.tok.render_prompt(q)).collect::<std::result::Result<_, _>>()?;
    let train = |e: gptlab_train::Error| crate::Error::Stage { stage: "overoptimisation".into(), source: e };
    let s = sample(&p.model, &p.tok, &ids, rollout.max_new_tokens, rollout.temperature, seed).map_err(train)?;
    let (kl, proxy) = tch::no_grad(|| -> gptlab_train::Result<(f64, f64)> {
        let ref_logp = response_logprobs(sft, &s, false)?.0;
        let kl = (kl_k1(&s.old_logp, &ref_logp) * &s.resp_mask).sum(Kind::Float).double_value(&[]);
        let proxy = final_scores(rm, &s, None)?.sum(Kind::Float).double_value(&[]);
        Ok((kl, proxy))
    })
    .map_err(train)?;
    let mut truth = 0.0;
    for (i, q) in prompts.iter().enumerate() {
        let n = s.resp_lens[i];
        let toks: Vec<i64> = Vec::try_from(s.x.get(i as i64).narrow(0, s.q, n))?;
        let reply = cut_at_special(p.tok.decode(&toks.iter().map(|&t| t as u32).collect::<Vec<_>>())?);
        let judged = world.judge_data(q).ok_or_else(|| crate::Error::Input(format!("prompt `{q}` is not from this world")))?;
        truth += true_score(&judged, &reply);
    }
    let n = prompts.len().max(1) as f64;
    Ok((kl / n, proxy / n, truth / n))
}

/// The curve of a PPO run (`ppo_dir`, with snapshots) started from `sft` against the RM at
/// `rm_dir`, on the first [`PROMPTS`] prompts of `prompts_file`.
pub fn curve(world: &World, sft: &Path, ppo_dir: &Path, rm_dir: &Path, prompts_file: &Path, seed: u64) -> Result<Vec<OptPoint>> {
    let prompts: Vec<String> = gptlab_data::read_prompts(prompts_file)?.into_iter().take(PROMPTS).collect();
    let cfg: PpoConfig = gptlab_core::config::load(&ppo_dir.join("last/config.toml"), &[])?;
    let dev = tch::Device::Cpu;
    let reference = roles::lm(sft, dev, Mode::Frozen)?;
    let rm = roles::scalar(rm_dir, dev, Mode::Frozen)?;
    let mut out = vec![];
    let steps = std::iter::once((0, sft.to_path_buf())).chain(snapshots(ppo_dir)?);
    for (step, dir) in steps {
        let (kl, rm_score, true_score) = point(world, &dir, &reference.model, &rm.model, &prompts, &cfg.rollout, seed)?;
        out.push(OptPoint { step, kl, rm_score, true_score });
    }
    Ok(out)
}
