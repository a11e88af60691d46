//! Win rate of one model over another on a world's prompts, judged by the hidden true
//! preference (and, separately, by held-out labelers), overall and per task family.
//!
//! Both models reply `samples` times per prompt (the i-th reply of one meets the i-th of the
//! other); a prompt's outcome is its mean over those meetings (a tie counts ½), and the 95%
//! interval is the normal one over prompts.

use super::data::load_world;
use super::prefs::true_score;
use super::Family;
use crate::{Error, Result};
use gptlab_core::rng::{stream_seed, Rng};
use gptlab_engine::{chat_replies, SampleConfig};
use gptlab_model::roles::{self, Mode};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// How replies are drawn for the comparison.
#[derive(Debug, Clone)]
pub struct Sampling {
    pub temperature: f64,
    /// Replies per prompt and model (1 when greedy).
    pub samples: usize,
    pub seed: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct WinRate {
    pub win_rate: f64,
    /// 95% interval (normal approximation over prompts: a prompt's samples are averaged first).
    pub ci95: (f64, f64),
    /// Prompts compared.
    pub n: usize,
    pub samples_per_prompt: usize,
    pub temperature: f64,
    pub win_rate_held_out_labelers: f64,
    pub mean_true_score: f64,
    pub mean_true_score_baseline: f64,
    /// The same per task family.
    pub by_family: BTreeMap<Family, FamilyStats>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct FamilyStats {
    pub prompts: usize,
    pub win_rate: f64,
    pub mean_true_score: f64,
    pub mean_true_score_baseline: f64,
}

/// 1 for a win, ½ for a tie, 0 for a loss.
fn outcome(a: f64, b: f64) -> f64 {
    if a > b {
        1.0
    } else if a < b {
        0.0
    } else {
        0.5
    }
}

/// Mean of per-prompt win fractions with a 95% normal interval from their sample variance
/// (for 0/1 outcomes this is the usual binomial interval).
pub fn rate(wins: &[f64]) -> (f64, (f64, f64)) {
    let n = wins.len().max(1) as f64;
    let p = wins.iter().sum::<f64>() / n;
    let var = wins.iter().map(|w| (w - p) * (w - p)).sum::<f64>() / n;
    let half = 1.96 * (var / n).sqrt();
    (p, ((p - half).max(0.0), (p + half).min(1.0)))
}

/// Win rate of `model` over `baseline` on the first `limit` prompts of `prompts` (default:
/// the world's test users' prompts in the seen phrasings).
pub fn win_rate(world_dir: &Path, model: &Path, baseline: &Path, prompts: Option<&Path>, limit: usize, how: &Sampling) -> Result<WinRate> {
    let world = load_world(world_dir)?;
    let device = gptlab_model::device::setup(gptlab_model::DeviceSpec::Cpu, 0)?;
    let a = roles::lm(model, device, Mode::Frozen)?;
    let b = roles::lm(baseline, device, Mode::Frozen)?;
    let path = prompts.map(Path::to_path_buf).unwrap_or_else(|| world_dir.join("prompts_test.jsonl"));
    let texts: Vec<String> = gptlab_data::read_prompts(&path)?.into_iter().take(limit).collect();
    let judged: Vec<_> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| world.judge_data(t).ok_or_else(|| Error::Input(format!("{}: prompt {} is not from this world", path.display(), i + 1))))
        .collect::<Result<_>>()?;
    let n_samples = if how.temperature > 0.0 { how.samples.max(1) } else { 1 };
    let held: Vec<_> = world.labelers.iter().filter(|l| l.held_out).collect();
    let mut rng = Rng::stream(how.seed, "eval/labelers");
    let (mut wins, mut lab_wins) = (vec![0.0; texts.len()], vec![0.0; texts.len()]);
    let (mut per_a, mut per_b) = (vec![0.0; texts.len()], vec![0.0; texts.len()]);
    for j in 0..n_samples {
        let sc = SampleConfig { max_new_tokens: 24, temperature: how.temperature, seed: stream_seed(how.seed, &format!("eval/sample/{j}")), ..Default::default() };
        let ra = chat_replies(&a.model, &a.tok, &texts, &sc)?;
        let rb = chat_replies(&b.model, &b.tok, &texts, &sc)?;
        for (i, p) in judged.iter().enumerate() {
            let (x, y) = (true_score(p, &ra[i]), true_score(p, &rb[i]));
            per_a[i] += x;
            per_b[i] += y;
            wins[i] += outcome(x, y);
            let l = held[i % held.len().max(1)];
            let (px, py) = (l.perceive(p, &ra[i], &mut rng), l.perceive(p, &rb[i], &mut rng));
            lab_wins[i] += outcome(px, py);
        }
    }
    let per_prompt = |v: Vec<f64>| v.into_iter().map(|w| w / n_samples as f64).collect::<Vec<_>>();
    let wins = per_prompt(wins);
    let mut by_family: BTreeMap<Family, FamilyStats> = BTreeMap::new();
    for (i, p) in judged.iter().enumerate() {
        let f = by_family.entry(p.family).or_default();
        f.prompts += 1;
        f.win_rate += wins[i];
        f.mean_true_score += per_a[i];
        f.mean_true_score_baseline += per_b[i];
    }
    for f in by_family.values_mut() {
        let k = (f.prompts.max(1) * n_samples) as f64;
        f.win_rate /= f.prompts.max(1) as f64;
        f.mean_true_score /= k;
        f.mean_true_score_baseline /= k;
    }
    let (p, ci) = rate(&wins);
    let n = (texts.len() * n_samples).max(1) as f64;
    Ok(WinRate {
        win_rate: p,
        ci95: ci,
        n: texts.len(),
        samples_per_prompt: n_samples,
        temperature: how.temperature,
        win_rate_held_out_labelers: rate(&per_prompt(lab_wins)).0,
        mean_true_score: per_a.iter().sum::<f64>() / n,
        mean_true_score_baseline: per_b.iter().sum::<f64>() / n,
        by_family,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_is_the_mean_with_a_normal_interval() {
        let (p, (lo, hi)) = rate(&[1.0, 0.0, 1.0, 1.0]);
        assert_eq!(p, 0.75);
        let half = 1.96 * (0.1875f64 / 4.0).sqrt();
        assert!((lo - (0.75 - half)).abs() < 1e-12 && hi == 1.0, "{lo} {hi}");
        assert_eq!(outcome(1.0, 0.0) + outcome(0.0, 1.0) + outcome(0.3, 0.3), 1.5);
    }
}
