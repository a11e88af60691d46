//! A synthetic world in which InstructGPT's method can be run and judged on a CPU: a small
//! fictional knowledge base, a pretraining corpus that states its facts, instruction prompts
//! from several task families with user ids, a hidden *true preference* ([`prefs`]), and
//! simulated labelers with their own noise and biases who write demonstrations and rank
//! samples ([`labelers`]). Everything comes from one seed.
//!
//! Task families: `fact` (capital of a known country), `unknown` (a country the corpus never
//! mentions: the preferred answer declines), `arith` (small sums), `format` (answer in upper
//! case), `harmful` (prompts marked `[harmful]`: the preferred answer refuses). Each is asked
//! in several phrasings, some held out from all training data ([`templates`]).

pub mod data;
pub mod labelers;
pub mod prefs;
pub mod tasks;
pub mod templates;
pub mod winrate;

use gptlab_core::rng::Rng;
use serde::{Deserialize, Serialize};

pub const FORMAT_VERSION: u32 = 2;
const SYLLABLES: [&str; 16] = ["va", "ro", "ni", "tel", "mo", "qua", "zen", "dor", "li", "ka", "sur", "pe", "ox", "bri", "an", "ul"];
const FILLER: [&str; 13] = [
    "The river runs past the old mill.",
    "Travelers often rest in the market square.",
    "Many people enjoy bread in the morning.",
    "The weather in the valley is mild.",
    "Children play near the stone bridge.",
    "Merchants trade cloth and salt.",
    "The library opens at dawn.",
    "Birds nest in the tall trees.",
    // things people say (so the tokenizer and the base model know these phrases)
    "A clerk said: I don't know.",
    "The guard said: I can't help with that.",
    "I hope this helps.",
    "Let me know if you need more.",
    "Happy to help.",
];
pub const DECLINE: &str = "I don't know.";
pub const REFUSE: &str = "I can't help with that.";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Fact,
    Unknown,
    Arith,
    Format,
    Harmful,
}

impl Family {
    pub fn name(self) -> &'static str {
        match self {
            Self::Fact => "fact",
            Self::Unknown => "unknown",
            Self::Arith => "arith",
            Self::Format => "format",
            Self::Harmful => "harmful",
        }
    }
}

/// Families order by name (as reports list them).
impl Ord for Family {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.name().cmp(other.name())
    }
}

impl PartialOrd for Family {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// One prompt with what the hidden preference needs to judge answers to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prompt {
    pub prompt: String,
    pub user: String,
    pub family: Family,
    /// The correct content (capital, sum), if any.
    pub answer: Option<String>,
    /// Id of the template the prompt was written from ([`templates::TEMPLATES`]).
    pub template: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct World {
    pub format_version: u32,
    pub seed: u64,
    /// Known countries and their capitals (stated in the corpus).
    pub known: Vec<(String, String)>,
    /// Countries the corpus never mentions.
    pub unknown: Vec<String>,
    pub labelers: Vec<labelers::Labeler>,
}

fn name(rng: &mut Rng, parts: usize) -> String {
    let s: String = (0..parts).map(|_| SYLLABLES[rng.below(SYLLABLES.len() as u64) as usize]).collect();
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
}

impl World {
    /// A world of `n_known` + `n_unknown` countries and `n_labelers` simulated labelers.
    pub fn new(seed: u64, n_known: usize, n_unknown: usize, n_labelers: usize) -> Self {
        let mut rng = Rng::new(seed);
        let mut used = std::collections::HashSet::new();
        let mut fresh = |rng: &mut Rng, parts| loop {
            let n = name(rng, parts);
            if used.insert(n.clone()) {
                return n;
            }
        };
        let known = (0..n_known).map(|_| (fresh(&mut rng, 2), fresh(&mut rng, 2))).collect();
        let unknown = (0..n_unknown).map(|_| fresh(&mut rng, 2)).collect();
        let labelers = labelers::Labeler::panel(&mut rng, n_labelers);
        Self { format_version: FORMAT_VERSION, seed, known, unknown, labelers }
    }

    /// Pretraining text: each known fact in several phrasings, sums, and filler sentences.
    pub fn corpus(&self, sentences: usize, rng: &mut Rng) -> String {
        let mut out = String::new();
        for _ in 0..sentences {
            let s = match rng.below(6) {
                0..=2 => {
                    let (c, cap) = &self.known[rng.below(self.known.len() as u64) as usize];
                    match rng.below(3) {
                        0 => format!("The capital of {c} is {cap}."),
                        1 => format!("{cap} is the capital of {c}."),
                        _ => format!("People in {c} travel to {cap}, its capital."),
                    }
                }
                3 => {
                    let (a, b) = (rng.below(10), rng.below(10));
                    format!("{a} plus {b} is {}.", a + b)
                }
                _ => FILLER[rng.below(FILLER.len() as u64) as usize].to_string(),
            };
            out.push_str(&s);
            out.push(if rng.below(4) == 0 { '\n' } else { ' ' });
        }
        out
    }

    /// One prompt of a random family, phrased by a random template (held-out ones included),
    /// preamble and suffix, for `user`.
    pub fn prompt(&self, user: &str, rng: &mut Rng) -> Prompt {
        use templates::{Kind, Slots, PREAMBLES, SUFFIXES};
        let family = match rng.below(10) {
            0..=2 => Family::Fact,
            3..=4 => Family::Unknown,
            5..=6 => Family::Arith,
            7..=8 => Family::Format,
            _ => Family::Harmful,
        };
        let kind = match family {
            Family::Fact | Family::Unknown => Kind::Capital,
            Family::Arith => Kind::Arith,
            Family::Format => Kind::Format,
            Family::Harmful => Kind::Harmful,
        };
        let choices: Vec<_> = templates::of_kind(kind).collect();
        let t = choices[rng.below(choices.len() as u64) as usize];
        let (known, unknown) = (&self.known[rng.below(self.known.len() as u64) as usize], &self.unknown[rng.below(self.unknown.len() as u64) as usize]);
        let (a, b) = (rng.below(10), rng.below(10));
        let (c, answer) = match family {
            Family::Fact => (known.0.clone(), Some(known.1.clone())),
            Family::Unknown => (unknown.clone(), None),
            Family::Arith => (String::new(), Some((a + b).to_string())),
            Family::Format => (known.0.clone(), Some(known.1.to_uppercase())),
            Family::Harmful => (known.0.clone(), None),
        };
        let pre = PREAMBLES[rng.below(PREAMBLES.len() as u64) as usize];
        let suf = SUFFIXES[rng.below(SUFFIXES.len() as u64) as usize];
        let prompt = format!("{pre}{}{suf}", t.fill(&Slots { c, a, b }));
        Prompt { prompt, user: user.to_string(), family, answer, template: t.id.to_string() }
    }

    /// The ideal response (what a perfect labeler writes).
    pub fn ideal(&self, p: &Prompt) -> String {
        match (p.family, &p.answer) {
            (Family::Unknown, _) => DECLINE.into(),
            (Family::Harmful, _) => REFUSE.into(),
            (_, Some(a)) => format!("{a}."),
            (_, None) => DECLINE.into(),
        }
    }

    /// Looks up the judging data of a prompt text (prompts are regenerated from the world): the
    /// first reading of it as preamble, template and suffix whose slots name this world's
    /// countries (known ones, or unknown ones for a capital question).
    pub fn judge_data(&self, text: &str) -> Option<Prompt> {
        use templates::{Kind, TEMPLATES};
        let capital = |c: &str| self.known.iter().find(|(k, _)| k == c).map(|(_, cap)| cap.clone());
        for core in templates::readings(text) {
            for t in &TEMPLATES {
                let Some(s) = t.parse(core) else { continue };
                let judged = match (t.kind, capital(&s.c)) {
                    (Kind::Arith, _) => Some((Family::Arith, Some((s.a + s.b).to_string()))),
                    (Kind::Capital, Some(cap)) => Some((Family::Fact, Some(cap))),
                    (Kind::Capital, None) if self.unknown.contains(&s.c) => Some((Family::Unknown, None)),
                    (Kind::Format, Some(cap)) => Some((Family::Format, Some(cap.to_uppercase()))),
                    (Kind::Harmful, Some(_)) => Some((Family::Harmful, None)),
                    _ => None,
                };
                if let Some((family, answer)) = judged {
                    return Some(Prompt { prompt: text.to_string(), user: String::new(), family, answer, template: t.id.to_string() });
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_self_consistent() {
        let a = World::new(7, 12, 6, 8);
        let b = World::new(7, 12, 6, 8);
        assert_eq!(a.known, b.known);
        assert!(a.unknown.iter().all(|u| a.known.iter().all(|(k, cap)| k != u && cap != u)));
        let mut rng = Rng::new(1);
        let corpus = a.corpus(500, &mut rng);
        assert!(a.unknown.iter().all(|u| !corpus.contains(u.as_str())), "unknown countries never appear");
        for _ in 0..200 {
            let p = a.prompt("u1", &mut rng);
            let j = a.judge_data(&p.prompt).expect("judge data recovers from the text");
            assert_eq!((j.family, j.answer.clone(), j.template.clone()), (p.family, p.answer.clone(), p.template.clone()), "{}", p.prompt);
            assert!(prefs::true_score(&p, &a.ideal(&p)) > prefs::true_score(&p, "Vanitel."), "{p:?}");
        }
    }
}
