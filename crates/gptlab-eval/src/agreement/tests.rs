use super::*;

fn label(id: &str, group: Group, ranking: &[&[usize]]) -> Label {
    Label { labeler: id.into(), group, ranking: ranking.iter().map(|g| g.to_vec()).collect() }
}

fn close(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-9)
}

/// One item ranked by two training labelers (L2 ties 0 and 1), two held-out labelers (both
/// the reverse of L1) and gold; and one item only L1 ranked.
fn two_items() -> Vec<Item> {
    use Group::*;
    let a = vec![
        label("L1", Labeler, &[&[0], &[1], &[2]]),
        label("L2", Labeler, &[&[0, 1], &[2]]),
        label("H1", HeldOut, &[&[2], &[1], &[0]]),
        label("H2", HeldOut, &[&[2], &[1], &[0]]),
        label("G", Gold, &[&[0], &[1], &[2]]),
    ];
    vec![Item { id: "a".into(), k: 3, labels: a }, Item { id: "b".into(), k: 2, labels: vec![label("L1", Labeler, &[&[1], &[0]])] }]
}

#[test]
fn pairwise_agreement_separates_groups_and_counts_ties() {
    let r = agreement(&two_items(), 1).expect("report");
    assert_eq!((r.items, r.shared_items, r.labels), (2, 1, 6));
    let p = &r.pairwise_agreement;
    // L1 vs L2: (0,1) strict order against a tie, (0,2) and (1,2) alike
    assert!(close(p.strict.labelers.value, 2.0 / 3.0) && close(p.ties_half.labelers.value, 2.5 / 3.0));
    assert_eq!((p.strict.labelers.n, p.strict.labelers.items), (3, 1));
    assert!(close(p.strict.held_out.value, 1.0) && close(p.ties_half.held_out.value, 1.0));
    // all six non-gold pairs: L1–L2 2 (2.5), H1–H2 3 (3), L1–H 0 (0), L2–H 0 (½ each); gold left out
    assert!(close(p.strict.all.value, 5.0 / 18.0) && close(p.ties_half.all.value, 6.5 / 18.0), "{:?}", p.ties_half.all);
    assert_eq!(p.strict.all.n, 18);
    assert_eq!((p.paper.labelers, p.paper.held_out), (0.726, 0.773));
    let by: BTreeMap<&str, &LabelerAgreement> = r.per_labeler.iter().map(|l| (l.labeler.as_str(), l)).collect();
    let l1 = by["L1"];
    assert_eq!((l1.group, l1.items, l1.shared_items, l1.comparisons), (Group::Labeler, 2, 1, 9));
    assert!(close(l1.agreement, 2.5 / 9.0) && close(l1.gold_agreement, 1.0));
    assert!(close(by["L2"].agreement, 3.5 / 9.0) && close(by["L2"].gold_agreement, 2.5 / 3.0));
    assert!(close(by["H1"].agreement, 3.5 / 9.0) && close(by["H1"].gold_agreement, 0.0));
    assert!(close(by["G"].agreement, 5.5 / 12.0) && by["G"].gold_agreement.is_none() && by["G"].group == Group::Gold);
}

/// τ-b: scipy.stats.kendalltau; α: the `krippendorff` Python package (0.8, ordinal) on the
/// average ranks (units = outputs): labelers 0.77273, all −0.21421.
#[test]
fn tau_b_and_alpha_of_the_report() {
    let r = agreement(&two_items(), 1).expect("report");
    let (t, a) = (&r.kendall_tau_b, &r.krippendorff_alpha);
    assert!(close(t.labelers.value, 0.816496580927726) && close(t.held_out.value, 1.0));
    assert!(close(t.all.value, -0.302749430154621) && t.all.n == 6, "{:?}", t.all);
    assert!(close(a.labelers.value, 0.7727272727272727) && close(a.held_out.value, 1.0));
    assert!(close(a.all.value, -0.21421140241364967), "{:?}", a.all);
    assert_eq!((a.labelers.n, a.all.n), (6, 12), "pairable values");
    // a ranking that is one tie: τ-b undefined and counted, pairwise still measured
    let items = vec![Item { id: "t".into(), k: 2, labels: vec![label("L1", Group::Labeler, &[&[0], &[1]]), label("L2", Group::Labeler, &[&[0, 1]])] }];
    let r = agreement(&items, 1).expect("report");
    assert_eq!((r.kendall_tau_b.labelers.value, r.kendall_tau_b.labelers.n, r.kendall_tau_b.undefined.labelers), (None, 0, 1));
    assert!(close(r.pairwise_agreement.ties_half.labelers.value, 0.5) && close(r.pairwise_agreement.strict.labelers.value, 0.0));
    assert_eq!(r.pairwise_agreement.strict.held_out, Estimate { value: None, n: 0, items: 0, ci95: None });
}

/// Items of four outputs ranked by two training and two held-out labelers, each a noisy copy
/// (a swapped or tied neighbour pair) of the item's own order.
fn noisy_items(n: usize) -> Vec<Item> {
    let mut rng = Rng::new(5);
    (0..n)
        .map(|i| {
            let mut order: Vec<usize> = (0..4).collect();
            rng.shuffle(&mut order);
            let labels = [("L1", Group::Labeler), ("L2", Group::Labeler), ("H1", Group::HeldOut), ("H2", Group::HeldOut)]
                .iter()
                .map(|&(id, group)| {
                    let mut o = order.clone();
                    let j = rng.below(3) as usize;
                    let ranking = match rng.below(3) {
                        0 => o.iter().map(|&x| vec![x]).collect(),
                        1 => {
                            o.swap(j, j + 1);
                            o.iter().map(|&x| vec![x]).collect()
                        }
                        _ => (0..4).filter(|&x| x != j + 1).map(|x| if x == j { vec![o[j], o[j + 1]] } else { vec![o[x]] }).collect(),
                    };
                    Label { labeler: id.into(), group, ranking }
                })
                .collect();
            Item { id: format!("item{i}"), k: 4, labels }
        })
        .collect()
}

#[test]
fn bootstrap_intervals_resample_items_and_are_seeded() {
    let items = noisy_items(40);
    let r = agreement(&items, 7).expect("report");
    let all = |r: &AgreementReport| {
        let (p, t, a) = (&r.pairwise_agreement, &r.kendall_tau_b, &r.krippendorff_alpha);
        [&p.strict, &p.ties_half]
            .iter()
            .flat_map(|g| [g.labelers.clone(), g.held_out.clone(), g.all.clone()])
            .chain([t.labelers.clone(), t.held_out.clone(), t.all.clone(), a.labelers.clone(), a.held_out.clone(), a.all.clone()])
            .collect::<Vec<Estimate>>()
    };
    for e in all(&r) {
        let (v, [lo, hi]) = (e.value.expect("value"), e.ci95.expect("interval"));
        assert!(lo <= v && v <= hi && lo < hi, "{e:?}");
        assert_eq!(e.items, 40);
    }
    assert_eq!(agreement(&items, 7).expect("again"), r, "same seed, same intervals");
    let other = agreement(&items, 8).expect("other seed");
    assert_ne!(all(&other).iter().map(|e| e.ci95).collect::<Vec<_>>(), all(&r).iter().map(|e| e.ci95).collect::<Vec<_>>());
    assert_eq!(all(&other).iter().map(|e| e.value).collect::<Vec<_>>(), all(&r).iter().map(|e| e.value).collect::<Vec<_>>());
    // identical items: every resample of items is the same, however the pairs within disagree
    let same: Vec<Item> = (0..10).map(|i| Item { id: i.to_string(), ..two_items()[0].clone() }).collect();
    let r = agreement(&same, 7).expect("report");
    for e in all(&r) {
        let (v, [lo, hi]) = (e.value.expect("value"), e.ci95.expect("interval"));
        assert!((lo - v).abs() < 1e-9 && (hi - v).abs() < 1e-9, "{e:?}");
    }
}

#[test]
fn bad_items_are_errors() {
    let mut items = two_items();
    items[0].labels[1].ranking = vec![vec![0], vec![0, 2]];
    let e = agreement(&items, 1).expect_err("bad ranking").to_string();
    assert!(e.contains("item \"a\"") && e.contains("L2"), "{e}");
    let mut items = two_items();
    items[1].labels[0].group = Group::HeldOut;
    assert!(agreement(&items, 1).expect_err("two groups").to_string().contains("\"L1\""));
    let mut items = two_items();
    let again = items[1].labels[0].clone();
    items[1].labels.push(again);
    assert!(agreement(&items, 1).expect_err("twice").to_string().contains("twice"));
}

#[test]
fn items_from_a_comparisons_file() {
    let tmp = tempfile::tempdir().expect("tmp");
    let path = tmp.path().join("c.jsonl");
    let lines = [
        r#"{"prompt": "p1", "completions": ["a", "b", "c"], "ranking": [2, [0, 1]], "labeler": "L1"}"#,
        r#"{"prompt": "p1", "completions": ["c", "a", "b"], "ranking": [0, [1, 2]], "labeler": "H1"}"#,
        r#"{"prompt": "p1", "completions": ["a", "b", "c"], "ranking": [0, 1, 2], "labeler": "L2"}"#,
        r#"{"prompt": "p2", "chosen": "x", "rejected": "y", "labeler": "L1"}"#,
        r#"{"prompt": "p1", "completions": ["a", "b", "d"], "ranking": [0, 1, 2], "labeler": "L1"}"#,
    ];
    std::fs::write(&path, lines.join("\n")).expect("write");
    let items = items_from_comparisons(&path, |id| if id.starts_with('H') { Group::HeldOut } else { Group::Labeler }).expect("items");
    assert_eq!(items.len(), 3);
    let a = &items[0];
    assert_eq!((a.k, a.labels.len()), (3, 3));
    assert_eq!(a.labels[0], label("L1", Group::Labeler, &[&[2], &[0, 1]]));
    assert_eq!(a.labels[1], label("H1", Group::HeldOut, &[&[2], &[0, 1]]), "mapped onto the first record's order");
    assert_eq!((items[1].k, &items[1].labels[0].ranking), (2, &vec![vec![0], vec![1]]));
    assert!(items[2].id.starts_with(&a.id) && items[2].id.ends_with(" #2"), "{}", items[2].id);
    let r = agreement(&items, 1).expect("report");
    assert_eq!((r.items, r.shared_items, r.labels), (3, 1, 5));
    assert!(close(r.pairwise_agreement.strict.all.value, 1.0 / 3.0), "{:?}", r.pairwise_agreement.strict.all);

    std::fs::write(&path, [lines[0], r#"{"prompt": "p1", "completions": ["a", "b"], "ranking": [1, 0]}"#].join("\n")).expect("write");
    let e = items_from_comparisons(&path, |_| Group::Labeler).expect_err("no labeler").to_string();
    assert!(e.contains(&path.display().to_string()) && e.contains("comparison 2") && e.contains("labeler"), "{e}");
    std::fs::write(&path, [lines[0], lines[0]].join("\n")).expect("write");
    assert!(items_from_comparisons(&path, |_| Group::Labeler).expect_err("twice").to_string().contains("already ranked"));
}

#[test]
fn the_report_is_one_json_object() {
    let v = serde_json::to_value(agreement(&two_items(), 1).expect("report")).expect("json");
    assert_eq!(v["pairwise_agreement"]["paper"]["held_out"], 0.773);
    assert_eq!(v["krippendorff_alpha"]["metric"], "ordinal");
    assert_eq!(v["per_labeler"][0]["group"], "gold");
    assert!(v["kendall_tau_b"]["all"]["ci95"].is_array() && v["pairwise_agreement"]["strict"]["held_out"]["n"] == 3);
}
