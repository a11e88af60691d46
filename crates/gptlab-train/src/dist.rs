//! Data parallelism for the training stages: joining the run the launch environment
//! describes (torchrun, `gptlab launch`, Slurm, PyTorchJob: see `gptlab-dist`), and what each
//! rank does differently.
//!
//! The contract (the loop in [`crate::trainer`] implements it):
//! - `train.batch_size` is per process; the global batch of a step is batch × world size ×
//!   grad_accum. Every rank draws the same global batch from the same random stream and keeps
//!   its [`Shard`] of it, so N processes with batch B/N see exactly the examples one process
//!   with batch B sees, and the stream's position after a step depends only on the global batch.
//! - Parameters are broadcast from rank 0 before the first step; gradients are averaged across
//!   ranks after the backward passes of a step by one all-reduce of the optimizer's flat
//!   gradient buffer (every gradient is a view of it: nothing is packed; tch exposes no autograd
//!   hooks to start reductions during the backward pass), so every rank applies the same update.
//! - Evaluation runs whole on every rank (identical inputs and weights, identical results),
//!   with the global batch as its batch size, so its numbers do not depend on the world size.
//! - Rank 0 alone writes checkpoints, metrics, plots and the progress bar; every rank reads
//!   `last/` on `--resume`. The checkpoint records the global batch, not the world size: a run
//!   resumes under any world size whose batch × world × accumulation equals it.
//! - Rank r > 0 reseeds libtorch's generator (dropout) with the stream `torch/rank/<r>`, so
//!   ranks do not share dropout masks; rank 0 keeps the run seed, as a single process does.
//! - PPO (`crate::stages::ppo`): each rank samples its own rollouts for its share of the
//!   global batch of prompts, gradients are averaged before every optimizer step, and the
//!   logged metrics are means over the ranks.

use crate::{Error, Result};
use gptlab_dist::{Dist, DistEnv};
use gptlab_model::DeviceSpec;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

/// How long a rank waits for its peers (to arrive, and in each collective) before it stops
/// with an error: GPTLAB_DIST_TIMEOUT seconds, 300 by default (an evaluation or checkpoint on
/// a peer must fit inside it).
pub const TIMEOUT_VAR: &str = "GPTLAB_DIST_TIMEOUT";

/// This process's share of each global batch: rank `rank` of `world`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub rank: usize,
    pub world: usize,
}

impl Shard {
    /// A single process: the whole batch.
    pub const WHOLE: Shard = Shard { rank: 0, world: 1 };

    /// The shard of `dist` (the whole batch without one).
    pub fn of(dist: Option<&Dist>) -> Self {
        dist.map_or(Self::WHOLE, |d| Shard { rank: d.rank(), world: d.world_size() })
    }

    /// This rank's positions in a global batch of `per_rank × world` items.
    pub fn range(&self, per_rank: usize) -> Range<usize> {
        self.rank * per_rank..(self.rank + 1) * per_rank
    }

    /// For epoch-based tasks over `n` items in a per-epoch order: micro-batch `micro`'s
    /// epoch, its index in the epoch, the micro-batches per epoch, and this rank's positions in
    /// the epoch's order. A global micro-batch covers `per_rank × world` consecutive positions;
    /// a rank whose share lies past the end of the last (partial) one of an epoch takes the
    /// epoch's first positions instead (as torch's DistributedSampler pads), so every rank
    /// always has a batch.
    pub fn epoch_positions(&self, n: usize, per_rank: usize, micro: u64) -> (u64, usize, u64, Vec<usize>) {
        let global = (per_rank * self.world).max(1);
        let per_epoch = n.div_ceil(global).max(1) as u64;
        let (epoch, k) = (micro / per_epoch, (micro % per_epoch) as usize);
        let r = self.range(per_rank);
        let (start, end) = (k * global + r.start, (k * global + r.end).min(n));
        let pos: Vec<usize> = if start < end { (start..end).collect() } else { (0..per_rank.min(n)).collect() };
        (epoch, k, per_epoch, pos)
    }
}

fn timeout() -> Result<Duration> {
    match std::env::var(TIMEOUT_VAR) {
        Ok(s) => match s.trim().parse::<u64>() {
            Ok(n) if n > 0 => Ok(Duration::from_secs(n)),
            _ => Err(Error::Data(format!("{TIMEOUT_VAR}: {s:?} is not a positive number of seconds"))),
        },
        Err(_) => Ok(Duration::from_secs(300)),
    }
}

/// Sets up the device (as [`gptlab_model::device::setup`]) and joins the data-parallel run
/// that the environment describes, if any. With CUDA each process takes the GPU of its
/// LOCAL_RANK (`cuda` and `cuda:0` both mean "this process's GPU").
pub fn join(device: DeviceSpec, threads: usize) -> Result<(tch::Device, Option<Arc<Dist>>)> {
    let env = DistEnv::from_env()?;
    let mut device = gptlab_model::device::setup(device, threads)?;
    let Some(env) = env else { return Ok((device, None)) };
    if let tch::Device::Cuda(i) = device {
        device = tch::Device::Cuda(i + env.local_rank);
    }
    let d = Dist::new(env, device, timeout()?)?;
    Ok((device, Some(Arc::new(d))))
}

/// The start of a data-parallel run: every rank takes rank 0's weights in `stores` (sent in
/// name order: a VarStore's order differs between processes), then ranks > 0 reseed libtorch
/// so that each draws its own dropout from a stream of the run's `seed`.
pub fn sync_start(d: &Dist, stores: &[&tch::nn::VarStore], seed: u64) -> Result<()> {
    for vs in stores {
        let mut vars: Vec<(String, tch::Tensor)> = vs.variables().into_iter().collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        d.broadcast(&vars.into_iter().map(|(_, v)| v).collect::<Vec<_>>(), 0)?;
    }
    if !d.is_main() {
        tch::manual_seed(gptlab_core::rng::stream_seed(seed, &format!("torch/rank/{}", d.rank())) as i64);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_tile_the_global_batch_without_overlap() {
        let whole = Shard::WHOLE.epoch_positions(10, 4, 1);
        let parts: Vec<_> = (0..2).map(|rank| Shard { rank, world: 2 }.epoch_positions(10, 2, 1)).collect();
        assert_eq!(whole, (0, 1, 3, vec![4, 5, 6, 7]));
        assert_eq!(parts[0], (0, 1, 3, vec![4, 5]));
        assert_eq!(parts[1], (0, 1, 3, vec![6, 7]));
        // the last, partial micro-batch of an epoch (positions 8, 9); rank 1 pads
        assert_eq!(Shard { rank: 0, world: 2 }.epoch_positions(10, 2, 2).3, vec![8, 9]);
        assert_eq!(Shard { rank: 1, world: 2 }.epoch_positions(10, 2, 2).3, vec![0, 1]);
        // next epoch
        assert_eq!(Shard { rank: 1, world: 2 }.epoch_positions(10, 2, 3), (1, 0, 3, vec![2, 3]));
        assert_eq!(Shard { rank: 2, world: 3 }.range(5), 10..15);
    }
}
