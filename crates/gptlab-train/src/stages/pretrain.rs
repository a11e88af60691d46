//! The `pretrain` stage: a GPT trained on a text corpus, from scratch (a new tokenizer, or a
//! given one, and the `[model]` shape) or continuing from `model.init_from`. The corpus is a
//! text file, or a JSONL file of documents (`{"text"}` per line, as `gptlab data code`
//! writes), joined by the tokenizer's end-of-document token.

use crate::config::{PretrainConfig, TokenizerSpec};
use crate::data::TokenSplit;
use crate::objectives::pretrain::PretrainTask;
use crate::rundir::RunDir;
use crate::stages::RunOptions;
use crate::trainer::{self, LoopConfig, Summary};
use crate::{ctx, Result};
use gptlab_model::roles::{self, Mode};
use gptlab_model::{Gpt, GptConfig};
use gptlab_data::read_documents;
use gptlab_tokenizer::{Kind, Tokenizer};

fn tokenizer_for(spec: &TokenizerSpec, vocab_size: usize, corpus: &str) -> Result<Tokenizer> {
    Ok(match spec {
        TokenizerSpec::Char => Tokenizer::train(&[corpus.to_string()], Kind::Char, 0)?,
        TokenizerSpec::Bpe => Tokenizer::train(&[corpus.to_string()], Kind::Bpe, vocab_size)?,
        TokenizerSpec::File(path) => Tokenizer::load(path)?,
    })
}

pub fn run(cfg: &PretrainConfig, o: &RunOptions) -> Result<Summary> {
    let (device, dist) = crate::dist::join(cfg.train.device, cfg.train.threads)?;
    tch::manual_seed(cfg.train.seed as i64);
    let docs = read_documents(&cfg.data.corpus)?;
    let (mut vs, mut model, tok) = match &cfg.model.init_from {
        Some(dir) => {
            let l = ctx(roles::lm(dir, device, Mode::Trainable), || format!("model.init_from = {}", dir.display()))?;
            (l.vs, l.model, l.tok)
        }
        None => {
            let tok = tokenizer_for(&cfg.data.tokenizer, cfg.data.vocab_size, &docs.join("\n"))?;
            let m = &cfg.model;
            let mut mc = GptConfig::new(tok.vocab_size() as i64, m.block_size, m.n_layer, m.n_head, m.n_embd);
            (mc.resid_pdrop, mc.embd_pdrop, mc.attn_pdrop) = (m.dropout, m.dropout, m.dropout);
            mc.bias = m.bias;
            mc.activation_function = m.activation.hf_name().into();
            mc.bos_token_id = Some(tok.bos as i64);
            mc.eos_token_id = Some(tok.end as i64);
            let vs = tch::nn::VarStore::new(device);
            let model = ctx(Gpt::new(&vs.root(), &mc), || "[model]".to_string())?;
            (vs, model, tok)
        }
    };
    vs.set_kind(tch::Kind::Float);
    model.set_precision(cfg.train.dtype);
    let ids = tok.encode(&docs.join(&format!("\n{}\n", tok.decode(&[tok.end])?)))?;
    let block = model.cfg.n_positions.min(cfg.model.block_size);
    let data = ctx(TokenSplit::new(&ids, cfg.data.val_fraction, block, device), || format!("data.corpus = {}", cfg.data.corpus.display()))?;
    let eval_seed = gptlab_core::rng::stream_seed(cfg.train.seed, "pretrain/eval");
    let mut task = PretrainTask { data, batch_size: cfg.train.batch_size, block, eval_iters: cfg.train.eval_iters, eval_seed };
    let lc = LoopConfig { optim: cfg.optim, schedule: cfg.schedule, train: cfg.train.clone(), resume: o.resume, progress: o.progress, dist };
    let rd = RunDir::new("pretrain", &cfg.run.out_dir, &tok, &o.resolved_toml)?;
    trainer::run(&mut task, &vs, &model, &rd, &lc)
}
