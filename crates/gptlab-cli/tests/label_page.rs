//! The labeling page of `gptlab serve` in headless Chromium (tests/py/label_page.py): tasks
//! from a tiny checkpoint, a labeler's demonstration and a 4-way ranking with a tie made by
//! drag and drop and the keyboard, an admin's export; then `gptlab label export` holds exactly
//! what the browser entered. `GPTLAB_SHOTS=DIR` keeps the screenshots (docs/label_*.png).

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gptlab"));
    c.current_dir(root());
    c
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs `gptlab` with the space-separated `args` (the temporary paths have no spaces).
fn ok(args: &str) -> String {
    let o = bin().args(args.split(' ')).output().expect("spawn gptlab");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "gptlab {args} failed:\n{err}");
    String::from_utf8(o.stdout).expect("utf8")
}

fn ok_json(args: &str) -> Value {
    serde_json::from_str(&ok(args)).expect("json")
}

fn python() -> PathBuf {
    let venv = root().join(".venv/bin/python");
    if venv.exists() {
        venv
    } else {
        PathBuf::from("python3")
    }
}

/// A tiny chat-format checkpoint (as tests/serve.rs makes it, trained longer so that its
/// outputs read like the corpus in the screenshots).
fn checkpoint(dir: &Path) -> PathBuf {
    let corpus = dir.join("corpus.txt");
    let text =
        "The capital of Vanitel is Oxdor. The river runs past the old mill. I hope this helps.\n";
    std::fs::write(&corpus, text.repeat(60)).expect("corpus");
    let out = dir.join("m");
    let mut args = "pretrain --config configs/tiny/pretrain.toml --quiet".to_string();
    for (k, v) in [
        ("data.corpus", format!("{:?}", corpus.display().to_string())),
        ("run.out_dir", format!("{:?}", out.display().to_string())),
        ("data.vocab_size", "300".into()),
        ("model.n_layer", "2".into()),
        ("model.n_embd", "32".into()),
        ("model.n_head", "2".into()),
        ("model.block_size", "128".into()),
        ("train.max_iters", "300".into()),
        ("train.eval_interval", "300".into()),
        ("train.eval_iters", "1".into()),
        ("train.threads", "1".into()),
    ] {
        args += &format!(" --set {k}={v}");
    }
    ok(&args);
    out.join("best")
}

/// A running server; killed when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn key(db: &str, user: &str, role: &str) -> String {
    let out = ok(&format!("keys add --db {db} --user {user} --role {role}"));
    out.trim().lines().last().expect("key line").to_string()
}

fn jsonl(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).expect("read");
    text.lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect()
}

#[test]
fn labeling_page_in_headless_chromium() {
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "this test needs Debian's chromium (./dev.sh test installs it: apt-get install chromium)"
    );
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let m = checkpoint(d).display().to_string();
    let db = d.join("g.db").display().to_string();
    let evil = "What does <script>alert(1)</script><b>bold</b> do?";
    let prompts = d.join("prompts.jsonl");
    let rows = [
        json!({"prompt": evil, "user": "erin"}),
        json!({"prompt": "Where does the river run?"}),
    ];
    std::fs::write(&prompts, format!("{}\n{}\n", rows[0], rows[1])).expect("prompts");
    // the labeler's ranking task (task 2: the first prompt's) must have 4 distinct outputs;
    // the tiny model gives them at temperature 1 (asserted on the export below)
    let p = prompts.display();
    let r = ok_json(&format!(
        "label tasks --db {db} --prompts {p} --model {m} -k 4 --overlap 0 --temperature 1.0"
    ));
    assert_eq!(
        (&r["demonstration_tasks"], &r["ranking_tasks"]),
        (&json!(2), &json!(2)),
        "{r}"
    );
    let guide = d.join("guidelines.md");
    std::fs::write(
        &guide,
        "# Guidelines\n\nRank by **helpfulness**, then truthfulness.\n\n- Ties are fine.\n",
    )
    .expect("md");
    let g = ok_json(&format!(
        "label guidelines --db {db} --file {}",
        guide.display()
    ));
    let (labeler, admin) = (key(&db, "lena", "labeler"), key(&db, "root", "admin"));

    let serve = format!("serve --model m={m} --db {db} --addr 127.0.0.1:0 --rate-limit 0");
    let mut child = bin()
        .args(serve.split(' '))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("serve");
    let mut url = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut url)
        .expect("url line");
    let server = Server(child);
    assert!(url.starts_with("http://"), "serve printed {url:?}");
    let shots = std::env::var_os("GPTLAB_SHOTS").map_or_else(|| d.to_path_buf(), PathBuf::from);
    std::fs::create_dir_all(&shots).expect("shot dir");
    let script = root().join("crates/gptlab-cli/tests/py/label_page.py");
    let o = Command::new(python())
        .args([
            script.as_os_str(),
            url.trim().as_ref(),
            labeler.as_ref(),
            admin.as_ref(),
            shots.as_os_str(),
        ])
        .output()
        .expect("python");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    drop(server);
    for f in ["label_ranking.png", "label_admin.png"] {
        let size = std::fs::metadata(shots.join(f)).map_or(0, |m| m.len());
        assert!(size > 1000, "screenshot {f}: {size} bytes");
    }

    // the export holds what the browser entered, stamped with its labeler and guidelines
    let entered: Value =
        serde_json::from_str(out.trim().lines().last().expect("line")).expect("json");
    let x = d.join("export");
    ok(&format!("label export --db {db} --out {}", x.display()));
    let sft = jsonl(&x.join("sft.jsonl"));
    assert_eq!(sft.len(), 1, "{sft:?}");
    let msgs = &sft[0]["messages"];
    assert_eq!(
        (&msgs[0]["content"], &msgs[1]["content"]),
        (&json!(evil), &entered["demonstration"])
    );
    let c = jsonl(&x.join("comparisons.jsonl"));
    assert_eq!(c.len(), 1, "{c:?}");
    let c = &c[0];
    assert_eq!(c["prompt"], evil);
    let outs = c["completions"].as_array().expect("completions");
    assert!(
        outs.len() == 4 && (1..4).all(|i| !outs[..i].contains(&outs[i])),
        "4 distinct outputs: {outs:?}"
    );
    assert_eq!(c["ranking"], json!([2, [0, 3], 1]));
    assert_eq!(c["scores"], entered["scores"]);
    assert_eq!(c["flags"], json!([[], ["hallucination"], [], []]));
    let stamp = (&c["labeler"], &c["role"], &c["guidelines_version"]);
    assert_eq!(stamp, (&json!("lena"), &json!("labeler"), &g["version"]));
    // tied outputs give no pair: 1 + 2 + 2 strictly ordered pairs
    assert_eq!(jsonl(&x.join("pairs.jsonl")).len(), 5);
}
