//! Data-parallel collectives for gptlab over libtorch's own c10d: a TCPStore rendezvous and a
//! process group (Gloo for CPU tensors, NCCL for CUDA ones with the `nccl` feature), the
//! engine PyTorch's DistributedDataParallel uses. `tch` exposes none of c10d, so a small C++
//! shim (cpp/shim.cpp, bridged by `cxx` in `ffi.rs`, the crate's only `unsafe` with the bridge
//! in `parallel.rs`) calls it.
//!
//! [`Dist::from_env`] joins the run that the standard environment describes ([`DistEnv`]), or
//! returns `None` for a single-process run. Every collective acts in place on the given tensors
//! and returns once it has completed on this rank; a peer that exits or stops answering turns
//! into an [`Error::Collective`] (Gloo reports a closed connection at once, a silent peer after
//! the group's timeout), never a hang past the timeout. [`GradReducer`] averages a flat
//! buffer of gradients while the backward pass runs, bucket by bucket.
//!
//! The same shim gives Rust loops libtorch's intra-op thread pool ([`parallel_for`], and
//! [`for_rows_mut`] over a tensor's memory in place), so that gptlab's own CPU kernels between
//! libtorch operators run on the pool's threads instead of competing with them.

mod env;
mod ffi;
mod group;
pub mod launch;
mod parallel;
mod reducer;

pub use env::{DistEnv, DEFAULT_GLOO_LANES, REQUIRED};
pub use group::{Dist, ReduceOp, DEFAULT_BUCKET_BYTES, SPLIT_MIN_BYTES};
pub use parallel::{for_rows_mut, for_rows_mut_reading, parallel_for, Elem, Split};
pub use reducer::GradReducer;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{var}: {msg}")]
    Env { var: &'static str, msg: String },
    #[error("rank {rank} of {world_size} could not join the run at {addr}:{port} within {timeout_s}s: {msg} (are all {world_size} processes started with the same MASTER_ADDR/MASTER_PORT, and is the port reachable?)")]
    Rendezvous { rank: usize, world_size: usize, addr: String, port: u16, timeout_s: u64, msg: String },
    #[error("{op} failed on rank {rank} of {world_size} (a peer exited or stopped answering within {timeout_s}s?): {msg}")]
    Collective { op: &'static str, rank: usize, world_size: usize, timeout_s: u64, msg: String },
    #[error("{0}")]
    Usage(String),
    #[error("rank {rank} of {world_size} failed ({status}); the other processes were stopped")]
    Launch { rank: usize, world_size: usize, status: String },
    #[error(transparent)]
    Torch(#[from] tch::TchError),
}

pub type Result<T> = std::result::Result<T, Error>;
