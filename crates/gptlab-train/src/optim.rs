//! AdamW (decoupled weight decay, PyTorch's update rule), global-norm gradient clipping and
//! the warmup + cosine learning-rate schedule.
//!
//! Written on tch tensor ops rather than libtorch's C++ optimizer so that its state (moments,
//! step) can be saved beside a checkpoint and a resumed run continues bit-for-bit. Parameters
//! are split into a decay group (weight matrices) and a no-decay group (biases, LayerNorms,
//! embeddings), as GPT-2/3 training does.

use crate::Result;
use gptlab_model::checkpoint;
use std::path::Path;
use tch::{nn, Kind, Tensor};

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimConfig {
    /// Peak learning rate.
    pub lr: f64,
    /// Final learning rate of the cosine decay.
    pub min_lr: f64,
    pub weight_decay: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    /// Global gradient-norm clip (0 disables).
    pub grad_clip: f64,
}

impl Default for OptimConfig {
    fn default() -> Self {
        // GPT-3 paper, table 2.1 and appendix B: β = (0.9, 0.95), ε = 1e-8, clip 1.0, wd 0.1.
        Self { lr: 6e-4, min_lr: 6e-5, weight_decay: 0.1, beta1: 0.9, beta2: 0.95, eps: 1e-8, grad_clip: 1.0 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    /// Linear warmup from 0 over this many steps.
    pub warmup_iters: u64,
    /// Cosine decay from `lr` to `min_lr` ends at this step (constant `min_lr` after).
    pub decay_iters: u64,
}

/// Learning rate at `step` (nanoGPT's `get_lr`: linear warmup, cosine to `min_lr`).
pub fn lr_at(step: u64, o: &OptimConfig, s: &ScheduleConfig) -> f64 {
    if step < s.warmup_iters {
        return o.lr * (step + 1) as f64 / (s.warmup_iters + 1) as f64;
    }
    if step > s.decay_iters || s.decay_iters <= s.warmup_iters {
        return o.min_lr;
    }
    let ratio = (step - s.warmup_iters) as f64 / (s.decay_iters - s.warmup_iters) as f64;
    let coeff = 0.5 * (1.0 + (std::f64::consts::PI * ratio).cos());
    o.min_lr + coeff * (o.lr - o.min_lr)
}

struct Param {
    name: String,
    var: Tensor,
    m: Tensor,
    v: Tensor,
    decay: bool,
}

pub struct AdamW {
    params: Vec<Param>,
    pub cfg: OptimConfig,
    /// Number of updates taken (for bias correction).
    pub t: i64,
}

impl AdamW {
    /// Optimizes every trainable variable of `vs`; `decays(name, ndim)` chooses the groups.
    pub fn new(vs: &nn::VarStore, cfg: OptimConfig, decays: fn(&str, usize) -> bool) -> Self {
        let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().filter(|(_, t)| t.requires_grad()).collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let params = vars
            .into_iter()
            .map(|(name, var)| {
                let decay = decays(&name, var.dim());
                let m = var.zeros_like();
                let v = var.zeros_like();
                Param { name, var, m, v, decay }
            })
            .collect();
        Self { params, cfg, t: 0 }
    }

    pub fn zero_grad(&mut self) {
        for p in &mut self.params {
            p.var.zero_grad();
        }
    }

    /// Global L2 norm of all gradients.
    pub fn grad_norm(&self) -> f64 {
        let norms: Vec<Tensor> = self
            .params
            .iter()
            .map(|p| p.var.grad())
            .filter(|g| g.defined())
            .map(|g| g.to_kind(Kind::Float).pow_tensor_scalar(2).sum(Kind::Float))
            .collect();
        if norms.is_empty() {
            return 0.0;
        }
        Tensor::stack(&norms, 0).sum(Kind::Float).sqrt().double_value(&[])
    }

    /// One update at learning rate `lr`. Gradients are first scaled by `grad_scale`
    /// (the clip coefficient; 1.0 for none).
    pub fn step(&mut self, lr: f64, grad_scale: f64) {
        self.t += 1;
        let c = self.cfg;
        let bc1 = 1.0 - c.beta1.powi(self.t as i32);
        let bc2 = 1.0 - c.beta2.powi(self.t as i32);
        tch::no_grad(|| {
            for p in &mut self.params {
                let g = p.var.grad();
                if !g.defined() {
                    continue;
                }
                let g = if grad_scale != 1.0 { &g * grad_scale } else { g };
                if p.decay && c.weight_decay > 0.0 {
                    let _ = p.var.g_mul_scalar_(1.0 - lr * c.weight_decay);
                }
                let _ = p.m.lerp_(&g, 1.0 - c.beta1);
                let _ = p.v.g_mul_scalar_(c.beta2);
                let _ = p.v.addcmul_(&(&g * (1.0 - c.beta2)), &g);
                let denom = (&p.v / bc2).sqrt() + c.eps;
                let _ = p.var.addcdiv_(&(&p.m * (-lr / bc1)), &denom);
            }
        });
    }

    /// Clips to `grad_clip`, then steps. Returns the pre-clip gradient norm.
    pub fn clip_and_step(&mut self, lr: f64) -> f64 {
        let norm = self.grad_norm();
        let scale = if self.cfg.grad_clip > 0.0 && norm > self.cfg.grad_clip { self.cfg.grad_clip / (norm + 1e-6) } else { 1.0 };
        if norm.is_finite() {
            self.step(lr, scale);
        }
        norm
    }

    /// Saves moments (as `exp_avg.<name>` / `exp_avg_sq.<name>`) and the step count.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut t: Vec<(String, Tensor)> = Vec::with_capacity(2 * self.params.len() + 1);
        for p in &self.params {
            t.push((format!("exp_avg.{}", p.name), p.m.shallow_clone()));
            t.push((format!("exp_avg_sq.{}", p.name), p.v.shallow_clone()));
        }
        t.push(("step".into(), Tensor::from_slice(&[self.t])));
        checkpoint::write_tensors(path, &t)?;
        Ok(())
    }

    /// Restores state written by [`AdamW::save`]; every parameter must be present.
    pub fn load(&mut self, path: &Path) -> Result<()> {
        let mut file = checkpoint::read_tensors(path)?;
        let err = |msg: String| crate::Error::State { path: path.to_path_buf(), msg };
        self.t = file.remove("step").map(|s| s.int64_value(&[0])).ok_or_else(|| err("missing `step`".into()))?;
        for p in &mut self.params {
            for (key, dst) in [(format!("exp_avg.{}", p.name), &mut p.m), (format!("exp_avg_sq.{}", p.name), &mut p.v)] {
                let src = file.remove(&key).ok_or_else(|| err(format!("missing `{key}`")))?;
                if src.size() != dst.size() {
                    return Err(err(format!("`{key}` has shape {:?}, expected {:?}", src.size(), dst.size())));
                }
                tch::no_grad(|| {
                    let _ = dst.copy_(&src.to_device(dst.device()));
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_shape() {
        let o = OptimConfig { lr: 1.0, min_lr: 0.1, ..Default::default() };
        let s = ScheduleConfig { warmup_iters: 10, decay_iters: 110 };
        assert!((lr_at(0, &o, &s) - 1.0 / 11.0).abs() < 1e-12);
        assert!((lr_at(10, &o, &s) - 1.0).abs() < 1e-12);
        assert!((lr_at(60, &o, &s) - 0.55).abs() < 1e-12);
        assert!((lr_at(110, &o, &s) - 0.1).abs() < 1e-12);
        assert_eq!(lr_at(500, &o, &s), 0.1);
    }

    #[test]
    fn adamw_matches_hand_computed_update() {
        // One scalar parameter, gradient of p²/2 is p. After one step from p=1 with lr=0.1,
        // wd=0.5: p ← p(1 − lr·wd) − lr · m̂/(√v̂ + ε) with m̂ = g, v̂ = g² → 1·0.95 − 0.1.
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let w = vs.root().var("w", &[1, 1], nn::Init::Const(1.0));
        let cfg = OptimConfig { lr: 0.1, weight_decay: 0.5, grad_clip: 0.0, ..Default::default() };
        let mut opt = AdamW::new(&vs, cfg, |_, _| true);
        let loss = (&w * &w).sum(Kind::Float) * 0.5;
        loss.backward();
        opt.step(0.1, 1.0);
        assert!((w.double_value(&[0, 0]) - 0.85).abs() < 1e-6);
    }

    #[test]
    fn clipping_scales_to_max_norm() {
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let w = vs.root().var("w", &[2], nn::Init::Const(0.0));
        let cfg = OptimConfig { grad_clip: 1.0, ..Default::default() };
        let opt = AdamW::new(&vs, cfg, |_, _| false);
        (&w * Tensor::from_slice(&[3.0f32, 4.0])).sum(Kind::Float).backward();
        assert!((opt.grad_norm() - 5.0).abs() < 1e-6);
    }
}
