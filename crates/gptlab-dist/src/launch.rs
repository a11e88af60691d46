//! `gptlab launch`: starts the N processes of a single-node data-parallel run with the
//! environment torchrun would give them (RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE,
//! MASTER_ADDR, MASTER_PORT), and stops the others as soon as one fails, so a crashed rank
//! never leaves its peers waiting. For several nodes use torchrun (README, "Scaling").

use crate::{Error, Result};
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::Duration;

/// What to start.
#[derive(Debug, Clone)]
pub struct LaunchSpec {
    /// The program every process runs, and its arguments.
    pub program: PathBuf,
    pub args: Vec<String>,
    /// Processes on this node (the world size).
    pub nproc: usize,
    /// Where rank 0 hosts the rendezvous store; `None`: a free port on loopback.
    pub master_port: Option<u16>,
}

/// A free TCP port on loopback (bound and released; the OS does not hand it out again at once).
pub fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| Error::Usage(format!("no free port on 127.0.0.1: {e}")))?;
    Ok(l.local_addr().map_err(|e| Error::Usage(e.to_string()))?.port())
}

/// `program args` as rank `rank` of a `world`-process run on this node, with the environment
/// torchrun gives its workers (the rendezvous on loopback at `port`).
pub fn rank_command(program: &std::path::Path, args: &[String], rank: usize, world: usize, port: u16) -> Command {
    let mut c = Command::new(program);
    c.args(args)
        .env("RANK", rank.to_string())
        .env("LOCAL_RANK", rank.to_string())
        .env("WORLD_SIZE", world.to_string())
        .env("LOCAL_WORLD_SIZE", world.to_string())
        .env("MASTER_ADDR", "127.0.0.1")
        .env("MASTER_PORT", port.to_string());
    c
}

/// Runs `program args` as ranks `ranks` of a `world`-process run on this node, all at once,
/// each with [`rank_command`]'s environment, `env` added and one OpenMP thread, and returns their
/// outputs in the order of `ranks` once all have exited (the multi-process tests use it).
pub fn run_ranks(program: &std::path::Path, args: &[String], ranks: &[usize], world: usize, port: u16, env: &[(&str, &str)]) -> std::io::Result<Vec<std::process::Output>> {
    let children = ranks
        .iter()
        .map(|&r| rank_command(program, args, r, world, port).envs(env.iter().copied()).env("OMP_NUM_THREADS", "1").stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn())
        .collect::<std::io::Result<Vec<_>>>()?;
    children.into_iter().map(Child::wait_with_output).collect()
}

fn kill_all(kids: &mut [(usize, Child)]) {
    for (_, k) in kids.iter_mut() {
        let _ = k.kill();
    }
    for (_, k) in kids.iter_mut() {
        let _ = k.wait();
    }
}

/// Starts the processes and waits for all of them: `Ok` when every one exits successfully,
/// else an error naming the first rank that failed (the others are killed at that moment).
pub fn run(spec: &LaunchSpec) -> Result<()> {
    if spec.nproc == 0 {
        return Err(Error::Usage("launch: -n (processes) must be at least 1".into()));
    }
    if std::env::var_os("RANK").is_some() {
        return Err(Error::Usage("launch: RANK is already set: `gptlab launch` starts a run, it does not run inside one".into()));
    }
    let port = match spec.master_port {
        Some(p) => p,
        None => free_port()?,
    };
    let mut kids: Vec<(usize, Child)> = Vec::with_capacity(spec.nproc);
    for rank in 0..spec.nproc {
        let child = rank_command(&spec.program, &spec.args, rank, spec.nproc, port).spawn();
        match child {
            Ok(c) => kids.push((rank, c)),
            Err(e) => {
                kill_all(&mut kids);
                return Err(Error::Usage(format!("launch: cannot start {} ({e})", spec.program.display())));
            }
        }
    }
    while !kids.is_empty() {
        let mut i = 0;
        while i < kids.len() {
            match kids[i].1.try_wait() {
                Ok(Some(st)) if st.success() => {
                    kids.remove(i);
                }
                Ok(Some(st)) => {
                    let rank = kids[i].0;
                    kids.remove(i);
                    kill_all(&mut kids);
                    return Err(Error::Launch { rank, world_size: spec.nproc, status: st.to_string() });
                }
                Ok(None) => i += 1,
                Err(e) => {
                    let rank = kids[i].0;
                    kill_all(&mut kids);
                    return Err(Error::Launch { rank, world_size: spec.nproc, status: e.to_string() });
                }
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}
