//! Tests of the task generator (the canonical solutions are run against their asserts in the
//! real sandbox by the CLI test `crates/gptlab-cli/tests/data_tasks.rs`).

use super::families::{family, Case, Py, DEFAULT_HELD_OUT, FAMILIES};
use super::*;

fn opts(seed: u64, per: usize, test: usize) -> TasksOptions {
    TasksOptions { seed, per_family: per, test_per_family: test, ..TasksOptions::new("unused") }
}

fn is_ident(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_') && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[test]
fn every_family_generates_valid_varied_instances() {
    assert!(FAMILIES.len() >= 12);
    let kinds: HashSet<String> = FAMILIES.iter().map(|f| format!("{:?}", f.category)).collect();
    assert_eq!(kinds.len(), 4, "list, string, arithmetic and dict families");
    for fam in FAMILIES {
        let mut r = Rng::stream(1, fam.name);
        let (mut phrasings, mut prompts, mut names, mut docs) = (HashSet::new(), HashSet::new(), HashSet::new(), HashSet::new());
        for i in 0..200 {
            let s = (fam.make)(&mut r);
            assert!(s.phrasings >= 3, "{}: {} phrasings", fam.name, s.phrasings);
            assert!(s.cases.len() >= 4, "{}: {} cases", fam.name, s.cases.len());
            assert!(!s.examples.is_empty(), "{}", fam.name);
            assert!(is_ident(&s.func), "{}: {}", fam.name, s.func);
            assert!(s.params.iter().all(|(n, _)| is_ident(n)), "{}", fam.name);
            let pnames: HashSet<&String> = s.params.iter().map(|(n, _)| n).collect();
            assert_eq!(pnames.len(), s.params.len(), "{}: argument names repeat", fam.name);
            assert!(s.body.starts_with("    ") && s.body.ends_with('\n'), "{}: {:?}", fam.name, s.body);
            assert!(!s.doc.contains('{'), "{}: unfilled placeholder in {:?}", fam.name, s.doc);
            // an edge case is always among the asserts (clamp's are its two bounds)
            let edge = |p: &Py| matches!(p, Py::Int(0) | Py::Int(1)) || matches!(p, Py::List(v) if v.is_empty()) || matches!(p, Py::Str(v) if v.is_empty()) || matches!(p, Py::Dict(v) if v.is_empty());
            assert!(fam.name == "clamp" || s.cases.iter().any(|c| c.args.iter().any(edge)), "{}: no edge case in {:?}", fam.name, s.cases);
            let p = render(&s, &mut r, format!("Gen/{}/{i}", fam.name));
            assert!(p.prompt.contains(&format!("def {}(", s.func)) && p.prompt.ends_with("\"\"\"\n"), "{}", p.prompt);
            assert_eq!(p.test.matches("    assert candidate(").count(), s.cases.len());
            assert_eq!(p.entry_point, s.func);
            phrasings.insert(s.phrasing);
            names.insert(s.func.clone());
            docs.insert(s.doc.clone());
            prompts.insert(p.prompt);
        }
        let n = (fam.make)(&mut r).phrasings;
        assert_eq!(phrasings.len(), n, "{}: every phrasing is drawn", fam.name);
        assert!(names.len() >= 3, "{}: function names {names:?}", fam.name);
        assert!(docs.len() >= 3, "{}: docstrings {docs:?}", fam.name);
        assert!(prompts.len() >= 150, "{}: only {} distinct prompts of 200", fam.name, prompts.len());
    }
}

#[test]
fn python_values_print_as_repr() {
    assert_eq!(Py::ints(&[1, -2]).repr(), "[1, -2]");
    assert_eq!(Py::str("it's").repr(), "\"it's\"");
    assert_eq!(Py::str("a'b\"c\\\n").repr(), "'a\\'b\"c\\\\\\n'");
    assert_eq!(Py::Dict(vec![(Py::Int(2), Py::strs(&["x"])), (Py::Int(1), Py::List(vec![]))]).repr(), "{2: ['x'], 1: []}");
    assert_eq!(Py::Bool(true).repr(), "True");
    assert_eq!(Case::new(vec![Py::Int(1), Py::str("")], Py::Bool(false)).call("f"), "f(1, '')");
}

#[test]
fn splits_hold_out_families_and_are_disjoint_by_text() {
    let Splits { train, test_seen: seen, test_heldout: held, report: rep } = build(&opts(5, 20, 8)).expect("build");
    let fam_of = |p: &Problem| p.task_id.split('/').nth(1).unwrap_or("").to_string();
    let held_set: HashSet<&str> = DEFAULT_HELD_OUT.iter().copied().collect();
    assert!(DEFAULT_HELD_OUT.iter().all(|h| family(h).is_some()));
    assert_eq!(rep.held_out, DEFAULT_HELD_OUT);
    assert!(train.iter().all(|p| !held_set.contains(fam_of(p).as_str())), "a held-out family is in train");
    assert!(seen.iter().all(|p| !held_set.contains(fam_of(p).as_str())));
    assert!(held.iter().all(|p| held_set.contains(fam_of(p).as_str())));
    let n_train_fams = FAMILIES.len() - DEFAULT_HELD_OUT.len();
    assert_eq!((train.len(), seen.len(), held.len()), (20 * n_train_fams, 8 * n_train_fams, 8 * DEFAULT_HELD_OUT.len()));
    assert_eq!((rep.train, rep.test_seen, rep.test_heldout, rep.test_seen_prompts_in_train), (train.len(), seen.len(), held.len(), 0));
    let train_prompts: HashSet<&str> = train.iter().map(|p| p.prompt.as_str()).collect();
    assert_eq!(train_prompts.len(), train.len(), "train prompts are distinct");
    assert!(seen.iter().all(|p| !train_prompts.contains(p.prompt.as_str())), "test_seen shares a prompt with train");
    assert!(train.iter().all(|p| p.completion.as_deref() == Some(p.canonical_solution.as_str())));
    assert!(seen.iter().chain(&held).all(|p| p.completion.is_none()));
    let ids: HashSet<&str> = train.iter().chain(&seen).chain(&held).map(|p| p.task_id.as_str()).collect();
    assert_eq!(ids.len(), train.len() + seen.len() + held.len(), "task ids are unique across the files");
    assert!(seen.iter().any(|p| p.task_id == "Gen/sum_evens/20"));
    let fr = &rep.families["sum_evens"];
    assert_eq!((fr.train, fr.test_seen, fr.test_heldout, fr.held_out, fr.short), (20, 8, 0, false, 0));
    assert_eq!(rep.families["merge_sum"].test_heldout, 8);
    // --held-out overrides; unknown and all-families lists are errors
    let o = TasksOptions { held_out: Some(vec!["gcd".into(), " acronym".into()]), ..opts(5, 20, 8) };
    let Splits { train: train2, test_heldout: held2, report: rep2, .. } = build(&o).expect("build");
    assert_eq!(rep2.held_out, vec!["gcd", "acronym"]);
    assert!(held2.iter().all(|p| p.task_id.starts_with("Gen/gcd/") || p.task_id.starts_with("Gen/acronym/")));
    assert!(train2.iter().any(|p| p.task_id.starts_with("Gen/running_max/")));
    // a family's training instances do not depend on which others are held out
    let sums = |v: &[Problem]| v.iter().filter(|p| p.task_id.starts_with("Gen/sum_evens/")).cloned().collect::<Vec<_>>();
    assert_eq!(sums(&train), sums(&train2));
    let err = build(&TasksOptions { held_out: Some(vec!["nope".into()]), ..opts(5, 2, 2) }).expect_err("unknown");
    assert!(err.to_string().contains("nope") && err.to_string().contains("sum_evens"), "{err}");
    let all: Vec<String> = FAMILIES.iter().map(|f| f.name.to_string()).collect();
    assert!(build(&TasksOptions { held_out: Some(all), ..opts(5, 2, 2) }).is_err());
    assert!(build(&opts(5, 0, 2)).is_err());
}

#[test]
fn the_seed_decides_everything() {
    let a = build(&opts(11, 6, 3)).expect("a");
    let b = build(&opts(11, 6, 3)).expect("b");
    let c = build(&opts(12, 6, 3)).expect("c");
    assert_eq!((&a.train, &a.test_seen, &a.test_heldout), (&b.train, &b.test_seen, &b.test_heldout));
    assert_ne!(a.train, c.train);
    // and the files written are byte-identical
    let dir = tempfile::tempdir().expect("tmp");
    let o = |d: &str| TasksOptions { out: dir.path().join(d), ..opts(11, 6, 3) };
    let r = generate(&o("x")).expect("x");
    generate(&o("y")).expect("y");
    for f in ["train.jsonl", "test_seen.jsonl", "test_heldout.jsonl", "report.json"] {
        let x = std::fs::read(dir.path().join("x").join(f)).expect("read");
        assert_eq!(x, std::fs::read(dir.path().join("y").join(f)).expect("read"), "{f}");
    }
    let lines = std::fs::read_to_string(dir.path().join("x/train.jsonl")).expect("read");
    assert_eq!(lines.lines().count(), r.train);
    let first: serde_json::Value = serde_json::from_str(lines.lines().next().expect("a line")).expect("json");
    for k in ["task_id", "prompt", "entry_point", "canonical_solution", "test", "completion"] {
        assert!(first[k].is_string(), "{k} in {first}");
    }
}

#[test]
fn wrap_keeps_words_whole() {
    assert_eq!(wrap("aa bb cc", 5), vec!["aa bb", "cc"]);
    assert_eq!(wrap("", 5), Vec::<String>::new());
    assert_eq!(wrap("averyveryverylongword x", 5), vec!["averyveryverylongword", "x"]);
}
