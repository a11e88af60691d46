//! Simulated labelers. Each sees the true preference through their own noise (Gaussian, σ)
//! and bias (a taste for longer or shorter answers), sometimes slips when writing a
//! demonstration, and ranks K samples by what they perceive. Agreement between labelers on
//! shared comparisons is measured as in InstructGPT (≈ 72–77% there).

use super::{prefs, Prompt, World};
use gptlab_core::rng::Rng;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Labeler {
    pub id: String,
    /// Std-dev of perception noise on the true score.
    pub noise: f64,
    /// Added per word of the response (positive: likes long answers).
    pub length_bias: f64,
    /// Probability of writing a flawed demonstration.
    pub slip: f64,
    /// Held-out labelers never produce training data.
    pub held_out: bool,
}

fn gauss(rng: &mut Rng) -> f64 {
    let (u1, u2) = (rng.uniform().max(1e-12), rng.uniform());
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

impl Labeler {
    /// A panel; the last quarter (at least one) is held out.
    pub fn panel(rng: &mut Rng, n: usize) -> Vec<Self> {
        let held = (n / 4).max(1);
        (0..n)
            .map(|i| Self {
                id: format!("L{i}"),
                noise: 0.3 + 0.5 * rng.uniform(),
                length_bias: 0.1 * (rng.uniform() - 0.5),
                slip: 0.05 + 0.1 * rng.uniform(),
                held_out: i + held >= n,
            })
            .collect()
    }

    /// What this labeler perceives of a response.
    pub fn perceive(&self, p: &Prompt, response: &str, rng: &mut Rng) -> f64 {
        prefs::true_score(p, response) + self.length_bias * response.split_whitespace().count() as f64 + self.noise * gauss(rng)
    }

    /// Ranks completions best first by perceived score.
    pub fn rank(&self, p: &Prompt, completions: &[String], rng: &mut Rng) -> Vec<usize> {
        let scores: Vec<f64> = completions.iter().map(|c| self.perceive(p, c, rng)).collect();
        let mut idx: Vec<usize> = (0..completions.len()).collect();
        idx.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
        idx
    }

    /// A demonstration: the ideal answer, or with probability `slip` a flawed one.
    pub fn demonstrate(&self, world: &World, p: &Prompt, rng: &mut Rng) -> String {
        let ideal = world.ideal(p);
        if rng.uniform() < self.slip {
            let (_, wrong) = &world.known[rng.below(world.known.len() as u64) as usize];
            format!("{wrong}.")
        } else if self.length_bias > 0.03 {
            format!("{ideal} I hope this helps.")
        } else {
            ideal
        }
    }
}

/// Mean pairwise agreement: over prompts that several labelers rank, the fraction of
/// (labeler pair, completion pair) on which both order the completions the same way.
pub fn agreement(rankings: &[Vec<Vec<usize>>]) -> f64 {
    let (mut agree, mut total) = (0usize, 0usize);
    for per_prompt in rankings {
        let pos: Vec<Vec<usize>> = per_prompt
            .iter()
            .map(|r| {
                let mut p = vec![0; r.len()];
                for (rank, &i) in r.iter().enumerate() {
                    p[i] = rank;
                }
                p
            })
            .collect();
        for a in 0..pos.len() {
            for b in a + 1..pos.len() {
                let k = pos[a].len();
                for i in 0..k {
                    for j in i + 1..k {
                        total += 1;
                        agree += usize::from((pos[a][i] < pos[a][j]) == (pos[b][i] < pos[b][j]));
                    }
                }
            }
        }
    }
    agree as f64 / total.max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agreement_counts_pairs() {
        assert_eq!(agreement(&[vec![vec![0, 1, 2], vec![0, 1, 2]]]), 1.0);
        assert_eq!(agreement(&[vec![vec![0, 1], vec![1, 0]]]), 0.0);
        // 3 completions: 3 pairs; [0,1,2] vs [1,0,2] disagree on (0,1) only
        assert!((agreement(&[vec![vec![0, 1, 2], vec![1, 0, 2]]]) - 2.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn panel_agreement_is_human_like() {
        let world = World::new(3, 12, 6, 8);
        let mut rng = Rng::new(9);
        let mut all = vec![];
        for _ in 0..300 {
            let p = world.prompt("u", &mut rng);
            let comps = vec![world.ideal(&p), "Vanitel.".to_string(), format!("{} It is a fine city with many old bridges.", world.ideal(&p)), super::super::DECLINE.to_string()];
            all.push(world.labelers.iter().map(|l| l.rank(&p, &comps, &mut rng)).collect());
        }
        let a = agreement(&all);
        assert!((0.6..0.9).contains(&a), "agreement {a}");
    }
}
