//! The markdown report of several detectors' evaluations.

use super::{AtFpr, Cell, Report};
use std::fmt::Write;

/// AUROC below which a cell is flagged as weak.
pub const WEAK_AUROC: f64 = 0.7;
/// A measured FPR above this multiple of its target is flagged.
pub const FPR_OVERSHOOT: f64 = 2.0;
/// Cells with fewer human or model texts than this are flagged as small.
pub const SMALL_CELL: usize = 30;

fn num(x: Option<f64>) -> String {
    x.map_or("–".into(), |x| format!("{x:.3}"))
}

fn pct(x: Option<f64>) -> String {
    x.map_or("–".into(), |x| format!("{:.2}%", 100.0 * x))
}

fn auroc(c: &Cell) -> String {
    match (c.auroc, c.auroc_ci) {
        (Some(a), Some([lo, hi])) => format!("{a:.3} [{lo:.3}, {hi:.3}]"),
        (a, _) => num(a),
    }
}

/// TPR at the calibrated threshold, with the measured FPR.
fn calibrated(a: &AtFpr) -> String {
    if !a.threshold_resolved {
        return "unresolved (cal)".into();
    }
    format!("{} (FPR {})", pct(a.tpr), pct(a.measured_fpr))
}

/// The ROC's TPR, `*` when interpolated.
fn roc(a: &AtFpr) -> String {
    if !a.roc.resolved {
        return "unresolved".into();
    }
    format!("{}{}", pct(a.roc.tpr), if a.roc.interpolated { "*" } else { "" })
}

const HEAD: &str = "| n human | n model | AUROC [95% CI] | TPR @1% thr (measured FPR) | TPR @0.1% thr (measured FPR) | ROC TPR @1% FPR | ROC TPR @0.1% FPR |";
const RULE: &str = "|---:|---:|---|---|---|---|---|";

fn row(c: &Cell) -> String {
    format!(
        "| {} | {} | {} | {} | {} | {} | {} |",
        c.n_human,
        c.n_model,
        auroc(c),
        calibrated(&c.tpr_at_1pct_fpr),
        calibrated(&c.tpr_at_0_1pct_fpr),
        roc(&c.tpr_at_1pct_fpr),
        roc(&c.tpr_at_0_1pct_fpr)
    )
}

/// The reasons not to trust a cell, from its numbers; `calibration`: also an unresolved
/// calibration threshold (the same for every cell of a report, so said once, for `all`).
pub fn distrust(c: &Cell, calibration: bool) -> Vec<String> {
    let mut why = Vec::new();
    if let Some(a) = c.auroc {
        if a < WEAK_AUROC {
            why.push(format!("AUROC {a:.3} < {WEAK_AUROC}"));
        } else if let Some([lo, _]) = c.auroc_ci.filter(|ci| ci[0] < WEAK_AUROC) {
            why.push(format!("AUROC interval reaches {lo:.3} < {WEAK_AUROC}"));
        }
    }
    for a in [&c.tpr_at_1pct_fpr, &c.tpr_at_0_1pct_fpr] {
        let target = a.target_fpr;
        if let Some(m) = a.measured_fpr.filter(|&m| m > FPR_OVERSHOOT * target) {
            why.push(format!("measured FPR {} at the {} threshold (over {FPR_OVERSHOOT}× the target)", pct(Some(m)), pct(Some(target))));
        }
        if !a.threshold_resolved && calibration {
            why.push(format!("no {} threshold: the calibration split has fewer than {:.0} human texts", pct(Some(target)), 1.0 / target));
        } else if a.threshold_resolved && c.n_human > 0 && (c.n_human as f64) * target < 1.0 {
            why.push(format!("{} human test texts cannot measure a {} FPR", c.n_human, pct(Some(target))));
        }
    }
    if c.n_human < SMALL_CELL || c.n_model < SMALL_CELL {
        why.push(format!("small cell ({} human, {} model texts)", c.n_human, c.n_model));
    }
    why
}

/// Markdown tables of `(method, report)` pairs: a summary, one table per breakdown, and a
/// "where not to trust" section derived from the numbers.
pub fn report_md(reports: &[(String, Report)]) -> String {
    let mut s = String::from("# Detector evaluation\n\n");
    s.push_str("Thresholds are fitted on a human-only calibration split; FPRs are measured on a disjoint human test split. ");
    s.push_str("\"TPR @x% thr\" is the TPR on model texts at the calibrated threshold, with the FPR that threshold gives on the test humans; ");
    s.push_str("\"ROC TPR\" is the test ROC curve's TPR at exactly that FPR (`*`: interpolated between ROC points). ");
    s.push_str("AUROC intervals are 95% percentile bootstrap intervals.\n\n## Summary\n\n");
    let _ = writeln!(s, "| method | n human cal |{}", &HEAD[1..]);
    let _ = writeln!(s, "|---|---:{RULE}");
    for (m, r) in reports {
        let _ = writeln!(s, "| {m} | {} |{}", r.n_human_cal, &row(&r.overall)[1..]);
    }
    let mut bys: Vec<&str> = Vec::new();
    for (_, r) in reports {
        for b in &r.breakdowns {
            if !bys.contains(&b.by.as_str()) {
                bys.push(&b.by);
            }
        }
    }
    for by in bys {
        let _ = writeln!(s, "\n## By {by}\n\n| method | group |{}\n|---|---{RULE}", &HEAD[1..]);
        for (m, r) in reports {
            for c in r.breakdowns.iter().filter(|b| b.by == by).flat_map(|b| &b.cells) {
                let _ = writeln!(s, "| {m} | {} |{}", c.group, &row(c)[1..]);
            }
        }
    }
    s.push_str("\n## Where not to trust\n\n");
    let _ = writeln!(
        s,
        "Generated from the numbers above: AUROC below {WEAK_AUROC} (or an interval reaching below it), a measured FPR over {FPR_OVERSHOOT}× its target, an FPR the data cannot resolve, fewer than {SMALL_CELL} human or model texts.\n"
    );
    let mut any = false;
    for (m, r) in reports {
        let cells = std::iter::once(("all", &r.overall)).chain(r.breakdowns.iter().flat_map(|b| b.cells.iter().map(move |c| (b.by.as_str(), c))));
        for (by, c) in cells {
            let why = distrust(c, by == "all");
            if !why.is_empty() {
                any = true;
                let name = if by == "all" { "all texts".to_string() } else { format!("{by} = {}", c.group) };
                let _ = writeln!(s, "- **{m}**, {name}: {}", why.join("; "));
            }
        }
    }
    if !any {
        s.push_str("No cell crosses these lines.\n");
    }
    s
}
