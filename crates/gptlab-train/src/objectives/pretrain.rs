//! Pretraining objective: next-token cross-entropy on random windows of a token stream
//! (GPT-3 / nanoGPT). Evaluation is the mean loss over `eval_iters` validation windows drawn
//! with a fixed seed, so evaluations at different steps see the same windows.
//! Not implemented: document-boundary masking inside windows (windows may span documents).

use crate::data::{random_windows, TokenSplit};
use crate::trainer::{Evaluation, Task};
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
    fn train_loss(&mut self, model: &Gpt, rng: &mut Rng, _micro: u64) -> Result<(Tensor, usize, Map<String, Value>)> {
        let (x, y) = random_windows(&self.data.train, self.batch_size, self.block, rng);
        let loss = model.loss(&x, &y, true)?;
        Ok((loss, self.batch_size * self.block as usize, Map::new()))
    }

    fn evaluate(&mut self, model: &Gpt) -> Result<Evaluation> {
        let mut rng = Rng::new(self.eval_seed);
        let mut total = 0.0;
        tch::no_grad(|| -> Result<()> {
            for _ in 0..self.eval_iters {
                let (x, y) = random_windows(&self.data.val, self.batch_size, self.block, &mut rng);
                total += model.loss(&x, &y, false)?.double_value(&[]);
            }
            Ok(())
        })?;
        Ok(Evaluation { loss: total / self.eval_iters as f64, ..Default::default() })
    }
}
