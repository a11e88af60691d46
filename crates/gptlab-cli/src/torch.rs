//! `gptlab-torch`: every gptlab command, libtorch linked in. Users run `gptlab` (main.rs),
//! which runs `eval code` on a samples file itself and becomes this program (exec) for the
//! rest, so the two are one command. A thin layer over the library crates: parses arguments,
//! runs a stage, prints the whole error chain and exits non-zero on failure.

mod cmd;
mod common;
mod errors;
mod eval_code;

use clap::{Parser, Subcommand};
use gptlab_train::stages;

#[derive(Parser)]
#[command(name = "gptlab", version, about = "Build and check a ChatGPT-like assistant, GPT-3 → Codex → InstructGPT style")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Tokenizers: train, encode, decode.
    Tok(cmd::tok::Args),
    /// Pretrain (or continue training) a GPT on a text corpus.
    Pretrain(common::StageArgs),
    /// Supervised fine-tuning on demonstrations (InstructGPT step 1).
    Sft(common::StageArgs),
    /// Train a reward model on ranked comparisons (InstructGPT step 2).
    Rm(common::StageArgs),
    /// PPO against a reward model, with the pretraining mix (InstructGPT step 3).
    Ppo(common::StageArgs),
    /// Run a training command as N data-parallel processes on this machine.
    Launch(cmd::launch::Args),
    /// Sample text from a checkpoint.
    Sample(cmd::sample::Args),
    /// Evaluate a checkpoint.
    Eval(cmd::eval::Args),
    /// The synthetic world: generate its data, have its labelers rank samples.
    World(cmd::world::Args),
    /// Speed benchmarks (one JSON line each).
    Bench(cmd::bench::Args),
    /// Run the whole pipeline at toy scale and write a report.
    Demo(cmd::demo::Args),
    /// Serve models through an OpenAI-compatible API and a chat page.
    Serve(cmd::serve::Args),
    /// API keys of a server's store.
    Keys(cmd::keys::Args),
    /// Is this text model-written? Detector scores, detection sets, evaluation at fixed FPR.
    Detect(cmd::detect::Args),
    /// Labeling: tasks, guidelines, agreement and export (the pages are at /label on serve).
    Label(cmd::label::Args),
    /// Datasets: a code corpus, function problems, doctest problems; prompts from the request log.
    Data(cmd::data::Args),
}

/// What `gptlab --version` (or `-V`) prints: the version, and which libtorch this executable
/// was built against (build.rs) and whether it can use CUDA here (asked at run time, so only
/// for this flag, not on every start).
fn version() -> String {
    let cuda = if tch::Cuda::is_available() { "yes" } else { "no" };
    format!("gptlab {} (libtorch {}, CUDA available: {cuda})", env!("CARGO_PKG_VERSION"), env!("GPTLAB_LIBTORCH_VERSION"))
}

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if e.kind() == clap::error::ErrorKind::DisplayVersion => {
            println!("{}", version());
            return;
        }
        Err(e) => e.exit(),
    };
    let out = match cli.cmd {
        Cmd::Tok(a) => cmd::tok::run(a),
        Cmd::Pretrain(a) => common::run_stage(&a, stages::pretrain::run),
        Cmd::Sft(a) => common::run_stage(&a, stages::sft::run),
        Cmd::Rm(a) => common::run_stage(&a, stages::rm::run),
        Cmd::Ppo(a) => common::run_stage(&a, stages::ppo::run),
        Cmd::Launch(a) => cmd::launch::run(a),
        Cmd::Sample(a) => cmd::sample::run(a),
        Cmd::Eval(a) => cmd::eval::run(a),
        Cmd::World(a) => cmd::world::run(a),
        Cmd::Bench(a) => cmd::bench::run(a),
        Cmd::Demo(a) => cmd::demo::run(a),
        Cmd::Serve(a) => cmd::serve::run(a),
        Cmd::Keys(a) => cmd::keys::run(a),
        Cmd::Label(a) => cmd::label::run(a),
        Cmd::Detect(a) => cmd::detect::run(a),
        Cmd::Data(a) => cmd::data::run(a),
    };
    if let Err(e) = out {
        errors::exit_with(e);
    }
}
