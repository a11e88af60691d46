//! `gptlab data`: datasets from what the server logged (gptlab-serve's prompts), a code
//! corpus from source trees (gptlab-data's `code`), and function problems generated from task
//! families or mined from doctests (gptlab-data's `tasks`, in `data_tasks.rs`).

use anyhow::Result;
use clap::{Parser, Subcommand};
use gptlab_data::code::{self, CodeOptions, FilterSettings, Lang, MinHashSettings};
use gptlab_serve::prompts::{build_from_log, table, PromptsOptions, SplitBy};
use std::path::PathBuf;

#[path = "data_tasks.rs"]
mod data_tasks;

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
    /// A code corpus from source trees with Codex's filters (over 1 MB, mean line over 100,
    /// a line over 1000, alphanumeric fraction under 0.25, auto-generated), exact and MinHash
    /// near-duplicates removed, each kept file's licence. Writes corpus.jsonl and report.json
    /// (counts per reason); prints the report as the last line.
    Code {
        /// Source directories (walked in order, sorted, hidden dirs, target/ and node_modules/ skipped).
        #[arg(long, required = true, num_args = 1..)]
        src: Vec<PathBuf>,
        #[arg(long)]
        out: PathBuf,
        /// Languages to include, comma-separated (python, rust, c, cpp, go, java, javascript, typescript); default all.
        #[arg(long, value_delimiter = ',')]
        lang: Vec<Lang>,
        /// Jaccard similarity at or above which a file is a near-duplicate of an earlier kept one.
        #[arg(long, default_value_t = 0.85)]
        threshold: f64,
        /// MinHash permutations (signature length).
        #[arg(long, default_value_t = 256)]
        num_perm: usize,
        /// Tokens per shingle.
        #[arg(long, default_value_t = 5)]
        ngram: usize,
        /// Largest file kept, in bytes.
        #[arg(long, default_value_t = 1_000_000)]
        max_bytes: u64,
        /// Worker threads (0: one per core).
        #[arg(long, default_value_t = 0)]
        threads: usize,
        /// Hide the progress bar.
        #[arg(long)]
        quiet: bool,
    },
    Tasks(data_tasks::TasksArgs),
    Doctests(data_tasks::DoctestsArgs),
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
        Cmd::Code { src, out, lang, threshold, num_perm, ngram, max_bytes, threads, quiet } => {
            let filters = FilterSettings { max_bytes, ..Default::default() };
            let minhash = MinHashSettings { num_perm, ngram, threshold, ..Default::default() };
            let o = CodeOptions { langs: lang, filters, minhash, threads, ..CodeOptions::new(src, out) };
            let bar = if quiet { indicatif::ProgressBar::hidden() } else { indicatif::ProgressBar::new(0) };
            let style = indicatif::ProgressStyle::with_template("data code [{bar:30}] {bytes}/{total_bytes} {msg} [{elapsed_precise}<{eta_precise}, {binary_bytes_per_sec}]");
            bar.set_style(style.unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()));
            let r = code::build(&o, &mut |p| {
                bar.set_length(p.bytes_total);
                bar.set_position(p.bytes_done);
                bar.set_message(format!("{}/{} files", p.files_done, p.files_total));
            });
            bar.finish_and_clear();
            println!("{}", serde_json::to_string(&r?)?);
        }
        Cmd::Tasks(a) => data_tasks::tasks(a)?,
        Cmd::Doctests(a) => data_tasks::doctests(a)?,
    }
    Ok(())
}
