//! `gptlab data tasks` and `gptlab data doctests`: HumanEval-format function problems,
//! generated from task families or mined from a code corpus's doctests (gptlab-data's
//! `tasks`). Included from `data.rs`.

use anyhow::Result;
use clap::Parser;
use gptlab_data::tasks::{self, doctests, TasksOptions};
use std::path::PathBuf;

/// Codex-style function problems from task families (list, string, arithmetic and dict
/// manipulations; each with several phrasings, names and constants), HumanEval format with
/// `check(candidate)` asserts. Writes train.jsonl (training families; each record also has
/// `completion`, so it is SFT data), test_seen.jsonl (new instances of the training families,
/// no prompt text shared with train), test_heldout.jsonl (held-out families only) and
/// report.json; prints the report as the last line.
#[derive(Parser)]
pub struct TasksArgs {
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Training problems per training family.
    #[arg(long, default_value_t = 50)]
    per_family: usize,
    /// Test problems per family: test_seen for training families, test_heldout for held-out ones.
    #[arg(long, default_value_t = 10)]
    test_per_family: usize,
    /// Families never written to train.jsonl, comma-separated (default: running_max,
    /// run_length_encode, collatz_steps, merge_sum; an empty value holds none out).
    #[arg(long, value_delimiter = ',', num_args = 0..)]
    held_out: Option<Vec<String>>,
}

/// HumanEval problems from the doctests of top-level Python functions in a corpus.jsonl
/// (`gptlab data code`'s): prompt = the imports the function uses + signature + docstring,
/// canonical solution = the body, test = one assert per doctest that calls the function
/// with literal arguments and a literal result. Writes the problems to --out; prints the
/// counts (functions seen, with doctests, problems written, skipped by reason) as the last line.
#[derive(Parser)]
pub struct DoctestsArgs {
    #[arg(long)]
    corpus: PathBuf,
    #[arg(long)]
    out: PathBuf,
    /// What the prompt holds before the function: `imports` (the imports it uses; functions
    /// using other module-level names are skipped) or `file` (the whole file before it).
    #[arg(long, value_enum, default_value = "imports")]
    context: ContextArg,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ContextArg {
    Imports,
    File,
}

pub fn tasks(a: TasksArgs) -> Result<()> {
    let o = TasksOptions { seed: a.seed, per_family: a.per_family, test_per_family: a.test_per_family, held_out: a.held_out, ..TasksOptions::new(a.out) };
    let r = tasks::generate(&o)?;
    println!("{}", serde_json::to_string(&r)?);
    Ok(())
}

pub fn doctests(a: DoctestsArgs) -> Result<()> {
    let context = match a.context {
        ContextArg::Imports => doctests::Context::Imports,
        ContextArg::File => doctests::Context::File,
    };
    let r = doctests::mine_corpus(&a.corpus, &a.out, context)?;
    println!("{}", serde_json::to_string(&r)?);
    Ok(())
}
