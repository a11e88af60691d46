//! The math of PPO on token sequences, shared by the PPO objective and its tests: KL
//! estimators, generalized advantage estimation, whitening, and the clipped policy and value
//! losses (Schulman et al. 2017; Ziegler et al. 2019; InstructGPT). Tensors are `[B, T]` over
//! response tokens with a float mask (1 = real token).

use tch::{Kind, Tensor};

/// Per-token KL estimates of π against the reference from log-probs of the sampled tokens.
/// `k1 = log π − log π_ref` (unbiased, can be negative per token): as a reward, −β·k1 gives
/// PPO exactly the gradient −β·∇KL(π‖π_ref), which is why it is InstructGPT's penalty;
/// `k3 = (r − 1) − log r` with `r = π_ref/π` (unbiased and never negative; Schulman 2020): a
/// good estimate of the value, but as a reward its gradient is not ∇KL, so gptlab only
/// reports it.
pub fn kl_k1(logp: &Tensor, ref_logp: &Tensor) -> Tensor {
    logp - ref_logp
}

pub fn kl_k3(logp: &Tensor, ref_logp: &Tensor) -> Tensor {
    let log_r = ref_logp - logp;
    (log_r.exp() - 1.0 - &log_r).clamp_min(0.0)
}

/// GAE over each row: δ_t = r_t + γ V_{t+1} − V_t (V after the last real token is 0),
/// A_t = δ_t + γλ A_{t+1}. Returns (advantages, returns = A + V), zero outside the mask.
pub fn gae(rewards: &Tensor, values: &Tensor, mask: &Tensor, gamma: f64, lam: f64) -> (Tensor, Tensor) {
    let t = rewards.size()[1];
    let mut next_v = Tensor::zeros_like(&values.select(1, 0));
    let mut next_a = Tensor::zeros_like(&next_v);
    let mut adv = Vec::with_capacity(t as usize);
    for i in (0..t).rev() {
        let m = mask.select(1, i);
        let v = values.select(1, i);
        let delta = rewards.select(1, i) + &next_v * gamma - &v;
        let a = (&delta + &next_a * (gamma * lam)) * &m;
        next_v = &v * &m;
        next_a = a.shallow_clone();
        adv.push(a);
    }
    adv.reverse();
    let adv = Tensor::stack(&adv, 1);
    let ret = (&adv + values) * mask;
    (adv, ret)
}

/// Masked whitening: (x − mean) / std over masked entries (mean kept when `shift_mean` is false).
pub fn whiten(x: &Tensor, mask: &Tensor, shift_mean: bool) -> Tensor {
    let n = mask.sum(Kind::Float).clamp_min(1.0);
    let mean = (x * mask).sum(Kind::Float) / &n;
    let var = ((x - &mean).square() * mask).sum(Kind::Float) / (&n - 1.0).clamp_min(1.0);
    let w = (x - &mean) * (var + 1e-8).rsqrt();
    let w = if shift_mean { w } else { w + mean };
    w * mask
}

/// Clipped policy loss: mean over masked tokens of max(−A·ρ, −A·clip(ρ, 1−ε, 1+ε)),
/// with ρ = exp(logp − old_logp). Returns (loss, clip fraction, approx KL = ½·mean((Δ log p)²)).
pub fn policy_loss(logp: &Tensor, old_logp: &Tensor, adv: &Tensor, mask: &Tensor, clip: f64) -> (Tensor, Tensor, Tensor) {
    let diff = logp - old_logp;
    let ratio = diff.exp();
    let l1 = -adv * &ratio;
    let l2 = -adv * ratio.clamp(1.0 - clip, 1.0 + clip);
    let loss = crate::ops::masked_mean(&l1.maximum(&l2), mask);
    let clipfrac = crate::ops::masked_mean(&l2.gt_tensor(&l1).to_kind(Kind::Float), mask);
    let approxkl = crate::ops::masked_mean(&diff.square(), mask) * 0.5;
    (loss, clipfrac, approxkl)
}

/// Clipped value loss: ½ · mean of max((V − R)², (clip(V, V_old ± ε) − R)²). Returns (loss,
/// fraction of tokens where the clipped term was used).
pub fn value_loss(v: &Tensor, old_v: &Tensor, ret: &Tensor, mask: &Tensor, clip: f64) -> (Tensor, Tensor) {
    let clipped = old_v + (v - old_v).clamp(-clip, clip);
    let l1 = (v - ret).square();
    let l2 = (clipped - ret).square();
    let loss = crate::ops::masked_mean(&l1.maximum(&l2), mask) * 0.5;
    let frac = crate::ops::masked_mean(&l2.gt_tensor(&l1).to_kind(Kind::Float), mask);
    (loss, frac)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(v: &[f32], b: i64) -> Tensor {
        Tensor::from_slice(v).view([b, -1])
    }

    #[test]
    fn gae_on_a_short_trajectory() {
        // one row of 3 real tokens + 1 pad; γ = 1, λ = 0.5
        let r = t(&[0.0, 0.0, 1.0, 9.0], 1);
        let v = t(&[0.5, 0.25, 0.5, 7.0], 1);
        let m = t(&[1.0, 1.0, 1.0, 0.0], 1);
        let (a, ret) = gae(&r, &v, &m, 1.0, 0.5);
        // δ2 = 1 − 0.5 = 0.5; δ1 = 0 + 0.5 − 0.25 = 0.25; δ0 = 0 + 0.25 − 0.5 = −0.25
        // A2 = 0.5; A1 = 0.25 + 0.5·0.5 = 0.5; A0 = −0.25 + 0.5·0.5 = 0
        let av: Vec<f32> = Vec::try_from(a.view([-1])).expect("a");
        assert!((av[0] - 0.0).abs() < 1e-6 && (av[1] - 0.5).abs() < 1e-6 && (av[2] - 0.5).abs() < 1e-6 && av[3] == 0.0, "{av:?}");
        let rv: Vec<f32> = Vec::try_from(ret.view([-1])).expect("r");
        assert!((rv[0] - 0.5).abs() < 1e-6 && (rv[1] - 0.75).abs() < 1e-6 && (rv[2] - 1.0).abs() < 1e-6 && rv[3] == 0.0);
        // λ = 1, γ = 1: returns are the reward-to-go
        let (_, ret) = gae(&r, &v, &m, 1.0, 1.0);
        let rv: Vec<f32> = Vec::try_from(ret.view([-1])).expect("r");
        assert!(rv[..3].iter().all(|&x| (x - 1.0).abs() < 1e-6));
    }

    #[test]
    fn kl_estimators() {
        tch::manual_seed(0);
        let lp = Tensor::randn([1000], (Kind::Float, tch::Device::Cpu)) * 2.0;
        let rp = Tensor::randn([1000], (Kind::Float, tch::Device::Cpu)) * 2.0;
        assert!(kl_k3(&lp, &rp).min().double_value(&[]) >= 0.0, "k3 is never negative");
        assert!(kl_k1(&lp, &rp).min().double_value(&[]) < 0.0, "k1 can be");
        assert_eq!(kl_k3(&lp, &lp).abs().max().double_value(&[]), 0.0);
        // unbiasedness on a known pair: π = Bernoulli(0.8), ref = Bernoulli(0.5)
        let (p, q) = (0.8f64, 0.5f64);
        let exact = p * (p / q).ln() + (1.0 - p) * ((1.0 - p) / (1.0 - q)).ln();
        let lp = Tensor::from_slice(&[p.ln() as f32, (1.0 - p).ln() as f32]);
        let rp = Tensor::from_slice(&[q.ln() as f32, (1.0 - q).ln() as f32]);
        let w = Tensor::from_slice(&[p as f32, (1.0 - p) as f32]);
        let e3 = (kl_k3(&lp, &rp) * &w).sum(Kind::Float).double_value(&[]);
        let e1 = (kl_k1(&lp, &rp) * &w).sum(Kind::Float).double_value(&[]);
        assert!((e3 - exact).abs() < 1e-5 && (e1 - exact).abs() < 1e-5);
    }

    #[test]
    fn a_step_on_the_policy_loss_raises_advantaged_tokens_and_lowers_the_others() {
        let logp = t(&[-1.0, -1.0], 1).set_requires_grad(true);
        let (loss, _, _) = policy_loss(&logp, &logp.detach(), &t(&[2.0, -0.5], 1), &t(&[1.0, 1.0], 1), 0.2);
        let g: Vec<f32> = Vec::try_from(Tensor::run_backward(&[loss], &[&logp], false, false).remove(0).view([-1])).expect("g");
        // gradient descent moves log π against the gradient: up for A > 0, down for A < 0
        assert!(g[0] < 0.0 && g[1] > 0.0, "{g:?}");
        assert!((g[0] + 1.0).abs() < 1e-6 && (g[1] - 0.25).abs() < 1e-6, "−A/N at ratio 1: {g:?}");
    }

    #[test]
    fn clipped_losses() {
        let m = t(&[1.0, 1.0], 1);
        let adv = t(&[1.0, -1.0], 1);
        let old = t(&[0.0, 0.0], 1);
        // ratio e^0.5 ≈ 1.65 for both: positive advantage is clipped at 1.2, negative is not
        let new = t(&[0.5, 0.5], 1);
        let (loss, clipfrac, kl) = policy_loss(&new, &old, &adv, &m, 0.2);
        let r = 0.5f64.exp();
        assert!((loss.double_value(&[]) - (-1.2 + r) / 2.0).abs() < 1e-5);
        assert!((clipfrac.double_value(&[]) - 0.5).abs() < 1e-6);
        assert!((kl.double_value(&[]) - 0.125).abs() < 1e-6);
        // at ratio 1 the loss is −mean(A) and nothing is clipped
        let (loss, clipfrac, _) = policy_loss(&old, &old, &adv, &m, 0.2);
        assert!(loss.double_value(&[]).abs() < 1e-6 && clipfrac.double_value(&[]) == 0.0);
        let (vl, vf) = value_loss(&t(&[1.0, 0.0], 1), &t(&[0.0, 0.0], 1), &t(&[0.0, 0.0], 1), &m, 0.2);
        // token 0: unclipped (1−0)² = 1, clipped (0.2−0)² = 0.04 → max 1; token 1: 0
        assert!((vl.double_value(&[]) - 0.25).abs() < 1e-6 && vf.double_value(&[]) == 0.0);
        let w = whiten(&t(&[1.0, 2.0, 3.0, 100.0], 1), &t(&[1.0, 1.0, 1.0, 0.0], 1), true);
        let wv: Vec<f32> = Vec::try_from(w.view([-1])).expect("w");
        assert!((wv[0] + 1.0).abs() < 1e-4 && wv[1].abs() < 1e-4 && (wv[2] - 1.0).abs() < 1e-4 && wv[3] == 0.0);
    }
}
