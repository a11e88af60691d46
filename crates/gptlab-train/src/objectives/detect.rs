//! The trained detector (`gptlab detect train`): is this text model-written? A GPT trunk under
//! a scalar head, fine-tuned as a binary classifier of human (label 0) vs model (label 1) text,
//! as OpenAI's GPT-2 output detector fine-tuned RoBERTa. The logit `z` is the head at the
//! text's last token (a text is read up to the context, its first `n_positions` tokens).
//!
//! Loss: class-balanced binary cross-entropy with logits. With `N` training texts of which
//! `N_y` have label `y`, each text weighs `w_y = N / (2 N_y)`, so human and model text count
//! equally however many of each there are (a detection set has several model texts per human
//! one), and a micro-batch of `B` texts has loss `(1/B) Σ_i w_{y_i} ℓ_i` with
//! `ℓ = −[y log σ(z) + (1 − y) log σ(−z)]`. Evaluation: the same balanced loss on held-out
//! texts, and the balanced accuracy at `z = 0` (the mean of the true-positive and
//! true-negative rates).

use crate::trainer::{Evaluation, Shard, Task};
use crate::Result;
use gptlab_core::rng::Rng;
use gptlab_model::heads::{pack_rows, ScalarHead};
use gptlab_model::Gpt;
use serde_json::{Map, Value};
use tch::{Device, Kind, Tensor};

/// One text: its token ids (at most the context) and whether a model wrote it.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    pub ids: Vec<u32>,
    pub model: bool,
}

/// The class weights `[w_human, w_model]` of `examples` (see the module docs); 0 for a class
/// with no example.
pub fn class_weights(examples: &[Example]) -> [f64; 2] {
    let n = examples.len() as f64;
    let m = examples.iter().filter(|e| e.model).count() as f64;
    let w = |k: f64| if k > 0.0 { n / (2.0 * k) } else { 0.0 };
    [w(n - m), w(m)]
}

/// `(1/B) Σ w_y ℓ(z, y)`: logits `[B]`, labels `[B]` (1 = model), per-example weights `[B]`.
pub fn balanced_bce(logits: &Tensor, labels: &Tensor, weights: &Tensor) -> Tensor {
    let pos: Tensor = labels * logits.log_sigmoid();
    let neg: Tensor = (labels.ones_like() - labels) * logits.neg().log_sigmoid();
    let nll = -(pos + neg);
    (nll * weights).mean(Kind::Float)
}

pub struct DetectTask {
    pub train: Vec<Example>,
    pub val: Vec<Example>,
    pub head: ScalarHead,
    pub batch_size: usize,
    pub pad: u32,
    /// The run seed (the epochs' orders are its `detect/epoch/<e>` streams).
    pub seed: u64,
    pub device: Device,
    /// [`class_weights`] of `train`.
    pub weights: [f64; 2],
}

/// Loss, logits and labels of some examples.
struct Batch {
    loss: Tensor,
    logits: Vec<f64>,
    labels: Vec<bool>,
}

impl DetectTask {
    fn batch(&self, model: &Gpt, examples: &[&Example], train: bool) -> Result<Batch> {
        let rows: Vec<&[u32]> = examples.iter().map(|e| e.ids.as_slice()).collect();
        let (x, last) = pack_rows(&rows, self.pad, self.device);
        let z = self.head.at_last(model, &x, &last, train)?.to_kind(Kind::Float);
        let labels: Vec<bool> = examples.iter().map(|e| e.model).collect();
        let y = Tensor::from_slice(&labels.iter().map(|&m| if m { 1.0f32 } else { 0.0 }).collect::<Vec<_>>()).to_device(self.device);
        let w = Tensor::from_slice(&labels.iter().map(|&m| self.weights[m as usize] as f32).collect::<Vec<_>>()).to_device(self.device);
        let loss = balanced_bce(&z, &y, &w);
        let logits = Vec::<f64>::try_from(z.detach().to_device(Device::Cpu).to_kind(Kind::Double))?;
        Ok(Batch { loss, logits, labels })
    }

    /// Balanced loss (weighted by `train`'s class weights) and balanced accuracy on `examples`.
    pub fn stats(&self, model: &Gpt, examples: &[Example]) -> Result<(f64, f64)> {
        let (mut loss, mut hits, mut counts) = (0.0, [0usize; 2], [0usize; 2]);
        tch::no_grad(|| -> Result<()> {
            for chunk in examples.chunks(self.batch_size.max(1) * 2) {
                let refs: Vec<&Example> = chunk.iter().collect();
                let b = self.batch(model, &refs, false)?;
                loss += b.loss.double_value(&[]) * chunk.len() as f64;
                for (z, m) in b.logits.iter().zip(&b.labels) {
                    counts[*m as usize] += 1;
                    hits[*m as usize] += usize::from((*z > 0.0) == *m);
                }
            }
            Ok(())
        })?;
        let rate = |k: usize| hits[k] as f64 / counts[k].max(1) as f64;
        Ok((loss / examples.len().max(1) as f64, (rate(0) + rate(1)) / 2.0))
    }
}

impl Task for DetectTask {
    fn train_loss(&mut self, model: &Gpt, _rng: &mut Rng, micro: u64, shard: Shard) -> Result<(Tensor, usize, Map<String, Value>)> {
        let (epoch, k, per_epoch, positions) = shard.epoch_positions(self.train.len(), self.batch_size, micro);
        let mut order: Vec<usize> = (0..self.train.len()).collect();
        Rng::stream(self.seed, &format!("detect/epoch/{epoch}")).shuffle(&mut order);
        let batch: Vec<&Example> = positions.iter().map(|&p| &self.train[order[p]]).collect();
        let b = self.batch(model, &batch, true)?;
        let tokens = batch.iter().map(|e| e.ids.len()).sum();
        let mut m = Map::new();
        let right = b.logits.iter().zip(&b.labels).filter(|(z, y)| (**z > 0.0) == **y).count();
        m.insert("accuracy".into(), (right as f64 / batch.len().max(1) as f64).into());
        m.insert("epoch".into(), (epoch as f64 + k as f64 / per_epoch as f64).into());
        Ok((b.loss, tokens, m))
    }

    fn evaluate(&mut self, model: &Gpt, _shard: Shard) -> Result<Evaluation> {
        let (loss, acc) = self.stats(model, &self.val)?;
        let mut metrics = Map::new();
        metrics.insert("eval_balanced_accuracy".into(), acc.into());
        Ok(Evaluation { loss, score: None, metrics })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balanced_bce_matches_hand_computation() {
        let ex = |model| Example { ids: vec![1], model };
        // one human, three model texts: w_human = 4/2, w_model = 4/6
        let w = class_weights(&[ex(false), ex(true), ex(true), ex(true)]);
        assert_eq!(w, [2.0, 4.0 / 6.0]);
        assert_eq!(class_weights(&[ex(true)]), [0.0, 0.5]);
        let z = Tensor::from_slice(&[1.5f32, -0.5]);
        let y = Tensor::from_slice(&[1.0f32, 0.0]);
        let wt = Tensor::from_slice(&[w[1] as f32, w[0] as f32]);
        let got = balanced_bce(&z, &y, &wt).double_value(&[]);
        let sig = |x: f64| 1.0 / (1.0 + (-x).exp());
        // model text at z = 1.5: −log σ(1.5); human text at z = −0.5: −log(1 − σ(−0.5))
        let want = (w[1] * -sig(1.5).ln() + w[0] * -(1.0 - sig(-0.5)).ln()) / 2.0;
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        // a confident right answer costs less than a confident wrong one
        let right = balanced_bce(&Tensor::from_slice(&[4.0f32]), &Tensor::from_slice(&[1.0f32]), &Tensor::from_slice(&[1.0f32])).double_value(&[]);
        let wrong = balanced_bce(&Tensor::from_slice(&[-4.0f32]), &Tensor::from_slice(&[1.0f32]), &Tensor::from_slice(&[1.0f32])).double_value(&[]);
        assert!(right < 0.05 && wrong > 3.9, "{right} {wrong}");
    }
}
