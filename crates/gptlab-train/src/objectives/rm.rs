//! Reward modelling (InstructGPT step 2). For a prompt with K ranked completions, all C(K,2)
//! comparisons form ONE batch element: each completion is forwarded once (K forwards, not
//! 2·C(K,2)), the reward is the scalar head at the completion's last token (its `<|end|>`), and
//! the element's loss is −1/C(K,2) · Σ_{w ranked above l} log σ(r(x, y_w) − r(x, y_l)).
//! A micro-batch averages its elements. Pairwise data is K = 2. Evaluation: the same loss over
//! held-out comparisons, plus pairwise accuracy (fraction of pairs ordered correctly).
//! The bias that makes demonstrations score 0 on average is set after training (the `rm`
//! stage).
//! Not implemented: ties, margins, and per-labeler weighting.

use crate::trainer::{Evaluation, Task};
use crate::Result;
use gptlab_core::rng::Rng;
use gptlab_model::heads::ScalarHead;
use gptlab_model::Gpt;
use gptlab_tokenizer::chat::Rendered;
use serde_json::{Map, Value};
use tch::{Device, Kind, Tensor};

/// One prompt's K rendered completions, ranked best first (indices into `items`).
pub struct RankedGroup {
    pub items: Vec<Rendered>,
    pub ranking: Vec<usize>,
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
    let t = items.iter().map(|r| r.ids.len().min(block)).max().unwrap_or(1).max(1);
    let mut x = vec![pad as i64; items.len() * t];
    let mut last = Vec::with_capacity(items.len());
    for (row, r) in items.iter().enumerate() {
        let n = r.ids.len().min(block).max(1);
        let tail = &r.ids[r.ids.len().saturating_sub(block)..];
        for (j, &id) in tail.iter().enumerate() {
            x[row * t + j] = id as i64;
        }
        last.push(n as i64 - 1);
    }
    (Tensor::from_slice(&x).view([items.len() as i64, t as i64]).to_device(device), Tensor::from_slice(&last).to_device(device))
}

/// Loss of one group given its rewards `[K]` and ranking (best first), and how many of its
/// C(K,2) pairs are ordered correctly.
pub fn group_loss(rewards: &Tensor, ranking: &[usize]) -> (Tensor, usize, usize) {
    let mut w = Vec::new();
    let mut l = Vec::new();
    for i in 0..ranking.len() {
        for j in i + 1..ranking.len() {
            w.push(ranking[i] as i64);
            l.push(ranking[j] as i64);
        }
    }
    let dev = rewards.device();
    let diff = rewards.index_select(0, &Tensor::from_slice(&w).to_device(dev)) - rewards.index_select(0, &Tensor::from_slice(&l).to_device(dev));
    let correct = diff.gt(0.0).sum(Kind::Int64).int64_value(&[]) as usize;
    (-diff.log_sigmoid().mean(Kind::Float), correct, w.len())
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
    /// Loss (mean over groups) and (correct, total) pairs for some groups, in one forward pass.
    fn groups_loss(&self, model: &Gpt, groups: &[&RankedGroup], train: bool) -> Result<(Tensor, usize, usize, usize)> {
        let items: Vec<&Rendered> = groups.iter().flat_map(|g| g.items.iter()).collect();
        let (x, last) = pack(&items, self.block, self.pad, self.device);
        let rewards = self.head.at_last(model, &x, &last, train)?;
        let (mut losses, mut correct, mut pairs, mut off) = (Vec::new(), 0, 0, 0i64);
        for g in groups {
            let k = g.items.len() as i64;
            let (l, c, p) = group_loss(&rewards.narrow(0, off, k), &g.ranking);
            losses.push(l);
            correct += c;
            pairs += p;
            off += k;
        }
        let tokens = items.iter().map(|r| r.ids.len()).sum();
        Ok((Tensor::stack(&losses, 0).mean(Kind::Float), correct, pairs, tokens))
    }

    /// Mean reward of rendered sequences (for the demonstration bias).
    pub fn mean_reward(&self, model: &Gpt, seqs: &[Rendered]) -> Result<f64> {
        mean_reward(model, &self.head, seqs, self.batch_size * 2, self.block, self.pad)
    }
}

impl Task for RmTask {
    fn train_loss(&mut self, model: &Gpt, _rng: &mut Rng, micro: u64) -> Result<(Tensor, usize, Map<String, Value>)> {
        let per_epoch = self.train.len().div_ceil(self.batch_size) as u64;
        let (epoch, k) = (micro / per_epoch, (micro % per_epoch) as usize);
        let mut order: Vec<usize> = (0..self.train.len()).collect();
        Rng::stream(self.seed, &format!("rm/epoch/{epoch}")).shuffle(&mut order);
        let groups: Vec<&RankedGroup> = order.iter().skip(k * self.batch_size).take(self.batch_size).map(|&i| &self.train[i]).collect();
        let (loss, correct, pairs, tokens) = self.groups_loss(model, &groups, true)?;
        let mut m = Map::new();
        m.insert("accuracy".into(), (correct as f64 / pairs.max(1) as f64).into());
        m.insert("epoch".into(), (epoch as f64 + k as f64 / per_epoch as f64).into());
        Ok((loss, tokens, m))
    }

    fn evaluate(&mut self, model: &Gpt) -> Result<Evaluation> {
        let (loss, accuracy) = self.loss_and_accuracy(model)?;
        let mut metrics = Map::new();
        metrics.insert("eval_accuracy".into(), accuracy.into());
        Ok(Evaluation { loss, score: None, metrics })
    }
}

impl RmTask {
    /// Mean loss over the validation groups and the fraction of their pairs ordered correctly.
    pub fn loss_and_accuracy(&self, model: &Gpt) -> Result<(f64, f64)> {
        let (mut loss, mut correct, mut pairs, mut n) = (0.0, 0, 0, 0);
        tch::no_grad(|| -> Result<()> {
            for chunk in self.val.chunks(self.batch_size.max(1)) {
                let groups: Vec<&RankedGroup> = chunk.iter().collect();
                let (l, c, p, _) = self.groups_loss(model, &groups, false)?;
                loss += l.double_value(&[]) * groups.len() as f64;
                correct += c;
                pairs += p;
                n += groups.len();
            }
            Ok(())
        })?;
        Ok((loss / n.max(1) as f64, correct as f64 / pairs.max(1) as f64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn k_wise_loss_matches_hand_computation() {
        // rewards of completions 0, 1, 2; ranking best→worst = [0, 1, 2]
        let r = Tensor::from_slice(&[2.0f32, 1.0, 0.0]);
        let (loss, correct, pairs) = group_loss(&r, &[0, 1, 2]);
        let ls = |x: f64| -(1.0 + (-x).exp()).ln();
        let want = -(ls(1.0) + ls(2.0) + ls(1.0)) / 3.0;
        assert!((loss.double_value(&[]) - want).abs() < 1e-6);
        assert_eq!((correct, pairs), (3, 3));
        // the reversed ranking is penalised more, and every pair is wrong
        let (bad, correct, _) = group_loss(&r, &[2, 1, 0]);
        assert!(bad.double_value(&[]) > loss.double_value(&[]));
        assert_eq!(correct, 0);
        // K = 2 is the pairwise (Bradley–Terry) loss: −log σ(r_w − r_l)
        let (pair, _, n) = group_loss(&Tensor::from_slice(&[0.5f32, 1.5]), &[1, 0]);
        assert_eq!(n, 1);
        assert!((pair.double_value(&[]) + ls(1.0)).abs() < 1e-6);
        // equal rewards give log 2 whatever the ranking
        let (tie, _, _) = group_loss(&Tensor::from_slice(&[0.3f32, 0.3, 0.3, 0.3]), &[3, 1, 0, 2]);
        assert!((tie.double_value(&[]) - 2f64.ln()).abs() < 1e-6);
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
