//! Simulated labelers. Each sees the true preference through their own noise (Gaussian, σ)
//! and bias (a taste for longer or shorter answers), and ranks K samples by what they
//! perceive. Agreement between labelers on shared comparisons is measured as in InstructGPT
//! (≈ 72–77% there).
//!
//! Writing a good demonstration is harder than recognising one, and these labelers show it:
//! each has habits that make their demonstrations worse than what they would rank first —
//! padding answers with a pleasantry (`verbosity`), forgetting the upper-case instruction
//! (`format_care`), making up a capital for a country they do not know (`guess`), and slips
//! (a wrong capital). A model that imitates them (SFT) inherits the habits; a model trained on
//! their rankings (RM → PPO) can shed them. That gap is what the demo measures.

use super::{prefs, Family, Prompt, World};
use gptlab_core::rng::Rng;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Labeler {
    pub id: String,
    /// Std-dev of perception noise on the true score.
    pub noise: f64,
    /// Added per word of the response (positive: likes long answers).
    pub length_bias: f64,
    /// Probability of writing a wrong capital in a demonstration.
    pub slip: f64,
    /// Probability of padding a demonstration with a pleasantry.
    #[serde(default)]
    pub verbosity: f64,
    /// Probability of following the upper-case instruction when demonstrating.
    #[serde(default = "one")]
    pub format_care: f64,
    /// Probability of making up a capital for an unknown country instead of declining.
    #[serde(default)]
    pub guess: f64,
    /// Held-out labelers never produce training data.
    pub held_out: bool,
}

fn one() -> f64 {
    1.0
}

/// Pleasantries verbose labelers append.
const PADDING: [&str; 3] = ["I hope this helps.", "Let me know if you need more.", "Happy to help."];

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
                noise: 0.15 + 0.35 * rng.uniform(),
                length_bias: 0.1 * (rng.uniform() - 0.5),
                slip: 0.02 + 0.06 * rng.uniform(),
                verbosity: 0.4 + 0.5 * rng.uniform(),
                format_care: 0.1 + 0.5 * rng.uniform(),
                guess: 0.3 + 0.5 * rng.uniform(),
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

    /// A demonstration: the ideal answer as this labeler's habits distort it.
    pub fn demonstrate(&self, world: &World, p: &Prompt, rng: &mut Rng) -> String {
        let random_capital = |rng: &mut Rng| world.known[rng.below(world.known.len() as u64) as usize].1.clone();
        let core = match p.family {
            Family::Unknown if rng.uniform() < self.guess => format!("{}.", random_capital(rng)),
            Family::Fact | Family::Format if rng.uniform() < self.slip => {
                let c = random_capital(rng);
                format!("{}.", if p.family == Family::Format && rng.uniform() < self.format_care { c.to_uppercase() } else { c })
            }
            Family::Format if rng.uniform() >= self.format_care => {
                let a = p.answer.as_deref().unwrap_or("");
                let mut c = a.chars();
                let title = c.next().map(|f| f.to_string() + &c.as_str().to_lowercase()).unwrap_or_default();
                format!("{title}.")
            }
            _ => world.ideal(p),
        };
        if rng.uniform() < self.verbosity {
            format!("{core} {}", PADDING[rng.below(PADDING.len() as u64) as usize])
        } else {
            core
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
    fn demonstrations_carry_the_labelers_habits() {
        let world = World::new(5, 12, 6, 8);
        let mut rng = Rng::new(2);
        let (mut padded, mut formats, mut lower, mut gap, mut n) = (0, 0, 0, 0.0, 0);
        for l in world.labelers.iter().filter(|l| !l.held_out) {
            for _ in 0..200 {
                let p = world.prompt("u", &mut rng);
                let d = l.demonstrate(&world, &p, &mut rng);
                padded += usize::from(PADDING.iter().any(|x| d.ends_with(x)));
                if p.family == Family::Format {
                    formats += 1;
                    lower += usize::from(d.chars().any(|c| c.is_lowercase()));
                }
                gap += prefs::true_score(&p, &world.ideal(&p)) - prefs::true_score(&p, &d);
                n += 1;
            }
        }
        assert!(padded > n / 4 && padded < n, "padded {padded} of {n}");
        assert!(lower > formats / 4, "format forgotten {lower} of {formats}");
        assert!(gap / n as f64 > 0.3, "demonstrations are clearly worse than ideal: mean gap {}", gap / n as f64);
    }

    #[test]
    fn panel_agreement_is_human_like() {
        let world = World::new(3, 12, 6, 8);
        let mut rng = Rng::new(9);
        let mut all = vec![];
        for _ in 0..300 {
            let p = world.prompt("u", &mut rng);
            // what a model's K samples look like: mostly the same answer, padded or not
            let i = world.ideal(&p);
            let comps = vec![i.clone(), format!("{i} {}", PADDING[0]), format!("{i} {}", PADDING[2]), "Vanitel.".to_string()];
            all.push(world.labelers.iter().map(|l| l.rank(&p, &comps, &mut rng)).collect());
        }
        let a = agreement(&all);
        assert!((0.6..0.9).contains(&a), "agreement {a}");
    }
}
