//! `gptlab launch -n N -- <command>`: a data-parallel run of N processes on this machine, each
//! running `gptlab <command>` with the environment torchrun would set (gptlab-dist's `launch`).

use anyhow::{Context, Result};
use clap::Parser;
use gptlab_dist::launch::{self, LaunchSpec};

#[derive(Parser)]
#[command(after_help = "Example: gptlab launch -n 2 -- pretrain --config configs/tiny/pretrain.toml\n\
For several machines use torchrun (README, \"Scaling\"): torchrun --nnodes M --nproc-per-node N --no-python gptlab pretrain ...")]
pub struct Args {
    /// Processes to start (the world size); each trains on its share of every global batch.
    #[arg(short = 'n', long = "nproc-per-node", value_name = "N")]
    nproc: usize,
    /// Port of the rendezvous store on 127.0.0.1 (default: a free port).
    #[arg(long)]
    master_port: Option<u16>,
    /// The gptlab command each process runs, after `--`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    command: Vec<String>,
}

pub fn run(a: Args) -> Result<()> {
    let program = std::env::current_exe().context("cannot locate this executable to start its copies")?;
    launch::run(&LaunchSpec { program, args: a.command, nproc: a.nproc, master_port: a.master_port })?;
    Ok(())
}
