//! `gptlab pretrain`: train a GPT on a text corpus (from scratch or from a checkpoint).

use crate::common;
use anyhow::{Context, Result};
use clap::Parser;
use gptlab_model::{checkpoint, Gpt, GptConfig};
use gptlab_tokenizer::{read_corpus, Kind, Tokenizer};
use gptlab_train::config::PretrainConfig;
use gptlab_train::data::TokenSplit;
use gptlab_train::objectives::pretrain::PretrainTask;
use gptlab_train::trainer::{self, LoopConfig, Summary};
use std::path::Path;

#[derive(Parser)]
pub struct Args {
    #[command(flatten)]
    pub stage: common::StageArgs,
}

pub fn run(a: Args) -> Result<Summary> {
    let (cfg, resolved) = a.stage.load::<PretrainConfig>()?;
    run_config(&cfg, &resolved, a.stage.resume, !a.stage.quiet)
}

fn tokenizer_for(cfg: &PretrainConfig, corpus: &str) -> Result<Tokenizer> {
    Ok(match cfg.data.tokenizer.as_str() {
        "char" => Tokenizer::train(&[corpus.to_string()], Kind::Char, 0)?,
        "bpe" => Tokenizer::train(&[corpus.to_string()], Kind::Bpe, cfg.data.vocab_size)?,
        path => Tokenizer::load(Path::new(path))?,
    })
}

pub fn run_config(cfg: &PretrainConfig, resolved: &str, resume: bool, progress: bool) -> Result<Summary> {
    let device = common::setup(&cfg.train.device, cfg.train.threads)?;
    tch::manual_seed(cfg.train.seed as i64);
    let corpus = read_corpus(&cfg.data.corpus)?;
    let mut vs = tch::nn::VarStore::new(device);
    let (model, tok) = match &cfg.model.init_from {
        Some(dir) => {
            let tok = gptlab_tokenizer::Tokenizer::load(&dir.join("tokenizer.json"))
                .with_context(|| format!("model.init_from = {}", dir.display()))?;
            let mcfg = checkpoint::load_config(dir)?;
            let model = Gpt::new(&vs.root(), &mcfg)?;
            checkpoint::load_weights(&vs, &dir.join(checkpoint::MODEL_FILE))?;
            (model, tok)
        }
        None => {
            let tok = tokenizer_for(cfg, &corpus)?;
            let m = &cfg.model;
            let mut mc = GptConfig::new(tok.vocab_size() as i64, m.block_size, m.n_layer, m.n_head, m.n_embd);
            (mc.resid_pdrop, mc.embd_pdrop, mc.attn_pdrop) = (m.dropout, m.dropout, m.dropout);
            mc.bias = m.bias;
            mc.activation_function = m.activation.clone();
            mc.bos_token_id = Some(tok.bos as i64);
            mc.eos_token_id = Some(tok.end as i64);
            (Gpt::new(&vs.root(), &mc).context("[model]")?, tok)
        }
    };
    vs.set_kind(tch::Kind::Float);
    let mut model = model;
    model.set_precision(&cfg.train.dtype).context("train.dtype")?;
    let ids = tok.encode(&corpus)?;
    let block = model.cfg.n_positions.min(cfg.model.block_size);
    let data = TokenSplit::new(&ids, cfg.data.val_fraction, block, device)
        .with_context(|| format!("data.corpus = {}", cfg.data.corpus.display()))?;
    let mut task = PretrainTask { data, batch_size: cfg.train.batch_size, block, eval_iters: cfg.train.eval_iters, eval_seed: cfg.train.seed ^ 0xE7A1 };
    let lc = LoopConfig {
        stage: "pretrain".into(),
        optim: cfg.optim,
        schedule: cfg.schedule,
        train: cfg.train.clone(),
        out_dir: cfg.run.out_dir.clone(),
        resume,
        resolved_toml: resolved.to_string(),
        progress,
    };
    let summary = trainer::run(&mut task, &vs, &model, &tok, &lc)?;
    println!("{}", serde_json::to_string(&summary)?);
    Ok(summary)
}
