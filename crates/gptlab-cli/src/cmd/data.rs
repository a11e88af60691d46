//! `gptlab data`: datasets from what the server logged (gptlab-serve's prompts).

use anyhow::Result;
use clap::{Parser, Subcommand};
use gptlab_serve::prompts::{build_from_log, table, PromptsOptions, SplitBy};
use std::path::PathBuf;

#[derive(Parser)]
pub struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum SplitArg {
    User,
    Org,
}

#[derive(Subcommand)]
enum Cmd {
    /// InstructGPT's prompt dataset from the request log: consenting users only, exact and
    /// long-common-prefix dedup, a cap per user, splits disjoint by user (or organisation), PII
    /// removed from the training split. Writes prompts_{train,val,test}.jsonl (as `gptlab ppo`
    /// reads them); prints the counts shaped like the paper's Table 6, then a JSON report.
    Prompts {
        #[arg(long, default_value = "gptlab.db")]
        db: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// Characters of common prefix that make two prompts duplicates.
        #[arg(long, default_value_t = 64)]
        prefix_chars: usize,
        /// Most prompts per user (or organisation); InstructGPT's 200.
        #[arg(long, default_value_t = 200)]
        per_user: usize,
        #[arg(long, value_enum, default_value = "user")]
        split_by: SplitArg,
        /// Shares of the users (or organisations) for validation and test.
        #[arg(long, default_value_t = 0.1)]
        val_fraction: f64,
        #[arg(long, default_value_t = 0.1)]
        test_fraction: f64,
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
}

pub fn run(a: Args) -> Result<()> {
    match a.cmd {
        Cmd::Prompts { db, out, prefix_chars, per_user, split_by, val_fraction, test_fraction, seed } => {
            anyhow::ensure!(prefix_chars > 0 && per_user > 0, "--prefix-chars and --per-user must be at least 1");
            anyhow::ensure!(val_fraction >= 0.0 && test_fraction >= 0.0 && val_fraction + test_fraction < 1.0, "--val-fraction and --test-fraction must be ≥ 0 and leave some training share");
            let split_by = match split_by {
                SplitArg::User => SplitBy::User,
                SplitArg::Org => SplitBy::Org,
            };
            std::fs::create_dir_all(&out)?;
            let r = build_from_log(&db, &out, &PromptsOptions { prefix_chars, per_key: per_user, split_by, val_fraction, test_fraction, seed })?;
            eprint!("{}", table(&r));
            println!("{}", serde_json::to_string(&r)?);
        }
    }
    Ok(())
}
