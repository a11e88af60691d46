//! Supervised fine-tuning (InstructGPT step 1): next-token loss on demonstrations, counted on
//! the assistant's tokens only (the chat format's loss mask), over whole epochs in a seeded
//! shuffled order. Evaluation is the token-weighted mean of the same loss over the validation
//! conversations. The recipe's defaults (16 epochs, cosine decay, residual dropout 0.2) live in
//! the SFT config. With a reward model ([`RewardSelector`]) the kept checkpoint is the one
//! whose greedy replies to the validation prompts score highest (the paper's choice);
//! otherwise the lowest validation loss. Not implemented: packing several conversations into
//! one sequence.

use crate::rl::rollout::mean_score;
use crate::trainer::{Evaluation, Shard, Task};
use crate::Result;
use gptlab_core::rng::Rng;
use gptlab_model::ops::IGNORE;
use gptlab_model::roles::Scalar;
use gptlab_model::Gpt;
use gptlab_tokenizer::chat::Rendered;
use gptlab_tokenizer::Tokenizer;
use serde_json::{Map, Value};
use tch::{Device, Tensor};

/// Chooses SFT checkpoints by a reward model's mean score of greedy replies.
pub struct RewardSelector {
    pub reward: Scalar,
    pub tok: Tokenizer,
    /// Rendered validation prompts (ending with the assistant header).
    pub prompts: Vec<Vec<u32>>,
    pub max_new_tokens: usize,
}

/// The prompt part of a rendered conversation: everything before the first trained token.
pub fn prompt_ids(r: &Rendered) -> Vec<u32> {
    let n = r.mask.iter().position(|&m| m).unwrap_or(r.ids.len());
    r.ids[..n].to_vec()
}

pub struct SftTask {
    pub train: Vec<Rendered>,
    pub val: Vec<Rendered>,
    pub selector: Option<RewardSelector>,
    pub batch_size: usize,
    /// Longest sequence (the model's context); longer conversations are truncated.
    pub block: usize,
    pub seed: u64,
    pub device: Device,
}

/// Inputs `[B, T]` and targets `[B, T]` for rendered conversations: targets are the next
/// token where that token is trained on, else [`IGNORE`]; rows are right-padded with `pad`.
pub fn batch(items: &[&Rendered], block: usize, pad: u32, device: Device) -> (Tensor, Tensor, usize) {
    let t = items.iter().map(|r| r.ids.len().min(block + 1)).max().unwrap_or(2).max(2) - 1;
    let b = items.len();
    let mut x = vec![pad as i64; b * t];
    let mut y = vec![IGNORE; b * t];
    let mut counted = 0;
    for (row, r) in items.iter().enumerate() {
        let n = r.ids.len().min(block + 1);
        for j in 0..n.saturating_sub(1) {
            x[row * t + j] = r.ids[j] as i64;
            if r.mask[j + 1] {
                y[row * t + j] = r.ids[j + 1] as i64;
                counted += 1;
            }
        }
    }
    let shape = [b as i64, t as i64];
    (Tensor::from_slice(&x).view(shape).to_device(device), Tensor::from_slice(&y).view(shape).to_device(device), counted)
}

impl SftTask {
    fn order(&self, epoch: u64) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..self.train.len()).collect();
        Rng::stream(self.seed, &format!("sft/epoch/{epoch}")).shuffle(&mut idx);
        idx
    }
}

impl Task for SftTask {
    fn train_loss(&mut self, model: &Gpt, _rng: &mut Rng, micro: u64, shard: Shard) -> Result<(Tensor, usize, Map<String, Value>)> {
        let (epoch, k, per_epoch, positions) = shard.epoch_positions(self.train.len(), self.batch_size, micro);
        let order = self.order(epoch);
        let items: Vec<&Rendered> = positions.iter().map(|&p| &self.train[order[p]]).collect();
        let pad = model.cfg.eos_token_id.unwrap_or(0) as u32;
        let (x, y, n) = batch(&items, self.block, pad, self.device);
        let loss = model.loss(&x, &y, true)?;
        let mut m = Map::new();
        m.insert("epoch".into(), (epoch as f64 + k as f64 / per_epoch as f64).into());
        Ok((loss, n, m))
    }

    fn evaluate(&mut self, model: &Gpt, shard: Shard) -> Result<Evaluation> {
        let pad = model.cfg.eos_token_id.unwrap_or(0) as u32;
        let (mut total, mut count) = (0.0, 0usize);
        tch::no_grad(|| -> Result<()> {
            for chunk in self.val.chunks((self.batch_size * shard.world).max(1)) {
                let items: Vec<&Rendered> = chunk.iter().collect();
                let (x, y, n) = batch(&items, self.block, pad, self.device);
                if n == 0 {
                    continue;
                }
                let logits = model.forward(&x, false)?;
                let lp = gptlab_model::ops::token_logprobs(&logits, &y);
                total -= lp.sum(tch::Kind::Float).double_value(&[]);
                count += n;
            }
            Ok(())
        })?;
        let mut metrics = Map::new();
        metrics.insert("eval_tokens".into(), count.into());
        let score = match &self.selector {
            Some(sel) => Some(mean_score(model, &sel.reward, &sel.tok, &sel.prompts, sel.max_new_tokens)?),
            None => None,
        };
        Ok(Evaluation { loss: total / count.max(1) as f64, score, metrics })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_cover_only_trained_tokens() {
        let r = Rendered { ids: vec![0, 1, 10, 11, 3, 2, 20, 21, 3], mask: vec![false, false, false, false, false, false, true, true, true] };
        let short = Rendered { ids: vec![0, 1, 5, 3, 2, 6, 3], mask: vec![false, false, false, false, false, true, true] };
        let (x, y, n) = batch(&[&r, &short], 64, 99, Device::Cpu);
        assert_eq!(x.size(), [2, 8]);
        let yv: Vec<i64> = Vec::try_from(y.view([-1])).expect("y");
        // row 0: positions 5,6,7 predict 20, 21, <|end|>=3
        assert_eq!(&yv[..8], &[-1, -1, -1, -1, -1, 20, 21, 3]);
        // row 1: padded after 6 inputs; predicts 6 and 3 at positions 4, 5
        assert_eq!(&yv[8..], &[-1, -1, -1, -1, 6, 3, -1, -1]);
        assert_eq!(n, 5);
        let xv: Vec<i64> = Vec::try_from(x.view([-1])).expect("x");
        assert_eq!(&xv[14..], &[99, 99]);
        // truncation to the context
        let (x, _, _) = batch(&[&r], 4, 99, Device::Cpu);
        assert_eq!(x.size(), [1, 4]);
    }
}
