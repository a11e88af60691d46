use super::stats::{auroc, auroc_bootstrap, roc_curve, tpr_at_fpr};
use super::*;

fn close(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-9)
}

fn rec(score: f64, tokens: usize) -> Record {
    Record { score, tokens, ..Default::default() }
}

fn recs(scores: &[f64]) -> Vec<Record> {
    scores.iter().map(|&s| rec(s, 120)).collect()
}

fn range(n: usize, step: f64) -> Vec<f64> {
    (0..n).map(|i| i as f64 * step).collect()
}

#[test]
fn auroc_counts_ties_half() {
    // human [0,1,2], model [1,2,3]: the 9 (model, human) pairs score
    //   model 1: > 0 (1), = 1 (½), < 2 (0)  -> 1.5
    //   model 2: > 0, > 1 (2), = 2 (½)      -> 2.5
    //   model 3: > all three                -> 3
    // (1.5 + 2.5 + 3) / 9 = 7/9 (ties counted 0 would give 6/9, counted 1 8/9)
    assert!(close(auroc(&[0.0, 1.0, 2.0], &[1.0, 2.0, 3.0]), 7.0 / 9.0));
    assert!(close(auroc(&[0.0, 1.0], &[2.0, 3.0]), 1.0));
    assert!(close(auroc(&[2.0, 3.0], &[0.0, 1.0]), 0.0));
    assert!(close(auroc(&[1.0, 1.0], &[1.0]), 0.5));
    // human [0,0,1], model [0,1]: model 0: ½+½+0 = 1; model 1: 1+1+½ = 2.5; 3.5/6
    assert!(close(auroc(&[0.0, 0.0, 1.0], &[0.0, 1.0]), 3.5 / 6.0));
    assert_eq!(auroc(&[], &[1.0]), None);
}

#[test]
fn roc_curve_vertices_with_a_tie() {
    // descending: 3 (model) -> (0, 1/3); 2 (h+m) -> (1/3, 2/3); 1 (h+m) -> (2/3, 1); 0 (h) -> (1, 1)
    let c = roc_curve(&[0.0, 1.0, 2.0], &[1.0, 2.0, 3.0]);
    let want = [(0.0, 0.0), (0.0, 1.0 / 3.0), (1.0 / 3.0, 2.0 / 3.0), (2.0 / 3.0, 1.0), (1.0, 1.0)];
    assert_eq!(c.len(), want.len());
    for (p, w) in c.iter().zip(want) {
        assert!((p.0 - w.0).abs() < 1e-12 && (p.1 - w.1).abs() < 1e-12, "{c:?}");
    }
}

#[test]
fn tpr_at_exact_fpr_takes_the_best_vertex() {
    // human 0..99; model [200, 99, 98.5, 0.5]. Descending: 200 (m) -> (0, .25); 99 (h+m) ->
    // (.01, .5); 98.5 (m) -> (.01, .75); 98 (h) -> (.02, .75). At FPR 1% two vertices: the
    // best is .75, not interpolated.
    let human = range(100, 1.0);
    let c = roc_curve(&human, &[200.0, 99.0, 98.5, 0.5]);
    let p = tpr_at_fpr(&c, human.len(), 0.01);
    assert!(close(p.tpr, 0.75) && !p.interpolated && p.resolved, "{p:?}");
    // 100 humans cannot resolve 0.1%
    let p = tpr_at_fpr(&c, human.len(), 0.001);
    assert!(!p.resolved && p.tpr.is_none());
}

#[test]
fn tpr_at_fpr_interpolates_between_vertices() {
    // human 0..149 (150 texts, FPR steps of 1/150); model [200, 149.5, 148, 0.5].
    // Descending: 200 -> (0, .25); 149.5 -> (0, .5); 149 (h) -> (1/150, .5);
    // 148 (h+m) -> (2/150, .75). FPR .01 = 1.5/150 lies halfway: TPR .5 + .5·.25 = .625.
    let human = range(150, 1.0);
    let c = roc_curve(&human, &[200.0, 149.5, 148.0, 0.5]);
    let p = tpr_at_fpr(&c, human.len(), 0.01);
    assert!(close(p.tpr, 0.625) && p.interpolated && p.resolved, "{p:?}");
}

#[test]
fn thresholds_fit_on_calibration_and_fpr_is_measured_on_another_split() {
    let cal = Calibration::fit(&range(100, 1.0), &[]).expect("fit");
    // 1% of 100 allows 1 false positive: threshold 99 (only 99 ≥ it), calibration FPR 1%
    let t = cal.threshold_for_fpr(0.01);
    assert!(t.resolved && close(t.threshold, 99.0) && close(t.calibration_fpr, 0.01), "{t:?}");
    let t2 = cal.threshold_for_fpr(0.02);
    assert!(close(t2.threshold, 98.0) && close(t2.calibration_fpr, 0.02), "{t2:?}");
    // FPR of a threshold counts scores ≥ it
    assert!((cal.fpr_at_score(99.0) - 0.01).abs() < 1e-12);
    assert!((cal.fpr_at_score(98.5) - 0.01).abs() < 1e-12);
    assert!((cal.fpr_at_score(98.0) - 0.02).abs() < 1e-12);
    assert_eq!(cal.fpr_at_score(-1.0), 1.0);
    assert_eq!(cal.fpr_at_score(100.0), 0.0);
    assert_eq!(cal.p_model(1.0), None);
    // a tie across the cut: the threshold goes above it, not into it
    let mut tied = range(99, 1.0);
    tied.push(98.0);
    let t = Calibration::fit(&tied, &[]).expect("fit").threshold_for_fpr(0.01);
    assert!(t.resolved && t.threshold.is_some_and(|x| x > 98.0) && close(t.calibration_fpr, 0.0), "{t:?}");

    // the test humans (0, .55, …, 109.45) score higher: 20 of 200 are ≥ 99, FPR 10% ≠ 1%
    let human_test = recs(&range(200, 0.55));
    let model_test = recs(&[100.0, 99.0, 98.0, 50.0]);
    let r = evaluate(&recs(&range(100, 1.0)), &human_test, &model_test, &EvalOptions { resamples: 50, ..Default::default() }).expect("evaluate");
    assert!(close(r.thresholds[0].threshold, 99.0));
    assert!(close(r.overall.measured_fpr, 0.1), "{:?}", r.overall.measured_fpr);
    assert!(close(r.overall.tpr_at_1pct_fpr.tpr, 0.5));
    assert!(!r.overall.tpr_at_0_1pct_fpr.threshold_resolved && r.overall.tpr_at_0_1pct_fpr.tpr.is_none());
}

#[test]
fn point_one_percent_needs_a_thousand_humans() {
    let c = Calibration::fit(&range(999, 1.0), &[]).expect("fit");
    let t = c.threshold_for_fpr(0.001);
    assert!(!t.resolved && t.threshold.is_none() && t.calibration_fpr.is_none());
    let c = Calibration::fit(&range(1000, 1.0), &[]).expect("fit");
    let t = c.threshold_for_fpr(0.001);
    assert!(t.resolved && close(t.threshold, 999.0) && close(t.calibration_fpr, 0.001), "{t:?}");
    // and a test split of 500 humans leaves the ROC value at 0.1% unresolved
    let r = evaluate(&recs(&range(1000, 1.0)), &recs(&range(500, 2.0)), &recs(&[1500.0, 990.0, 10.0]), &EvalOptions { resamples: 20, ..Default::default() }).expect("evaluate");
    assert!(r.overall.tpr_at_0_1pct_fpr.threshold_resolved && !r.overall.tpr_at_0_1pct_fpr.roc.resolved && r.overall.tpr_at_0_1pct_fpr.roc.tpr.is_none());
    assert!(r.overall.tpr_at_1pct_fpr.roc.resolved);
}

fn noisy(rng: &mut Rng, n: usize, shift: f64) -> Vec<f64> {
    // a sum of uniforms: roughly normal, deterministic
    (0..n).map(|_| (0..6).map(|_| rng.uniform()).sum::<f64>() - 3.0 + shift).collect()
}

#[test]
fn bootstrap_interval_contains_the_estimate_and_is_seeded() {
    let mut g = Rng::new(7);
    let (h, m) = (noisy(&mut g, 200, 0.0), noisy(&mut g, 150, 0.8));
    let a = auroc(&h, &m).expect("auroc");
    let ci = auroc_bootstrap(&h, &m, 500, &mut Rng::stream(1, BOOTSTRAP_STREAM)).expect("ci");
    assert!(ci[0] < a && a < ci[1] && ci[1] - ci[0] < 0.2, "{a} {ci:?}");
    assert_eq!(Some(ci), auroc_bootstrap(&h, &m, 500, &mut Rng::stream(1, BOOTSTRAP_STREAM)));
    assert_ne!(Some(ci), auroc_bootstrap(&h, &m, 500, &mut Rng::stream(2, BOOTSTRAP_STREAM)));
    let opts = EvalOptions { seed: 3, resamples: 200, ..Default::default() };
    let (r1, r2) = (evaluate(&recs(&h), &recs(&h), &recs(&m), &opts), evaluate(&recs(&h), &recs(&h), &recs(&m), &opts));
    assert_eq!(r1.expect("r1").overall.auroc_ci, r2.expect("r2").overall.auroc_ci);
}

#[test]
fn p_model_is_monotone_within_unit_interval_and_balanced() {
    let mut g = Rng::new(11);
    let (h, m) = (noisy(&mut g, 300, 0.0), noisy(&mut g, 100, 1.0));
    let c = Calibration::fit(&h, &m).expect("fit");
    let ps: Vec<f64> = (-60..=60).map(|i| c.p_model(i as f64 / 10.0).expect("p")).collect();
    assert!(ps.iter().all(|p| (0.0..=1.0).contains(p)));
    assert!(ps.windows(2).all(|w| w[0] <= w[1]), "monotone");
    assert!(ps[0] < 0.05 && ps[120] > 0.95);
    // symmetric classes, 2:1 in count: balanced weights put p_model = ½ at 0 (unweighted
    // logistic regression would lean towards the larger human class); perfectly separated, so
    // only the ridge keeps the slope finite
    let c = Calibration::fit(&[-1.0, -2.0, -1.0, -2.0], &[1.0, 2.0]).expect("fit");
    let l = c.logistic.as_ref().expect("logistic");
    assert!(l.slope.is_finite() && l.slope > 0.0);
    assert!(close(c.p_model(0.0), 0.5), "{l:?}");
    let info = c.score_info(1.5);
    assert!(info.p_model.is_some_and(|p| p > 0.5) && info.fpr_at_score == 0.0);
}

#[test]
fn calibration_round_trips_as_json() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("cal.json");
    let c = Calibration::fit(&[3.0, 1.0, 2.0], &[4.0, 5.0]).expect("fit");
    c.save(&path).expect("save");
    // serde_json's float parsing may be one ulp off, so the fit is compared with a tolerance
    let back = Calibration::load(&path).expect("load");
    assert_eq!(back.human, c.human);
    for s in [0.0, 2.5, 4.0] {
        assert!((back.p_model(s).expect("p") - c.p_model(s).expect("p")).abs() < 1e-12);
    }
    assert!(Calibration::fit(&[], &[]).is_err());
    assert!(Calibration::fit(&[f64::NAN], &[]).is_err());
}

/// Long texts separate well; short (≤50 token) model texts look human.
fn mixed() -> (Vec<Record>, Vec<Record>, Vec<Record>) {
    let mut g = Rng::new(5);
    let tokens = |i: usize| [30, 80, 150, 300][i % 4];
    let human = |g: &mut Rng, n: usize, tag: &str| -> Vec<Record> { noisy(g, n, 0.0).into_iter().enumerate().map(|(i, s)| Record { id: format!("{tag}{i}"), ..rec(s, tokens(i)) }).collect() };
    let (cal, test) = (human(&mut g, 400, "c"), human(&mut g, 400, "t"));
    let model = noisy(&mut g, 400, 0.0)
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            let t = tokens(i);
            let white_box = i % 3 == 0;
            Record {
                score: s + if t <= 50 { 0.0 } else { 2.0 } + if white_box { 1.0 } else { 0.0 },
                tokens: t,
                decoding: if i % 2 == 0 { "greedy" } else { "t1.0" }.into(),
                generator: "gpt-small".into(),
                white_box,
                paraphrased: i % 5 == 0,
                ..Default::default()
            }
        })
        .collect();
    (cal, test, model)
}

#[test]
fn evaluate_breaks_down_and_reports_where_not_to_trust() {
    let (cal, test, model) = mixed();
    let r = evaluate(&cal, &test, &model, &EvalOptions { resamples: 100, ..Default::default() }).expect("evaluate");
    let by = |name: &str| r.breakdowns.iter().find(|b| b.by == name).expect("breakdown");
    let len = by("length (tokens)");
    let groups: Vec<&str> = len.cells.iter().map(|c| c.group.as_str()).collect();
    assert_eq!(groups, ["≤50", "51–100", "101–200", ">200"]);
    assert!(len.cells.iter().all(|c| c.n_human == 100 && c.n_model == 100));
    assert!(len.cells[0].auroc.is_some_and(|a| a < 0.7) && len.cells[3].auroc.is_some_and(|a| a > 0.85));
    let wb = by("white-box");
    assert_eq!(wb.cells.iter().map(|c| (c.group.as_str(), c.n_human)).collect::<Vec<_>>(), [("cross-model", 400), ("white-box", 400)]);
    assert!(wb.cells[1].auroc > wb.cells[0].auroc);
    assert_eq!(by("decoding").cells.len(), 2);
    assert_eq!(by("paraphrased").cells.iter().map(|c| c.n_model).sum::<usize>(), 400);

    let json = serde_json::to_value(&r).expect("json");
    for k in ["auroc", "auroc_ci", "tpr_at_1pct_fpr", "tpr_at_0_1pct_fpr", "measured_fpr", "thresholds", "breakdowns"] {
        assert!(json.get(k).is_some(), "{k} missing");
    }
    let md = report_md(&[("loglik".into(), r)]);
    assert!(md.contains("## Where not to trust"));
    assert!(md.contains("**loglik**, length (tokens) = ≤50: AUROC"), "{md}");
    assert_eq!(md.matches("no 0.10% threshold").count(), 1, "said once, for all texts: {md}");
    assert!(!md.contains("length (tokens) = >200: AUROC"), "{md}");
}

#[test]
fn repetition_counts_repeated_word_bigrams() {
    let r = repetition("Good morrow, neighbour Baptista.\nGood morrow, neighbour Gremio.");
    assert!((r - 2.0 / 7.0).abs() < 1e-12, "{r}");
    assert_eq!(repetition("To be, or not to be"), 1.0 / 5.0);
    assert_eq!(repetition("one"), 0.0);
    assert_eq!(repetition(""), 0.0);
    assert_eq!(repetition("I'll go, I'LL GO"), 1.0 / 3.0, "case-folded, apostrophes inside words");
    assert!(is_formulaic("Here, sir; here, sir. Here, sir! here, sir!"));
    assert!(!is_formulaic("Now is the winter of our discontent made glorious summer by this sun of York"));
}

#[test]
fn formulaic_human_text_gets_its_own_false_positive_rate() {
    let (cal, mut test, model) = mixed();
    // a quarter of the human test texts are formulaic and score like model text
    for (i, r) in test.iter_mut().enumerate() {
        if i % 4 == 0 {
            r.formulaic = true;
            r.score += 3.0;
        }
    }
    let r = evaluate(&cal, &test, &model, &EvalOptions { resamples: 0, ..Default::default() }).expect("evaluate");
    let b = r.breakdowns.iter().find(|b| b.by == "human text").expect("human text breakdown");
    let (f, o) = (&b.cells[0], &b.cells[1]);
    assert_eq!((f.group.as_str(), f.n_human, f.n_model, o.group.as_str(), o.n_human), ("formulaic", 100, 400, "other", 300));
    let (ff, fo) = (f.measured_fpr.expect("fpr"), o.measured_fpr.expect("fpr"));
    assert!(ff > 0.5 && fo < 0.05, "formulaic FPR {ff}, other {fo}");
    let md = report_md(&[("loglik".into(), r)]);
    assert!(md.contains("**loglik**, human text = formulaic: AUROC"), "{md}");
}

#[test]
fn evaluate_rejects_bad_input() {
    let (cal, test, model) = mixed();
    let o = EvalOptions { resamples: 0, ..Default::default() };
    assert!(evaluate(&cal, &cal[..10], &model, &o).is_err(), "shared human ids");
    assert!(evaluate(&cal, &test, &[], &o).is_err());
    let mut bad = model.clone();
    bad[3].score = f64::INFINITY;
    assert!(evaluate(&cal, &test, &bad, &o).is_err());
    assert!(evaluate(&cal, &test, &model, &EvalOptions { length_edges: vec![100, 50], ..o }).is_err());
}

#[test]
fn roc_png_writes_a_png() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("plots/roc.png");
    let (cal, test, model) = mixed();
    let r = evaluate(&cal, &test, &model, &EvalOptions { resamples: 0, ..Default::default() }).expect("evaluate");
    roc_png(&path, &[("loglik".into(), r.roc.clone()), ("diag".into(), vec![(0.0, 0.0), (1.0, 1.0)])]).expect("plot");
    let bytes = std::fs::read(&path).expect("read");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
}
