//! The `rm` stage: a reward model (InstructGPT step 2), a scalar head on the `rm.init_from`
//! trunk trained on K-wise ranked comparisons. Validation and test comparisons are `rm.val`
//! and `rm.test`, or held out from `rm.train` by prompt (no prompt in two splits; the splits
//! are written to `<out_dir>/data/{train,val,test}.jsonl`). The checkpoint with the lowest
//! validation loss is kept, and its accuracy is reported on test. With `rm.demos`, the head's
//! bias is then set so the demonstrations' mean reward is 0 (the paper normalises its reward
//! model so demonstrations score 0 on average).

use crate::config::RmConfig;
use crate::objectives::rm::{mean_reward, PairStats, RankedGroup, RmTask};
use crate::rundir::{read_state, RunDir, Slot};
use crate::stages::sft::render_demos;
use crate::stages::RunOptions;
use crate::trainer::{self, LoopConfig};
use crate::{ctx, Error, Result};
use gptlab_model::checkpoint;
use gptlab_model::roles::{self, Mode, Scalar};
use gptlab_core::rng::Rng;
use gptlab_data::prompts::split_by_key;
use gptlab_data::{read_comparisons_file, Comparison};
use gptlab_tokenizer::Tokenizer;
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize)]
pub struct RmReport {
    /// Pairwise accuracy of the kept checkpoint on the test comparisons (on validation when
    /// there are none).
    pub rm_accuracy: f64,
    pub eval_loss: f64,
    pub val: PairStats,
    pub test: PairStats,
    /// The demonstrations' mean reward before the bias was set (with `rm.demos`), and as the
    /// saved checkpoint scores them (≈ 0).
    pub demo_mean_reward_before_bias: Option<f64>,
    pub demo_mean_reward_after_bias: Option<f64>,
    pub bias: f64,
    pub train_groups: usize,
    pub val_groups: usize,
    pub test_groups: usize,
    /// Records of the comparison files left out (unusable), with an example.
    pub skipped: usize,
    pub out_dir: PathBuf,
}

/// A comparisons file, with a note on records left out.
fn read(path: &Path) -> Result<(Vec<Comparison>, usize)> {
    let file = read_comparisons_file(path)?;
    if let Some(first) = file.skipped.first() {
        eprintln!("rm: {} records of {} left out (e.g. {first})", file.skipped.len(), path.display());
    }
    Ok((file.comparisons, file.skipped.len()))
}

/// Comparisons rendered as ranked groups.
fn render(tok: &Tokenizer, cs: &[Comparison], origin: &str) -> Result<Vec<RankedGroup>> {
    cs.iter()
        .enumerate()
        .map(|(i, c)| {
            let items = c.completions.iter().map(|y| tok.render_reply(&c.context, y).map(|(r, _)| r)).collect::<std::result::Result<Vec<_>, _>>();
            Ok(RankedGroup { items: items.map_err(|e| Error::Data(format!("{origin}: comparison {} of the split: {e}", i + 1)))?, ranking: c.ranking.clone() })
        })
        .collect()
}

fn write_jsonl(path: &Path, cs: &[Comparison]) -> Result<()> {
    let mut s = String::new();
    for c in cs {
        s.push_str(&serde_json::to_string(c).map_err(|e| Error::Data(e.to_string()))?);
        s.push('\n');
    }
    Ok(gptlab_core::fsio::write_atomic(path, s.as_bytes())?)
}

/// Train, validation and test comparisons: the given files, or `train` split by prompt.
fn splits(r: &crate::config::RmSection, seed: u64) -> Result<([Vec<Comparison>; 3], usize)> {
    let (train, mut skipped) = read(&r.train)?;
    let val_f = if r.val.is_some() { 0.0 } else { r.val_fraction };
    let test_f = if r.test.is_some() { 0.0 } else { r.test_fraction };
    let [train, mut val, mut test] = split_by_key(train, Comparison::prompt_key, val_f, test_f, Rng::stream(seed, "rm/split"));
    for (file, out) in [(&r.val, &mut val), (&r.test, &mut test)] {
        if let Some(f) = file {
            let (cs, s) = read(f)?;
            *out = cs;
            skipped += s;
        }
    }
    if train.is_empty() || val.is_empty() {
        let prompts: std::collections::HashSet<String> = train.iter().chain(&val).chain(&test).map(Comparison::prompt_key).collect();
        return Err(Error::Data(format!("{}: {} distinct prompts are too few for train and validation splits", r.train.display(), prompts.len())));
    }
    Ok(([train, val, test], skipped))
}

pub fn run(cfg: &RmConfig, o: &RunOptions) -> Result<RmReport> {
    let r = &cfg.rm;
    let (device, dist) = crate::dist::join(cfg.train.device, cfg.train.threads)?;
    tch::manual_seed(cfg.train.seed as i64);
    let l = ctx(roles::scalar_from_lm(&r.init_from, device, Mode::Trainable), || format!("rm.init_from = {}", r.init_from.display()))?;
    let (vs, tok) = (l.vs, l.tok);
    let Scalar { gpt: mut model, head } = l.model;
    model.set_precision(cfg.train.dtype);
    let ([train_c, val_c, test_c], skipped) = splits(r, cfg.train.seed)?;
    // data-parallel: rank 0 alone writes files
    let main = dist.as_ref().is_none_or(|d| d.is_main());
    if main {
        for (name, cs) in [("train", &train_c), ("val", &val_c), ("test", &test_c)] {
            write_jsonl(&cfg.run.out_dir.join("data").join(format!("{name}.jsonl")), cs)?;
        }
    }
    let origin = |file: &Option<std::path::PathBuf>, split: &str| file.as_ref().map_or_else(|| format!("{} ({split} split)", r.train.display()), |f| f.display().to_string());
    let train_origin = format!("{} (train split)", r.train.display());
    let (train, val, test) = (render(&tok, &train_c, &train_origin)?, render(&tok, &val_c, &origin(&r.val, "validation"))?, render(&tok, &test_c, &origin(&r.test, "test"))?);
    let (n_train, n_val, n_test) = (train.len(), val.len(), test.len());
    let block = model.cfg.n_positions as usize;
    let mut task = RmTask { train, val, head, batch_size: cfg.train.batch_size, block, pad: tok.end, seed: cfg.train.seed, device };
    let lc = LoopConfig::epochs(cfg.optim, cfg.schedule, &cfg.train, r.epochs, n_train, o.resume, o.progress, dist.clone());
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
        if main {
            rd.save(Slot::Best, &vs, &model, None, &read_state(&best)?, &|_| Ok(()))?;
            let saved = roles::scalar(&best, device, Mode::Frozen)?.model;
            after = Some(mean_reward(&saved.gpt, &saved.head, &seqs, cfg.train.batch_size * 2, block, tok.end)?);
        }
    }
    let (val_stats, test_stats) = (task.stats(&model, &task.val)?, task.stats(&model, &test)?);
    Ok(RmReport {
        rm_accuracy: if test.is_empty() { val_stats.accuracy } else { test_stats.accuracy },
        eval_loss: val_stats.loss,
        val: val_stats,
        test: test_stats,
        demo_mean_reward_before_bias: before,
        demo_mean_reward_after_bias: after,
        bias: task.head.b.double_value(&[0]),
        train_groups: n_train,
        val_groups: n_val,
        test_groups: n_test,
        skipped,
        out_dir: rd.out_dir.clone(),
    })
}
