//! The score-list maths: AUROC (Mann–Whitney, ties ½), the empirical ROC curve, the ROC's TPR
//! at an exact FPR by linear interpolation, and the percentile bootstrap of AUROC.
//!
//! Throughout, a text is flagged as model-written when its score is ≥ the threshold.

use gptlab_core::rng::Rng;
use serde::Serialize;

/// AUROC of `model` against `human` scores: P(model > human) + ½ P(model = human) over all
/// (model, human) pairs, computed from average ranks (the Mann–Whitney U statistic divided by
/// n_human·n_model). `None` when either list is empty.
pub fn auroc(human: &[f64], model: &[f64]) -> Option<f64> {
    if human.is_empty() || model.is_empty() {
        return None;
    }
    // (score, is_model), sorted by score; tied runs get the mean of their 1-based ranks.
    let mut all: Vec<(f64, bool)> = human.iter().map(|&s| (s, false)).chain(model.iter().map(|&s| (s, true))).collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut rank_sum_model = 0.0;
    let mut i = 0;
    while i < all.len() {
        let mut j = i;
        while j + 1 < all.len() && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        // ranks i+1 ..= j+1, mean (i + j + 2) / 2
        let mean_rank = (i + j + 2) as f64 / 2.0;
        let n_model_in_run = all[i..=j].iter().filter(|x| x.1).count();
        rank_sum_model += mean_rank * n_model_in_run as f64;
        i = j + 1;
    }
    let (n, m) = (human.len() as f64, model.len() as f64);
    let u = rank_sum_model - m * (m + 1.0) / 2.0;
    Some(u / (n * m))
}

/// The empirical ROC curve: (FPR, TPR) for every distinct threshold, from (0, 0) (nothing
/// flagged) to (1, 1) (everything flagged), FPR non-decreasing. Tied human and model scores
/// move both rates in one step, a diagonal segment. Empty when either list is empty.
pub fn roc_curve(human: &[f64], model: &[f64]) -> Vec<(f64, f64)> {
    if human.is_empty() || model.is_empty() {
        return Vec::new();
    }
    let mut all: Vec<(f64, bool)> = human.iter().map(|&s| (s, false)).chain(model.iter().map(|&s| (s, true))).collect();
    // descending scores: lowering the threshold past each distinct value flags its texts
    all.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (n, m) = (human.len() as f64, model.len() as f64);
    let (mut fp, mut tp) = (0usize, 0usize);
    let mut pts = vec![(0.0, 0.0)];
    let mut i = 0;
    while i < all.len() {
        let v = all[i].0;
        while i < all.len() && all[i].0 == v {
            if all[i].1 {
                tp += 1;
            } else {
                fp += 1;
            }
            i += 1;
        }
        pts.push((fp as f64 / n, tp as f64 / m));
    }
    pts
}

/// The ROC curve's TPR at exactly FPR `fpr`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RocPoint {
    /// The FPR asked for.
    pub fpr: f64,
    /// The TPR there; `None` when unresolved or when the curve is empty.
    pub tpr: Option<f64>,
    /// True when no ROC vertex lies at exactly `fpr` and the value is the linear interpolation
    /// between the two vertices around it (a randomised threshold between two scores).
    pub interpolated: bool,
    /// False when the human list has fewer than 1/`fpr` texts: its smallest non-zero FPR is
    /// above `fpr`, so the value would only be an interpolation towards (0, ·).
    pub resolved: bool,
}

const EPS: f64 = 1e-12;

/// TPR at FPR `fpr` on `curve` (as from [`roc_curve`], with `n_human` humans). When vertices lie at
/// exactly `fpr`, the best TPR among them (not interpolated); otherwise the linear
/// interpolation between the last vertex below and the first above (`interpolated`).
pub fn tpr_at_fpr(curve: &[(f64, f64)], n_human: usize, fpr: f64) -> RocPoint {
    let resolved = (n_human as f64) * fpr >= 1.0 - 1e-9;
    let mut out = RocPoint { fpr, tpr: None, interpolated: false, resolved };
    if !resolved || curve.is_empty() {
        return out;
    }
    let exact = curve.iter().filter(|p| (p.0 - fpr).abs() <= EPS).map(|p| p.1).fold(None, |a: Option<f64>, t| Some(a.map_or(t, |a| a.max(t))));
    if exact.is_some() {
        out.tpr = exact;
        return out;
    }
    for w in curve.windows(2) {
        let ((f0, t0), (f1, t1)) = (w[0], w[1]);
        if f0 < fpr && fpr < f1 {
            out.tpr = Some(t0 + (t1 - t0) * (fpr - f0) / (f1 - f0));
            out.interpolated = true;
            return out;
        }
    }
    out
}

/// The fraction of `scores` that are ≥ `threshold` (FPR on humans, TPR on model texts).
pub fn frac_at_or_above(scores: &[f64], threshold: f64) -> Option<f64> {
    if scores.is_empty() {
        return None;
    }
    Some(scores.iter().filter(|&&s| s >= threshold).count() as f64 / scores.len() as f64)
}

/// The `q`-quantile of sorted `xs` by linear interpolation between order statistics.
pub fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64))
}

/// 95% percentile bootstrap interval of [`auroc`]: `resamples` times, both lists are resampled
/// with replacement (each to its own size), from `rng`; the 2.5% and 97.5% quantiles of the
/// resampled AUROCs. `None` when either list is empty or `resamples` is 0.
pub fn auroc_bootstrap(human: &[f64], model: &[f64], resamples: usize, rng: &mut Rng) -> Option<[f64; 2]> {
    if human.is_empty() || model.is_empty() || resamples == 0 {
        return None;
    }
    let mut stats = Vec::with_capacity(resamples);
    let (mut h, mut m) = (vec![0.0; human.len()], vec![0.0; model.len()]);
    for _ in 0..resamples {
        for x in h.iter_mut() {
            *x = human[rng.below(human.len() as u64) as usize];
        }
        for x in m.iter_mut() {
            *x = model[rng.below(model.len() as u64) as usize];
        }
        stats.extend(auroc(&h, &m));
    }
    stats.sort_by(f64::total_cmp);
    Some([quantile(&stats, 0.025)?, quantile(&stats, 0.975)?])
}
