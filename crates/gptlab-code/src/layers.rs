//! The sandbox's layers: the names `GPTLAB_SANDBOX_WITHOUT` takes, and the isolation a pool
//! of zygotes reports having set up ([`Isolation`], recorded with every evaluation's results),
//! with the one warning's list of what is missing. What each layer does is in `sandbox.rs`'s
//! header; the zygote (`zygote.py`) detects them at start-up.

use serde::{Deserialize, Serialize};

/// The layers `GPTLAB_SANDBOX_WITHOUT` (and [`crate::sandbox::Pool::start_without`]) can leave out.
pub const LAYERS: [&str; 6] = ["uid", "landlock", "netns", "mountns", "pidns", "seccomp"];

/// The isolation actually in force (reported with results).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Isolation {
    pub network_namespace: bool,
    /// The scratch directory is a private, size-limited tmpfs in the zygote's own mount
    /// namespace.
    #[serde(default)]
    pub mount_namespace: bool,
    pub landlock_abi: u32,
    pub uid_drop: bool,
    /// Each sample is PID 1 of a PID namespace of its own (it ends with the sample).
    #[serde(default)]
    pub pid_namespace: bool,
    /// The zygote's /proc shows a sample only its own processes (`hidepid=invisible`).
    #[serde(default)]
    pub proc_hidden: bool,
    /// Samples run under the seccomp filter of `seccomp.rs`.
    #[serde(default)]
    pub seccomp: bool,
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
        if !self.mount_namespace {
            m.push("mount namespace (the scratch directory is on the host's disk, not a private size-limited tmpfs)");
        }
        if self.landlock_abi == 0 {
            m.push("Landlock (writes outside the scratch dir are not blocked)");
        } else if self.landlock_abi < 4 {
            m.push("Landlock network rules (ABI < 4)");
        }
        if !self.pid_namespace {
            m.push("PID namespace (a sample can signal processes of its uid, and the uid sweep ends what it leaves)");
        }
        if !self.proc_hidden {
            m.push("private /proc view (a sample can list other processes and read their command lines)");
        }
        if !self.seccomp {
            m.push("seccomp filter (ptrace, mount, unshare, bpf, raw sockets and the rest are not denied)");
        }
        if !self.uid_drop {
            m.push("unprivileged uid (not root, or the interpreter's stdlib is unreadable to other users: try --python /usr/bin/python3)");
        }
        m
    }
}
