//! Code fine-tuning from a natural-language GPT against training from scratch at the same
//! token budget (Codex, §3.2: starting from GPT-3 converges faster, to the same final loss):
//! each run's validation-loss curve against training tokens, and the tokens each run needed to
//! reach the from-scratch run's final loss.

use crate::Result;
use serde::Serialize;
use std::path::Path;

/// A run's validation loss against training tokens.
#[derive(Debug, Clone, Serialize)]
pub struct Curve {
    /// (tokens trained on, validation loss) at each evaluation.
    pub points: Vec<(u64, f64)>,
    pub final_loss: f64,
    pub best_loss: f64,
}

impl Curve {
    /// Reads `eval_loss` records of a run's `metrics.jsonl`; a step is `tokens_per_step` tokens.
    pub fn read(metrics: &Path, tokens_per_step: u64) -> Result<Curve> {
        let recs = gptlab_core::metrics::read_jsonl(metrics)?;
        let points: Vec<(u64, f64)> = recs.iter().filter_map(|r| Some((r.get("step")?.as_u64()? * tokens_per_step, r.get("eval_loss")?.as_f64()?))).collect();
        let final_loss = points.last().map_or(f64::NAN, |p| p.1);
        let best_loss = points.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
        Ok(Curve { points, final_loss, best_loss })
    }

    /// The first point where the loss reaches `target`, interpolated linearly between the two
    /// evaluations around it; `None` if it never does.
    pub fn tokens_to_reach(&self, target: f64) -> Option<f64> {
        let mut prev: Option<(u64, f64)> = None;
        for &(t, l) in &self.points {
            if l <= target {
                return Some(match prev {
                    Some((t0, l0)) if l0 > l => t0 as f64 + (l0 - target) / (l0 - l) * (t - t0) as f64,
                    _ => t as f64,
                });
            }
            prev = Some((t, l));
        }
        None
    }
}

/// Both runs and what the comparison found.
#[derive(Debug, Clone, Serialize)]
pub struct ScratchVsGpt {
    pub from_gpt: Curve,
    pub from_scratch: Curve,
    pub tokens_per_step: u64,
    /// The from-scratch run's final validation loss, the mark both runs are timed to.
    pub target_loss: f64,
    /// Tokens each run needed to reach the target (`None`: never reached).
    pub tokens_to_target_from_gpt: Option<f64>,
    pub tokens_to_target_from_scratch: Option<f64>,
    /// From scratch's tokens over from-GPT's: how many times faster the GPT start got there.
    pub speedup: Option<f64>,
}

impl ScratchVsGpt {
    pub fn new(from_gpt: Curve, from_scratch: Curve, tokens_per_step: u64) -> Self {
        let target = from_scratch.final_loss;
        let a = from_gpt.tokens_to_reach(target);
        let b = from_scratch.tokens_to_reach(target);
        let speedup = match (a, b) {
            (Some(a), Some(b)) if a > 0.0 => Some(b / a),
            _ => None,
        };
        Self { from_gpt, from_scratch, tokens_per_step, target_loss: target, tokens_to_target_from_gpt: a, tokens_to_target_from_scratch: b, speedup }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn curve(points: &[(u64, f64)]) -> Curve {
        Curve { points: points.to_vec(), final_loss: points.last().expect("p").1, best_loss: 0.0 }
    }

    #[test]
    fn tokens_to_reach_interpolates_and_the_speedup_compares_both_runs() {
        let scratch = curve(&[(0, 8.0), (100, 4.0), (200, 3.0), (300, 2.0)]);
        let gpt = curve(&[(0, 5.0), (100, 3.0), (200, 1.5), (300, 1.2)]);
        assert_eq!(gpt.tokens_to_reach(2.0), Some(100.0 + (3.0 - 2.0) / (3.0 - 1.5) * 100.0));
        assert_eq!(scratch.tokens_to_reach(2.0), Some(300.0));
        assert_eq!(scratch.tokens_to_reach(1.0), None);
        let c = ScratchVsGpt::new(gpt, scratch, 10);
        assert_eq!(c.target_loss, 2.0);
        let s = c.speedup.expect("speedup");
        assert!((s - 300.0 / (100.0 + 100.0 / 1.5)).abs() < 1e-9 && s > 1.0);
    }
}
