//! The `sft` stage: supervised fine-tuning on demonstrations (InstructGPT step 1). The loss is
//! on the assistant's tokens only; epochs with cosine decay and residual dropout come from the
//! config. Validation is `sft.val`, or the last `sft.val_fraction` of the demonstrations. With
//! `sft.reward_from` the kept checkpoint is the one whose greedy validation replies the reward
//! model scores highest (the paper's choice); otherwise the lowest validation loss. With
//! `sft.format = "completion"` the demonstrations are plain prompt + completion text
//! (Codex-S: signature and docstring, then the body, the loss on the body only).

use crate::config::{SftConfig, SftFormat};
use crate::objectives::sft::{prompt_ids, RewardSelector, SftTask};
use crate::rundir::RunDir;
use crate::stages::{hold_out, RunOptions};
use crate::trainer::{self, LoopConfig, Summary};
use crate::{ctx, Error, Result};
use gptlab_model::roles::{self, Mode};
use gptlab_data::chat::Role;
use gptlab_data::read_sft;
use gptlab_tokenizer::chat::Rendered;
use gptlab_tokenizer::Tokenizer;
use std::path::Path;

/// The demonstrations of `path`, rendered in the chat format (with their loss masks).
pub fn render_demos(tok: &Tokenizer, path: &Path) -> Result<Vec<Rendered>> {
    render_as(tok, path, SftFormat::Chat)
}

/// The demonstrations of `path`, rendered in `format`. In the completion format a record
/// must be one prompt (a user turn) and one completion (the assistant's).
pub fn render_as(tok: &Tokenizer, path: &Path, format: SftFormat) -> Result<Vec<Rendered>> {
    read_sft(path)?
        .iter()
        .enumerate()
        .map(|(i, ex)| {
            let err = |e: String| Error::Data(format!("{}: example {}: {e}", path.display(), i + 1));
            match format {
                SftFormat::Chat => tok.render_chat(&ex.messages, false).map_err(|e| err(e.to_string())),
                SftFormat::Completion => match &ex.messages[..] {
                    [p, c] if p.role == Role::User && c.role == Role::Assistant => tok.render_completion(&p.content, &c.content).map_err(|e| err(e.to_string())),
                    _ => Err(err("sft.format = \"completion\" needs one prompt and one completion per record".into())),
                },
            }
        })
        .collect()
}

/// An SFT run: the loop's summary and the demonstrations it trained and validated on.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SftReport {
    #[serde(flatten)]
    pub summary: Summary,
    pub train_examples: usize,
    pub val_examples: usize,
}

pub fn run(cfg: &SftConfig, o: &RunOptions) -> Result<SftReport> {
    let s = &cfg.sft;
    if s.format == SftFormat::Completion && s.reward_from.is_some() {
        return Err(Error::Data("sft.reward_from scores chat replies; it does not apply with sft.format = \"completion\"".into()));
    }
    let (device, dist) = crate::dist::join(cfg.train.device, cfg.train.threads)?;
    tch::manual_seed(cfg.train.seed as i64);
    let l = ctx(roles::lm_with(&s.init_from, device, Mode::Trainable, |c| c.resid_pdrop = s.resid_pdrop), || format!("sft.init_from = {}", s.init_from.display()))?;
    let (vs, mut model, tok) = (l.vs, l.model, l.tok);
    model.set_precision(cfg.train.dtype);
    let mut train = render_as(&tok, &s.train, s.format)?;
    let val = match &s.val {
        Some(v) => render_as(&tok, v, s.format)?,
        None => hold_out(&mut train, s.val_fraction, &s.train)?,
    };
    let block = model.cfg.n_positions as usize;
    let n_train = train.len();
    let selector = match &s.reward_from {
        Some(dir) => {
            let r = ctx(roles::scalar(dir, device, Mode::Frozen), || format!("sft.reward_from = {}", dir.display()))?;
            crate::same_tokenizer(&tok, &r.tok, &format!("sft.reward_from = {}", dir.display()))?;
            let prompts = val.iter().map(prompt_ids).filter(|p| p.len() + s.reward_max_new_tokens <= block).collect();
            // the model holds its own references to the (frozen) weights
            Some(RewardSelector { reward: r.model, tok: tok.clone(), prompts, max_new_tokens: s.reward_max_new_tokens })
        }
        None => None,
    };
    let mut task = SftTask { train, val, selector, batch_size: cfg.train.batch_size, block, seed: cfg.train.seed, device };
    let lc = LoopConfig::epochs(cfg.optim, cfg.schedule, &cfg.train, s.epochs, n_train, o.resume, o.progress, dist.clone());
    let rd = RunDir::new("sft", &cfg.run.out_dir, &tok, &o.resolved_toml)?;
    let n_val = task.val.len();
    let summary = trainer::run(&mut task, &vs, &model, &rd, &lc)?;
    Ok(SftReport { summary, train_examples: n_train, val_examples: n_val })
}
