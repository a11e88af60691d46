//! The world's "public NLP tasks": held-out tests of what pretraining taught, in the
//! pretraining text's own format (no chat rendering), that no instruction data covers. They
//! measure InstructGPT's *alignment tax* at toy scale: InstructGPT saw fine-tuning on
//! instructions regress SQuAD, DROP, HellaSwag and WMT, and added the pretraining mix (PPO-ptx)
//! to win them back. Score any language-model checkpoint (pretrained, SFT, PPO, PPO-ptx) with
//! [`score`], beside its corpus loss.
//!
//! # Closed-book fact completion (like a cloze or closed-book QA task)
//! For every known country, two prefixes in the phrasings [`World::corpus`] uses to state a
//! capital with the capital last: `The capital of {country} is` (from `The capital of
//! {country} is {capital}.`) and `People in {country} travel to` (from `People in {country}
//! travel to {capital}, its capital.`). (The corpus's third phrasing, `{capital} is the capital
//! of {country}.`, names the capital first, so it cannot be completed with it.) The prefix is
//! the whole input, encoded as the corpus is (no BOS, no chat template); the model continues it
//! greedily (temperature 0, at most [`FACT_NEW_TOKENS`] tokens, stopping at the end token).
//! An item is right when the continuation, with leading whitespace removed and compared
//! case-insensitively, starts with the capital and the capital is not the start of a longer
//! word (the next character, if any, is not alphanumeric): ` Oxpe.`, ` Oxpe, its capital`,
//! ` oxpe` count; ` Oxpeka` and ` Ox` do not (text after a special token the model emits is
//! dropped first). Score: the fraction right. Greedy decoding makes
//! it deterministic; the seed plays no part.
//!
//! # Sentence completion (like HellaSwag)
//! The pretraining corpus draws each sentence independently of the one before it, so "which
//! sentence comes next" has no right answer in this world: a HellaSwag-style item here instead
//! asks for the true *ending* of a sentence whose beginning determines it, among endings that
//! the same kind of sentence would have with other facts. Items come from fresh corpus text:
//! [`World::corpus`] run on the stream `eval/tasks/text` of `seed` (pretraining text comes from
//! the stream `world/data` of the world's seed; the world's sentences are few, so the held-out
//! text repeats sentences pretraining saw: the task measures retention, not generalisation).
//! Each of its first [`SENTENCE_ITEMS`] sentences becomes one item, split by kind:
//!
//! | kind | context ends | true ending | distractor endings |
//! |---|---|---|---|
//! | `capital_of` | `The capital of Moul is` | ` Oxpe.` | other known capitals |
//! | `travel_to` | `People in Moul travel to` | ` Oxpe, its capital.` | the same with other capitals |
//! | `is_capital_of` | `Oxpe is the capital of` | ` Moul.` | other known countries |
//! | `sum` | `7 plus 9 is` | ` 16.` | other sums 0–18 |
//! | `filler` | the first ⌈n/2⌉ words of a filler sentence | its other words | the second halves of other filler sentences |
//!
//! The context is the preceding sentence with its separator (as in running corpus text, and as
//! HellaSwag gives a context sentence) followed by the sentence's first part. Every item has
//! exactly one ending that makes a sentence the corpus generator can write: a fact, a correct
//! sum, or one of the fixed filler sentences (the tests check this), so the right answer is
//! what pretraining taught. Candidates: the true ending and [`CHOICES`]` − 1` distractors
//! drawn without replacement (fewer when a world has too few alternatives), in an order drawn
//! from the stream `eval/tasks/choices` of `seed` (so ties, which [`pick`] breaks to the first
//! candidate, favour no answer).
//!
//! The model picks the candidate with the highest *mean log-probability per token* of the
//! ending given the context (the ending encoded separately and appended to the context's
//! tokens: the GPT-2 pre-tokenizer splits before a space, so this is how the running text
//! encodes it; the context is cut from the left to fit the model's positions). This is the
//! per-token length normalisation GPT-3 used for its multiple-choice tasks (lm-eval-harness's
//! `acc_norm` normalises per byte instead): an item's endings can differ in token count (` 7.`
//! against ` 16.`, names of one or two tokens), and a sum of log-probabilities would favour
//! the shorter. Score: accuracy; chance: the mean over items of 1 / candidates (1/[`CHOICES`]
//! when every item has a full set).

use super::{World, FILLER};
use crate::{Error, Result};
use gptlab_core::rng::Rng;
use gptlab_engine::{generate, SampleConfig};
use gptlab_model::Gpt;
use gptlab_tokenizer::Tokenizer;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tch::{Kind, Tensor};

/// Candidates per sentence-completion item (HellaSwag's four).
pub const CHOICES: usize = 4;
/// Sentence-completion items (sentences of held-out text).
pub const SENTENCE_ITEMS: usize = 200;
/// Greedy tokens generated per fact-completion prefix (a capital and the character after it,
/// even for a character-level tokenizer).
pub const FACT_NEW_TOKENS: usize = 10;
/// Sequences per forward pass when scoring candidates.
const BATCH: usize = 32;

/// Items per task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskCounts {
    pub fact_completion: usize,
    pub next_sentence: usize,
    /// Candidates per sentence-completion item (at most).
    pub candidates: usize,
}

/// Items and accuracy of one part of a task.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Part {
    pub items: usize,
    pub accuracy: f64,
}

/// A model's scores on the world's public tasks (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskScores {
    /// Fraction of fact prefixes greedily completed with the right capital.
    pub fact_completion: f64,
    /// Sentence-completion accuracy (the HellaSwag-like task).
    pub next_sentence: f64,
    /// Its chance level (1 / candidates, averaged over items).
    pub next_sentence_chance: f64,
    pub items: TaskCounts,
    /// Fact completion per phrasing (`capital_of`, `travel_to`).
    pub fact_by_phrasing: BTreeMap<String, Part>,
    /// Sentence completion per kind of sentence (`capital_of`, `travel_to`, `is_capital_of`,
    /// `sum`, `filler`).
    pub next_sentence_by_kind: BTreeMap<String, Part>,
}

/// One fact-completion item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FactItem {
    pub phrasing: String,
    pub prefix: String,
    pub capital: String,
}

/// One sentence-completion item: the model picks among `candidates` (endings) given `context`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChoiceItem {
    pub kind: String,
    pub context: String,
    pub candidates: Vec<String>,
    /// Index of the true ending in `candidates`.
    pub answer: usize,
}

/// The fact-completion items: both capital-last phrasings for each known country.
pub fn fact_items(world: &World) -> Vec<FactItem> {
    let mut out = vec![];
    for (c, cap) in &world.known {
        out.push(FactItem { phrasing: "capital_of".into(), prefix: format!("The capital of {c} is"), capital: cap.clone() });
        out.push(FactItem { phrasing: "travel_to".into(), prefix: format!("People in {c} travel to"), capital: cap.clone() });
    }
    out
}

/// Whether a continuation starts with `answer` (see the module docs: leading whitespace
/// dropped, case ignored, and no letter or digit right after it).
pub fn starts_with_answer(continuation: &str, answer: &str) -> bool {
    let got: Vec<char> = continuation.trim_start().chars().flat_map(char::to_lowercase).collect();
    let want: Vec<char> = answer.trim().chars().flat_map(char::to_lowercase).collect();
    !want.is_empty() && got.len() >= want.len() && got[..want.len()] == want[..] && got.get(want.len()).is_none_or(|c| !c.is_alphanumeric())
}

/// A sentence of the corpus split into the part that determines its ending, the ending, and
/// the endings the same kind of sentence has with other facts.
struct Split {
    kind: &'static str,
    head: String,
    ending: String,
    alternatives: Vec<String>,
}

/// Filler sentence `s` split after its first ⌈n/2⌉ words.
fn filler_halves(s: &str) -> (String, String) {
    let words: Vec<&str> = s.split(' ').collect();
    let k = words.len().div_ceil(2);
    (words[..k].join(" "), format!(" {}", words[k..].join(" ")))
}

/// Recognises one corpus sentence (with its final period) by the templates of
/// [`World::corpus`]; `None` for a sentence of no known kind.
fn split_sentence(world: &World, s: &str) -> Option<Split> {
    let others = |pick: &dyn Fn(&(String, String)) -> Option<String>| world.known.iter().filter_map(pick).collect::<Vec<_>>();
    let known = |c: &str, cap: &str| world.known.iter().any(|(k, v)| k == c && v == cap);
    let body = s.strip_suffix('.')?;
    if let Some((c, cap)) = body.strip_prefix("The capital of ").and_then(|r| r.split_once(" is ")) {
        if known(c, cap) {
            return Some(Split { kind: "capital_of", head: format!("The capital of {c} is"), ending: format!(" {cap}."), alternatives: others(&|(_, v)| (v != cap).then(|| format!(" {v}."))) });
        }
    }
    if let Some((c, cap)) = body.strip_prefix("People in ").and_then(|r| r.strip_suffix(", its capital")).and_then(|r| r.split_once(" travel to ")) {
        if known(c, cap) {
            return Some(Split {
                kind: "travel_to",
                head: format!("People in {c} travel to"),
                ending: format!(" {cap}, its capital."),
                alternatives: others(&|(_, v)| (v != cap).then(|| format!(" {v}, its capital."))),
            });
        }
    }
    if let Some((cap, c)) = body.split_once(" is the capital of ") {
        if known(c, cap) {
            return Some(Split { kind: "is_capital_of", head: format!("{cap} is the capital of"), ending: format!(" {c}."), alternatives: others(&|(k, _)| (k != c).then(|| format!(" {k}."))) });
        }
    }
    if let Some((a, rest)) = body.split_once(" plus ") {
        let (b, sum) = rest.split_once(" is ")?;
        let (a, b, sum) = (a.parse::<u64>().ok()?, b.parse::<u64>().ok()?, sum.parse::<u64>().ok()?);
        if a + b == sum && a < 10 && b < 10 {
            return Some(Split { kind: "sum", head: format!("{a} plus {b} is"), ending: format!(" {sum}."), alternatives: (0..=18).filter(|&x| x != sum).map(|x| format!(" {x}.")).collect() });
        }
        return None;
    }
    if FILLER.contains(&s) {
        let (head, ending) = filler_halves(s);
        let alternatives = FILLER.iter().map(|f| filler_halves(f).1).filter(|e| *e != ending).collect();
        return Some(Split { kind: "filler", head, ending, alternatives });
    }
    None
}

/// Corpus text as (sentence with its period, the separator after it).
fn sentences(text: &str) -> Vec<(String, char)> {
    let mut out = vec![];
    let mut cur = String::new();
    let mut chars = text.chars().peekable();
    while let Some(ch) = chars.next() {
        cur.push(ch);
        if ch == '.' {
            match chars.peek() {
                Some(&sep) if sep == ' ' || sep == '\n' => {
                    chars.next();
                    out.push((std::mem::take(&mut cur), sep));
                }
                None => out.push((std::mem::take(&mut cur), ' ')),
                _ => {}
            }
        }
    }
    out
}

/// The sentence-completion items for `seed` (see the module docs).
pub fn choice_items(world: &World, seed: u64) -> Vec<ChoiceItem> {
    let text = world.corpus(SENTENCE_ITEMS, &mut Rng::stream(seed, "eval/tasks/text"));
    let mut rng = Rng::stream(seed, "eval/tasks/choices");
    let sents = sentences(&text);
    let mut out = vec![];
    for (i, (s, _)) in sents.iter().enumerate() {
        let Some(sp) = split_sentence(world, s) else { continue };
        let mut pool = sp.alternatives;
        rng.shuffle(&mut pool);
        pool.truncate(CHOICES - 1);
        let answer = rng.below(pool.len() as u64 + 1) as usize;
        pool.insert(answer, sp.ending);
        let context = match i.checked_sub(1).map(|j| &sents[j]) {
            Some((prev, sep)) => format!("{prev}{sep}{}", sp.head),
            None => sp.head,
        };
        out.push(ChoiceItem { kind: sp.kind.into(), context, candidates: pool, answer });
    }
    out
}

/// The candidate with the highest score (the first of equals; NaN scores never win).
pub fn pick(scores: &[f64]) -> usize {
    let mut best = 0;
    for (i, &s) in scores.iter().enumerate() {
        if s > scores[best] || scores[best].is_nan() {
            best = i;
        }
    }
    best
}

/// Accuracy of picking by `scores` (one score per candidate of each item).
pub fn accuracy(items: &[ChoiceItem], scores: &[Vec<f64>]) -> f64 {
    let right = items.iter().zip(scores).filter(|(it, s)| pick(s) == it.answer).count();
    right as f64 / items.len().max(1) as f64
}

/// Log-likelihood of a continuation given its context.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Loglik {
    /// Sum of the continuation tokens' log-probabilities.
    pub sum: f64,
    pub tokens: usize,
}

impl Loglik {
    /// Mean log-probability per token.
    pub fn mean(&self) -> f64 {
        self.sum / self.tokens.max(1) as f64
    }
}

/// Log-likelihood of each `continuation` after its `context` (token ids; the context is cut
/// from the left to fit the model's positions and must keep at least one token), in padded
/// batches.
pub fn continuation_logliks(model: &Gpt, pairs: &[(Vec<u32>, Vec<u32>)]) -> Result<Vec<Loglik>> {
    let ctx_max = model.cfg.n_positions as usize;
    let mut seqs = Vec::with_capacity(pairs.len());
    for (i, (ctx, cont)) in pairs.iter().enumerate() {
        if ctx.is_empty() || cont.is_empty() || cont.len() >= ctx_max {
            return Err(Error::Input(format!("scoring pair {i}: needs a context, and a continuation of 1..{} tokens (got {} and {})", ctx_max - 1, ctx.len(), cont.len())));
        }
        let keep = ctx.len().min(ctx_max - cont.len());
        let mut s: Vec<i64> = ctx[ctx.len() - keep..].iter().map(|&t| i64::from(t)).collect();
        let from = s.len();
        s.extend(cont.iter().map(|&t| i64::from(t)));
        seqs.push((s, from));
    }
    let dev = model.device();
    let mut out = Vec::with_capacity(pairs.len());
    tch::no_grad(|| -> Result<()> {
        for chunk in seqs.chunks(BATCH) {
            let len = chunk.iter().map(|(s, _)| s.len()).max().unwrap_or(2);
            let (mut x, mut y) = (vec![0i64; chunk.len() * len], vec![-1i64; chunk.len() * (len - 1)]);
            for (b, (s, from)) in chunk.iter().enumerate() {
                x[b * len..b * len + s.len()].copy_from_slice(s);
                // position t predicts token t + 1: the continuation's tokens are s[from..]
                for t in from - 1..s.len() - 1 {
                    y[b * (len - 1) + t] = s[t + 1];
                }
            }
            let n = chunk.len() as i64;
            let x = Tensor::from_slice(&x).view([n, len as i64]).to_device(dev);
            let y = Tensor::from_slice(&y).view([n, len as i64 - 1]).to_device(dev);
            let logits = model.forward(&x, false)?.narrow(1, 0, len as i64 - 1);
            let sums = gptlab_model::ops::token_logprobs(&logits, &y).sum_dim_intlist(1, false, Kind::Double).to_device(tch::Device::Cpu);
            let sums = Vec::<f64>::try_from(sums)?;
            out.extend(chunk.iter().zip(sums).map(|((s, from), sum)| Loglik { sum, tokens: s.len() - from }));
        }
        Ok(())
    })?;
    Ok(out)
}

fn part(right: &[(String, bool)]) -> BTreeMap<String, Part> {
    let mut m: BTreeMap<String, Part> = BTreeMap::new();
    for (k, ok) in right {
        let p = m.entry(k.clone()).or_default();
        p.items += 1;
        p.accuracy += f64::from(u8::from(*ok));
    }
    m.values_mut().for_each(|p| p.accuracy /= p.items as f64);
    m
}

fn mean(right: &[(String, bool)]) -> f64 {
    right.iter().filter(|(_, ok)| *ok).count() as f64 / right.len().max(1) as f64
}

/// Scores `model` (with its tokenizer `tok`) on the world's public tasks; `seed` draws the
/// sentence-completion items (see the module docs).
pub fn score(world: &World, model: &Gpt, tok: &Tokenizer, seed: u64) -> Result<TaskScores> {
    let facts = fact_items(world);
    let prompts = facts.iter().map(|f| tok.encode(&f.prefix)).collect::<std::result::Result<Vec<_>, _>>()?;
    let greedy = SampleConfig { max_new_tokens: FACT_NEW_TOKENS, temperature: 0.0, stop_at_end: true, ..Default::default() };
    let mut fact_right = vec![];
    for (items, ids) in facts.chunks(BATCH).zip(prompts.chunks(BATCH)) {
        for (f, g) in items.iter().zip(generate(model, Some(tok), ids, &greedy)?) {
            fact_right.push((f.phrasing.clone(), starts_with_answer(&gptlab_engine::chat::cut_at_special(g.text), &f.capital)));
        }
    }

    let items = choice_items(world, seed);
    let mut pairs = vec![];
    for it in &items {
        let ctx = tok.encode(&it.context)?;
        for c in &it.candidates {
            pairs.push((ctx.clone(), tok.encode(c)?));
        }
    }
    let ll = continuation_logliks(model, &pairs)?;
    let mut at = 0;
    let mut choice_right = vec![];
    for it in &items {
        let scores: Vec<f64> = ll[at..at + it.candidates.len()].iter().map(Loglik::mean).collect();
        at += it.candidates.len();
        choice_right.push((it.kind.clone(), pick(&scores) == it.answer));
    }
    let chance = items.iter().map(|it| 1.0 / it.candidates.len() as f64).sum::<f64>() / items.len().max(1) as f64;
    Ok(TaskScores {
        fact_completion: mean(&fact_right),
        next_sentence: mean(&choice_right),
        next_sentence_chance: chance,
        items: TaskCounts { fact_completion: facts.len(), next_sentence: items.len(), candidates: CHOICES },
        fact_by_phrasing: part(&fact_right),
        next_sentence_by_kind: part(&choice_right),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use gptlab_model::GptConfig;
    use tch::nn::VarStore;

    fn world() -> World {
        World::new(3, 12, 4, 8)
    }

    /// Every sentence the corpus generator can write.
    fn true_sentences(w: &World) -> std::collections::HashSet<String> {
        let mut s: std::collections::HashSet<String> = FILLER.iter().map(|f| f.to_string()).collect();
        for (c, cap) in &w.known {
            s.insert(format!("The capital of {c} is {cap}."));
            s.insert(format!("{cap} is the capital of {c}."));
            s.insert(format!("People in {c} travel to {cap}, its capital."));
        }
        for a in 0..10 {
            for b in 0..10 {
                s.insert(format!("{a} plus {b} is {}.", a + b));
            }
        }
        s
    }

    #[test]
    fn every_corpus_sentence_becomes_an_item_with_one_right_ending() {
        let w = world();
        let items = choice_items(&w, 5);
        // a change to the corpus's templates that this module does not know shows up here
        assert_eq!(items.len(), SENTENCE_ITEMS, "every generated sentence is recognised");
        let kinds: std::collections::BTreeSet<&str> = items.iter().map(|i| i.kind.as_str()).collect();
        assert_eq!(kinds.len(), 5, "{kinds:?}");
        let truth = true_sentences(&w);
        let is_true = |it: &ChoiceItem, c: &str| {
            // the sentence under test is the context after the previous sentence's separator
            let head = it.context.rsplit_once(['\n']).map_or(it.context.as_str(), |x| x.1);
            let head = head.rsplit_once(". ").map_or(head, |x| x.1);
            truth.contains(&format!("{head}{c}"))
        };
        for it in &items {
            assert_eq!(it.candidates.len(), CHOICES);
            let distinct: std::collections::HashSet<&String> = it.candidates.iter().collect();
            assert_eq!(distinct.len(), CHOICES, "{it:?}");
            let right: Vec<usize> = (0..CHOICES).filter(|&j| is_true(it, &it.candidates[j])).collect();
            assert_eq!(right, vec![it.answer], "exactly the answer makes a true sentence: {it:?}");
        }
        // an oracle that knows the world scores 1, its opposite 0; the answer's place is drawn
        let oracle: Vec<Vec<f64>> = items.iter().map(|it| it.candidates.iter().map(|c| f64::from(u8::from(is_true(it, c)))).collect()).collect();
        assert_eq!(accuracy(&items, &oracle), 1.0);
        let wrong: Vec<Vec<f64>> = oracle.iter().map(|s| s.iter().map(|x| -x).collect()).collect();
        assert_eq!(accuracy(&items, &wrong), 0.0);
        let first = items.iter().filter(|it| it.answer == 0).count() as f64 / items.len() as f64;
        assert!((0.1..0.4).contains(&first), "the answer sits first in {first} of the items");
    }

    #[test]
    fn items_are_determined_by_the_seed() {
        let w = world();
        assert_eq!(choice_items(&w, 9), choice_items(&w, 9));
        assert_ne!(choice_items(&w, 9), choice_items(&w, 10));
        assert_eq!(fact_items(&w).len(), 2 * w.known.len());
    }

    #[test]
    fn pick_is_the_first_argmax() {
        assert_eq!(pick(&[-3.0, -1.0, -2.0, -1.0]), 1);
        assert_eq!(pick(&[0.0, 0.0]), 0);
        assert_eq!(pick(&[f64::NAN, -5.0]), 1);
        assert_eq!(pick(&[-5.0, f64::NAN]), 0);
    }

    #[test]
    fn answers_match_after_whitespace_and_case() {
        assert!(starts_with_answer(" Oxpe.", "Oxpe"));
        assert!(starts_with_answer("\n oxpe, its capital", "Oxpe"));
        assert!(starts_with_answer(" Oxpe", "Oxpe"));
        assert!(!starts_with_answer(" Oxpeka.", "Oxpe"));
        assert!(!starts_with_answer(" Ox", "Oxpe"));
        assert!(!starts_with_answer(" Zenpe.", "Oxpe"));
        assert!(!starts_with_answer(" x", ""));
    }

    fn tiny(w: &World, positions: i64) -> (VarStore, Gpt, Tokenizer) {
        tch::manual_seed(0);
        let text = w.corpus(300, &mut Rng::new(1));
        let tok = Tokenizer::train(&[text], gptlab_tokenizer::Kind::Char, 0).expect("tok");
        let vs = VarStore::new(tch::Device::Cpu);
        let model = Gpt::new(&vs.root(), &GptConfig::new(tok.vocab_size() as i64, positions, 2, 2, 32)).expect("model");
        (vs, model, tok)
    }

    #[test]
    fn batched_logliks_match_one_sequence_at_a_time() {
        let w = world();
        let (_vs, model, _tok) = tiny(&w, 16);
        let pairs: Vec<(Vec<u32>, Vec<u32>)> = vec![(vec![5, 6, 7], vec![8, 9]), (vec![1], vec![2, 3, 4, 5, 6]), ((0..20).collect(), vec![10, 11, 12])];
        let got = continuation_logliks(&model, &pairs).expect("ll");
        for ((ctx, cont), g) in pairs.iter().zip(&got) {
            // the slow way: the whole (cut) sequence alone, log-softmax by hand
            let keep = ctx.len().min(16 - cont.len());
            let seq: Vec<i64> = ctx[ctx.len() - keep..].iter().chain(cont).map(|&t| i64::from(t)).collect();
            let logits = tch::no_grad(|| model.forward(&Tensor::from_slice(&seq).view([1, -1]), false)).expect("fwd");
            let mut want = 0.0;
            for t in keep..seq.len() {
                let row: Vec<f64> = (0..logits.size()[2]).map(|v| logits.double_value(&[0, t as i64 - 1, v])).collect();
                let lse = row.iter().map(|x| x.exp()).sum::<f64>().ln();
                want += row[seq[t] as usize] - lse;
            }
            assert_eq!(g.tokens, cont.len());
            assert!((g.sum - want).abs() < 1e-4, "{} vs {want}", g.sum);
        }
        assert!(continuation_logliks(&model, &[(vec![], vec![1])]).is_err());
    }

    #[test]
    fn an_untrained_model_scores_near_chance() {
        let w = world();
        let (_vs, model, tok) = tiny(&w, 128);
        let s = score(&w, &model, &tok, 0).expect("score");
        assert_eq!(s.items, TaskCounts { fact_completion: 2 * w.known.len(), next_sentence: SENTENCE_ITEMS, candidates: CHOICES });
        assert!((s.next_sentence_chance - 0.25).abs() < 1e-12);
        assert!(s.fact_completion <= 0.05, "{s:?}");
        assert!((0.1..=0.42).contains(&s.next_sentence), "{s:?}");
        assert_eq!(s.next_sentence_by_kind.values().map(|p| p.items).sum::<usize>(), SENTENCE_ITEMS);
        assert_eq!(score(&w, &model, &tok, 0).expect("again"), s, "deterministic");
    }
}
