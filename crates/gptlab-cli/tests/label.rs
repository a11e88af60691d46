//! Labeling end to end over HTTP: the synthetic world's labelers take and submit tasks on a
//! running `gptlab serve`, the export trains `gptlab rm` exactly as the same choices written
//! in `gptlab world label`'s format do; keys that may not do a thing get 403, cross-site
//! requests are refused; `kill -9` during submissions leaves no half-written label.

mod common;

use common::{checkpoint, checkpoint_on, key, ok, py, start};
use gptlab_core::rng::Rng;
use gptlab_eval::world::data::load_world;
use serde_json::{json, Value};
use std::path::Path;

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).build().into()
}

/// (status, JSON body) of a request with a key.
fn call(a: &ureq::Agent, method: &str, url: &str, key: &str, body: Option<&Value>, headers: &[(&str, &str)]) -> (u16, Value) {
    let auth = format!("Bearer {key}");
    let mut r = match (method, body) {
        ("GET", _) => {
            let mut q = a.get(url).header("Authorization", &auth);
            for (k, v) in headers {
                q = q.header(*k, *v);
            }
            q.call()
        }
        (m, b) => {
            let mut q = if m == "PUT" { a.put(url) } else { a.post(url) }.header("Authorization", &auth);
            for (k, v) in headers {
                q = q.header(*k, *v);
            }
            let text = b.map(Value::to_string).unwrap_or_default();
            if headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type")) {
                q.send(text.as_bytes())
            } else {
                q.header("Content-Type", "application/json").send(text.as_bytes())
            }
        }
    }
    .expect("http");
    let status = r.status().as_u16();
    (status, r.body_mut().read_json::<Value>().unwrap_or(Value::Null))
}

/// The rm stage's test accuracy on `comparisons` (a tiny run from `init`).
fn rm_accuracy(dir: &Path, init: &Path, comparisons: &Path, tag: &str) -> f64 {
    let out = dir.join(format!("rm_{tag}"));
    let set = |k: &str, v: String| format!("{k}={v}");
    let args = [
        set("rm.init_from", format!("{:?}", init.display().to_string())),
        set("rm.train", format!("{:?}", comparisons.display().to_string())),
        set("run.out_dir", format!("{:?}", out.display().to_string())),
        set("rm.val_fraction", "0.2".into()),
        set("rm.test_fraction", "0.3".into()),
        set("rm.epochs", "1".into()),
        set("train.batch_size", "4".into()),
        set("train.threads", "1".into()),
        set("train.eval_interval", "1000".into()),
    ];
    let mut a: Vec<&str> = vec!["rm", "--config", "configs/tiny/rm.toml", "--quiet"];
    for x in &args {
        a.extend(["--set", x]);
    }
    let r: Value = serde_json::from_str(ok(&a).lines().last().expect("report")).expect("json");
    r["rm_accuracy"].as_f64().unwrap_or_else(|| panic!("no rm_accuracy in {r}"))
}

#[test]
fn world_labelers_label_over_http_and_the_export_trains_the_reward_model() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let w = d.join("world");
    ok(&["world", "generate", "--seed", "3", "--out", w.to_str().expect("p"), "--corpus-sentences", "300", "--prompts", "300"]);
    let m = checkpoint_on(d, &std::fs::read_to_string(w.join("corpus.txt")).expect("corpus"));
    let prompts = d.join("prompts.jsonl");
    let all = std::fs::read_to_string(w.join("prompts_train.jsonl")).expect("prompts");
    let first: Vec<&str> = all.lines().take(60).collect();
    std::fs::write(&prompts, first.join("\n") + "\n").expect("w");
    let db = d.join("g.db");
    let dbs = db.to_str().expect("p");
    let r: Value = serde_json::from_str(&ok(&[
        "label",
        "tasks",
        "--db",
        dbs,
        "--prompts",
        prompts.to_str().expect("p"),
        "--model",
        m.to_str().expect("p"),
        "-k",
        "4",
        "--overlap",
        "0.3",
        "--max-new-tokens",
        "12",
        "--temperature",
        "1.2",
    ]))
    .expect("json");
    assert!(r["ranking_tasks"].as_u64().expect("n") >= 40 && r["overlap_tasks"].as_u64().expect("n") > 0, "{r}");
    let world = load_world(&w).expect("world");
    let keys: Vec<(usize, String)> = world.labelers.iter().enumerate().map(|(i, l)| (i, key(&db, &l.id, &["--role", if l.held_out { "held-out" } else { "labeler" }]))).collect();
    let s = start(&m, &db, &["--rate-limit", "0"]);
    // every labeler works at once, each its own client, ranking by what it perceives
    let url = s.1.clone();
    let choices: Vec<(i64, String, Value)> = std::thread::scope(|sc| {
        let hs: Vec<_> = keys
            .iter()
            .map(|(i, k)| {
                let (world, url) = (&world, &url);
                sc.spawn(move || {
                    let (a, lab) = (agent(), &world.labelers[*i]);
                    let mut rng = Rng::stream(*i as u64, "test/labeler");
                    let mut mine = vec![];
                    loop {
                        let (st, t) = call(&a, "POST", &format!("{url}/label/api/next"), k, Some(&json!({})), &[]);
                        assert_eq!(st, 200, "{t}");
                        if t.is_null() {
                            return mine;
                        }
                        let p = world.judge_data(t["prompt"].as_str().expect("prompt")).expect("a world prompt");
                        let body = if t["kind"] == "demonstration" {
                            json!({"demonstration": lab.demonstrate(world, &p, &mut rng)})
                        } else {
                            let outputs: Vec<String> = serde_json::from_value(t["outputs"].clone()).expect("outputs");
                            let order = lab.rank(&p, &outputs, &mut rng);
                            let mut scores = vec![0u8; outputs.len()];
                            for (pos, &o) in order.iter().enumerate() {
                                scores[o] = (7 - pos).max(1) as u8;
                            }
                            let rec = json!({"prompt": t["prompt"], "completions": outputs, "ranking": order, "labeler": lab.id});
                            mine.push((t["task"].as_i64().expect("task"), lab.id.clone(), rec));
                            json!({"scores": scores, "ranking": order.iter().map(|o| vec![*o]).collect::<Vec<_>>()})
                        };
                        let (st, done) = call(&a, "POST", &format!("{url}/label/api/tasks/{}", t["assignment"]), k, Some(&body), &[]);
                        assert_eq!((st, done["status"].as_str()), (200, Some("done")), "{done}");
                    }
                })
            })
            .collect();
        hs.into_iter().flat_map(|h| h.join().expect("labeler")).collect()
    });
    drop(s);
    let out = d.join("export");
    let rep: Value = serde_json::from_str(&ok(&["label", "export", "--db", dbs, "--out", out.to_str().expect("p")])).expect("json");
    assert_eq!(rep["comparisons"].as_u64(), Some(choices.len() as u64), "{rep}");
    // the same choices as `gptlab world label` writes them, in the export's order
    let mut sorted = choices.clone();
    sorted.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    let direct = d.join("direct.jsonl");
    std::fs::write(&direct, sorted.iter().map(|c| c.2.to_string() + "\n").collect::<String>()).expect("w");
    // agreement on the overlap tasks, from the store and from the exported file alike
    let from_db: Value = serde_json::from_str(&ok(&["label", "agreement", "--db", dbs])).expect("json");
    let held: Vec<&str> = world.labelers.iter().filter(|l| l.held_out).map(|l| l.id.as_str()).collect();
    let cmp = out.join("comparisons.jsonl");
    let from_file: Value = serde_json::from_str(&ok(&["label", "agreement", "--comparisons", cmp.to_str().expect("p"), "--held-out", &held.join(",")])).expect("json");
    eprintln!("agreement of the world's labelers over HTTP: {from_db}");
    let pa = &from_db["pairwise_agreement"];
    assert_eq!(pa, &from_file["pairwise_agreement"], "{from_db}\n{from_file}");
    let v = pa["ties_half"]["labelers"]["value"].as_f64().expect("training labelers share items");
    assert!((0.0..=1.0).contains(&v) && from_db["shared_items"].as_u64().expect("n") > 0, "{from_db}");
    let read = |p: &Path| gptlab_data::read_comparisons_file(p).expect("comparisons").comparisons;
    assert_eq!(read(&out.join("comparisons.jsonl")), read(&direct), "the export holds exactly the choices made");
    let (via_http, via_world) = (rm_accuracy(d, &m, &out.join("comparisons.jsonl"), "http"), rm_accuracy(d, &m, &direct, "world"));
    assert_eq!(via_http, via_world, "the export trains the RM as the world's own file does");
    // demonstrations train SFT unchanged
    let sft_out = d.join("sft");
    let sets = [
        format!("sft.init_from={:?}", m.display().to_string()),
        format!("sft.train={:?}", out.join("sft.jsonl").display().to_string()),
        format!("run.out_dir={:?}", sft_out.display().to_string()),
        "train.max_iters=3".into(),
        "train.threads=1".into(),
    ];
    let mut a: Vec<&str> = vec!["sft", "--config", "configs/tiny/sft.toml", "--quiet"];
    for x in &sets {
        a.extend(["--set", x]);
    }
    ok(&a);
    assert!(sft_out.join("best/model.safetensors").exists() || sft_out.join("last/model.safetensors").exists(), "an SFT checkpoint");
}

#[test]
fn keys_roles_and_cross_site_requests() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let m = checkpoint(d);
    let prompts = d.join("p.jsonl");
    std::fs::write(&prompts, "{\"prompt\": \"<script>alert(1)</script> What is <b>up</b>?\", \"user\": \"ann\"}\n{\"prompt\": \"Name a river.\", \"user\": \"bob\"}\n").expect("w");
    let db = d.join("g.db");
    let dbs = db.to_str().expect("p");
    ok(&["label", "tasks", "--db", dbs, "--prompts", prompts.to_str().expect("p"), "--model", m.to_str().expect("p"), "-k", "2", "--overlap", "0", "--temperature", "2"]);
    let (ann, bob, admin, api) = (key(&db, "ann", &["--role", "labeler"]), key(&db, "bob", &["--role", "labeler"]), key(&db, "root", &["--role", "admin"]), key(&db, "eve", &[]));
    let s = start(&m, &db, &["--rate-limit", "0"]);
    let (a, u) = (agent(), |p: &str| format!("{}/label/api/{p}", s.1));
    let (st, t) = call(&a, "POST", &u("next"), &bob, Some(&json!({})), &[]);
    assert_eq!(st, 200, "{t}");
    assert!(t["prompt"].as_str().expect("p").contains("<script>"), "the prompt comes back as the text it is: {t}");
    let id = t["assignment"].as_i64().expect("id");
    let (st, nt) = call(&a, "POST", &u("next"), &ann, Some(&json!({})), &[]);
    assert!(st == 200 && nt["prompt"] != t["prompt"] || nt.is_null(), "ann never gets her own prompt's tasks: {nt}");
    for (method, path, k, body) in [
        ("GET", format!("tasks/{id}"), &ann, None),
        ("POST", format!("tasks/{id}"), &ann, Some(json!({"skip": "task unclear"}))),
        ("PUT", "guidelines".to_string(), &bob, Some(json!({"markdown": "# mine"}))),
        ("GET", "export".to_string(), &bob, None),
        ("GET", "status".to_string(), &bob, None),
        ("POST", "next".to_string(), &api, Some(json!({}))),
    ] {
        let (st, e) = call(&a, method, &u(&path), k, body.as_ref(), &[]);
        assert_eq!(st, 403, "{method} {path}: {e}");
        assert_eq!(e["error"]["code"], "permission_denied", "{e}");
    }
    let (st, _) = call(&a, "GET", &u("me"), "gl-not-a-key", None, &[]);
    assert_eq!(st, 401);
    // cross-site: another origin, or a form's content type, is refused before anything changes
    let skip = json!({"skip": "task unclear"});
    for h in [[("Origin", "http://evil.example")], [("Sec-Fetch-Site", "cross-site")], [("Content-Type", "text/plain")]] {
        let (st, e) = call(&a, "POST", &u(&format!("tasks/{id}")), &bob, Some(&skip), &h);
        assert_eq!(st, 403, "{h:?}: {e}");
    }
    let same = s.1.trim_end_matches('/').to_string();
    let (st, e) = call(&a, "POST", &u(&format!("tasks/{id}")), &bob, Some(&json!({"ranking": [[0]]})), &[("Origin", &same), ("Content-Type", "application/json")]);
    let want = if t["kind"] == "demonstration" { "demonstration" } else { "scores" };
    assert_eq!((st, e["error"]["param"].as_str()), (400, Some(want)), "a bad field is named: {e}");
    let (st, done) = call(&a, "POST", &u(&format!("tasks/{id}")), &bob, Some(&skip), &[("Origin", &same), ("Content-Type", "application/json")]);
    assert_eq!((st, done["status"].as_str()), (200, Some("done")), "{done}");
    let (st, g) = call(&a, "PUT", &u("guidelines"), &admin, Some(&json!({"markdown": "# Guidelines\n- be honest"})), &[]);
    assert_eq!((st, g["version"].as_i64()), (200, Some(1)), "{g}");
    let (st, x) = call(&a, "GET", &u("export"), &admin, None, &[]);
    assert_eq!((st, x["report"]["skipped"].as_u64()), (200, Some(1)), "{x}");
    let (st, page) = (a.get(format!("{}/label", s.1)).call().expect("page").status().as_u16(), ());
    assert_eq!((st, page), (200, ()));
}

#[test]
fn kill_9_during_submissions_leaves_no_half_written_label() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let m = checkpoint(d);
    let prompts = d.join("p.jsonl");
    std::fs::write(&prompts, (0..1000).map(|i| format!("{{\"prompt\": \"Question {i}: name a river.\"}}\n")).collect::<String>()).expect("w");
    let db = d.join("g.db");
    let dbs = db.to_str().expect("p");
    ok(&["label", "tasks", "--db", dbs, "--prompts", prompts.to_str().expect("p"), "--model", m.to_str().expect("p"), "-k", "2", "--overlap", "0", "--max-new-tokens", "4"]);
    let keys: Vec<String> = (0..8).map(|i| key(&db, &format!("l{i}"), &["--role", "labeler"])).collect();
    let s = start(&m, &db, &["--rate-limit", "0"]);
    let load = r#"
import json, sys, threading, urllib.request
url, keys = sys.argv[1], sys.argv[2:]
def call(k, path, body):
    req = urllib.request.Request(url + "/label/api/" + path, data=json.dumps(body).encode(), headers={"Authorization": "Bearer " + k, "Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(req, timeout=10).read())
def go(k):
    try:
        while True:
            t = call(k, "next", {})
            if t is None:
                return
            n = len(t["outputs"])
            body = {"demonstration": "The Nile. " * 50} if t["kind"] == "demonstration" else {"scores": [4] * n, "ranking": [list(range(n))]}
            call(k, "tasks/%d" % t["assignment"], body)
    except Exception:
        pass
ts = [threading.Thread(target=go, args=(k,)) for k in keys]
[t.start() for t in ts]; [t.join() for t in ts]
"#;
    let mut args = vec!["-c", load, &s.1];
    args.extend(keys.iter().map(String::as_str));
    let mut client = std::process::Command::new(common::python()).args(&args).spawn().expect("load");
    // kill -9 once some labels are in (`label status` reads the store while the server writes)
    let t0 = std::time::Instant::now();
    while t0.elapsed().as_secs() < 60 {
        let st: Value = serde_json::from_str(&ok(&["label", "status", "--db", dbs])).expect("status");
        if st["labels"].as_u64().unwrap_or(0) >= 40 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(std::process::Command::new("kill").args(["-9", &s.0.id().to_string()]).status().expect("kill").success());
    let _ = client.wait();
    drop(s);
    let check = r#"
import json, sqlite3, sys
c = sqlite3.connect(sys.argv[1])
assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
labels = c.execute("SELECT l.assignment, a.status, l.demonstration, l.scores, l.ranking FROM labels l JOIN assignments a ON a.id = l.assignment").fetchall()
done = c.execute("SELECT COUNT(*) FROM assignments WHERE status = 'done'").fetchone()[0]
assert labels, "labels were committed before the kill"
assert done == len(labels), (done, len(labels))
assert all(r[1] == "done" for r in labels)
assert all(r[2] == "The Nile. " * 50 or (json.loads(r[3]) and json.loads(r[4])) for r in labels)
total = c.execute("SELECT COUNT(*) FROM tasks").fetchone()[0]
print(len(labels), "of", total)
assert len(labels) < total, "the kill came mid-way"
"#;
    let o = py(&["-c", check, dbs]);
    assert!(o.status.success(), "{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    // the server starts again on that store and the labelers go on
    let s = start(&m, &db, &["--rate-limit", "0"]);
    let (st, t) = call(&agent(), "POST", &format!("{}/label/api/next", s.1), &keys[0], Some(&json!({})), &[]);
    assert_eq!(st, 200, "{t}");
}
