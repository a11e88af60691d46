//! `gptlab rm`: train a reward model on ranked comparisons (InstructGPT step 2).

use crate::common;
use anyhow::{Context, Result};
use clap::Parser;
use gptlab_model::heads::ScalarHead;
use gptlab_model::{checkpoint, Gpt};
use gptlab_tokenizer::chat::{read_comparisons_file, read_sft, Rendered};
use gptlab_train::config::RmConfig;
use gptlab_train::objectives::rm::{RankedGroup, RmTask};
use gptlab_train::trainer::{self, Task};
use std::path::PathBuf;

#[derive(Parser)]
pub struct Args {
    #[command(flatten)]
    pub stage: common::StageArgs,
}

#[derive(Debug, serde::Serialize)]
pub struct RmReport {
    pub rm_accuracy: f64,
    pub eval_loss: f64,
    pub demo_mean_reward_before_bias: Option<f64>,
    pub bias: f64,
    pub train_groups: usize,
    pub val_groups: usize,
    pub out_dir: PathBuf,
}

pub fn run(a: Args) -> Result<RmReport> {
    let (cfg, resolved) = a.stage.load::<RmConfig>()?;
    run_config(&cfg, &resolved, a.stage.resume, !a.stage.quiet)
}

pub fn run_config(cfg: &RmConfig, resolved: &str, resume: bool, progress: bool) -> Result<RmReport> {
    let r = &cfg.rm;
    let device = common::setup(&cfg.train.device, cfg.train.threads)?;
    tch::manual_seed(cfg.train.seed as i64);
    let tok = gptlab_tokenizer::Tokenizer::load(&r.init_from.join("tokenizer.json")).with_context(|| format!("rm.init_from = {}", r.init_from.display()))?;
    let mcfg = checkpoint::load_config(&r.init_from)?.as_scalar_model();
    let vs = tch::nn::VarStore::new(device);
    let mut model = Gpt::new(&vs.root(), &mcfg)?;
    let head = ScalarHead::new(&vs.root(), mcfg.n_embd);
    checkpoint::load_trunk(&vs, &r.init_from.join(checkpoint::MODEL_FILE))?;
    model.set_precision(&cfg.train.dtype).context("train.dtype")?;
    let groups = |path: &std::path::Path| -> Result<Vec<RankedGroup>> {
        let file = read_comparisons_file(path)?;
        if let Some(first) = file.skipped.first() {
            eprintln!("rm: {} records of {} left out (e.g. {first})", file.skipped.len(), path.display());
        }
        file.comparisons
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let items = c.completions.iter().map(|y| tok.render_reply(&c.context, y).map(|(r, _)| r)).collect::<Result<Vec<_>, _>>();
                Ok(RankedGroup { items: items.with_context(|| format!("{}: comparison {}", path.display(), i + 1))?, ranking: c.ranking.clone() })
            })
            .collect()
    };
    let mut train = groups(&r.train)?;
    let val = match &r.val {
        Some(v) => groups(v)?,
        None => common::hold_out(&mut train, r.val_fraction, &r.train)?,
    };
    let (n_train, n_val) = (train.len(), val.len());
    let block = model.cfg.n_positions as usize;
    let pad = tok.end;
    let mut task = RmTask { train, val, head, batch_size: cfg.train.batch_size, block, pad, device };
    let lc = common::epoch_loop("rm", cfg.optim, cfg.schedule, &cfg.train, &cfg.run, r.epochs, n_train, resume, resolved, progress);
    trainer::run(&mut task, &vs, &model, &tok, &lc)?;

    // best checkpoint, then the bias that centres the demonstrations' rewards on 0
    let best = cfg.run.out_dir.join("best");
    checkpoint::load_weights(&vs, &best.join(checkpoint::MODEL_FILE))?;
    let mut before = None;
    if let Some(demos) = &r.demos {
        let seqs: Vec<Rendered> = read_sft(demos)?.iter().map(|ex| tok.render_chat(&ex.messages, false)).collect::<Result<_, _>>()?;
        let mean = task.mean_reward(&model, &seqs)?;
        let b = task.head.b.double_value(&[0]) - mean;
        task.head.set_bias(b);
        before = Some(mean);
        let state = trainer::read_state(&best)?;
        trainer::save_checkpoint(&best, &vs, &model, &tok, None, &state, resolved)?;
    }
    let (eval_loss, m) = task.evaluate(&model)?;
    let report = RmReport {
        rm_accuracy: m.get("eval_accuracy").and_then(|v| v.as_f64()).unwrap_or(f64::NAN),
        eval_loss,
        demo_mean_reward_before_bias: before,
        bias: task.head.b.double_value(&[0]),
        train_groups: n_train,
        val_groups: n_val,
        out_dir: cfg.run.out_dir.clone(),
    };
    println!("{}", serde_json::to_string(&report)?);
    Ok(report)
}
