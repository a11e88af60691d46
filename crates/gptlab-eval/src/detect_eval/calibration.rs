//! A detector's calibration: thresholds and false-positive rates from human-written texts only,
//! and `p_model`, a probability that a score's text is model-written.
//!
//! `p_model` is a class-balanced logistic regression of "model" on the score, fitted on the
//! human and model calibration scores by Newton's method. Why logistic rather than isotonic
//! regression: it is strictly monotone and smooth (isotonic gives flat steps, and 0 or 1 at
//! both ends of the calibration range, overconfident for any score outside it), it has two
//! parameters, so a few hundred calibration texts fit it stably, and it extrapolates past the
//! calibration range without a jump. Balanced weights (each class weighs ½ in total) make it
//! the posterior under a 50/50 prior whatever the calibration set's class ratio. A small ridge
//! on the slope keeps it finite when the calibration scores are perfectly separated.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// p_model(s) = σ(intercept + slope·s).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Logistic {
    pub intercept: f64,
    pub slope: f64,
    /// The number of model calibration scores it was fitted on.
    pub n_model: usize,
    /// Newton iterations used.
    pub iterations: usize,
}

impl Logistic {
    pub fn p(&self, s: f64) -> f64 {
        sigmoid(self.intercept + self.slope * s)
    }
}

/// A calibration fitted on human calibration scores (and, for `p_model`, model ones).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// The human calibration scores, ascending.
    pub human: Vec<f64>,
    /// `p_model`'s fit; `None` when no model calibration scores were given.
    pub logistic: Option<Logistic>,
}

/// The threshold for a target false-positive rate, fitted on the human calibration scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Threshold {
    pub target_fpr: f64,
    /// Flag a text when its score is ≥ this; `None` when unresolved.
    pub threshold: Option<f64>,
    /// The threshold's FPR on the calibration humans (≤ `target_fpr`).
    pub calibration_fpr: Option<f64>,
    /// False when `target_fpr` < 1/n_human_cal: the calibration set cannot tell an FPR that low.
    pub resolved: bool,
    pub n_human_cal: usize,
}

/// What a calibration says about one score.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ScoreInfo {
    pub p_model: Option<f64>,
    /// The FPR of a threshold at this score: the fraction of calibration humans scoring ≥ it.
    pub fpr_at_score: f64,
}

fn check_finite(what: &str, xs: &[f64]) -> Result<()> {
    match xs.iter().position(|x| !x.is_finite()) {
        Some(i) => Err(Error::Input(format!("{what}: score {i} is not finite ({})", xs[i]))),
        None => Ok(()),
    }
}

impl Calibration {
    /// Fits a calibration: thresholds from `human` only; `p_model` also from `model` (none
    /// when `model` is empty).
    pub fn fit(human: &[f64], model: &[f64]) -> Result<Self> {
        if human.is_empty() {
            return Err(Error::Input("calibration needs at least one human score".into()));
        }
        check_finite("human calibration", human)?;
        check_finite("model calibration", model)?;
        let mut h = human.to_vec();
        h.sort_by(f64::total_cmp);
        let logistic = if model.is_empty() { None } else { Some(fit_logistic(human, model)) };
        Ok(Self { human: h, logistic })
    }

    /// The fraction of calibration humans scoring ≥ `s`.
    pub fn fpr_at_score(&self, s: f64) -> f64 {
        let n = self.human.len();
        if n == 0 {
            return 0.0;
        }
        (n - self.human.partition_point(|&x| x < s)) as f64 / n as f64
    }

    /// The smallest threshold (among the calibration scores, or just above the largest) whose
    /// calibration FPR is ≤ `fpr`; unresolved when `fpr` < 1/n_human_cal.
    pub fn threshold_for_fpr(&self, fpr: f64) -> Threshold {
        let n = self.human.len();
        let k = (fpr * n as f64 + 1e-9).floor().max(0.0) as usize; // false positives allowed
        let mut t = Threshold { target_fpr: fpr, threshold: None, calibration_fpr: None, resolved: k >= 1, n_human_cal: n };
        if k == 0 || n == 0 {
            return t;
        }
        let h = &self.human;
        let thr = if k >= n {
            h[0]
        } else {
            let v = h[n - k];
            if n - k == 0 || h[n - k - 1] < v {
                v
            } else {
                // a tie straddles the cut: the next distinct value, or just above the largest
                let j = h.partition_point(|&x| x <= v);
                if j < n {
                    h[j]
                } else {
                    v.next_up()
                }
            }
        };
        t.threshold = Some(thr);
        t.calibration_fpr = Some(self.fpr_at_score(thr));
        t
    }

    /// `p_model(s)`: `None` without model calibration scores.
    pub fn p_model(&self, s: f64) -> Option<f64> {
        self.logistic.as_ref().map(|l| l.p(s))
    }

    /// `p_model` and `fpr_at_score` of a score.
    pub fn score_info(&self, s: f64) -> ScoreInfo {
        ScoreInfo { p_model: self.p_model(s), fpr_at_score: self.fpr_at_score(s) }
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        Ok(gptlab_core::fsio::write_json_atomic(path, self)?)
    }

    pub fn load(path: &Path) -> Result<Self> {
        let text = gptlab_core::fsio::read_text(path)?;
        let c: Self = serde_json::from_str(&text).map_err(|e| Error::Input(format!("{}: {e}", path.display())))?;
        if c.human.is_empty() {
            return Err(Error::Input(format!("{}: a calibration with no human scores", path.display())));
        }
        check_finite("human calibration", &c.human)?;
        if c.human.windows(2).any(|w| w[0] > w[1]) {
            return Err(Error::Input(format!("{}: human scores not sorted", path.display())));
        }
        Ok(c)
    }
}

fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// ln(1 + e^z), stable.
fn softplus(z: f64) -> f64 {
    z.max(0.0) + (-z.abs()).exp().ln_1p()
}

const RIDGE: f64 = 1e-3;

/// Class-balanced, slope-ridged logistic regression by damped Newton on standardised scores.
fn fit_logistic(human: &[f64], model: &[f64]) -> Logistic {
    let all: Vec<f64> = human.iter().chain(model).copied().collect();
    let mu = all.iter().sum::<f64>() / all.len() as f64;
    let var = all.iter().map(|x| (x - mu).powi(2)).sum::<f64>() / all.len() as f64;
    let sd = if var > 0.0 { var.sqrt() } else { 1.0 };
    // (x, y, w)
    let (wh, wm) = (0.5 / human.len() as f64, 0.5 / model.len() as f64);
    let data: Vec<(f64, f64, f64)> = human.iter().map(|&s| ((s - mu) / sd, 0.0, wh)).chain(model.iter().map(|&s| ((s - mu) / sd, 1.0, wm))).collect();
    let objective = |a: f64, b: f64| -> f64 {
        let nll: f64 = data.iter().map(|&(x, y, w)| w * if y > 0.5 { softplus(-(a + b * x)) } else { softplus(a + b * x) }).sum();
        nll + 0.5 * RIDGE * b * b
    };
    let (mut a, mut b) = (0.0, 0.0);
    let mut iterations = 0;
    for it in 0..100 {
        iterations = it + 1;
        let (mut ga, mut gb, mut haa, mut hab, mut hbb) = (0.0, RIDGE * b, 0.0, 0.0, RIDGE);
        for &(x, y, w) in &data {
            let p = sigmoid(a + b * x);
            let r = w * (p - y);
            let c = w * p * (1.0 - p);
            ga += r;
            gb += r * x;
            haa += c;
            hab += c * x;
            hbb += c * x * x;
        }
        haa += 1e-12;
        let det = haa * hbb - hab * hab;
        if det <= 0.0 || !det.is_finite() {
            break;
        }
        let da = (hbb * ga - hab * gb) / det;
        let db = (haa * gb - hab * ga) / det;
        let f0 = objective(a, b);
        let mut step = 1.0;
        while step > 1e-6 && objective(a - step * da, b - step * db) > f0 {
            step *= 0.5;
        }
        a -= step * da;
        b -= step * db;
        if (step * da).abs().max((step * db).abs()) < 1e-10 {
            break;
        }
    }
    Logistic { intercept: a - b * mu / sd, slope: b / sd, n_model: model.len(), iterations }
}
