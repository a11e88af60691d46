//! The group baseline of GRPO (Shao et al. 2024, "DeepSeekMath", §4.1): each prompt is
//! sampled G times (`rollout.group_size`, consecutive rows of the rollout), and each sample's
//! advantage is its reward minus the mean reward of its group, divided by the group's
//! standard deviation (DeepSeekMath's outcome supervision; `ppo.group_std = false` leaves the
//! division out, as Dr. GRPO, Liu et al. 2025, recommends). The same advantage goes on every
//! response token, and no value model is trained: the group mean is the baseline.
//!
//! The std is the sample (Bessel-corrected) std with 1e-4 added, as TRL's `GRPOTrainer`
//! computes it; a group whose samples all score alike gets zero advantages (no signal).
//!
//! The KL to the reference is not in these rewards: the update adds GRPO's k3 loss term
//! instead ([`crate::rl::ppo::Update::kl_loss`], which says why).

use crate::rl::rollout::{Rollout, Samples, Scored};
use tch::{Kind, Tensor};

/// Added to the group's std before dividing (TRL's GRPO).
pub const STD_EPS: f64 = 1e-4;

/// Per-sample advantages `[B]` from rewards `[B]` laid out as groups of `group` consecutive
/// rows: reward − group mean, divided by (group std + [`STD_EPS`]) when `divide_by_std`.
pub fn baseline(rewards: &Tensor, group: usize, divide_by_std: bool) -> Tensor {
    let g = group.max(1) as i64;
    let r = rewards.to_kind(Kind::Float).view([-1, g]);
    let centred = &r - r.mean_dim(1, true, Kind::Float);
    let adv = if divide_by_std && g > 1 { centred / (r.std_correction(1, 1, true) + STD_EPS) } else { centred };
    adv.view([-1])
}

/// Step 3 of a group rollout: [`baseline`] advantages of the scores on every response token;
/// the returns are zero (there is no value model to fit).
pub fn advantages(s: Samples, sc: Scored, group: usize, divide_by_std: bool) -> Rollout {
    let adv = tch::no_grad(|| baseline(&sc.scores, group, divide_by_std).unsqueeze(1) * &s.resp_mask);
    let ret = s.resp_mask.zeros_like();
    Rollout { s, ref_logp: sc.ref_logp, old_values: sc.old_values, scores: sc.scores, kl: sc.kl, adv, ret }
}

/// Share of groups whose samples all got the same reward (their advantages are zero).
pub fn flat_groups(rewards: &Tensor, group: usize) -> f64 {
    let r = rewards.to_kind(Kind::Float).view([-1, group.max(1) as i64]);
    let spread = r.amax(1, false) - r.amin(1, false);
    spread.le(1e-9).to_kind(Kind::Float).mean(Kind::Float).double_value(&[])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vec(t: &Tensor) -> Vec<f64> {
        Vec::<f64>::try_from(t.to_kind(Kind::Double)).expect("vec")
    }

    #[test]
    fn a_group_is_centred_on_its_mean_and_scaled_by_its_std() {
        let r = Tensor::from_slice(&[1.0f32, 0.0, 0.0, 1.0, 0.2, 0.2, 0.8, 0.4]);
        let a = vec(&baseline(&r, 4, false));
        let want = [0.5, -0.5, -0.5, 0.5, -0.2, -0.2, 0.4, 0.0];
        for (x, w) in a.iter().zip(want) {
            assert!((x - w).abs() < 1e-6, "{a:?}");
        }
        assert!(a[..4].iter().sum::<f64>().abs() < 1e-6 && a[4..].iter().sum::<f64>().abs() < 1e-6, "each group sums to 0");
        // [1, 0, 0, 1]: sample std √(4·0.25/3)
        let s = vec(&baseline(&r, 4, true));
        let sd = (1.0f64 / 3.0).sqrt();
        assert!((s[0] - 0.5 / (sd + STD_EPS)).abs() < 1e-5 && (s[1] + 0.5 / (sd + STD_EPS)).abs() < 1e-5, "{s:?}");
        assert!(s[0] > 0.0 && s[1] < 0.0 && s[2] < 0.0 && s[3] > 0.0);
        // groups are consecutive rows: a group of 2 sees only its pair
        let p = vec(&baseline(&r, 2, false));
        assert!((p[0] - 0.5).abs() < 1e-6 && (p[2] + 0.5).abs() < 1e-6 && p[4].abs() < 1e-6 && (p[6] - 0.2).abs() < 1e-6, "{p:?}");
    }

    #[test]
    fn alike_scores_give_no_signal() {
        let r = Tensor::from_slice(&[0.0f32, 0.0, 0.0, 1.0, 1.0, 1.0]);
        assert!(vec(&baseline(&r, 3, true)).iter().all(|x| x.abs() < 1e-9));
        assert_eq!(flat_groups(&r, 3), 1.0);
        assert_eq!(flat_groups(&Tensor::from_slice(&[0.0f32, 1.0, 1.0, 1.0]), 2), 0.5);
    }
}
