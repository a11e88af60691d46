//! The seccomp filter every sample runs under: a classic-BPF program, compiled here (with
//! `seccompiler`, the Firecracker crate) and handed to each zygote at start-up as bytes. The
//! zygote installs it on itself (`prctl(PR_SET_SECCOMP)`) once its own set-up (mounts,
//! namespaces) is done and before the first sample; every child inherits it, and nothing can
//! remove it. (Installed per child instead, the kernel's compiling and freeing the program
//! would cost more than the fork.) no_new_privs, set in the zygote, lets an unprivileged
//! process install it.
//!
//! Denied with EPERM (so Python raises a plain `OSError`, and the sample's verdict is an
//! ordinary `failed: ...`), as container runtimes and Codex CLI deny them:
//! - debugging other processes and their memory: `ptrace`, `process_vm_readv/writev`;
//! - mounts: `mount`, `umount2`, `pivot_root` and the new mount API (`fsopen`, `fsconfig`,
//!   `fsmount`, `fspick`, `move_mount`, `open_tree`, `mount_setattr`);
//! - namespaces: `unshare`, `setns`, and `clone` with any `CLONE_NEW*` flag (a new user
//!   namespace is how an unprivileged process regains capabilities). `unshare` and `setns`
//!   with exactly `CLONE_NEWPID` stay allowed: the zygote makes each sample's PID namespace
//!   with them. A sample cannot use them: both need CAP_SYS_ADMIN, which a sample running as
//!   the worker's uid lacks (and new user namespaces are denied), and even a sample running
//!   as root (the uid drop left out) can only make a nested PID namespace or enter its own or
//!   a nested one, never leave its own;
//! - kernel attack surface a test never needs: `bpf`, `perf_event_open`, `userfaultfd`,
//!   `io_uring_*`, the keyring (`keyctl`, `add_key`, `request_key`), kernel modules
//!   (`init_module`, `finit_module`, `delete_module`), `kexec_load`, `kexec_file_load`,
//!   `reboot`, `syslog`, `personality`, `open_by_handle_at`;
//! - raw sockets: every `AF_PACKET` socket, and `SOCK_RAW` sockets of `AF_INET`/`AF_INET6`.
//!
//! `clone3` returns ENOSYS instead: its flags are in memory, which a filter cannot read, and
//! glibc (threads included) falls back to `clone` on ENOSYS, whose flags the filter checks.
//! On x86_64 the x32 system-call ABI (numbers with bit 30 set, which the rules below would
//! not match) returns ENOSYS too, and any other architecture (the i386 ABI through
//! `int 0x80`) kills the process: seccompiler's architecture check.
//!
//! Supported on x86_64 and aarch64 (where the zygotes run); elsewhere [`program`] is `None`
//! and the sandbox reports the layer missing.

use std::collections::BTreeMap;

/// The errno of a denied call.
const DENY_ERRNO: u32 = libc::EPERM as u32;

// classic-BPF opcodes and seccomp return values (linux/filter.h, linux/seccomp.h)
/// BPF_LD | BPF_W | BPF_ABS (0x00 | 0x00 | 0x20).
const BPF_LD_W_ABS: u16 = 0x20;
/// BPF_JMP | BPF_JEQ | BPF_K.
const BPF_JMP_JEQ_K: u16 = 0x05 | 0x10;
/// BPF_JMP | BPF_JGE | BPF_K (the filter uses it on x86_64 only, the tests everywhere).
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
const BPF_JMP_JGE_K: u16 = 0x05 | 0x30;
/// BPF_RET | BPF_K.
const BPF_RET_K: u16 = 0x06;
const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
/// Offset of the system-call number in `struct seccomp_data`.
const NR_OFFSET: u32 = 0;
/// x86_64's flag for x32-ABI system-call numbers (`__X32_SYSCALL_BIT`).
#[cfg(target_arch = "x86_64")]
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// Namespace flags of `clone` (`CLONE_NEWTIME` is left out: it shares its bit with the exit
/// signal in `clone`'s flags, and `clone` cannot create a time namespace).
const CLONE_NAMESPACE_FLAGS: [i32; 7] =
    [libc::CLONE_NEWNS, libc::CLONE_NEWCGROUP, libc::CLONE_NEWUTS, libc::CLONE_NEWIPC, libc::CLONE_NEWUSER, libc::CLONE_NEWPID, libc::CLONE_NEWNET];

/// System calls denied whatever their arguments.
fn denied() -> Vec<libc::c_long> {
    vec![
        libc::SYS_ptrace,
        libc::SYS_process_vm_readv,
        libc::SYS_process_vm_writev,
        libc::SYS_mount,
        libc::SYS_umount2,
        libc::SYS_pivot_root,
        libc::SYS_fsopen,
        libc::SYS_fsconfig,
        libc::SYS_fsmount,
        libc::SYS_fspick,
        libc::SYS_move_mount,
        libc::SYS_open_tree,
        libc::SYS_mount_setattr,
        libc::SYS_bpf,
        libc::SYS_perf_event_open,
        libc::SYS_userfaultfd,
        libc::SYS_io_uring_setup,
        libc::SYS_io_uring_enter,
        libc::SYS_io_uring_register,
        libc::SYS_keyctl,
        libc::SYS_add_key,
        libc::SYS_request_key,
        libc::SYS_init_module,
        libc::SYS_finit_module,
        libc::SYS_delete_module,
        libc::SYS_kexec_load,
        libc::SYS_kexec_file_load,
        libc::SYS_reboot,
        libc::SYS_syslog,
        libc::SYS_personality,
        libc::SYS_open_by_handle_at,
    ]
}

#[cfg(target_arch = "x86_64")]
const ARCH: Option<seccompiler::TargetArch> = Some(seccompiler::TargetArch::x86_64);
#[cfg(target_arch = "aarch64")]
const ARCH: Option<seccompiler::TargetArch> = Some(seccompiler::TargetArch::aarch64);
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const ARCH: Option<seccompiler::TargetArch> = None;

fn stmt(code: u16, k: u32) -> seccompiler::sock_filter {
    seccompiler::sock_filter { code, jt: 0, jf: 0, k }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> seccompiler::sock_filter {
    seccompiler::sock_filter { code, jt, jf, k }
}

/// The filter's instructions: a prefix of our own (`clone3`, and x32 on x86_64, → ENOSYS),
/// then seccompiler's program (architecture check, then the rules: EPERM on a match, allow
/// otherwise). The prefix only ever denies or falls through, so it runs before the
/// architecture check without opening anything.
fn instructions() -> Option<Vec<seccompiler::sock_filter>> {
    use seccompiler::{SeccompAction, SeccompCmpArgLen::Dword, SeccompCmpOp::*, SeccompCondition as Cond, SeccompFilter, SeccompRule};
    let arch = ARCH?;
    // (c_long is i64 where the filter is built, i32 on 32-bit targets, which must compile too)
    #[allow(clippy::useless_conversion)]
    let nr = |n: libc::c_long| i64::from(n);
    let rule = |conds: Vec<Cond>| SeccompRule::new(conds).ok();
    // (Dword: the kernel reads these arguments as 32-bit ints, so the upper half a caller
    // passes must not matter)
    let arg = |i: u8, op, v: i32| Cond::new(i, Dword, op, v as u32 as u64).ok();
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = denied().into_iter().map(|n| (nr(n), vec![])).collect();
    // the zygote's per-sample calls (see the module's doc): everything else is denied
    rules.insert(nr(libc::SYS_unshare), vec![rule(vec![arg(0, Ne, libc::CLONE_NEWPID)?])?]);
    rules.insert(nr(libc::SYS_setns), vec![rule(vec![arg(1, Ne, libc::CLONE_NEWPID)?])?]);
    let raw = libc::SOCK_RAW;
    rules.insert(
        nr(libc::SYS_socket),
        vec![
            rule(vec![arg(0, Eq, libc::AF_PACKET)?])?,
            rule(vec![arg(0, Eq, libc::AF_INET)?, arg(1, MaskedEq(0xf), raw)?])?,
            rule(vec![arg(0, Eq, libc::AF_INET6)?, arg(1, MaskedEq(0xf), raw)?])?,
        ],
    );
    let clone_rules: Option<Vec<SeccompRule>> = CLONE_NAMESPACE_FLAGS.iter().map(|&f| rule(vec![arg(0, MaskedEq(f as u32 as u64), f)?])).collect();
    rules.insert(nr(libc::SYS_clone), clone_rules?);
    let filter = SeccompFilter::new(rules, SeccompAction::Allow, SeccompAction::Errno(DENY_ERRNO), arch).ok()?;
    let body: seccompiler::BpfProgram = filter.try_into().ok()?;
    let enosys = SECCOMP_RET_ERRNO | libc::ENOSYS as u32;
    let mut prog = vec![stmt(BPF_LD_W_ABS, NR_OFFSET), jump(BPF_JMP_JEQ_K, libc::SYS_clone3 as u32, 0, 1), stmt(BPF_RET_K, enosys)];
    #[cfg(target_arch = "x86_64")]
    prog.extend([jump(BPF_JMP_JGE_K, X32_SYSCALL_BIT, 0, 1), stmt(BPF_RET_K, enosys)]);
    prog.extend(body);
    Some(prog)
}

/// The filter as the kernel reads it (`struct sock_filter` after `struct sock_filter`, in
/// this machine's byte order), or `None` where the architecture is not supported.
pub fn program() -> Option<Vec<u8>> {
    let mut out = vec![];
    for i in instructions()? {
        out.extend_from_slice(&i.code.to_ne_bytes());
        out.extend_from_slice(&[i.jt, i.jf]);
        out.extend_from_slice(&i.k.to_ne_bytes());
    }
    Some(out)
}

#[cfg(all(test, any(target_arch = "x86_64", target_arch = "aarch64")))]
mod tests {
    use super::*;

    #[cfg(target_arch = "x86_64")]
    const AUDIT_ARCH: u32 = 62 | 0x8000_0000 | 0x4000_0000;
    #[cfg(target_arch = "aarch64")]
    const AUDIT_ARCH: u32 = 183 | 0x8000_0000 | 0x4000_0000;
    const ALLOW: u32 = 0x7fff_0000;
    const EPERM: u32 = SECCOMP_RET_ERRNO | libc::EPERM as u32;
    const ENOSYS: u32 = SECCOMP_RET_ERRNO | libc::ENOSYS as u32;

    /// Runs the program on one system call as the kernel would (the instructions it uses:
    /// absolute loads, AND, conditional and unconditional jumps, returns).
    fn decide(prog: &[seccompiler::sock_filter], nr: i64, arch: u32, args: [u64; 6]) -> u32 {
        let mut data = vec![];
        data.extend_from_slice(&(nr as i32).to_ne_bytes());
        data.extend_from_slice(&arch.to_ne_bytes());
        data.extend_from_slice(&0u64.to_ne_bytes());
        for a in args {
            data.extend_from_slice(&a.to_ne_bytes());
        }
        let (mut acc, mut pc) = (0u32, 0usize);
        loop {
            let i = &prog[pc];
            pc += 1;
            match i.code {
                BPF_LD_W_ABS => acc = u32::from_ne_bytes(data[i.k as usize..i.k as usize + 4].try_into().expect("4 bytes")),
                0x54 => acc &= i.k, // ALU AND K
                0x05 => pc += i.k as usize, // JA
                BPF_JMP_JEQ_K | BPF_JMP_JGE_K | 0x25 => {
                    let t = match i.code {
                        BPF_JMP_JEQ_K => acc == i.k,
                        BPF_JMP_JGE_K => acc >= i.k,
                        _ => acc > i.k,
                    };
                    pc += usize::from(if t { i.jt } else { i.jf });
                }
                BPF_RET_K => return i.k,
                c => panic!("instruction {c:#x} not modelled"),
            }
        }
    }

    #[test]
    fn the_filter_denies_what_it_lists_and_allows_the_rest() {
        let prog = instructions().expect("supported architecture");
        assert!(prog.len() < 4096, "{} instructions", prog.len());
        assert_eq!(program().expect("bytes").len(), prog.len() * 8);
        let call = |nr: libc::c_long, args: [u64; 6]| decide(&prog, nr, AUDIT_ARCH, args);
        for n in denied() {
            assert_eq!(call(n, [0; 6]), EPERM, "system call {n}");
        }
        // the zygote's unshare and setns of exactly CLONE_NEWPID, nothing else
        let newpid = libc::CLONE_NEWPID as u64;
        assert_eq!(call(libc::SYS_unshare, [newpid, 0, 0, 0, 0, 0]), ALLOW);
        assert_eq!(call(libc::SYS_unshare, [newpid | libc::CLONE_NEWUSER as u64, 0, 0, 0, 0, 0]), EPERM);
        assert_eq!(call(libc::SYS_unshare, [libc::CLONE_NEWNS as u64, 0, 0, 0, 0, 0]), EPERM);
        assert_eq!(call(libc::SYS_setns, [3, newpid, 0, 0, 0, 0]), ALLOW);
        assert_eq!(call(libc::SYS_setns, [3, 0, 0, 0, 0, 0]), EPERM);
        assert_eq!(call(libc::SYS_setns, [3, libc::CLONE_NEWNET as u64, 0, 0, 0, 0]), EPERM);
        for n in [libc::SYS_read, libc::SYS_write, libc::SYS_openat, libc::SYS_mmap, libc::SYS_exit_group, libc::SYS_wait4, libc::SYS_prctl] {
            assert_eq!(call(n, [0; 6]), ALLOW, "system call {n}");
        }
        let sock = |domain: i32, ty: i32| call(libc::SYS_socket, [domain as u64, ty as u64, 0, 0, 0, 0]);
        assert_eq!(sock(libc::AF_PACKET, libc::SOCK_DGRAM), EPERM);
        assert_eq!(sock(libc::AF_INET, libc::SOCK_RAW), EPERM);
        assert_eq!(sock(libc::AF_INET6, libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK), EPERM);
        assert_eq!(call(libc::SYS_socket, [libc::AF_INET as u64 | 1 << 32, libc::SOCK_RAW as u64, 0, 0, 0, 0]), EPERM, "upper bits ignored");
        assert_eq!(sock(libc::AF_INET, libc::SOCK_STREAM), ALLOW);
        assert_eq!(sock(libc::AF_INET6, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC), ALLOW);
        assert_eq!(sock(libc::AF_UNIX, libc::SOCK_STREAM), ALLOW);
        // what glibc's fork passes is allowed; any namespace flag is not
        let fork_flags = (libc::CLONE_CHILD_SETTID | libc::CLONE_CHILD_CLEARTID | libc::SIGCHLD) as u64;
        assert_eq!(call(libc::SYS_clone, [fork_flags, 0, 0, 0, 0, 0]), ALLOW);
        for f in CLONE_NAMESPACE_FLAGS {
            assert_eq!(call(libc::SYS_clone, [fork_flags | f as u32 as u64, 0, 0, 0, 0, 0]), EPERM, "clone flag {f:#x}");
        }
        assert_eq!(call(libc::SYS_clone3, [0; 6]), ENOSYS);
        #[cfg(target_arch = "x86_64")]
        assert_eq!(decide(&prog, i64::from(X32_SYSCALL_BIT) + libc::SYS_getpid, AUDIT_ARCH, [0; 6]), ENOSYS, "x32 ABI");
        // another architecture's calls (i386 through int 0x80) kill the process
        assert_eq!(decide(&prog, 1, 0x4000_0003, [0; 6]), 0x8000_0000, "foreign architecture");
    }
}
