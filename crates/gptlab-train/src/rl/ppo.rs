//! PPO's objective (InstructGPT step 3, with the pretraining mix "PPO-ptx"): what one update
//! does with a [`Rollout`]. The loop that gathers rollouts and keeps the run is
//! [`crate::stages::ppo`].
//!
//! Implemented: `ppo_epochs` × shuffled minibatches of the rollout; the clipped policy loss on
//! the sampler's log-probs, the clipped value loss (the value model is a separate model with
//! its own optimizer, as in InstructGPT), and the ptx term γ·E[−log π(x)] on windows of
//! pretraining text; Ziegler et al.'s adaptive KL controller; an EMA of policy weights; TRL's
//! metric names. On the CPU the policy's and the value model's minibatch steps run side by
//! side, each on half the threads (`crate::par`).
//!
//! With group advantages (GRPO, [`crate::rl::group`]) the same update runs without a value
//! model ([`Update::value`] is `None`) and with GRPO's KL loss term ([`Update::kl_loss`]).
//!
//! Data-parallel ([`Update::dist`]): each rank updates on its own rollout; the policy's and
//! the value model's gradients are averaged across ranks before every optimizer step (the two
//! steps then run one after the other, so every rank issues the collectives in one order), and
//! the ptx windows are each rank's share of one global draw.
//!
//! Not implemented: reward clipping, a shared policy/value trunk.

use crate::optim::AdamW;
use crate::rl::rollout::{response_logprobs, response_values, Rollout};
use crate::Result;
use gptlab_core::rng::Rng;
use gptlab_model::roles::Scalar;
use gptlab_model::{ops, rl, Gpt};
use serde_json::{Map, Value};
use tch::{Kind, Tensor};

/// The pretraining term of PPO-ptx: `batch` random windows of `block` tokens of `data` per
/// minibatch, their mean next-token loss (per token) weighted by `coef`.
pub struct PtxMix<'a> {
    pub data: &'a Tensor,
    pub batch: usize,
    pub block: i64,
    pub coef: f64,
}

/// The value model's half of an update (GAE advantages).
pub struct ValueStep<'a> {
    pub model: &'a mut Scalar,
    pub opt: &'a mut AdamW,
    pub lr: f64,
    pub cliprange: f64,
    pub vf_coef: f64,
}

/// Everything one PPO update needs.
pub struct Update<'a> {
    pub policy: &'a Gpt,
    pub policy_opt: &'a mut AdamW,
    /// The policy's learning rate.
    pub lr: f64,
    pub cliprange: f64,
    /// The value model and its optimizer; `None` with group advantages (no value model).
    pub value: Option<ValueStep<'a>>,
    /// β of GRPO's KL term, β·mean_t k3(π, π_ref) over response tokens, added to the policy
    /// loss (`None`: the KL is a penalty in the rewards instead, as with GAE). Group
    /// advantages use the loss term: divided by the group's std, a penalty inside the rewards
    /// would be rescaled by how much the group's scores spread, without bound when they all
    /// score alike (frequent with pass/fail tests), so the KL's weight would no longer be β.
    /// In expectation over π its gradient is that of KL(π_ref‖π) (DeepSeekMath's choice;
    /// the k1 penalty's is that of KL(π‖π_ref)); both vanish at π = π_ref and pull towards it.
    pub kl_loss: Option<f64>,
    pub ptx: Option<PtxMix<'a>>,
    /// The data-parallel run this process is part of (`None`: a single process).
    pub dist: Option<&'a gptlab_dist::Dist>,
}

/// `epochs` passes of shuffled minibatches over a rollout; returns averaged metrics.
pub fn update(u: &mut Update, ro: &Rollout, epochs: usize, minibatch: usize, rng: &mut Rng) -> Result<Map<String, Value>> {
    let b = ro.s.x.size()[0];
    let mut acc: std::collections::BTreeMap<&str, (f64, usize)> = Default::default();
    let mut add = |k: &'static str, v: f64| {
        let e = acc.entry(k).or_insert((0.0, 0));
        e.0 += v;
        e.1 += 1;
    };
    let dev = ro.s.x.device();
    for _ in 0..epochs.max(1) {
        let mut order: Vec<i64> = (0..b).collect();
        rng.shuffle(&mut order);
        for mb in order.chunks(minibatch.max(1)) {
            let m = ro.rows(mb);
            let (policy, policy_opt, lr, clip, kl_coef, ptx, dist) = (u.policy, &mut *u.policy_opt, u.lr, u.cliprange, u.kl_loss, &u.ptx, u.dist);
            let shard = crate::dist::Shard::of(dist);
            let rng = &mut *rng;
            let mut policy_step = || -> Result<Vec<(&'static str, f64)>> {
                let (logp, logits) = response_logprobs(policy, &m.s, false)?;
                let (pg, clipfrac, approxkl) = rl::policy_loss(&logp, &m.s.old_logp, &m.adv, &m.s.resp_mask, clip);
                let ent = tch::no_grad(|| ops::masked_mean(&ops::entropy(&logits.detach()), &m.s.resp_mask));
                let mut out = vec![("loss/policy_avg", pg.double_value(&[]))];
                let mut loss = pg;
                if let Some(beta) = kl_coef {
                    let kl = ops::masked_mean(&rl::kl_k3(&logp, &m.ref_logp), &m.s.resp_mask);
                    out.push(("loss/kl_avg", kl.double_value(&[])));
                    loss += kl * beta;
                }
                if let Some(p) = ptx {
                    let (x, y) = crate::data::shard_windows(p.data, p.batch * shard.world, p.block, rng, shard.range(p.batch));
                    let ce = policy.loss(&x, &y, false)?;
                    out.push(("loss/ptx_avg", ce.double_value(&[])));
                    loss += ce * p.coef;
                }
                policy_opt.zero_grad();
                loss.backward();
                if let Some(d) = dist {
                    policy_opt.average_grads(d)?;
                }
                policy_opt.clip_and_step(lr)?;
                out.push(("policy/clipfrac_avg", clipfrac.double_value(&[])));
                out.push(("policy/approxkl_avg", approxkl.double_value(&[])));
                out.push(("policy/entropy_avg", ent.double_value(&[])));
                Ok(out)
            };
            let (pol, val) = match u.value.as_mut() {
                None => (policy_step(), Ok(vec![])),
                Some(v) => {
                    let vm = m.share();
                    let (value, value_opt, lr, clip_v, vf_coef) = (&mut *v.model, &mut *v.opt, v.lr, v.cliprange, v.vf_coef);
                    let mut value_step = move || -> Result<Vec<(&'static str, f64)>> {
                        let v = response_values(value, &vm.s, false)?;
                        let (vl, vclip) = rl::value_loss(&v, &vm.old_values, &vm.ret, &vm.s.resp_mask, clip_v);
                        value_opt.zero_grad();
                        (&vl * vf_coef).backward();
                        if let Some(d) = dist {
                            value_opt.average_grads(d)?;
                        }
                        value_opt.clip_and_step(lr)?;
                        Ok(vec![("loss/value_avg", vl.double_value(&[])), ("val/clipfrac_avg", vclip.double_value(&[]))])
                    };
                    if dist.is_some() {
                        // collectives in the same order on every rank: policy, then value
                        (policy_step(), value_step())
                    } else {
                        // the policy and the value model are separate: their steps run side by side
                        crate::par::side_by_side(dev, policy_step, value_step)
                    }
                }
            };
            for (k, v) in pol?.into_iter().chain(val?) {
                add(k, v);
            }
        }
    }
    Ok(acc.into_iter().map(|(k, (s, n))| (k.to_string(), Value::from(s / n.max(1) as f64))).collect())
}

/// Rollout-level metrics under TRL's names.
pub fn rollout_metrics(ro: &Rollout, kl_coef: f64) -> Map<String, Value> {
    let mask = &ro.s.resp_mask;
    let kl_sum = ro.kl.sum_dim_intlist(1, false, Kind::Float);
    let mean = |t: &Tensor| t.mean(Kind::Float).double_value(&[]);
    let mut m = Map::new();
    m.insert("objective/scores".into(), mean(&ro.scores).into());
    m.insert("objective/kl".into(), mean(&kl_sum).into());
    // the non-negative k3 estimate of the same KL, for monitoring (its value is unbiased)
    let k3 = (rl::kl_k3(&ro.s.old_logp, &ro.ref_logp) * mask).sum_dim_intlist(1, false, Kind::Float);
    m.insert("objective/kl_k3".into(), mean(&k3).into());
    m.insert("objective/rlhf_reward".into(), mean(&(&ro.scores - &kl_sum * kl_coef)).into());
    let ent = -(&ro.s.old_logp * mask).sum_dim_intlist(1, false, Kind::Float);
    m.insert("objective/entropy".into(), mean(&ent).into());
    m.insert("val/ended_frac".into(), ro.s.ended_frac().into());
    m.insert("val/mean_len".into(), ro.s.mean_len().into());
    m.insert("kl_coef".into(), kl_coef.into());
    m
}

/// Ziegler et al.'s adaptive KL controller: β ← β·(1 + clip(KL/target − 1, ±0.2)·n/horizon).
pub fn adapt_kl(beta: f64, kl: f64, target: f64, n: f64, horizon: f64) -> f64 {
    let err = (kl / target - 1.0).clamp(-0.2, 0.2);
    beta * (1.0 + err * n / horizon)
}

/// EMA of weights: ema ← d·ema + (1−d)·w.
pub fn ema_update(ema: &mut [Tensor], vars: &[Tensor], decay: f64) {
    tch::no_grad(|| {
        for (e, v) in ema.iter_mut().zip(vars) {
            let _ = e.g_mul_scalar_(decay);
            let _ = e.g_add_(&(v * (1.0 - decay)));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kl_controller_moves_towards_target() {
        assert!(adapt_kl(0.1, 12.0, 6.0, 100.0, 1000.0) > 0.1);
        assert!(adapt_kl(0.1, 1.0, 6.0, 100.0, 1000.0) < 0.1);
        assert!((adapt_kl(0.1, 1e9, 6.0, 1000.0, 1000.0) - 0.12).abs() < 1e-12, "error clipped at +0.2");
    }
}
