//! Rust problems (HumanEval-Rust): the program `prompt + completion + "\n" + test` is compiled
//! with `rustc --test` (outside the sandbox, as the invoking user, with a time limit; compiling
//! is not running: no build scripts or proc-macro crates are involved, but `include_str!` can
//! read files that user can read — not covered), then the test binary runs in the sandbox like
//! any sample, and its exit status is the verdict. A compile error is `failed: compile error:
//! <first error line>`. Another compiled language is another file like this one.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Compiles `source` into a test binary in `dir`. `Err` holds the verdict text.
pub fn compile(rustc: &str, source: &str, dir: &Path, edition: &str, limit: Duration) -> std::result::Result<PathBuf, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("failed: compile error: {e}"))?;
    let src = dir.join("main.rs");
    let bin = dir.join("main");
    std::fs::write(&src, source).map_err(|e| format!("failed: compile error: {e}"))?;
    let mut child = Command::new(rustc)
        .args(["--test", "--edition", edition, "-C", "opt-level=0", "-C", "debuginfo=0", "--cap-lints", "allow", "-o"])
        .arg(&bin)
        .arg(&src)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("failed: cannot run `{rustc}` ({e}); is rustc installed?"))?;
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                let mut err = String::new();
                if let Some(mut s) = child.stderr.take() {
                    use std::io::Read;
                    let _ = s.read_to_string(&mut err);
                }
                if status.success() {
                    use std::os::unix::fs::PermissionsExt;
                    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755));
                    return Ok(bin);
                }
                let first = err.lines().find(|l| l.starts_with("error")).unwrap_or("rustc failed").to_string();
                return Err(format!("failed: compile error: {first}"));
            }
            Ok(None) if start.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                return Err("failed: compile error: rustc timed out".into());
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(format!("failed: compile error: {e}")),
        }
    }
}

/// The command that runs a compiled test binary.
pub fn test_argv(bin: &Path) -> Vec<String> {
    vec![bin.display().to_string(), "--test-threads=1".into(), "-q".into()]
}
