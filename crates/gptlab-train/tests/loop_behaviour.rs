//! The shared loop: a NaN loss stops the run cleanly and keeps the last good checkpoint;
//! gradient accumulation of k micro-batches of b equals one batch of k·b.

use gptlab_core::rng::Rng;
use gptlab_model::{Gpt, GptConfig};
use gptlab_train::config::TrainSection;
use gptlab_train::optim::{OptimConfig, ScheduleConfig};
use gptlab_train::rundir::{read_state, RunDir};
use gptlab_train::trainer::{self, Evaluation, LoopConfig, Shard, Task};
use gptlab_train::Result;
use serde_json::{Map, Value};
use tch::{nn, Device, Kind, Tensor};

struct Toy {
    step: usize,
    nan_at: Option<usize>,
}

impl Task for Toy {
    fn train_loss(&mut self, model: &Gpt, rng: &mut Rng, _micro: u64, _shard: Shard) -> Result<(Tensor, usize, Map<String, Value>)> {
        let x = Tensor::from_slice(&(0..8).map(|_| rng.below(20) as i64).collect::<Vec<_>>()).view([2, 4]);
        let mut loss = model.loss(&x, &x, true)?;
        if self.nan_at == Some(self.step) {
            loss *= f64::NAN;
        }
        self.step += 1;
        Ok((loss, 8, Map::new()))
    }
    fn evaluate(&mut self, model: &Gpt, _shard: Shard) -> Result<Evaluation> {
        let x = Tensor::from_slice(&[1i64, 2, 3, 4]).view([1, 4]);
        Ok(Evaluation { loss: model.loss(&x, &x, false)?.double_value(&[]), ..Default::default() })
    }
}

fn setup() -> (nn::VarStore, Gpt, gptlab_tokenizer::Tokenizer) {
    tch::manual_seed(0);
    let vs = nn::VarStore::new(Device::Cpu);
    let m = Gpt::new(&vs.root(), &GptConfig::new(20, 8, 1, 2, 8)).expect("model");
    let tok = gptlab_tokenizer::Tokenizer::train(&["abcdefghijklmno".into()], gptlab_tokenizer::Kind::Char, 0).expect("tok");
    (vs, m, tok)
}

fn loop_cfg(iters: u64, accum: usize, batch: usize) -> LoopConfig {
    LoopConfig {
        optim: OptimConfig::default(),
        schedule: ScheduleConfig { warmup_iters: 0, decay_iters: iters },
        train: TrainSection {
            batch_size: batch, grad_accum: accum, max_iters: iters, eval_interval: 2, eval_iters: 1,
            log_interval: 1, seed: 0, device: Default::default(), threads: 1, dtype: Default::default(), zero1: false,
        },
        resume: false,
        progress: false,
        dist: None,
    }
}

#[test]
fn nan_loss_stops_and_keeps_last_good_checkpoint() {
    let dir = tempfile::tempdir().expect("tmp");
    let (vs, m, tok) = setup();
    let mut task = Toy { step: 0, nan_at: Some(5) };
    let rd = RunDir::new("test", dir.path(), &tok, "").expect("run dir");
    let err = trainer::run(&mut task, &vs, &m, &rd, &loop_cfg(10, 1, 2)).expect_err("must stop");
    let msg = err.to_string();
    assert!(msg.contains("diverged") && msg.contains("step 5") && msg.contains("last"), "{msg}");
    let st = read_state(&dir.path().join("last")).expect("last good checkpoint");
    assert_eq!(st.step, 4, "checkpoint from the last eval before the NaN");
}

#[test]
fn accumulation_matches_a_big_batch() {
    // mean of per-micro-batch means equals the big-batch mean when micro-batches are equal-sized
    let (vs, m, _tok) = setup();
    let x = Tensor::from_slice(&(0..16).map(|i| (i * 7 % 20) as i64).collect::<Vec<_>>()).view([4, 4]);
    let big = m.loss(&x, &x, false).expect("big");
    big.backward();
    let g_big: Vec<Tensor> = vs.trainable_variables().iter().map(|v| v.grad().copy()).collect();
    for v in vs.trainable_variables().iter_mut() {
        v.zero_grad();
    }
    for i in 0..2 {
        (m.loss(&x.narrow(0, 2 * i, 2), &x.narrow(0, 2 * i, 2), false).expect("micro") / 2.0).backward();
    }
    for (a, v) in g_big.iter().zip(vs.trainable_variables()) {
        let d = (a - v.grad()).abs().max().double_value(&[]);
        assert!(d < 1e-6, "grad diff {d}");
    }
    assert_eq!(big.kind(), Kind::Float);
}
