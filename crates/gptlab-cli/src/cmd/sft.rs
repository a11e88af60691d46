//! `gptlab sft`: supervised fine-tuning on demonstrations (InstructGPT step 1).

use crate::common;
use anyhow::{Context, Result};
use clap::Parser;
use gptlab_model::{checkpoint, Gpt};
use gptlab_tokenizer::chat::{read_sft, Rendered};
use gptlab_train::config::SftConfig;
use gptlab_train::objectives::sft::{RewardSelector, SftTask};
use gptlab_train::trainer::{self, Summary};

#[derive(Parser)]
pub struct Args {
    #[command(flatten)]
    pub stage: common::StageArgs,
}

pub fn run(a: Args) -> Result<Summary> {
    let (cfg, resolved) = a.stage.load::<SftConfig>()?;
    run_config(&cfg, &resolved, a.stage.resume, !a.stage.quiet)
}

pub fn run_config(cfg: &SftConfig, resolved: &str, resume: bool, progress: bool) -> Result<Summary> {
    let s = &cfg.sft;
    let device = common::setup(&cfg.train.device, cfg.train.threads)?;
    tch::manual_seed(cfg.train.seed as i64);
    let tok = gptlab_tokenizer::Tokenizer::load(&s.init_from.join("tokenizer.json")).with_context(|| format!("sft.init_from = {}", s.init_from.display()))?;
    let mut mcfg = checkpoint::load_config(&s.init_from)?;
    mcfg.resid_pdrop = s.resid_pdrop;
    let vs = tch::nn::VarStore::new(device);
    let mut model = Gpt::new(&vs.root(), &mcfg)?;
    checkpoint::load_weights(&vs, &s.init_from.join(checkpoint::MODEL_FILE))?;
    model.set_precision(&cfg.train.dtype).context("train.dtype")?;
    let render = |path: &std::path::Path| -> Result<Vec<Rendered>> {
        read_sft(path)?
            .iter()
            .enumerate()
            .map(|(i, ex)| tok.render_chat(&ex.messages, false).with_context(|| format!("{}: example {}", path.display(), i + 1)))
            .collect()
    };
    let mut train = render(&s.train)?;
    let val = match &s.val {
        Some(v) => render(v)?,
        None => common::hold_out(&mut train, s.val_fraction, &s.train)?,
    };
    let block = model.cfg.n_positions as usize;
    let n_train = train.len();
    let selector = match &s.reward_from {
        Some(dir) => {
            // the modules hold their own references to the (frozen) weights
            let (_, reward) = crate::cmd::ppo::scalar(dir, device, false).with_context(|| format!("sft.reward_from = {}", dir.display()))?;
            let prompts = val.iter().map(gptlab_train::objectives::sft::prompt_ids).filter(|p| p.len() + s.reward_max_new_tokens <= block).collect();
            Some(RewardSelector { reward, tok: tok.clone(), prompts, max_new_tokens: s.reward_max_new_tokens })
        }
        None => None,
    };
    let mut task = SftTask { train, val, selector, batch_size: cfg.train.batch_size, block, seed: cfg.train.seed, device };
    let lc = common::epoch_loop("sft", cfg.optim, cfg.schedule, &cfg.train, &cfg.run, s.epochs, n_train, resume, resolved, progress);
    let summary = trainer::run(&mut task, &vs, &model, &tok, &lc)?;
    println!("{}", serde_json::to_string(&summary)?);
    Ok(summary)
}
