//! Inter-labeler agreement on K-way rankings with ties (InstructGPT reports how often its
//! training and held-out labelers agree with each other).
//!
//! An [`Item`] is one ranking task: K outputs, ranked by several labelers, each ranking a list
//! of tie groups best first (`[[2], [0, 1], [3]]`: 2 best, 0 and 1 tied, 3 worst), as
//! [`gptlab_data::Comparison::ranking`]. [`agreement`] measures, over the items that at least
//! two non-gold labelers ranked ("shared items"), three figures per group of labelers
//! (training labelers, held-out labelers, and all non-gold labelers, including mixed pairs):
//! - pairwise agreement: for each pair of labelers on an item and each output pair i < j,
//!   whether both judge it alike ("i better", "tie", "j better"); `strict` counts only the same
//!   judgement, `ties_half` also counts a tie against a strict order as ½ (opposite orders 0);
//! - Kendall's τ-b between two labelers' rankings of an item, averaged over (pair, item);
//! - Krippendorff's α, ordinal metric, with the units (item, output) and as values each
//!   output's average rank in each labeler's ranking (ties share the mean of their ranks, so a
//!   position means the same whatever ties come before it; a tie group's index would put the
//!   last of [[0, 1, 2], [3]] level with the second of a strict ranking).
//!
//! Each figure has a 95% percentile bootstrap interval that resamples items (the labels of one
//! item are not independent), [`BOOTSTRAP_RESAMPLES`] times, from the stream
//! `label/agreement/bootstrap/<group>` of the seed. Gold labels (the admin's) enter no group;
//! [`LabelerAgreement`] gives each labeler's agreement with them.

pub mod stats;

use crate::{Error, Result};
use gptlab_core::rng::Rng;
use serde::{Deserialize, Serialize};
use stats::{Coincidences, Metric};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// Who gave a label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Group {
    /// A training labeler (whose labels train the models).
    Labeler,
    /// A held-out labeler (whose labels train nothing).
    HeldOut,
    /// The admin's gold label.
    Gold,
}

/// One labeler's ranking of an item: tie groups of output indices, best first, partitioning
/// `0..k`.
#[derive(Debug, Clone, PartialEq)]
pub struct Label {
    pub labeler: String,
    pub group: Group,
    pub ranking: Vec<Vec<usize>>,
}

/// One ranking task: `k` outputs and their labels (at most one per labeler).
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub id: String,
    pub k: usize,
    pub labels: Vec<Label>,
}

/// Bootstrap resamples per interval.
pub const BOOTSTRAP_RESAMPLES: usize = 1000;

/// A figure over one group's shared items.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Estimate {
    /// `None` when there is nothing to measure (no shared item, or the figure is undefined).
    pub value: Option<f64>,
    /// What the figure averages over: output-pair comparisons (pairwise agreement), (labeler
    /// pair, item) pairs with τ-b defined (τ-b), pairable values (α).
    pub n: usize,
    /// The items the figure covers (those the bootstrap resamples).
    pub items: usize,
    /// The 2.5th and 97.5th percentiles of the figure over the bootstrap resamples (each
    /// `items` items drawn with replacement; resamples where the figure is undefined are left
    /// out); `None` with `value`.
    pub ci95: Option<[f64; 2]>,
}

/// A figure for training-labeler pairs, held-out pairs, and all pairs of non-gold labelers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ByGroup {
    pub labelers: Estimate,
    pub held_out: Estimate,
    pub all: Estimate,
}

/// InstructGPT's reported agreement, for orientation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PaperAgreement {
    pub labelers: f64,
    pub held_out: f64,
    pub note: &'static str,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairwiseAgreement {
    /// Share of (labeler pair, output pair) comparisons judged alike.
    pub strict: ByGroup,
    /// The same, a tie against a strict order counting ½.
    pub ties_half: ByGroup,
    pub paper: PaperAgreement,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KendallTauB {
    pub labelers: Estimate,
    pub held_out: Estimate,
    pub all: Estimate,
    /// (Labeler pair, item) pairs left out because a ranking is one tie (τ-b undefined).
    pub undefined: GroupCounts,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupCounts {
    pub labelers: usize,
    pub held_out: usize,
    pub all: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KrippendorffAlpha {
    /// Always `ordinal`.
    pub metric: Metric,
    /// Always `average_rank`: a value is an output's average rank in one labeler's ranking.
    pub values: &'static str,
    pub labelers: Estimate,
    pub held_out: Estimate,
    pub all: Estimate,
}

/// One labeler's agreement (ties ½) with the others.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabelerAgreement {
    pub labeler: String,
    pub group: Group,
    /// Items this labeler ranked.
    pub items: usize,
    /// Of those, items another non-gold labeler ranked too.
    pub shared_items: usize,
    /// Pairwise agreement (ties ½) with every other non-gold labeler on the shared items.
    pub agreement: Option<f64>,
    pub comparisons: usize,
    /// Pairwise agreement (ties ½) with the gold labels (other than this labeler's own).
    pub gold_agreement: Option<f64>,
    pub gold_comparisons: usize,
}

/// How the intervals were drawn.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bootstrap {
    pub resamples: usize,
    pub seed: u64,
    /// The stream name; `<group>` is `labelers`, `held_out` or `all`.
    pub stream: &'static str,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgreementReport {
    pub items: usize,
    /// Items at least two non-gold labelers ranked (all figures but gold agreement use these).
    pub shared_items: usize,
    pub labels: usize,
    pub bootstrap: Bootstrap,
    pub pairwise_agreement: PairwiseAgreement,
    pub kendall_tau_b: KendallTauB,
    pub krippendorff_alpha: KrippendorffAlpha,
    /// Sorted by labeler id.
    pub per_labeler: Vec<LabelerAgreement>,
}

const PAPER_NOTE: &str = "InstructGPT (Ouyang et al. 2022, §3.4): training labelers agree with each other 72.6 ± 1.5% of the time, held-out labelers 77.3 ± 1.3%. The paper does not spell out its definition (which outputs are compared, how ties count); compare with `strict` and `ties_half` for orientation only.";

/// The three groups of labeler pairs.
#[derive(Clone, Copy)]
enum Pairs {
    Labelers,
    HeldOut,
    All,
}

impl Pairs {
    fn admits(self, g: Group) -> bool {
        match self {
            Pairs::Labelers => g == Group::Labeler,
            Pairs::HeldOut => g == Group::HeldOut,
            Pairs::All => g != Group::Gold,
        }
    }
    fn name(self) -> &'static str {
        match self {
            Pairs::Labelers => "labelers",
            Pairs::HeldOut => "held_out",
            Pairs::All => "all",
        }
    }
}

/// A validated label: its labeler's index, group, tie-group index and doubled average rank
/// per output.
struct Prepared {
    who: usize,
    group: Group,
    pos: Vec<usize>,
    doubled: Vec<usize>,
}

/// One item's sums for one group of pairs.
#[derive(Default)]
struct ItemStats {
    strict: f64,
    half: f64,
    comparisons: usize,
    tau_sum: f64,
    tau_pairs: usize,
    tau_undefined: usize,
    /// Per output, the value indices (doubled rank − 2) of the group's labels.
    units: Vec<Vec<usize>>,
}

/// The figures of one resample (or of all items): strict, ties ½, τ-b, α, each with its n.
fn figures(s: &[&ItemStats], n_values: usize) -> [(Option<f64>, usize); 4] {
    let ratio = |num: f64, n: usize| ((n > 0).then(|| num / n as f64), n);
    let comparisons = s.iter().map(|x| x.comparisons).sum();
    let tau_pairs = s.iter().map(|x| x.tau_pairs).sum();
    let mut co = Coincidences::new((0..n_values).map(|i| (i + 2) as f64 / 2.0).collect());
    s.iter().flat_map(|x| &x.units).for_each(|u| co.add_unit(u));
    [
        ratio(s.iter().map(|x| x.strict).sum(), comparisons),
        ratio(s.iter().map(|x| x.half).sum(), comparisons),
        ratio(s.iter().map(|x| x.tau_sum).sum(), tau_pairs),
        (co.alpha(Metric::Ordinal), co.pairable().round() as usize),
    ]
}

/// Linear interpolation between order statistics of sorted `x` (numpy's default).
fn quantile(x: &[f64], q: f64) -> f64 {
    let h = (x.len() - 1) as f64 * q;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(x.len() - 1);
    x[lo] + (h - lo as f64) * (x[hi] - x[lo])
}

/// The four figures of one group, with intervals, and its undefined τ-b count.
fn group_figures(pool: &[ItemStats], n_values: usize, seed: u64, pairs: Pairs) -> ([Estimate; 4], usize) {
    let all: Vec<&ItemStats> = pool.iter().collect();
    let point = figures(&all, n_values);
    let mut boot: [Vec<f64>; 4] = Default::default();
    if !pool.is_empty() {
        let mut rng = Rng::stream(seed, &format!("label/agreement/bootstrap/{}", pairs.name()));
        for _ in 0..BOOTSTRAP_RESAMPLES {
            let draw: Vec<&ItemStats> = (0..pool.len()).map(|_| &pool[rng.below(pool.len() as u64) as usize]).collect();
            for (b, (v, _)) in boot.iter_mut().zip(figures(&draw, n_values)) {
                b.extend(v);
            }
        }
    }
    let est = |f: usize| {
        let mut b = boot[f].clone();
        b.sort_by(f64::total_cmp);
        let ci95 = (point[f].0.is_some() && !b.is_empty()).then(|| [quantile(&b, 0.025), quantile(&b, 0.975)]);
        Estimate { value: point[f].0, n: point[f].1, items: pool.len(), ci95 }
    };
    ([est(0), est(1), est(2), est(3)], pool.iter().map(|x| x.tau_undefined).sum())
}

/// One item's sums over the pairs of its labels that `pairs` admits; `None` when fewer than
/// two labels are admitted.
fn item_stats(labels: &[Prepared], k: usize, pairs: Pairs) -> Option<ItemStats> {
    let members: Vec<&Prepared> = labels.iter().filter(|l| pairs.admits(l.group)).collect();
    if members.len() < 2 {
        return None;
    }
    let mut s = ItemStats { units: (0..k).map(|u| members.iter().map(|l| l.doubled[u] - 2).collect()).collect(), ..Default::default() };
    let ranks = |l: &Prepared| -> Vec<f64> { l.doubled.iter().map(|&d| d as f64).collect() };
    for (i, a) in members.iter().enumerate() {
        for b in &members[i + 1..] {
            let (strict, half, n) = stats::pair_agreement(&a.pos, &b.pos);
            (s.strict, s.half, s.comparisons) = (s.strict + strict, s.half + half, s.comparisons + n);
            match stats::kendall_tau_b(&ranks(a), &ranks(b)) {
                Some(t) => (s.tau_sum, s.tau_pairs) = (s.tau_sum + t, s.tau_pairs + 1),
                None => s.tau_undefined += 1,
            }
        }
    }
    Some(s)
}

/// Measures agreement on `items` (see the module docs); the intervals are drawn from `seed`.
/// Errors when an item has fewer than 2 outputs, a ranking does not partition `0..k`, a labeler
/// ranks an item twice, or one labeler id comes with two groups.
pub fn agreement(items: &[Item], seed: u64) -> Result<AgreementReport> {
    let mut who: BTreeMap<&str, (usize, Group)> = BTreeMap::new();
    let mut prepared: Vec<Vec<Prepared>> = vec![];
    for item in items {
        if item.k < 2 {
            return Err(Error::Input(format!("item {:?}: {} outputs; a ranking needs at least 2", item.id, item.k)));
        }
        let mut labels: Vec<Prepared> = vec![];
        for l in &item.labels {
            let next = who.len();
            let &mut (w, g) = who.entry(l.labeler.as_str()).or_insert((next, l.group));
            if g != l.group {
                return Err(Error::Input(format!("labeler {:?} is {g:?} on one item and {:?} on item {:?}", l.labeler, l.group, item.id)));
            }
            if labels.iter().any(|p| p.who == w) {
                return Err(Error::Input(format!("item {:?}: labeler {:?} ranks it twice", item.id, l.labeler)));
            }
            let pos = stats::group_index(&l.ranking, item.k)
                .ok_or_else(|| Error::Input(format!("item {:?}: labeler {:?}'s ranking {:?} does not list each of 0..{} once in non-empty tie groups", item.id, l.labeler, l.ranking, item.k)))?;
            labels.push(Prepared { who: w, group: l.group, pos, doubled: stats::doubled_average_ranks(&l.ranking, item.k) });
        }
        prepared.push(labels);
    }
    let n_values = 2 * items.iter().map(|i| i.k).max().unwrap_or(2) - 1;
    let [(([ls, lh, lt, la], lu), _), (([hs, hh, ht, ha], hu), _), (([as_, ah, at, aa], au), shared_items)] = [Pairs::Labelers, Pairs::HeldOut, Pairs::All].map(|pairs| {
        let pool: Vec<ItemStats> = items.iter().zip(&prepared).filter_map(|(item, labels)| item_stats(labels, item.k, pairs)).collect();
        (group_figures(&pool, n_values, seed, pairs), pool.len())
    });
    let per_labeler = who.iter().map(|(&id, &(w, group))| per_labeler(id, w, group, &prepared)).collect();
    Ok(AgreementReport {
        items: items.len(),
        shared_items,
        labels: prepared.iter().map(Vec::len).sum(),
        bootstrap: Bootstrap { resamples: BOOTSTRAP_RESAMPLES, seed, stream: "label/agreement/bootstrap/<group>" },
        pairwise_agreement: PairwiseAgreement {
            strict: ByGroup { labelers: ls, held_out: hs, all: as_ },
            ties_half: ByGroup { labelers: lh, held_out: hh, all: ah },
            paper: PaperAgreement { labelers: 0.726, held_out: 0.773, note: PAPER_NOTE },
        },
        kendall_tau_b: KendallTauB { labelers: lt, held_out: ht, all: at, undefined: GroupCounts { labelers: lu, held_out: hu, all: au } },
        krippendorff_alpha: KrippendorffAlpha { metric: Metric::Ordinal, values: "average_rank", labelers: la, held_out: ha, all: aa },
        per_labeler,
    })
}

fn per_labeler(id: &str, w: usize, group: Group, prepared: &[Vec<Prepared>]) -> LabelerAgreement {
    let (mut items, mut shared, mut sum, mut n, mut gold_sum, mut gold_n) = (0, 0, 0.0, 0, 0.0, 0);
    for labels in prepared {
        let Some(me) = labels.iter().find(|l| l.who == w) else { continue };
        items += 1;
        let mut others = labels.iter().filter(|l| l.who != w && l.group != Group::Gold).peekable();
        shared += usize::from(others.peek().is_some());
        for o in others {
            let (_, half, k) = stats::pair_agreement(&me.pos, &o.pos);
            (sum, n) = (sum + half, n + k);
        }
        for g in labels.iter().filter(|l| l.who != w && l.group == Group::Gold) {
            let (_, half, k) = stats::pair_agreement(&me.pos, &g.pos);
            (gold_sum, gold_n) = (gold_sum + half, gold_n + k);
        }
    }
    let ratio = |s: f64, n: usize| (n > 0).then(|| s / n as f64);
    LabelerAgreement { labeler: id.to_string(), group, items, shared_items: shared, agreement: ratio(sum, n), comparisons: n, gold_agreement: ratio(gold_sum, gold_n), gold_comparisons: gold_n }
}

/// Items from a comparisons file (read by [`gptlab_data::read_comparisons_file`]): records of
/// the same prompt ([`gptlab_data::Comparison::prompt_key`]) and the same completions, in any
/// order, are one item, its outputs in the order of its first record (a later record's ranking
/// is mapped onto it by completion text). An item's id is its prompt key, with ` #n` added for
/// the n-th completion set of one prompt. `group_of` gives each labeler id's group. Every record
/// needs a `labeler`; a labeler may rank an item once.
pub fn items_from_comparisons(path: &Path, group_of: impl Fn(&str) -> Group) -> Result<Vec<Item>> {
    let file = gptlab_data::read_comparisons_file(path)?;
    let (mut items, mut texts): (Vec<Item>, Vec<Vec<String>>) = (vec![], vec![]);
    let mut index: HashMap<(String, Vec<String>), usize> = HashMap::new();
    let mut per_prompt: HashMap<String, usize> = HashMap::new();
    for (r, c) in file.comparisons.iter().enumerate() {
        let err = |msg: String| Error::Input(format!("{}: comparison {} (counting the comparisons read): {msg}", path.display(), r + 1));
        let labeler = c.labeler.as_deref().ok_or_else(|| err("no `labeler`: agreement needs to know who ranked each comparison".into()))?;
        let key = c.prompt_key();
        let mut sorted = c.completions.clone();
        sorted.sort();
        let i = *index.entry((key.clone(), sorted)).or_insert_with(|| {
            let n = per_prompt.entry(key.clone()).or_default();
            *n += 1;
            items.push(Item { id: if *n == 1 { key } else { format!("{key} #{n}") }, k: c.completions.len(), labels: vec![] });
            texts.push(c.completions.clone());
            items.len() - 1
        });
        let mut used = vec![false; texts[i].len()];
        let mut map = vec![];
        for t in &c.completions {
            let j = texts[i].iter().enumerate().position(|(j, u)| !used[j] && u == t).ok_or_else(|| err("completions do not match the item's".into()))?;
            used[j] = true;
            map.push(j);
        }
        let ranking =
            c.ranking.iter().map(|g| g.iter().map(|&x| map.get(x).copied()).collect::<Option<Vec<usize>>>()).collect::<Option<Vec<_>>>().ok_or_else(|| err("ranking index out of range".into()))?;
        if items[i].labels.iter().any(|l| l.labeler == labeler) {
            return Err(err(format!("labeler {labeler:?} already ranked these completions of this prompt")));
        }
        items[i].labels.push(Label { labeler: labeler.to_string(), group: group_of(labeler), ranking });
    }
    Ok(items)
}

#[cfg(test)]
mod tests;
