//! `gptlab keys`: API keys in a server's store (gptlab-serve).

use anyhow::Result;
use clap::{Parser, Subcommand};
use gptlab_serve::store::{Role, Store};
use std::path::PathBuf;

#[derive(Parser)]
pub struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum RoleArg {
    Api,
    Labeler,
    /// A labeler whose agreement is reported apart (InstructGPT's held-out labelers).
    HeldOut,
    Admin,
}

#[derive(Subcommand)]
enum Cmd {
    /// Create a key for a user; the key is printed on the last line (only its hash is stored).
    Add {
        #[arg(long, default_value = "gptlab.db")]
        db: PathBuf,
        #[arg(long)]
        user: String,
        /// The user's organisation.
        #[arg(long, default_value = "")]
        org: String,
        #[arg(long, value_enum, default_value = "api")]
        role: RoleArg,
        /// The user does not agree to their prompts being used for training.
        #[arg(long)]
        no_consent: bool,
    },
}

pub fn run(a: Args) -> Result<()> {
    match a.cmd {
        Cmd::Add { db, user, org, role, no_consent } => {
            let role = match role {
                RoleArg::Api => Role::Api,
                RoleArg::Labeler => Role::Labeler,
                RoleArg::HeldOut => Role::HeldOut,
                RoleArg::Admin => Role::Admin,
            };
            let key = Store::open(&db)?.add_key(&user, &org, role, !no_consent)?;
            eprintln!("key for {user} ({}), {}:", role.as_str(), if no_consent { "no training consent" } else { "training consent" });
            println!("{key}");
        }
    }
    Ok(())
}
