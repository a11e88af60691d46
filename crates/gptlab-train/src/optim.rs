//! AdamW (decoupled weight decay, PyTorch's update rule), optionally sharded across
//! data-parallel ranks (ZeRO stage 1), global-norm gradient clipping and the warmup + cosine
//! learning-rate schedule.
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

/// One parameter's place in the flat buffers.
struct Slot {
    name: String,
    var: Tensor,
    shape: Vec<i64>,
    offset: i64,
    numel: i64,
}

/// AdamW over flat buffers: every trainable parameter of a model is a view into one flat
/// parameter tensor (decay group first, then the no-decay group), and its gradient a view
/// into one flat gradient tensor, so an update is about ten whole-model tensor ops instead of
/// ten per parameter tensor (a 4-layer model has ~50), and the gradient norm one reduction.
/// libtorch's fused/foreach AdamW kernels are not exposed by tch, hence this.
///
/// Parameters are rebound with `set_data` (their autograd identity is kept); gradients are
/// rebound the first time they appear, after which autograd accumulates into them in place
/// (`zero_grad` zeroes, it never drops them). Every call checks the bindings by data pointer
/// and rebinds what something else replaced, so a stale view can never be updated silently.
/// A parameter without a gradient is left untouched by a step, as in PyTorch.
pub struct AdamW {
    slots: Vec<Slot>,
    /// Flat parameters, gradients, first and second moments.
    p: Tensor,
    g: Tensor,
    m: Tensor,
    v: Tensor,
    scratch: Tensor,
    /// The first `n_decay` elements form the weight-decay group.
    n_decay: i64,
    pub cfg: OptimConfig,
    /// Number of updates taken (for bias correction).
    pub t: i64,
    /// Data-parallel runs: averages the gradients while the backward pass runs, once every
    /// parameter has a gradient bound to the flat buffer ([`AdamW::arm_reduction`]).
    reducer: Option<gptlab_dist::GradReducer>,
    armed: bool,
    /// ZeRO stage 1 ([`AdamW::shard`]): this rank's slice of the flat buffers.
    zero: Option<ZeroShard>,
    /// The whole moments, gathered on rank 0 for a save ([`AdamW::gather_state`]) until
    /// [`AdamW::release_state`] or the next step.
    gathered: Option<(Tensor, Tensor)>,
}

/// This rank's slice `[lo, lo + n)` of the flat parameters under ZeRO stage 1: the moments
/// (`m`, `v`, scratch) hold `len` elements, the slice's. Every rank's slice is `len` long for
/// the all-gather; the last one's may run past the parameters (`n < len`).
struct ZeroShard {
    dist: std::sync::Arc<gptlab_dist::Dist>,
    lo: i64,
    len: i64,
    /// Elements of the slice that are parameters (fewer than `len` where it runs past them).
    n: i64,
}

/// Bucket size of the gradient reducer: small enough that even a small model's gradients
/// form several buckets, so the first can be reduced while autograd works through the lower
/// layers (DDP's 25 MiB is sized for GPU models).
const REDUCER_BUCKET_BYTES: usize = 4 << 20;

impl AdamW {
    /// Optimizes every trainable variable of `vs`; `decays(name, ndim)` chooses the groups.
    /// The variables must share one floating kind and device (the master weights).
    pub fn new(vs: &nn::VarStore, cfg: OptimConfig, decays: fn(&str, usize) -> bool) -> Result<Self> {
        let mut vars: Vec<(bool, String, Tensor)> = vs
            .variables()
            .into_iter()
            .filter(|(_, t)| t.requires_grad())
            .map(|(name, t)| (!decays(&name, t.dim()), name, t))
            .collect();
        vars.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        let (kind, device) = vars.first().map_or((Kind::Float, vs.device()), |(_, _, t)| (t.kind(), t.device()));
        if let Some((_, name, t)) = vars.iter().find(|(_, _, t)| t.kind() != kind || t.device() != device) {
            return Err(crate::Error::Data(format!(
                "optimizer: parameter `{name}` is {:?} on {:?}, the others {kind:?} on {device:?}",
                t.kind(),
                t.device()
            )));
        }
        let mut slots = Vec::with_capacity(vars.len());
        let (mut offset, mut n_decay) = (0i64, 0i64);
        for (no_decay, name, var) in vars {
            let numel = var.numel() as i64;
            slots.push(Slot { name, shape: var.size(), var, offset, numel });
            offset += numel;
            if !no_decay {
                n_decay = offset;
            }
        }
        let opts = (kind, device);
        let p = Tensor::zeros([offset], opts);
        // the moments and the scratch buffer are allocated at first use (`state`), at the size
        // of this rank's slice when the optimizer is sharded first
        let none = || Tensor::zeros([0], opts);
        let mut opt = Self { slots, g: p.zeros_like(), m: none(), v: none(), scratch: none(), p, n_decay, cfg, t: 0, reducer: None, armed: false, zero: None, gathered: None };
        opt.bind();
        Ok(opt)
    }

    fn view(flat: &Tensor, s: &Slot) -> Tensor {
        flat.narrow(0, s.offset, s.numel).view(s.shape.as_slice())
    }

    /// Allocates the moments (zero) and the scratch buffer if they are not yet: the whole
    /// size, or this rank's slice under ZeRO stage 1.
    fn state(&mut self) {
        let len = self.zero.as_ref().map_or(self.g.numel() as i64, |z| z.len);
        let opts = (self.p.kind(), self.p.device());
        for t in [&mut self.m, &mut self.v, &mut self.scratch] {
            if t.numel() as i64 != len {
                *t = Tensor::zeros([len], opts);
            }
        }
    }

    fn ptr_at(flat: &Tensor, s: &Slot) -> usize {
        flat.data_ptr() as usize + (s.offset as usize) * flat.kind().elt_size_in_bytes()
    }

    /// Makes every parameter and every defined gradient a view of the flat buffers (copying
    /// values in where a tensor was replaced). Returns the slots without a gradient.
    fn bind(&mut self) -> Vec<usize> {
        let mut missing = Vec::new();
        tch::no_grad(|| {
            for (i, s) in self.slots.iter_mut().enumerate() {
                if s.var.data_ptr() as usize != Self::ptr_at(&self.p, s) {
                    let mut dst = Self::view(&self.p, s);
                    dst.copy_(&s.var.detach());
                    s.var.set_data(&dst);
                }
                let mut g = s.var.grad();
                if !g.defined() {
                    missing.push(i);
                    let _ = self.g.narrow(0, s.offset, s.numel).zero_();
                } else if g.data_ptr() as usize != Self::ptr_at(&self.g, s) {
                    let mut dst = Self::view(&self.g, s);
                    dst.copy_(&g);
                    g.set_data(&dst);
                }
            }
        });
        missing
    }

    pub fn zero_grad(&mut self) {
        self.bind();
        let _ = self.g.zero_();
    }

    /// Averages the gradients across the ranks of a data-parallel run. After an armed
    /// backward pass ([`Self::arm_reduction`]) this waits for the buckets the pass started and
    /// starts the rest; otherwise it is one all-reduce of the flat gradient buffer, of which
    /// every gradient is a view, so nothing is packed or copied back (a missing gradient
    /// counts as zero).
    pub fn average_grads(&mut self, dist: &gptlab_dist::Dist) -> Result<()> {
        if std::mem::take(&mut self.armed) {
            if let Some(r) = self.reducer.as_mut() {
                r.finish(dist)?;
                return Ok(());
            }
        }
        self.bind();
        dist.all_reduce(std::slice::from_ref(&self.g), gptlab_dist::ReduceOp::Avg)?;
        Ok(())
    }

    /// Call before the backward pass whose gradients [`Self::average_grads`] will average (a
    /// step's last micro-batch): once every parameter has a gradient (from the first step on),
    /// the reduction of each bucket of gradients then starts during the pass, as soon as
    /// autograd has accumulated all of the bucket's gradients. Before that, a no-op.
    pub fn arm_reduction(&mut self, dist: &gptlab_dist::Dist) -> Result<()> {
        if dist.world_size() < 2 {
            return Ok(());
        }
        let missing = self.bind().len();
        if self.reducer.is_none() {
            // every rank must take the same path (bucketed or whole-buffer collectives): the
            // reducer starts once no rank has a parameter without a gradient
            if dist.sum_f64(&[missing as f64])?[0] > 0.0 {
                return Ok(());
            }
            let params: Vec<(&Tensor, i64, i64)> = self.slots.iter().map(|s| (&s.var, s.offset, s.numel)).collect();
            self.reducer = Some(gptlab_dist::GradReducer::new(dist, &self.g, &params, REDUCER_BUCKET_BYTES)?);
        } else if missing > 0 {
            return Err(crate::Error::Data(format!("data-parallel gradient reducer: {missing} parameter(s) lost their gradient after it was set up")));
        }
        if let Some(r) = self.reducer.as_mut() {
            r.arm()?;
            self.armed = true;
        }
        Ok(())
    }

    /// Global L2 norm of all gradients.
    pub fn grad_norm(&mut self) -> f64 {
        self.bind();
        tch::no_grad(|| self.g.norm().double_value(&[]))
    }

    /// ZeRO stage 1 (Rajbhandari et al. 2020) in a data-parallel run: from now on this rank
    /// keeps the moments of its `1/world` slice of the flat parameters only, updates that
    /// slice, and the ranks all-gather the parameters after each step. The gradients are still
    /// averaged whole (the reducer overlaps that with the backward pass), so what this saves is
    /// the optimizer state's memory, `(world − 1)/world` of it, for one all-gather of the
    /// parameters per step. Call after [`Self::load`] (the saved state is whole, whatever the
    /// world size) and after the ranks share rank 0's weights.
    pub fn shard(&mut self, dist: std::sync::Arc<gptlab_dist::Dist>) -> Result<()> {
        let world = dist.world_size() as i64;
        if world < 2 || self.zero.is_some() {
            return Ok(());
        }
        let total = self.g.numel() as i64;
        let len = ((total + world - 1) / world).max(1);
        let lo = dist.rank() as i64 * len;
        let n = (total - lo).clamp(0, len);
        let opts = (self.p.kind(), self.p.device());
        if self.m.numel() > 0 {
            // loaded moments: this rank's slice of them, one buffer at a time, so that the
            // whole-size ones are not all held twice
            tch::no_grad(|| {
                drop(std::mem::replace(&mut self.scratch, Tensor::zeros([0], opts)));
                for flat in [&mut self.m, &mut self.v] {
                    let t = Tensor::zeros([len], opts);
                    t.narrow(0, 0, n).copy_(&flat.narrow(0, lo.min(total), n));
                    *flat = t;
                }
            });
        }
        self.zero = Some(ZeroShard { dist, lo, len, n });
        self.state();
        Ok(())
    }

    /// One update at learning rate `lr`. Gradients are first scaled by `grad_scale`
    /// (the clip coefficient; 1.0 for none). Under ZeRO stage 1 this rank updates its slice,
    /// then the ranks all-gather the parameters (a collective: every rank calls it).
    pub fn step(&mut self, lr: f64, grad_scale: f64) -> Result<()> {
        let missing = self.bind();
        if missing.len() == self.slots.len() {
            return Ok(());
        }
        self.gathered = None;
        self.state();
        self.t += 1;
        let c = self.cfg;
        let bc1 = 1.0 - c.beta1.powi(self.t as i32);
        let bc2 = 1.0 - c.beta2.powi(self.t as i32);
        // the flat range this rank updates, and where the moments of its start are
        let total = self.g.numel() as i64;
        let (lo, n) = self.zero.as_ref().map_or((0, total), |z| (z.lo.min(total), z.n));
        tch::no_grad(|| {
            // A parameter without a gradient keeps its value and moments (PyTorch skips it):
            // the part of it inside this rank's range is saved and put back after the update.
            let keep: Vec<(i64, i64, [Tensor; 3])> = missing
                .iter()
                .filter_map(|&i| {
                    let (a, b) = (self.slots[i].offset.max(lo), (self.slots[i].offset + self.slots[i].numel).min(lo + n));
                    (a < b).then(|| (a, b - a, [self.p.narrow(0, a, b - a).copy(), self.m.narrow(0, a - lo, b - a).copy(), self.v.narrow(0, a - lo, b - a).copy()]))
                })
                .collect();
            let (mut p, mut g) = (self.p.narrow(0, lo, n), self.g.narrow(0, lo, n));
            let (mut m, mut v, mut scratch) = (self.m.narrow(0, 0, n), self.v.narrow(0, 0, n), self.scratch.narrow(0, 0, n));
            // PyTorch's update, in place over the flat buffers with one scratch tensor:
            // m ← lerp(m, g, 1−β1); v ← lerp(v, g², 1−β2);
            // p ← p·(1 − lr·wd) − lr/bc1 · m / (√v/√bc2 + ε).
            if grad_scale != 1.0 {
                let _ = g.g_mul_scalar_(grad_scale);
            }
            let decay = (self.n_decay - lo).clamp(0, n);
            if c.weight_decay > 0.0 && decay > 0 {
                let _ = p.narrow(0, 0, decay).g_mul_scalar_(1.0 - lr * c.weight_decay);
            }
            let _ = m.lerp_(&g, 1.0 - c.beta1);
            let _ = g.mul_out(&scratch, &g);
            let _ = v.lerp_(&scratch, 1.0 - c.beta2);
            let _ = v.sqrt_out(&scratch);
            let _ = scratch.g_mul_scalar_(1.0 / bc2.sqrt());
            let _ = scratch.g_add_scalar_(c.eps);
            let _ = scratch.g_mul_scalar_(-bc1 / lr);
            let _ = p.addcdiv_(&m, &scratch);
            for (a, len, saved) in &keep {
                for ((flat, at), src) in [(&self.p, *a), (&self.m, a - lo), (&self.v, a - lo)].into_iter().zip(saved) {
                    flat.narrow(0, at, *len).copy_(src);
                }
            }
        });
        self.gather_params()
    }

    /// Under ZeRO stage 1, every rank's updated slice of the parameters to every rank (a
    /// collective); otherwise a no-op.
    fn gather_params(&self) -> Result<()> {
        let Some(z) = &self.zero else { return Ok(()) };
        let total = self.g.numel() as i64;
        // Straight into every rank's view of the parameters, in pieces of at most
        // REDUCER_BUCKET_BYTES per rank: c10d's Gloo all-gather stages its outputs in one
        // flat buffer of world × input, which for the whole slice would take back the
        // memory the sharding saves. The last rank's slice may run past the parameters:
        // that part of a piece is gathered into a scratch piece. Each input is a copy, so
        // that no collective reads the memory it writes.
        let (world, opts) = (z.dist.world_size() as i64, (self.p.kind(), self.p.device()));
        let piece = (REDUCER_BUCKET_BYTES / self.p.kind().elt_size_in_bytes()).max(1) as i64;
        // the elements of a k-piece starting at `start` that are parameters
        let real = |start: i64, k: i64| (total - start).clamp(0, k);
        let mut at = 0;
        while at < z.len {
            let k = piece.min(z.len - at);
            let mut short = vec![];
            let views: Vec<Tensor> = (0..world)
                .map(|r| {
                    let start = r * z.len + at;
                    if real(start, k) == k {
                        self.p.narrow(0, start, k)
                    } else {
                        let t = Tensor::zeros([k], opts);
                        short.push((start, t.shallow_clone()));
                        t
                    }
                })
                .collect();
            let mine = Tensor::zeros([k], opts);
            let own = real(z.lo + at, k);
            tch::no_grad(|| {
                if own > 0 {
                    mine.narrow(0, 0, own).copy_(&self.p.narrow(0, z.lo + at, own));
                }
            });
            z.dist.all_gather_into(&mine, &views)?;
            tch::no_grad(|| {
                for (start, t) in short {
                    let n = real(start, k);
                    if n > 0 {
                        self.p.narrow(0, start, n).copy_(&t.narrow(0, 0, n));
                    }
                }
            });
            at += k;
        }
        Ok(())
    }

    /// Clips to `grad_clip`, then steps. Returns the pre-clip gradient norm.
    pub fn clip_and_step(&mut self, lr: f64) -> Result<f64> {
        let norm = self.grad_norm();
        let scale = if self.cfg.grad_clip > 0.0 && norm > self.cfg.grad_clip { self.cfg.grad_clip / (norm + 1e-6) } else { 1.0 };
        if norm.is_finite() {
            self.step(lr, scale)?;
        }
        Ok(norm)
    }

    /// Under ZeRO stage 1, gathers the whole moments from every rank's slice for rank 0's
    /// [`Self::save`] (a collective: every rank calls it before rank 0 saves; the other ranks
    /// drop them at once); otherwise a no-op. Rank 0 drops them with [`Self::release_state`].
    pub fn gather_state(&mut self) -> Result<()> {
        // (`shard` allocated this rank's slice of the moments)
        let Some(z) = &self.zero else { return Ok(()) };
        let total = self.g.numel() as i64;
        let mut whole = Vec::with_capacity(2);
        for part in [&self.m, &self.v] {
            let all = Tensor::empty([z.dist.world_size() as i64 * z.len], (part.kind(), part.device()));
            let views: Vec<Tensor> = (0..z.dist.world_size() as i64).map(|r| all.narrow(0, r * z.len, z.len)).collect();
            z.dist.all_gather_into(part, &views)?;
            whole.push(all.narrow(0, 0, total));
        }
        if z.dist.is_main() {
            let v = whole.pop();
            self.gathered = whole.pop().zip(v);
        }
        Ok(())
    }

    /// Drops the moments gathered for a save.
    pub fn release_state(&mut self) {
        self.gathered = None;
    }

    /// Saves moments (as `exp_avg.<name>` / `exp_avg_sq.<name>`) and the step count.
    /// Under ZeRO stage 1 the moments must have been gathered ([`Self::gather_state`]).
    pub fn save(&self, path: &Path) -> Result<()> {
        // moments never allocated (no step or load yet) are zero
        let zeros = (self.zero.is_none() && self.m.numel() == 0).then(|| Tensor::zeros([self.g.numel() as i64], (self.p.kind(), self.p.device())));
        let (m, v) = match (&self.zero, &self.gathered, &zeros) {
            (None, _, Some(z)) => (z, z),
            (None, _, None) => (&self.m, &self.v),
            (Some(_), Some((m, v)), _) => (m, v),
            (Some(_), None, _) => return Err(crate::Error::Data("optimizer: a ZeRO-sharded state is saved after gather_state".into())),
        };
        let mut t: Vec<(String, Tensor)> = Vec::with_capacity(2 * self.slots.len() + 1);
        for s in &self.slots {
            t.push((format!("exp_avg.{}", s.name), Self::view(m, s)));
            t.push((format!("exp_avg_sq.{}", s.name), Self::view(v, s)));
        }
        t.push(("step".into(), Tensor::from_slice(&[self.t])));
        checkpoint::write_tensors(path, &t)?;
        Ok(())
    }

    /// Restores state written by [`AdamW::save`]; every parameter must be present. Before
    /// [`Self::shard`].
    pub fn load(&mut self, path: &Path) -> Result<()> {
        if self.zero.is_some() {
            return Err(crate::Error::Data("optimizer: state is loaded before it is sharded".into()));
        }
        self.state();
        let mut file = checkpoint::read_tensors(path)?;
        let err = |msg: String| crate::Error::State { path: path.to_path_buf(), msg };
        self.t = file.remove("step").map(|s| s.int64_value(&[0])).ok_or_else(|| err("missing `step`".into()))?;
        for s in &self.slots {
            for (key, flat) in [(format!("exp_avg.{}", s.name), &self.m), (format!("exp_avg_sq.{}", s.name), &self.v)] {
                let src = file.remove(&key).ok_or_else(|| err(format!("missing `{key}`")))?;
                if src.size() != s.shape {
                    return Err(err(format!("`{key}` has shape {:?}, expected {:?}", src.size(), s.shape)));
                }
                tch::no_grad(|| {
                    Self::view(flat, s).copy_(&src.to_device(flat.device()));
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
        let mut opt = AdamW::new(&vs, cfg, |_, _| true).expect("optimizer");
        let loss = (&w * &w).sum(Kind::Float) * 0.5;
        loss.backward();
        opt.step(0.1, 1.0).expect("step");
        assert!((w.double_value(&[0, 0]) - 0.85).abs() < 1e-6);
    }

    #[test]
    fn clipping_scales_to_max_norm() {
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let w = vs.root().var("w", &[2], nn::Init::Const(0.0));
        let cfg = OptimConfig { grad_clip: 1.0, ..Default::default() };
        let mut opt = AdamW::new(&vs, cfg, |_, _| false).expect("optimizer");
        (&w * Tensor::from_slice(&[3.0f32, 4.0])).sum(Kind::Float).backward();
        assert!((opt.grad_norm() - 5.0).abs() < 1e-6);
    }

    #[test]
    fn gradients_accumulate_into_the_flat_buffer() {
        // Two backward passes before a step (gradient accumulation) must add up, also on
        // the first step, before the gradients were bound to the flat buffer.
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let w = vs.root().var("w", &[2], nn::Init::Const(0.0));
        let mut opt = AdamW::new(&vs, OptimConfig::default(), |_, _| false).expect("optimizer");
        for _ in 0..2 {
            opt.zero_grad();
            (&w * Tensor::from_slice(&[3.0f32, 0.0])).sum(Kind::Float).backward();
            (&w * Tensor::from_slice(&[0.0f32, 4.0])).sum(Kind::Float).backward();
            assert!((opt.grad_norm() - 5.0).abs() < 1e-6);
            opt.step(0.1, 1.0).expect("step");
        }
    }

    #[test]
    fn parameter_without_gradient_is_left_alone() {
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let a = vs.root().var("a", &[3], nn::Init::Const(1.0));
        let b = vs.root().var("b", &[2], nn::Init::Const(1.0));
        let cfg = OptimConfig { lr: 0.1, weight_decay: 0.5, grad_clip: 0.0, ..Default::default() };
        let mut opt = AdamW::new(&vs, cfg, |_, _| true).expect("optimizer");
        for _ in 0..3 {
            opt.zero_grad();
            (&a * &a).sum(Kind::Float).backward();
            opt.step(0.1, 1.0).expect("step");
        }
        assert_eq!(Vec::<f32>::try_from(&b).expect("b"), vec![1.0, 1.0], "no gradient, no decay, no update");
        assert!(a.double_value(&[0]) < 0.8, "the other parameter moved");
        assert!(!b.grad().defined());
    }

    #[test]
    fn a_replaced_parameter_is_rebound_not_lost() {
        // Something outside the optimizer gives the variable new storage: the next step must
        // still update the variable itself (rebinding), starting from its new value.
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let mut w = vs.root().var("w", &[1], nn::Init::Const(1.0));
        let cfg = OptimConfig { lr: 0.1, weight_decay: 0.0, grad_clip: 0.0, ..Default::default() };
        let mut opt = AdamW::new(&vs, cfg, |_, _| false).expect("optimizer");
        tch::no_grad(|| w.set_data(&Tensor::from_slice(&[2.0f32])));
        opt.zero_grad();
        (&w * 1.0).sum(Kind::Float).backward();
        opt.step(0.1, 1.0).expect("step");
        assert!((w.double_value(&[0]) - 1.9).abs() < 1e-6, "got {}", w.double_value(&[0]));
    }

    #[test]
    fn mixed_kinds_are_an_error() {
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let _a = vs.root().var("a", &[1], nn::Init::Const(1.0));
        let mut b = vs.root().var("b", &[1], nn::Init::Const(1.0));
        tch::no_grad(|| b.set_data(&b.to_kind(Kind::Double)));
        let err = AdamW::new(&vs, OptimConfig::default(), |_, _| false).err().expect("error");
        assert!(err.to_string().contains('`'), "{err}");
    }
}
