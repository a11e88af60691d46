//! Evaluating model-text detectors at fixed false-positive rates: pure maths on score lists,
//! no model needed. A score is higher for text more likely model-written; a text is flagged
//! when its score is ≥ the threshold.
//!
//! - [`Calibration`]: thresholds for target FPRs fitted on a human-only calibration split
//!   (unresolved, not invented, below 1/n_human), each score's `fpr_at_score`, and `p_model`
//!   (a class-balanced logistic fit, see [`calibration`]).
//! - [`evaluate`]: thresholds for 1% and 0.1% FPR from the human calibration split; on a
//!   disjoint human test split the FPR they actually give (`measured_fpr`), and on the model
//!   test texts their TPR; AUROC (Mann–Whitney, ties ½) with a 95% percentile bootstrap
//!   interval ([`EvalOptions::resamples`] resamples of both lists, each cell from the stream
//!   `detect/eval/bootstrap` of the seed); and the test ROC curve's TPR at exactly 1% / 0.1%
//!   FPR (linear interpolation between ROC vertices is marked `interpolated`; fewer than 1/FPR
//!   test humans is `resolved: false`). Broken down by length bucket (≤50 tokens is the short
//!   text failure mode), decoding, generator, white-box vs cross-model, paraphrased or not, and
//!   formulaic or other human text (the human test texts split by [`is_formulaic`], each part
//!   against all model texts: the false-positive rate on repetitive human writing); every cell
//!   keeps the thresholds of the whole calibration split (one deployed detector).
//! - [`report_md`]: markdown tables and a generated "where not to trust" section.
//! - [`roc_png`]: ROC curves on a log-FPR axis.

pub mod calibration;
mod plot;
mod report;
pub mod stats;

pub use calibration::{Calibration, Logistic, ScoreInfo, Threshold};
pub use plot::roc_png;
pub use report::report_md;
pub use stats::RocPoint;

use crate::{Error, Result};
use gptlab_core::rng::Rng;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashSet};

/// The FPR targets every report carries.
pub const TARGET_FPRS: [f64; 2] = [0.01, 0.001];
/// The seed stream of the AUROC bootstrap.
pub const BOOTSTRAP_STREAM: &str = "detect/eval/bootstrap";

/// One scored text. Whether it is human or model-written is which list it is in; the tags
/// describe model texts except `formulaic`, which describes human texts (`tokens` both).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Record {
    /// Optional; when set, the human calibration and test splits must not share ids.
    #[serde(default)]
    pub id: String,
    pub score: f64,
    /// The text's length in tokens.
    pub tokens: usize,
    /// How the text was sampled (e.g. `greedy`, `t1.0`, `top_p0.9`).
    #[serde(default)]
    pub decoding: String,
    /// The model that wrote the text.
    #[serde(default)]
    pub generator: String,
    /// The detector's own model wrote the text.
    #[serde(default)]
    pub white_box: bool,
    /// The model text was paraphrased after generation.
    #[serde(default)]
    pub paraphrased: bool,
    /// The human text is formulaic ([`is_formulaic`], or the input's own tag).
    #[serde(default)]
    pub formulaic: bool,
}

/// Share of a text's word bigrams that repeat an earlier bigram of the same text at or above
/// which [`is_formulaic`] calls it formulaic.
pub const FORMULAIC_REPEAT: f64 = 0.05;

/// Words: maximal runs of letters and apostrophes, lowercased.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphabetic() || c == '\''))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// The share of the word bigrams of `text` that repeat an earlier bigram in it (0 under two
/// words): how much the text says the same thing again ("Good morrow, neighbour Baptista. /
/// Good morrow, neighbour Gremio." repeats 2 of its 7).
pub fn repetition(text: &str) -> f64 {
    let w = words(text);
    let mut seen = HashSet::new();
    let bigrams = w.windows(2).filter(|b| !seen.insert((b[0].clone(), b[1].clone()))).count();
    bigrams as f64 / w.len().saturating_sub(1).max(1) as f64
}

/// Whether a human text is formulaic (repetitive: greetings, refrains, lists, boilerplate),
/// the kind of human writing a language model finds predictable: [`repetition`] at least
/// [`FORMULAIC_REPEAT`].
pub fn is_formulaic(text: &str) -> bool {
    repetition(text) >= FORMULAIC_REPEAT
}

/// Options of [`evaluate`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalOptions {
    pub seed: u64,
    /// Bootstrap resamples of each AUROC interval (0: no interval).
    pub resamples: usize,
    /// Upper edges (inclusive) of the length buckets; one more bucket holds longer texts.
    pub length_edges: Vec<usize>,
}

impl Default for EvalOptions {
    fn default() -> Self {
        Self { seed: 0, resamples: 1000, length_edges: vec![50, 100, 200] }
    }
}

/// One FPR target: the calibrated threshold's rates on the test splits, and the test ROC's TPR.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AtFpr {
    pub target_fpr: f64,
    /// Threshold from the human calibration split (`None`: unresolved there).
    pub threshold: Option<f64>,
    pub threshold_resolved: bool,
    /// The fraction of model test texts scoring ≥ the threshold.
    pub tpr: Option<f64>,
    /// The fraction of (disjoint) human test texts scoring ≥ the threshold.
    pub measured_fpr: Option<f64>,
    /// The test ROC curve's TPR at exactly `target_fpr`.
    pub roc: RocPoint,
}

/// The figures of one group of test texts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cell {
    pub group: String,
    pub n_human: usize,
    pub n_model: usize,
    pub auroc: Option<f64>,
    /// 95% percentile bootstrap interval of `auroc`.
    pub auroc_ci: Option<[f64; 2]>,
    pub tpr_at_1pct_fpr: AtFpr,
    pub tpr_at_0_1pct_fpr: AtFpr,
    /// Measured FPR, on the human test texts, of the 1% threshold.
    pub measured_fpr: Option<f64>,
}

/// A cell per group of one breakdown.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Breakdown {
    pub by: String,
    pub cells: Vec<Cell>,
}

/// One detector's evaluation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub n_human_cal: usize,
    pub seed: u64,
    pub resamples: usize,
    /// The thresholds for [`TARGET_FPRS`], from the human calibration split.
    pub thresholds: Vec<Threshold>,
    /// All test texts (group `all`).
    #[serde(flatten)]
    pub overall: Cell,
    pub breakdowns: Vec<Breakdown>,
    /// The whole test ROC curve (FPR, TPR), for [`roc_png`]; not serialised.
    #[serde(skip)]
    pub roc: Vec<(f64, f64)>,
}

fn scores(rs: &[&Record]) -> Vec<f64> {
    rs.iter().map(|r| r.score).collect()
}

fn check(what: &str, rs: &[Record]) -> Result<()> {
    match rs.iter().position(|r| !r.score.is_finite()) {
        Some(i) => Err(Error::Input(format!("{what}: record {i} has a non-finite score ({})", rs[i].score))),
        None => Ok(()),
    }
}

fn at_fpr(t: &Threshold, human: &[f64], model: &[f64], curve: &[(f64, f64)]) -> AtFpr {
    let (tpr, measured_fpr) = match t.threshold {
        Some(thr) => (stats::frac_at_or_above(model, thr), stats::frac_at_or_above(human, thr)),
        None => (None, None),
    };
    AtFpr { target_fpr: t.target_fpr, threshold: t.threshold, threshold_resolved: t.resolved, tpr, measured_fpr, roc: stats::tpr_at_fpr(curve, human.len(), t.target_fpr) }
}

fn cell(group: &str, human: &[&Record], model: &[&Record], th: &[Threshold; 2], opts: &EvalOptions) -> (Cell, Vec<(f64, f64)>) {
    let (h, m) = (scores(human), scores(model));
    let curve = stats::roc_curve(&h, &m);
    let mut rng = Rng::stream(opts.seed, BOOTSTRAP_STREAM);
    let at1 = at_fpr(&th[0], &h, &m, &curve);
    let at01 = at_fpr(&th[1], &h, &m, &curve);
    let c = Cell {
        group: group.to_string(),
        n_human: h.len(),
        n_model: m.len(),
        auroc: stats::auroc(&h, &m),
        auroc_ci: stats::auroc_bootstrap(&h, &m, opts.resamples, &mut rng),
        measured_fpr: at1.measured_fpr,
        tpr_at_1pct_fpr: at1,
        tpr_at_0_1pct_fpr: at01,
    };
    (c, curve)
}

/// The label of length bucket `i` of `edges` (`≤50`, `51–100`, `>200`).
pub fn length_label(edges: &[usize], i: usize) -> String {
    match (i.checked_sub(1).and_then(|j| edges.get(j)), edges.get(i)) {
        (None, Some(hi)) => format!("≤{hi}"),
        (Some(lo), Some(hi)) => format!("{}–{hi}", lo + 1),
        (Some(lo), None) => format!(">{lo}"),
        (None, None) => "all".into(),
    }
}

fn length_bucket(edges: &[usize], tokens: usize) -> usize {
    edges.iter().position(|&e| tokens <= e).unwrap_or(edges.len())
}

/// Evaluates one detector from its scores on a human calibration split, a disjoint human test
/// split and model test texts (see the module docs).
pub fn evaluate(human_cal: &[Record], human_test: &[Record], model_test: &[Record], opts: &EvalOptions) -> Result<Report> {
    check("human calibration", human_cal)?;
    check("human test", human_test)?;
    check("model test", model_test)?;
    if human_test.is_empty() || model_test.is_empty() {
        return Err(Error::Input("evaluation needs human and model test texts".into()));
    }
    if opts.length_edges.windows(2).any(|w| w[0] >= w[1]) {
        return Err(Error::Input(format!("length edges must increase: {:?}", opts.length_edges)));
    }
    let cal_ids: HashSet<&str> = human_cal.iter().map(|r| r.id.as_str()).filter(|id| !id.is_empty()).collect();
    if let Some(r) = human_test.iter().find(|r| cal_ids.contains(r.id.as_str())) {
        return Err(Error::Input(format!("human text {:?} is in both the calibration and the test split", r.id)));
    }
    let cal_scores: Vec<f64> = human_cal.iter().map(|r| r.score).collect();
    let calibration = Calibration::fit(&cal_scores, &[])?;
    let th = TARGET_FPRS.map(|f| calibration.threshold_for_fpr(f));
    let all_h: Vec<&Record> = human_test.iter().collect();
    let all_m: Vec<&Record> = model_test.iter().collect();
    let (overall, roc) = cell("all", &all_h, &all_m, &th, opts);

    let mut breakdowns = Vec::new();
    let edges = &opts.length_edges;
    let cells = (0..=edges.len())
        .map(|b| {
            let h: Vec<&Record> = all_h.iter().copied().filter(|r| length_bucket(edges, r.tokens) == b).collect();
            let m: Vec<&Record> = all_m.iter().copied().filter(|r| length_bucket(edges, r.tokens) == b).collect();
            cell(&length_label(edges, b), &h, &m, &th, opts).0
        })
        .collect();
    breakdowns.push(Breakdown { by: "length (tokens)".into(), cells });
    // model-only tags: every cell compares all human test texts with a subset of model texts
    let by_model = |by: &str, key: &dyn Fn(&Record) -> String| -> Breakdown {
        let groups: BTreeSet<String> = model_test.iter().map(key).collect();
        let cells = groups
            .iter()
            .map(|g| {
                let m: Vec<&Record> = all_m.iter().copied().filter(|r| &key(r) == g).collect();
                cell(g, &all_h, &m, &th, opts).0
            })
            .collect();
        Breakdown { by: by.into(), cells }
    };
    breakdowns.push(by_model("decoding", &|r| if r.decoding.is_empty() { "(unset)".into() } else { r.decoding.clone() }));
    breakdowns.push(by_model("generator", &|r| if r.generator.is_empty() { "(unset)".into() } else { r.generator.clone() }));
    breakdowns.push(by_model("white-box", &|r| if r.white_box { "white-box".into() } else { "cross-model".into() }));
    breakdowns.push(by_model("paraphrased", &|r| if r.paraphrased { "paraphrased".into() } else { "not paraphrased".into() }));
    // the human tag: each part of the human test texts against all model texts
    let cells = [("formulaic", true), ("other", false)]
        .iter()
        .map(|&(g, f)| {
            let h: Vec<&Record> = all_h.iter().copied().filter(|r| r.formulaic == f).collect();
            cell(g, &h, &all_m, &th, opts).0
        })
        .collect();
    breakdowns.push(Breakdown { by: "human text".into(), cells });
    Ok(Report { n_human_cal: human_cal.len(), seed: opts.seed, resamples: opts.resamples, thresholds: th.to_vec(), overall, breakdowns, roc })
}

#[cfg(test)]
mod tests;
