//! Building a prompt dataset the way InstructGPT built theirs from API prompts (appendix A):
//! prompts are deduplicated, exactly and "by checking for prompts that share a long common
//! prefix"; each user contributes at most 200; and the train / validation / test splits are
//! made by user id, "so that the validation and test sets contain no data from users whose
//! data is in the training set". Deduplication runs over the whole pool before the split, so
//! no text, and no long prefix, is in two splits.
//!
//! Texts are compared after trimming and folding runs of white space; the prefix is counted
//! in characters. Users are split by a seeded shuffle of their sorted ids (the `data/split`
//! stream of [`gptlab_core::rng`]).

use gptlab_core::rng::Rng;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};

/// One logged prompt: its text, the user who sent it, and any other fields of the record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromptRecord {
    pub prompt: String,
    pub user: String,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// How duplicates are found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Dedup {
    /// Keep every prompt.
    Off,
    /// Drop a prompt whose (normalised) text was seen before.
    Exact,
    /// Also drop a prompt whose first `chars` characters equal those of one seen before.
    Prefix { chars: usize },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BuildOptions {
    pub dedup: Dedup,
    /// Most prompts kept per user (InstructGPT: 200); the first ones logged are kept.
    pub per_user_cap: usize,
    /// Shares of the users held out for validation and test.
    pub val_fraction: f64,
    pub test_fraction: f64,
    pub seed: u64,
}

impl Default for BuildOptions {
    fn default() -> Self {
        Self { dedup: Dedup::Prefix { chars: 64 }, per_user_cap: 200, val_fraction: 0.1, test_fraction: 0.1, seed: 0 }
    }
}

/// The three splits and what happened on the way.
#[derive(Debug, Clone, Serialize)]
pub struct Splits {
    pub train: Vec<PromptRecord>,
    pub val: Vec<PromptRecord>,
    pub test: Vec<PromptRecord>,
    pub report: BuildReport,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BuildReport {
    pub input: usize,
    pub exact_duplicates: usize,
    pub prefix_duplicates: usize,
    /// Prompts over a user's cap.
    pub capped: usize,
    /// Users in each split.
    pub users: [usize; 3],
    /// Prompts in each split.
    pub prompts: [usize; 3],
}

/// Text with its ends trimmed and inner runs of white space folded to one space.
pub fn normalise(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Deduplicates, caps and splits `records` (see the module docs).
pub fn build(records: Vec<PromptRecord>, o: &BuildOptions) -> Splits {
    let mut report = BuildReport { input: records.len(), ..Default::default() };
    let (mut texts, mut prefixes) = (HashSet::new(), HashSet::new());
    let mut per_user: HashMap<String, usize> = HashMap::new();
    let mut kept = vec![];
    for r in records {
        let norm = normalise(&r.prompt);
        if o.dedup != Dedup::Off && !texts.insert(norm.clone()) {
            report.exact_duplicates += 1;
            continue;
        }
        if let Dedup::Prefix { chars } = o.dedup {
            if norm.chars().count() >= chars && !prefixes.insert(norm.chars().take(chars).collect::<String>()) {
                report.prefix_duplicates += 1;
                continue;
            }
        }
        let n = per_user.entry(r.user.clone()).or_default();
        if *n >= o.per_user_cap {
            report.capped += 1;
            continue;
        }
        *n += 1;
        kept.push(r);
    }
    let split_of = assign_users(per_user.keys().cloned().collect(), o);
    let mut out: [Vec<PromptRecord>; 3] = Default::default();
    for r in kept {
        out[split_of[&r.user]].push(r);
    }
    for (i, v) in out.iter().enumerate() {
        report.prompts[i] = v.len();
    }
    for s in split_of.values() {
        report.users[*s] += 1;
    }
    let [train, val, test] = out;
    Splits { train, val, test, report }
}

fn assign_users(users: Vec<String>, o: &BuildOptions) -> BTreeMap<String, usize> {
    assign_keys(users, o.val_fraction, o.test_fraction, Rng::stream(o.seed, "data/split"))
}

/// Split index (0 train, 1 val, 2 test) of each distinct key: a shuffle (by `rng`) of the
/// sorted keys, the first `val_fraction` of them validation, the next `test_fraction` test
/// (each at least one key when its fraction is positive and a training key remains).
pub fn assign_keys(mut keys: Vec<String>, val_fraction: f64, test_fraction: f64, mut rng: Rng) -> BTreeMap<String, usize> {
    keys.sort();
    keys.dedup();
    rng.shuffle(&mut keys);
    let n = keys.len();
    let count = |f: f64| if f > 0.0 { ((n as f64 * f).round() as usize).max(1) } else { 0 };
    let n_val = count(val_fraction).min(n.saturating_sub(1));
    let n_test = count(test_fraction).min(n.saturating_sub(1 + n_val));
    keys.into_iter().enumerate().map(|(i, u)| (u, if i < n_val { 1 } else if i < n_val + n_test { 2 } else { 0 })).collect()
}

/// `items` in three splits (train, val, test) by `key`: every item with one key goes to the
/// same split (see [`assign_keys`]).
pub fn split_by_key<T>(items: Vec<T>, key: impl Fn(&T) -> String, val_fraction: f64, test_fraction: f64, rng: Rng) -> [Vec<T>; 3] {
    let split = assign_keys(items.iter().map(&key).collect(), val_fraction, test_fraction, rng);
    let mut out: [Vec<T>; 3] = Default::default();
    for it in items {
        out[split[&key(&it)]].push(it);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(p: &str, u: &str) -> PromptRecord {
        PromptRecord { prompt: p.into(), user: u.into(), extra: Default::default() }
    }

    #[test]
    fn dedup_cap_and_user_split() {
        let long = "Write a story about a dragon who lives under the old bridge by the river";
        let mut pool = vec![
            rec("What is 2 plus 3?", "a"),
            rec("  What is 2   plus 3? ", "b"), // the same text, spaced differently
            rec(long, "c"),
            rec(&format!("{long} and eats apples"), "d"), // shares a long prefix
            rec("short", "e"),
        ];
        for i in 0..5 {
            pool.push(rec(&format!("question number {i}"), "f"));
        }
        let o = BuildOptions { dedup: Dedup::Prefix { chars: 40 }, per_user_cap: 3, val_fraction: 0.2, test_fraction: 0.2, seed: 7 };
        let s = build(pool.clone(), &o);
        let r = &s.report;
        assert_eq!((r.input, r.exact_duplicates, r.prefix_duplicates, r.capped), (10, 1, 1, 2));
        assert_eq!(r.prompts.iter().sum::<usize>(), 6);
        // users b and d lost their only prompt; a, c, e, f remain: one each for val and test
        assert_eq!(r.users, [2, 1, 1]);
        let users = |v: &[PromptRecord]| v.iter().map(|x| x.user.clone()).collect::<HashSet<_>>();
        let (tr, va, te) = (users(&s.train), users(&s.val), users(&s.test));
        assert!(tr.is_disjoint(&va) && tr.is_disjoint(&te) && va.is_disjoint(&te));
        // no normalised text in two splits
        let texts = |v: &[PromptRecord]| v.iter().map(|x| normalise(&x.prompt)).collect::<HashSet<_>>();
        assert!(texts(&s.train).is_disjoint(&texts(&s.val)) && texts(&s.train).is_disjoint(&texts(&s.test)));
        // the same seed splits the same way; exact dedup alone keeps the long-prefix pair
        assert_eq!(build(pool.clone(), &o).report, s.report);
        let exact = build(pool.clone(), &BuildOptions { dedup: Dedup::Exact, ..o.clone() });
        assert_eq!((exact.report.exact_duplicates, exact.report.prefix_duplicates), (1, 0));
        let off = build(pool, &BuildOptions { dedup: Dedup::Off, per_user_cap: 200, ..o });
        assert_eq!(off.report.prompts.iter().sum::<usize>(), 10);
    }
}
