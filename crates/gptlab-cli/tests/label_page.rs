//! The labeling page of `gptlab serve` in headless Chromium (tests/py/label_page.py): tasks
//! from a tiny checkpoint, a labeler's demonstration and a 4-way ranking with a tie made by
//! drag and drop and the keyboard, an admin's export; then `gptlab label export` holds exactly
//! what the browser entered. `GPTLAB_SHOTS=DIR` keeps the screenshots (docs/label_*.png).

mod common;

use common::{checkpoint_steps, key, ok, python, root, start};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

/// `gptlab` with the space-separated `args` (the temporary paths have no spaces), as JSON.
fn ok_json(args: &str) -> Value {
    serde_json::from_str(&ok(&args.split(' ').collect::<Vec<_>>())).expect("json")
}

fn jsonl(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).expect("read");
    text.lines().map(|l| serde_json::from_str(l).expect("json")).collect()
}

#[test]
fn labeling_page_in_headless_chromium() {
    assert!(Path::new("/usr/bin/chromium").exists(), "this test needs Debian's chromium (./dev.sh test installs it: apt-get install chromium)");
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    // trained longer than other tests' checkpoints, so that its outputs read like the corpus
    // in the screenshots
    let m = checkpoint_steps(d, &"The capital of Vanitel is Oxdor. The river runs past the old mill. I hope this helps.\n".repeat(60), 300);
    let m = m.display().to_string();
    let db = d.join("g.db").display().to_string();
    let evil = "What does <script>alert(1)</script><b>bold</b> do?";
    let prompts = d.join("prompts.jsonl");
    let rows = [json!({"prompt": evil, "user": "erin"}), json!({"prompt": "Where does the river run?"})];
    std::fs::write(&prompts, format!("{}\n{}\n", rows[0], rows[1])).expect("prompts");
    // the labeler's ranking task (task 2: the first prompt's) must have 4 distinct outputs;
    // the tiny model gives them at temperature 1 (asserted on the export below)
    let p = prompts.display();
    let r = ok_json(&format!("label tasks --db {db} --prompts {p} --model {m} -k 4 --overlap 0 --temperature 1.0"));
    assert_eq!((&r["demonstration_tasks"], &r["ranking_tasks"]), (&json!(2), &json!(2)), "{r}");
    let guide = d.join("guidelines.md");
    std::fs::write(&guide, "# Guidelines\n\nRank by **helpfulness**, then truthfulness.\n\n- Ties are fine.\n").expect("md");
    let g = ok_json(&format!("label guidelines --db {db} --file {}", guide.display()));
    let dbp = Path::new(&db);
    let (labeler, admin) = (key(dbp, "lena", &["--role", "labeler"]), key(dbp, "root", &["--role", "admin"]));

    let server = start(Path::new(&m), dbp, &["--rate-limit", "0"]);
    let url = server.1.clone();
    let shots = std::env::var_os("GPTLAB_SHOTS").map_or_else(|| d.to_path_buf(), PathBuf::from);
    std::fs::create_dir_all(&shots).expect("shot dir");
    let script = root().join("crates/gptlab-cli/tests/py/label_page.py");
    let o = Command::new(python()).args([script.as_os_str(), url.trim().as_ref(), labeler.as_ref(), admin.as_ref(), shots.as_os_str()]).output().expect("python");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out}\n{}", String::from_utf8_lossy(&o.stderr));
    drop(server);
    for f in ["label_ranking.png", "label_admin.png"] {
        let size = std::fs::metadata(shots.join(f)).map_or(0, |m| m.len());
        assert!(size > 1000, "screenshot {f}: {size} bytes");
    }

    // the export holds what the browser entered, stamped with its labeler and guidelines
    let entered: Value = serde_json::from_str(out.trim().lines().last().expect("line")).expect("json");
    let x = d.join("export");
    ok_json(&format!("label export --db {db} --out {}", x.display()));
    let sft = jsonl(&x.join("sft.jsonl"));
    assert_eq!(sft.len(), 1, "{sft:?}");
    let msgs = &sft[0]["messages"];
    assert_eq!((&msgs[0]["content"], &msgs[1]["content"]), (&json!(evil), &entered["demonstration"]));
    let c = jsonl(&x.join("comparisons.jsonl"));
    assert_eq!(c.len(), 1, "{c:?}");
    let c = &c[0];
    assert_eq!(c["prompt"], evil);
    let outs = c["completions"].as_array().expect("completions");
    assert!(outs.len() == 4 && (1..4).all(|i| !outs[..i].contains(&outs[i])), "4 distinct outputs: {outs:?}");
    assert_eq!(c["ranking"], json!([2, [0, 3], 1]));
    assert_eq!(c["scores"], entered["scores"]);
    assert_eq!(c["flags"], json!([[], ["hallucination"], [], []]));
    let stamp = (&c["labeler"], &c["role"], &c["guidelines_version"]);
    assert_eq!(stamp, (&json!("lena"), &json!("labeler"), &g["version"]));
    // tied outputs give no pair: 1 + 2 + 2 strictly ordered pairs
    assert_eq!(jsonl(&x.join("pairs.jsonl")).len(), 5);
}
