//! The `rm` stage: a reward model (InstructGPT step 2), a scalar head on the `rm.init_from`
//! trunk trained on K-wise ranked comparisons. Validation is `rm.val`, or the last
//! `rm.val_fraction` of the comparisons; the checkpoint with the lowest validation loss is
//! kept. With `rm.demos`, the head's bias is then set so the demonstrations' mean reward is 0
//! (the paper normalises its reward model so demonstrations score 0 on average).

use crate::config::RmConfig;
use crate::objectives::rm::{mean_reward, RankedGroup, RmTask};
use crate::rundir::{read_state, RunDir, Slot};
use crate::stages::sft::render_demos;
use crate::stages::{hold_out, RunOptions};
use crate::trainer::{self, LoopConfig};
use crate::{Error, Result};
use gptlab_model::checkpoint;
use gptlab_model::roles::{self, Mode, Scalar};
use gptlab_data::read_comparisons_file;
use gptlab_tokenizer::Tokenizer;
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize)]
pub struct RmReport {
    /// Pairwise accuracy on the validation comparisons.
    pub rm_accuracy: f64,
    pub eval_loss: f64,
    /// The demonstrations' mean reward before the bias was set (with `rm.demos`), and as the
    /// saved checkpoint scores them (≈ 0).
    pub demo_mean_reward_before_bias: Option<f64>,
    pub demo_mean_reward_after_bias: Option<f64>,
    pub bias: f64,
    pub train_groups: usize,
    pub val_groups: usize,
    /// Records of the comparison files left out (unusable), with an example.
    pub skipped: usize,
    pub out_dir: PathBuf,
}

/// The ranked groups of a comparisons file, rendered, and how many records were left out.
fn groups(tok: &Tokenizer, path: &Path) -> Result<(Vec<RankedGroup>, usize)> {
    let file = read_comparisons_file(path)?;
    if let Some(first) = file.skipped.first() {
        eprintln!("rm: {} records of {} left out (e.g. {first})", file.skipped.len(), path.display());
    }
    let g = file
        .comparisons
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let items = c.completions.iter().map(|y| tok.render_reply(&c.context, y).map(|(r, _)| r)).collect::<std::result::Result<Vec<_>, _>>();
            Ok(RankedGroup { items: items.map_err(|e| Error::Data(format!("{}: comparison {}: {e}", path.display(), i + 1)))?, ranking: c.ranking.clone() })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((g, file.skipped.len()))
}

pub fn run(cfg: &RmConfig, o: &RunOptions) -> Result<RmReport> {
    let r = &cfg.rm;
    let device = gptlab_model::device::setup(cfg.train.device, cfg.train.threads)?;
    tch::manual_seed(cfg.train.seed as i64);
    let l = roles::scalar_from_lm(&r.init_from, device, Mode::Trainable).map_err(|e| Error::Context { what: format!("rm.init_from = {}", r.init_from.display()), source: Box::new(e.into()) })?;
    let (vs, tok) = (l.vs, l.tok);
    let Scalar { gpt: mut model, head } = l.model;
    model.set_precision(cfg.train.dtype);
    let (mut train, mut skipped) = groups(&tok, &r.train)?;
    let val = match &r.val {
        Some(v) => {
            let (g, s) = groups(&tok, v)?;
            skipped += s;
            g
        }
        None => hold_out(&mut train, r.val_fraction, &r.train)?,
    };
    let (n_train, n_val) = (train.len(), val.len());
    let block = model.cfg.n_positions as usize;
    let mut task = RmTask { train, val, head, batch_size: cfg.train.batch_size, block, pad: tok.end, seed: cfg.train.seed, device };
    let lc = LoopConfig::epochs(cfg.optim, cfg.schedule, &cfg.train, r.epochs, n_train, o.resume, o.progress);
    let rd = RunDir::new("rm", &cfg.run.out_dir, &tok, &o.resolved_toml)?;
    trainer::run(&mut task, &vs, &model, &rd, &lc)?;

    // best checkpoint, then the bias that centres the demonstrations' rewards on 0
    let best = rd.dir(Slot::Best);
    checkpoint::load_weights(&vs, &best.join(checkpoint::MODEL_FILE))?;
    let (mut before, mut after) = (None, None);
    if let Some(demos) = &r.demos {
        let seqs = render_demos(&tok, demos)?;
        let mean = task.mean_reward(&model, &seqs)?;
        let b = task.head.b.double_value(&[0]) - mean;
        task.head.set_bias(b);
        before = Some(mean);
        rd.save(Slot::Best, &vs, &model, None, &read_state(&best)?, &|_| Ok(()))?;
        let saved = roles::scalar(&best, device, Mode::Frozen)?.model;
        after = Some(mean_reward(&saved.gpt, &saved.head, &seqs, cfg.train.batch_size * 2, block, tok.end)?);
    }
    let (eval_loss, rm_accuracy) = task.loss_and_accuracy(&model)?;
    Ok(RmReport {
        rm_accuracy,
        eval_loss,
        demo_mean_reward_before_bias: before,
        demo_mean_reward_after_bias: after,
        bias: task.head.b.double_value(&[0]),
        train_groups: n_train,
        val_groups: n_val,
        skipped,
        out_dir: rd.out_dir.clone(),
    })
}
