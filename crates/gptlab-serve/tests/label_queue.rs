//! The labeling queue on the store: who gets which task, leases, concurrent labelers, and the
//! export read back by the training stages' readers.

use gptlab_serve::label::db::{self, NewTask};
use gptlab_serve::label::{export, LabelError, Submission, TaskKind};
use gptlab_serve::store::{Principal, Role, Store};
use std::collections::{HashMap, HashSet};

fn who(user: &str, role: Role) -> Principal {
    Principal { user: user.into(), org: String::new(), role, consent: true }
}

fn ranking_task(prompt: &str, author: &str, copies: usize) -> NewTask {
    let outputs: Vec<String> = (0..4).map(|i| format!("{prompt} answer {i}")).collect();
    NewTask { kind: TaskKind::Ranking, prompt: prompt.into(), author: author.into(), sources: outputs.iter().map(|_| vec!["m".to_string()]).collect(), outputs, copies }
}

fn ranked() -> Submission {
    Submission {
        scores: Some(vec![6, 4, 4, 1]),
        flags: Some(vec![vec![], vec!["hallucination".into()], vec![], vec!["harmful_advice".into()]]),
        ranking: Some(vec![vec![0], vec![1, 2], vec![3]]),
        ..Default::default()
    }
}

#[test]
fn labelers_get_their_own_tasks_never_twice_and_never_their_own_prompt() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = Store::open(&dir.path().join("g.db")).expect("store");
    db::insert_tasks(&s, &[ranking_task("p1", "alice", 1), ranking_task("p2", "", 3), ranking_task("p3", "", 1)]).expect("tasks");
    let (alice, bob, carol, dan, admin) = (who("alice", Role::Labeler), who("bob", Role::Labeler), who("carol", Role::HeldOut), who("dan", Role::Labeler), who("root", Role::Admin));
    let api = who("eve", Role::Api);
    assert!(matches!(db::next(&s, &api, 60.0), Err(LabelError::Forbidden(_))), "an API key cannot label");
    // the admin's gold labels: the overlap task first, without using up a copy
    let g = db::next(&s, &admin, 60.0).expect("next").expect("a task");
    assert_eq!(g.task, 2);
    db::submit(&s, &admin, g.assignment, &ranked(), 60.0).expect("gold");
    let a = db::next(&s, &alice, 60.0).expect("next").expect("a task");
    assert_eq!(a.task, 2, "alice wrote p1: she gets p2");
    assert_eq!(db::next(&s, &alice, 60.0).expect("next").expect("held").assignment, a.assignment, "one task held at a time");
    assert!(matches!(db::assignment(&s, &bob, a.assignment, 60.0), Err(LabelError::Forbidden(_))), "bob cannot read alice's task");
    assert!(matches!(db::submit(&s, &bob, a.assignment, &ranked(), 60.0), Err(LabelError::Forbidden(_))));
    db::submit(&s, &alice, a.assignment, &ranked(), 60.0).expect("submit");
    assert!(matches!(db::submit(&s, &alice, a.assignment, &ranked(), 60.0), Err(LabelError::Conflict(_))), "labeled once");
    let mut got: HashMap<&str, Vec<i64>> = HashMap::new();
    for p in [&bob, &carol, &dan, &alice] {
        while let Some(x) = db::next(&s, p, 60.0).expect("next") {
            db::submit(&s, p, x.assignment, &ranked(), 60.0).expect("submit");
            got.entry(p.user.as_str()).or_default().push(x.task);
        }
    }
    assert_eq!(got["bob"], [1, 2, 3], "bob: p1, the overlap task's second copy, p3");
    assert_eq!(got["carol"], [2], "carol: the overlap task's third copy");
    assert!(!got.contains_key("dan"), "nothing left for dan");
    assert!(!got.contains_key("alice"), "alice never gets p1");
    let st = db::status(&s).expect("status");
    assert_eq!((st.labels, st.open_copies, st.overlap_tasks), (6, 0, 1));
    let mine = db::my_tasks(&s, &carol, 60.0).expect("mine");
    assert!(mine.len() == 1 && mine[0].label.as_ref().and_then(|l| l.ranking.clone()) == ranked().ranking, "carol sees her own task and label");
}

#[test]
fn a_task_held_past_its_lease_goes_back_to_the_queue() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = Store::open(&dir.path().join("g.db")).expect("store");
    db::insert_tasks(&s, &[ranking_task("p1", "", 1)]).expect("tasks");
    let (a, b) = (who("a", Role::Labeler), who("b", Role::Labeler));
    let x = db::next(&s, &a, 0.2).expect("next").expect("task");
    assert!(db::next(&s, &b, 0.2).expect("next").is_none(), "held by a");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let y = db::next(&s, &b, 0.2).expect("next").expect("back in the queue");
    assert_eq!(y.task, x.task);
    assert!(matches!(db::submit(&s, &a, x.assignment, &ranked(), 0.2), Err(LabelError::Conflict(_))), "a's lease expired");
    db::submit(&s, &b, y.assignment, &ranked(), 0.2).expect("b submits in time");
    assert_eq!(db::labels(&s).expect("labels").len(), 1);
}

#[test]
fn eight_labelers_at_once_lose_nothing_and_share_only_overlap_tasks() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("g.db");
    let s = Store::open(&path).expect("store");
    let tasks: Vec<NewTask> = (0..60).map(|i| ranking_task(&format!("p{i}"), "", if i % 5 == 0 { 3 } else { 1 })).collect();
    let wanted: usize = tasks.iter().map(|t| t.copies).sum();
    db::insert_tasks(&s, &tasks).expect("tasks");
    drop(s);
    let threads: Vec<_> = (0..8)
        .map(|n| {
            let path = path.clone();
            std::thread::spawn(move || {
                // each labeler with its own connection, as separate server workers would be
                let s = Store::open(&path).expect("store");
                let p = who(&format!("l{n}"), Role::Labeler);
                let mut done = vec![];
                while let Some(x) = db::next(&s, &p, 60.0).expect("next") {
                    db::submit(&s, &p, x.assignment, &ranked(), 60.0).expect("submit");
                    done.push(x.task);
                }
                done
            })
        })
        .collect();
    let per: Vec<Vec<i64>> = threads.into_iter().map(|t| t.join().expect("thread")).collect();
    let s = Store::open(&path).expect("store");
    let labels = db::labels(&s).expect("labels");
    assert_eq!(labels.len(), wanted, "every copy labeled once");
    assert_eq!(per.iter().map(Vec::len).sum::<usize>(), wanted, "no submission lost");
    let mut count: HashMap<i64, usize> = HashMap::new();
    for l in &labels {
        *count.entry(l.task).or_default() += 1;
    }
    assert!(labels.iter().all(|l| count[&l.task] == l.copies), "no task beyond its copies");
    let pairs: HashSet<(i64, &str)> = labels.iter().map(|l| (l.task, l.labeler.as_str())).collect();
    assert_eq!(pairs.len(), labels.len(), "no labeler got a task twice");
    assert!(per.iter().filter(|v| !v.is_empty()).count() >= 2, "the work was shared");
}

#[test]
fn the_export_is_read_by_the_sft_and_rm_readers() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = Store::open(&dir.path().join("g.db")).expect("store");
    let demo = NewTask { kind: TaskKind::Demonstration, prompt: "What is the capital of <b>France</b>?".into(), author: "u1".into(), outputs: vec![], sources: vec![], copies: 1 };
    db::insert_tasks(&s, &[demo.clone(), ranking_task("p2", "u2", 1), ranking_task("p3", "u3", 1)]).expect("tasks");
    let g = db::set_guidelines(&s, "# Be helpful\n- honest\n", "root").expect("guidelines");
    let l = who("lab", Role::Labeler);
    let a = db::next(&s, &l, 60.0).expect("next").expect("demo");
    assert_eq!((a.kind, a.guidelines), (TaskKind::Demonstration, g));
    db::submit(&s, &l, a.assignment, &Submission { demonstration: Some("Paris.".into()), ..Default::default() }, 60.0).expect("demo");
    let b = db::next(&s, &l, 60.0).expect("next").expect("ranking");
    db::submit(&s, &l, b.assignment, &ranked(), 60.0).expect("rank");
    let c = db::next(&s, &l, 60.0).expect("next").expect("ranking");
    db::submit(&s, &l, c.assignment, &Submission { skip: Some("task unclear".into()), ..Default::default() }, 60.0).expect("skip");
    let e = export::export(&s).expect("export");
    assert_eq!((e.report.demonstrations, e.report.comparisons, e.report.pairs, e.report.skipped, e.report.prompts), (1, 1, 5, 1, 3));
    let out = dir.path().join("export");
    export::write(&e, &out).expect("write");
    let sft = gptlab_data::read_sft(&out.join("sft.jsonl")).expect("sft reads it");
    assert_eq!(sft[0].messages[1].content, "Paris.");
    let k = gptlab_data::read_comparisons_file(&out.join("comparisons.jsonl")).expect("rm reads it").comparisons;
    assert_eq!(k[0].ranking, vec![vec![0], vec![1, 2], vec![3]], "ties kept");
    assert_eq!(k[0].labeler.as_deref(), Some("lab"));
    let p = gptlab_data::read_comparisons_file(&out.join("pairs.jsonl")).expect("pairs").comparisons;
    assert_eq!(p.len(), 5, "1>2, 1>3, 1>4, 2>4, 3>4; the tie gives none");
    assert_eq!(gptlab_data::read_prompts(&out.join("prompts.jsonl")).expect("ppo reads it").len(), 3);
    let line = std::fs::read_to_string(out.join("comparisons.jsonl")).expect("read");
    assert!(line.contains(&format!("\"guidelines_version\":{g}")) && line.contains("\"labeler\":\"lab\""), "{line}");
}
