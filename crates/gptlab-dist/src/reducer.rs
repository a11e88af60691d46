//! Gradient averaging that overlaps the backward pass, as DistributedDataParallel's reducer
//! does: the parameters' gradients are views of one flat buffer, cut into buckets of
//! contiguous parameters; a hook libtorch runs after accumulating each parameter's gradient
//! (a post-accumulate-grad hook, set through the shim) marks it ready, and a bucket's sum
//! all-reduce starts as soon as all its parameters are ready and the buckets before it in the
//! launch order have started, while autograd goes on with the layers below. [`GradReducer::finish`]
//! starts what is left (parameters that got no gradient), waits and divides by the world size.
//!
//! Every rank must start the same collectives in the same order. The first armed step
//! launches buckets in index order; rank 0 then broadcasts the order in which its buckets
//! became ready, and every rank launches in that order from the next step on (DDP rebuilds its
//! buckets after the first iteration for the same reason).

use crate::ffi::{self, bridge};
use crate::{Dist, Error, Result};
use tch::{Kind, Tensor};

/// Gradient averaging during the backward pass over a flat gradient buffer.
pub struct GradReducer {
    r: cxx::UniquePtr<bridge::Reducer>,
    buckets: usize,
    learned: bool,
}

impl std::fmt::Debug for GradReducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GradReducer").field("buckets", &self.buckets).field("learned", &self.learned).finish()
    }
}

impl GradReducer {
    /// Hooks `params`, given as (parameter, offset, numel) with each parameter's `.grad` the
    /// view of `flat` at that offset, tiling `flat` without gaps; buckets hold about
    /// `bucket_bytes` each.
    pub fn new(dist: &Dist, flat: &Tensor, params: &[(&Tensor, i64, i64)], bucket_bytes: usize) -> Result<Self> {
        let elt = flat.kind().elt_size_in_bytes();
        let mut order: Vec<usize> = (0..params.len()).collect();
        order.sort_by_key(|&i| params[i].1);
        let (mut offsets, mut numels, mut bucket_of) = (Vec::new(), Vec::new(), vec![0i64; params.len()]);
        let mut end = 0i64;
        for i in order {
            let (p, off, n) = params[i];
            if off != end {
                return Err(Error::Usage(format!("gradient reducer: the parameters do not tile the flat buffer (a gap or overlap at element {end})")));
            }
            let g = p.grad();
            if !g.defined() || g.data_ptr() as usize != flat.data_ptr() as usize + off as usize * elt {
                return Err(Error::Usage("gradient reducer: a parameter's gradient is not its view of the flat buffer".into()));
            }
            let open = numels.last().is_some_and(|&m: &i64| (m as usize) * elt < bucket_bytes);
            if !open {
                offsets.push(off);
                numels.push(0);
            }
            if let Some(m) = numels.last_mut() {
                *m += n;
            }
            bucket_of[i] = offsets.len() as i64 - 1;
            end = off + n;
        }
        if end != flat.numel() as i64 {
            return Err(Error::Usage("gradient reducer: the parameters do not cover the flat buffer".into()));
        }
        let ps: Vec<&Tensor> = params.iter().map(|p| p.0).collect();
        let at: Vec<i64> = params.iter().map(|p| p.1).collect();
        let r = ffi::reducer(&dist.g, flat, &ps, &at, &bucket_of, &offsets, &numels).map_err(|e| dist.err("gradient reducer", &e))?;
        Ok(Self { r, buckets: offsets.len(), learned: false })
    }

    /// Buckets the gradients are cut into.
    pub fn buckets(&self) -> usize {
        self.buckets
    }

    /// Buckets whose parameters all became ready during the last armed backward pass.
    pub fn ready_in_backward(&self) -> usize {
        self.r.as_ref().map_or(0, |r| bridge::reducer_observed(r).len())
    }

    /// Buckets whose all-reduce started during the last armed backward pass (the others
    /// started at [`Self::finish`]).
    pub fn started_in_backward(&self) -> usize {
        self.r.as_ref().map_or(0, bridge::reducer_started_in_pass)
    }

    /// The next backward pass reduces its gradients as they become ready (call it before the
    /// last micro-batch's backward of a step; earlier ones only accumulate).
    pub fn arm(&mut self) -> Result<()> {
        if let Some(r) = self.r.as_mut() {
            bridge::reducer_arm(r).map_err(|e| Error::Usage(e.what().to_string()))?;
        }
        Ok(())
    }

    /// After the armed backward pass: starts the buckets not yet started, waits for all and
    /// scales the flat buffer by 1 / world size, so it holds the ranks' mean gradient. A
    /// gradient that autograd replaced instead of accumulating into its view, or a collective
    /// that failed inside a hook, is an error here.
    pub fn finish(&mut self, dist: &Dist) -> Result<()> {
        let ms = dist.timeout.as_millis().clamp(1, i64::MAX as u128) as i64;
        if let Some(r) = self.r.as_mut() {
            bridge::reducer_finish(r, ms).map_err(|e| dist.err("gradient all-reduce", &e))?;
        }
        if !self.learned {
            // rank 0's readiness order, padded with -1 for buckets that never became ready
            let mut seen: Vec<i64> = self.r.as_ref().map(bridge::reducer_observed).unwrap_or_default();
            seen.resize(self.buckets, -1);
            let t = Tensor::from_slice(&seen).to_kind(Kind::Int64).to_device(dist.device());
            dist.broadcast(std::slice::from_ref(&t), 0)?;
            let order: Vec<i64> = Vec::<i64>::try_from(t.to_device(tch::Device::Cpu))?.into_iter().filter(|&b| b >= 0).collect();
            if let Some(r) = self.r.as_mut() {
                bridge::reducer_set_order(r, &order).map_err(|e| dist.err("gradient reducer", &e))?;
            }
            self.learned = true;
        }
        Ok(())
    }
}
