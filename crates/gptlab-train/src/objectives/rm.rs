//! Reward modelling (InstructGPT step 2). For a prompt with K ranked completions, all C(K,2)
//! comparisons form ONE batch element: each completion is forwarded once (K forwards, not
//! 2·C(K,2)), the reward is the scalar head at the completion's last token (its `<|end|>`), and
//! the element's loss is −1/C(K,2) · Σ_{w ranked above l} log σ(r(x, y_w) − r(x, y_l)).
//! A micro-batch averages its elements. Pairwise data is K = 2. Ties: completions a labeler
//! marked as equally good form one tie group; a tied pair adds no loss term and is counted
//! (InstructGPT's labelers could mark ties). Evaluation: the same loss over held-out
//! comparisons, plus pairwise accuracy (fraction of untied pairs ordered correctly).
//! The bias that makes demonstrations score 0 on average is set after training (the `rm`
//! stage).
//! Not implemented: margins, and per-labeler weighting.

use crate::trainer::{Evaluation, Shard, Task};
use crate::Result;
use gptlab_core::rng::Rng;
use gptlab_model::heads::{pack_rows, ScalarHead};
use gptlab_model::Gpt;
use gptlab_tokenizer::chat::Rendered;
use serde_json::{Map, Value};
use tch::{Device, Kind, Tensor};

/// One prompt's K rendered completions, ranked best first as tie groups (indices into
/// `items`).
pub struct RankedGroup {
    pub items: Vec<Rendered>,
    pub ranking: Vec<Vec<usize>>,
}

/// Loss and pair counts over some groups.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct PairStats {
    /// Mean loss over the groups with at least one untied pair.
    pub loss: f64,
    /// Fraction of untied pairs the reward orders as the ranking does.
    pub accuracy: f64,
    pub groups: usize,
    pub pairs: usize,
    /// Pairs in one tie group (no loss, not in the accuracy).
    pub tied_pairs: usize,
}

pub struct RmTask {
    pub train: Vec<RankedGroup>,
    pub val: Vec<RankedGroup>,
    pub head: ScalarHead,
    pub batch_size: usize,
    pub block: usize,
    pub pad: u32,
    /// The run seed (the epochs' orders are its `rm/epoch/<e>` streams).
    pub seed: u64,
    pub device: Device,
}

/// Right-padded ids `[N, T]` and each row's last-token index `[N]`. A sequence longer than
/// `block` keeps its last `block` tokens: the reward is read at the end of the reply, and the
/// reply is what the completions of a group differ in (long conversations lose their start).
pub fn pack(items: &[&Rendered], block: usize, pad: u32, device: Device) -> (Tensor, Tensor) {
    let tails: Vec<&[u32]> = items.iter().map(|r| &r.ids[r.ids.len().saturating_sub(block)..]).collect();
    pack_rows(&tails, pad, device)
}


/// One group's loss given its rewards `[K]` and tie groups (best first): the mean of
/// −log σ(r_w − r_l) over the pairs whose `w` is in an earlier group than `l` (`None` when
/// every pair is tied), how many of those the rewards order correctly, their number, and the
/// number of tied pairs.
pub fn group_loss(rewards: &Tensor, ranking: &[Vec<usize>]) -> (Option<Tensor>, usize, usize, usize) {
    let (mut w, mut l, mut tied) = (Vec::new(), Vec::new(), 0);
    for (i, better) in ranking.iter().enumerate() {
        tied += better.len() * better.len().saturating_sub(1) / 2;
        for worse in &ranking[i + 1..] {
            for &a in better {
                for &b in worse {
                    w.push(a as i64);
                    l.push(b as i64);
                }
            }
        }
    }
    if w.is_empty() {
        return (None, 0, 0, tied);
    }
    let dev = rewards.device();
    let diff = rewards.index_select(0, &Tensor::from_slice(&w).to_device(dev)) - rewards.index_select(0, &Tensor::from_slice(&l).to_device(dev));
    let correct = diff.gt(0.0).sum(Kind::Int64).int64_value(&[]) as usize;
    (Some(-diff.log_sigmoid().mean(Kind::Float)), correct, w.len(), tied)
}

/// Mean reward (the head at each sequence's last token) of rendered sequences, `batch` at a
/// time, each cut to its last `block` tokens.
pub fn mean_reward(model: &Gpt, head: &ScalarHead, seqs: &[Rendered], batch: usize, block: usize, pad: u32) -> Result<f64> {
    let mut sum = 0.0;
    tch::no_grad(|| -> Result<()> {
        for chunk in seqs.chunks(batch.max(1)) {
            let items: Vec<&Rendered> = chunk.iter().collect();
            let (x, last) = pack(&items, block, pad, model.device());
            sum += head.at_last(model, &x, &last, false)?.sum(Kind::Float).double_value(&[]);
        }
        Ok(())
    })?;
    Ok(sum / seqs.len().max(1) as f64)
}

impl RmTask {
    /// Loss (mean over the groups with an untied pair; 0 with a gradient when there is none),
    /// (correct, untied, tied) pairs, the groups with a loss, and tokens, in one forward pass.
    fn groups_loss(&self, model: &Gpt, groups: &[&RankedGroup], train: bool) -> Result<(Tensor, [usize; 3], usize, usize)> {
        let items: Vec<&Rendered> = groups.iter().flat_map(|g| g.items.iter()).collect();
        let (x, last) = pack(&items, self.block, self.pad, self.device);
        let rewards = self.head.at_last(model, &x, &last, train)?;
        let (mut losses, mut counts, mut off) = (Vec::new(), [0; 3], 0i64);
        for g in groups {
            let k = g.items.len() as i64;
            let (l, c, p, t) = group_loss(&rewards.narrow(0, off, k), &g.ranking);
            losses.extend(l);
            counts[0] += c;
            counts[1] += p;
            counts[2] += t;
            off += k;
        }
        let tokens = items.iter().map(|r| r.ids.len()).sum();
        let n = losses.len();
        let loss = if losses.is_empty() { rewards.sum(Kind::Float) * 0.0 } else { Tensor::stack(&losses, 0).mean(Kind::Float) };
        Ok((loss, counts, n, tokens))
    }

    /// Mean reward of rendered sequences (for the demonstration bias).
    pub fn mean_reward(&self, model: &Gpt, seqs: &[Rendered]) -> Result<f64> {
        mean_reward(model, &self.head, seqs, self.batch_size * 2, self.block, self.pad)
    }
}

impl Task for RmTask {
    fn train_loss(&mut self, model: &Gpt, _rng: &mut Rng, micro: u64, shard: Shard) -> Result<(Tensor, usize, Map<String, Value>)> {
        let (epoch, k, per_epoch, positions) = shard.epoch_positions(self.train.len(), self.batch_size, micro);
        let mut order: Vec<usize> = (0..self.train.len()).collect();
        Rng::stream(self.seed, &format!("rm/epoch/{epoch}")).shuffle(&mut order);
        let groups: Vec<&RankedGroup> = positions.iter().map(|&p| &self.train[order[p]]).collect();
        let (loss, [correct, pairs, _], _, tokens) = self.groups_loss(model, &groups, true)?;
        let mut m = Map::new();
        m.insert("accuracy".into(), (correct as f64 / pairs.max(1) as f64).into());
        m.insert("epoch".into(), (epoch as f64 + k as f64 / per_epoch as f64).into());
        Ok((loss, tokens, m))
    }

    fn evaluate(&mut self, model: &Gpt, _shard: Shard) -> Result<Evaluation> {
        let s = self.stats(model, &self.val)?;
        let mut metrics = Map::new();
        metrics.insert("eval_accuracy".into(), s.accuracy.into());
        Ok(Evaluation { loss: s.loss, score: None, metrics })
    }
}

impl RmTask {
    /// Loss and pair counts of the model on `groups` (validation, test).
    pub fn stats(&self, model: &Gpt, groups: &[RankedGroup]) -> Result<PairStats> {
        let (mut loss, mut counts, mut n) = (0.0, [0; 3], 0);
        tch::no_grad(|| -> Result<()> {
            for chunk in groups.chunks(self.batch_size.max(1)) {
                let refs: Vec<&RankedGroup> = chunk.iter().collect();
                let (l, c, k, _) = self.groups_loss(model, &refs, false)?;
                loss += l.double_value(&[]) * k as f64;
                n += k;
                for i in 0..3 {
                    counts[i] += c[i];
                }
            }
            Ok(())
        })?;
        Ok(PairStats { loss: loss / n.max(1) as f64, accuracy: counts[0] as f64 / counts[1].max(1) as f64, groups: groups.len(), pairs: counts[1], tied_pairs: counts[2] })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn k_wise_loss_matches_hand_computation() {
        let strict = |v: &[usize]| v.iter().map(|&i| vec![i]).collect::<Vec<_>>();
        let val = |t: Option<Tensor>| t.expect("a loss").double_value(&[]);
        // rewards of completions 0, 1, 2; ranking best→worst = [0, 1, 2]
        let r = Tensor::from_slice(&[2.0f32, 1.0, 0.0]);
        let (loss, correct, pairs, tied) = group_loss(&r, &strict(&[0, 1, 2]));
        let loss = val(loss);
        let ls = |x: f64| -(1.0 + (-x).exp()).ln();
        let want = -(ls(1.0) + ls(2.0) + ls(1.0)) / 3.0;
        assert!((loss - want).abs() < 1e-6);
        assert_eq!((correct, pairs, tied), (3, 3, 0));
        // the reversed ranking is penalised more, and every pair is wrong
        let (bad, correct, _, _) = group_loss(&r, &strict(&[2, 1, 0]));
        assert!(val(bad) > loss);
        assert_eq!(correct, 0);
        // K = 2 is the pairwise (Bradley–Terry) loss: −log σ(r_w − r_l)
        let (pair, _, n, _) = group_loss(&Tensor::from_slice(&[0.5f32, 1.5]), &strict(&[1, 0]));
        assert_eq!(n, 1);
        assert!((val(pair) + ls(1.0)).abs() < 1e-6);
        // equal rewards give log 2 whatever the ranking
        let (tie, _, _, _) = group_loss(&Tensor::from_slice(&[0.3f32, 0.3, 0.3, 0.3]), &strict(&[3, 1, 0, 2]));
        assert!((val(tie) - 2f64.ln()).abs() < 1e-6);
        // a tie group: 0 best, 1 and 2 tied below it: two pairs (0>1, 0>2), one tied pair
        let (t, correct, pairs, tied) = group_loss(&r, &[vec![0], vec![1, 2]]);
        assert_eq!((correct, pairs, tied), (2, 2, 1));
        assert!((val(t) + (ls(1.0) + ls(2.0)) / 2.0).abs() < 1e-6, "the tied pair adds no term");
        // all tied: no loss at all
        let (none, _, pairs, tied) = group_loss(&r, &[vec![0, 1, 2]]);
        assert!(none.is_none() && pairs == 0 && tied == 3);
    }


    #[test]
    fn pack_finds_last_tokens() {
        let a = Rendered { ids: vec![1, 2, 3], mask: vec![false; 3] };
        let b = Rendered { ids: vec![4, 5, 6, 7, 8], mask: vec![false; 5] };
        let (x, last) = pack(&[&a, &b], 4, 0, Device::Cpu);
        assert_eq!(x.size(), [2, 4]);
        assert_eq!(Vec::<i64>::try_from(last).expect("v"), vec![2, 3]);
        // the long one keeps its tail (the reply), the short one is right-padded
        assert_eq!(Vec::<i64>::try_from(x.view([-1])).expect("v"), vec![1, 2, 3, 0, 5, 6, 7, 8]);
    }
}
