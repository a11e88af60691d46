//! Pretraining objective: next-token cross-entropy on random windows of a token stream
//! (GPT-3 / nanoGPT). Evaluation is the mean loss over `eval_iters` validation windows drawn
//! with a fixed seed, so evaluations at different steps see the same windows. Data-parallel
//! ranks draw the same global batch of windows and train on their own slice of it.
//! Not implemented: document-boundary masking inside windows (windows may span documents).

use crate::data::{shard_windows, TokenSplit};
use crate::trainer::{Evaluation, Shard, Task};
use crate::Result;
use gptlab_core::rng::Rng;
use gptlab_model::Gpt;
use serde_json::{Map, Value};
use tch::Tensor;

pub struct PretrainTask {
    pub data: TokenSplit,
    pub batch_size: usize,
    pub block: i64,
    pub eval_iters: usize,
    pub eval_seed: u64,
}

impl Task for PretrainTask {
    fn train_loss(&mut self, model: &Gpt, rng: &mut Rng, _micro: u64, shard: Shard) -> Result<(Tensor, usize, Map<String, Value>)> {
        let (x, y) = shard_windows(&self.data.train, self.batch_size * shard.world, self.block, rng, shard.range(self.batch_size));
        let loss = model.loss(&x, &y, true)?;
        Ok((loss, self.batch_size * self.block as usize, Map::new()))
    }

    fn evaluate(&mut self, model: &Gpt, shard: Shard) -> Result<Evaluation> {
        let batch = self.batch_size * shard.world;
        let mut rng = Rng::new(self.eval_seed);
        let mut total = 0.0;
        tch::no_grad(|| -> Result<()> {
            for _ in 0..self.eval_iters {
                let (x, y) = shard_windows(&self.data.val, batch, self.block, &mut rng, 0..batch);
                total += model.loss(&x, &y, false)?.double_value(&[]);
            }
            Ok(())
        })?;
        Ok(Evaluation { loss: total / self.eval_iters as f64, ..Default::default() })
    }
}
