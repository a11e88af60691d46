//! [`Dist`]: this process's membership of a data-parallel run and its collectives.

use crate::env::DistEnv;
use crate::ffi::{self, bridge, Work};
use crate::{Error, Result};
use std::time::Duration;
use tch::{Device, Kind, Tensor};

/// Gradients are reduced in flat buckets of about this many bytes (DDP's default, 25 MiB):
/// few enough collectives to amortise their latency, small enough that copying bucket k+1
/// overlaps the reduction of bucket k.
pub const DEFAULT_BUCKET_BYTES: usize = 25 << 20;

/// An all-reduce of at least this many bytes runs as one piece per Gloo lane
/// ([`DistEnv::gloo_lanes`](crate::DistEnv::gloo_lanes)), the pieces at once; smaller ones go
/// whole (a piece's fixed cost would outweigh the overlap).
pub const SPLIT_MIN_BYTES: usize = 4 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReduceOp {
    Sum,
    /// The sum divided by the world size (what data-parallel gradients need).
    Avg,
    Max,
    Min,
}

/// `n` elements as `k` consecutive (start, length) ranges covering them once, lengths
/// differing by at most one.
fn split_ranges(n: usize, k: usize) -> Vec<(usize, usize)> {
    let k = k.max(1);
    (0..k).map(|i| (n * i / k, n * (i + 1) / k - n * i / k)).collect()
}

/// One process of a data-parallel run.
pub struct Dist {
    pub(crate) g: cxx::UniquePtr<bridge::Group>,
    env: DistEnv,
    device: Device,
    pub(crate) timeout: Duration,
}

impl std::fmt::Debug for Dist {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dist").field("env", &self.env).field("device", &self.device).field("backend", &self.backend()).finish()
    }
}

impl Dist {
    /// Joins the run described by the environment ([`DistEnv::from_env`]): `None` when no
    /// distributed environment is set. `device` picks the backend: NCCL for CUDA, Gloo for the
    /// CPU. Every rank must arrive within `timeout`, which also bounds each collective.
    pub fn from_env(device: Device, timeout: Duration) -> Result<Option<Self>> {
        match DistEnv::from_env()? {
            Some(env) => Self::new(env, device, timeout).map(Some),
            None => Ok(None),
        }
    }

    /// Joins the run `env` describes (blocks until all ranks arrive or `timeout` passes).
    pub fn new(env: DistEnv, device: Device, timeout: Duration) -> Result<Self> {
        let nccl = device.is_cuda();
        if nccl && !bridge::nccl_compiled() {
            return Err(Error::Usage("a CUDA device needs NCCL, and gptlab was built without it: build with `--features cuda,nccl` (see gptlab-dist's Cargo.toml)".into()));
        }
        if let Device::Cuda(i) = device {
            let n = tch::Cuda::device_count();
            if i as i64 >= n {
                return Err(Error::Usage(format!("NCCL on cuda:{i}: libtorch sees {n} CUDA device(s) on this host (LOCAL_RANK picks the device; CUDA_VISIBLE_DEVICES limits them)")));
            }
        }
        let ms = timeout.as_millis().clamp(1, i64::MAX as u128) as i64;
        crate::env::check_lanes(env.gloo_lanes)?;
        let lanes = if nccl { 1 } else { env.gloo_lanes };
        let g = bridge::group_new(&env.master_addr, env.master_port, env.rank as i32, env.world_size as i32, env.agent_store, nccl, ms, lanes as u32).map_err(|e| Error::Rendezvous {
            rank: env.rank,
            world_size: env.world_size,
            addr: env.master_addr.clone(),
            port: env.master_port,
            timeout_s: timeout.as_secs(),
            msg: first_line(e.what()),
        })?;
        Ok(Self { g, env, device, timeout })
    }

    pub fn rank(&self) -> usize {
        self.env.rank
    }

    pub fn world_size(&self) -> usize {
        self.env.world_size
    }

    pub fn local_rank(&self) -> usize {
        self.env.local_rank
    }

    /// Rank 0: the process that writes checkpoints, metrics and the progress bar.
    pub fn is_main(&self) -> bool {
        self.env.rank == 0
    }

    pub fn env(&self) -> &DistEnv {
        &self.env
    }

    pub fn device(&self) -> Device {
        self.device
    }

    /// "gloo" or "nccl".
    pub fn backend(&self) -> String {
        bridge::backend_name(&self.g)
    }

    pub(crate) fn err(&self, op: &'static str, e: &cxx::Exception) -> Error {
        Error::Collective { op, rank: self.rank(), world_size: self.world_size(), timeout_s: self.timeout.as_secs(), msg: first_line(e.what()) }
    }

    fn check(&self, op: &'static str, t: &Tensor) -> Result<()> {
        if t.device() != self.device {
            return Err(Error::Usage(format!("{op}: a tensor on {:?} in a group on {:?}", t.device(), self.device)));
        }
        if !t.is_contiguous() {
            return Err(Error::Usage(format!("{op}: tensors must be contiguous")));
        }
        Ok(())
    }

    /// `t` as the pieces its all-reduce runs in: itself, or one consecutive view of its memory
    /// per Gloo lane when it is large (NCCL: whole). Every rank splits the same tensor the same way.
    fn pieces(&self, t: &Tensor) -> Vec<Tensor> {
        let lanes = if self.device.is_cuda() { 1 } else { self.env.gloo_lanes };
        if lanes < 2 || t.numel() * t.kind().elt_size_in_bytes() < SPLIT_MIN_BYTES {
            return vec![t.shallow_clone()];
        }
        let flat = t.detach().view([-1]);
        split_ranges(t.numel(), lanes).into_iter().map(|(start, len)| flat.narrow(0, start as i64, len as i64)).collect()
    }

    fn wait_all(&self, op: &'static str, works: Vec<Work<'_>>) -> Result<()> {
        let mut first = None;
        for w in works {
            if let Err(e) = w.wait() {
                first.get_or_insert(e);
            }
        }
        match first {
            Some(e) => Err(self.err(op, &e)),
            None => Ok(()),
        }
    }

    /// Reduces each tensor in place across the ranks (each tensor is one collective, or one per
    /// Gloo lane from [`SPLIT_MIN_BYTES`] on, all started together; see
    /// [`Self::all_reduce_bucketed`] for many small ones).
    pub fn all_reduce(&self, tensors: &[Tensor], op: ReduceOp) -> Result<()> {
        let code = match op {
            ReduceOp::Sum | ReduceOp::Avg => 0,
            ReduceOp::Max => 1,
            ReduceOp::Min => 2,
        };
        let mut pieces = Vec::with_capacity(tensors.len());
        for t in tensors {
            self.check("all-reduce", t)?;
            pieces.extend(self.pieces(t));
        }
        let mut works = Vec::with_capacity(pieces.len());
        for p in &pieces {
            works.push(ffi::all_reduce(&self.g, p, code).map_err(|e| self.err("all-reduce", &e))?);
        }
        self.wait_all("all-reduce", works)?;
        if op == ReduceOp::Avg && self.world_size() > 1 {
            let scale = 1.0 / self.world_size() as f64;
            tch::no_grad(|| {
                for t in tensors {
                    let _ = t.shallow_clone().g_mul_scalar_(scale);
                }
            });
        }
        Ok(())
    }

    /// Reduces many tensors (of one dtype, e.g. gradients) in place through flat buckets of
    /// about `bucket_bytes`: each bucket's reduction runs while the next one is packed, and the
    /// results are copied back once all have completed.
    pub fn all_reduce_bucketed(&self, tensors: &[Tensor], op: ReduceOp, bucket_bytes: usize) -> Result<()> {
        if tensors.is_empty() || self.world_size() == 1 {
            return Ok(());
        }
        let kind = tensors[0].kind();
        if tensors.iter().any(|t| t.kind() != kind) {
            return Err(Error::Usage("all_reduce_bucketed: tensors of different dtypes".into()));
        }
        let elt = kind.elt_size_in_bytes().max(1);
        let mut groups: Vec<Vec<&Tensor>> = vec![Vec::new()];
        let mut bytes = 0usize;
        for t in tensors {
            let b = t.numel() * elt;
            if bytes > 0 && bytes + b > bucket_bytes {
                groups.push(Vec::new());
                bytes = 0;
            }
            bytes += b;
            if let Some(g) = groups.last_mut() {
                g.push(t);
            }
        }
        let flats: Vec<Tensor> = tch::no_grad(|| groups.iter().map(|g| Tensor::cat(&g.iter().map(|t| t.detach().reshape([-1])).collect::<Vec<_>>(), 0)).collect());
        self.all_reduce(&flats, op)?;
        tch::no_grad(|| {
            for (g, flat) in groups.iter().zip(&flats) {
                let mut off = 0i64;
                for t in g {
                    let n = t.numel() as i64;
                    let _ = t.detach().copy_(&flat.narrow(0, off, n).view(t.size().as_slice()));
                    off += n;
                }
            }
        });
        Ok(())
    }

    /// Copies `root`'s tensors into everyone's, in place.
    pub fn broadcast(&self, tensors: &[Tensor], root: usize) -> Result<()> {
        if root >= self.world_size() {
            return Err(Error::Usage(format!("broadcast from rank {root} in a world of {}", self.world_size())));
        }
        let detached: Vec<Tensor> = tensors.iter().map(Tensor::detach).collect();
        let mut works = Vec::with_capacity(detached.len());
        for t in &detached {
            self.check("broadcast", t)?;
            works.push(ffi::broadcast(&self.g, t, root as i32).map_err(|e| self.err("broadcast", &e))?);
        }
        self.wait_all("broadcast", works)
    }

    /// Returns once every rank has called it.
    pub fn barrier(&self) -> Result<()> {
        let w = Work::barrier(&self.g).map_err(|e| self.err("barrier", &e))?;
        self.wait_all("barrier", vec![w])
    }

    /// Every rank's `t` (same shape and dtype everywhere), in rank order.
    pub fn all_gather(&self, t: &Tensor) -> Result<Vec<Tensor>> {
        let outs: Vec<Tensor> = (0..self.world_size()).map(|_| t.empty_like()).collect();
        self.all_gather_into(t, &outs)?;
        Ok(outs)
    }

    /// Every rank's `t` written into `outputs[rank]` (one contiguous tensor of `t`'s shape per
    /// rank, e.g. views of one buffer; none of them `t` itself).
    pub fn all_gather_into(&self, t: &Tensor, outputs: &[Tensor]) -> Result<()> {
        self.check("all-gather", t)?;
        if outputs.len() != self.world_size() {
            return Err(Error::Usage(format!("all-gather: {} outputs for {} ranks", outputs.len(), self.world_size())));
        }
        for o in outputs {
            self.check("all-gather", o)?;
            if o.size() != t.size() || o.kind() != t.kind() {
                return Err(Error::Usage(format!("all-gather: an output of {:?} {:?} for an input of {:?} {:?}", o.size(), o.kind(), t.size(), t.kind())));
            }
        }
        let w = ffi::all_gather(&self.g, t, outputs).map_err(|e| self.err("all-gather", &e))?;
        self.wait_all("all-gather", vec![w])
    }

    /// One `f64` per rank summed across ranks (small bookkeeping: losses, token counts).
    pub fn sum_f64(&self, values: &[f64]) -> Result<Vec<f64>> {
        let t = Tensor::from_slice(values).to_kind(Kind::Double).to_device(self.device);
        self.all_reduce(std::slice::from_ref(&t), ReduceOp::Sum)?;
        Ok(Vec::<f64>::try_from(t.to_device(Device::Cpu))?)
    }
}

/// The first line of a C++ exception's message (c10 appends a C++ backtrace after it).
fn first_line(s: &str) -> String {
    s.lines().find(|l| !l.trim().is_empty()).unwrap_or(s).trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_ranges_cover_every_element_once_in_near_equal_runs() {
        for (n, k) in [(10, 3), (1_048_580, 3), (7, 7), (5, 1), (3, 4), (0, 2)] {
            let r = split_ranges(n, k);
            assert_eq!(r.len(), k);
            let mut next = 0;
            for &(start, len) in &r {
                assert_eq!(start, next, "n {n} k {k}: {r:?}");
                next += len;
            }
            assert_eq!(next, n, "n {n} k {k}: {r:?}");
            let (lo, hi) = (r.iter().map(|x| x.1).min().unwrap_or(0), r.iter().map(|x| x.1).max().unwrap_or(0));
            assert!(hi - lo <= 1, "n {n} k {k}: {r:?}");
        }
    }
}
