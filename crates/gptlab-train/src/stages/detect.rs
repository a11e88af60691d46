//! The `detect` stage (`gptlab detect train`): the trained detector, a scalar head on the
//! `detect.init_from` trunk fine-tuned on human vs model text (the objective:
//! [`crate::objectives::detect`]).
//!
//! The texts are JSONL records with a `text` (as `gptlab detect make-set` writes them). Held
//! out for validation by passage: a human record's key is its `id`, a model record's the
//! `prefix_of` it continues (a record without one is its own passage, keyed by its text), so a
//! human passage and the model texts that begin with its prefix never sit in different splits;
//! `detect.val_fraction` of the keys (stream `detect/split` of the seed) are held out. The
//! checkpoint with the lowest validation loss is kept (`best/`, a scalar model, `num_labels = 1`,
//! that `gptlab detect --method classifier --model DIR` reads).

use crate::config::DetectConfig;
use crate::objectives::detect::{class_weights, DetectTask, Example};
use crate::rundir::{RunDir, Slot};
use crate::stages::RunOptions;
use crate::trainer::{self, LoopConfig};
use crate::{ctx, Error, Result};
use gptlab_core::rng::Rng;
use gptlab_data::prompts::split_by_key;
use gptlab_model::checkpoint;
use gptlab_model::roles::{self, Mode, Scalar};
use gptlab_tokenizer::Tokenizer;
use serde::Serialize;
use serde_json::Value;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize)]
pub struct DetectReport {
    /// Of the kept checkpoint on the validation texts, at logit 0.
    pub val_balanced_accuracy: f64,
    pub val_loss: f64,
    pub train_human: usize,
    pub train_model: usize,
    pub val_human: usize,
    pub val_model: usize,
    pub out_dir: PathBuf,
}

/// A labelled text and its passage key.
struct Text {
    key: String,
    text: String,
    model: bool,
}

/// The records of a JSONL file; a bad line is an error naming the file and line.
fn read(path: &Path, model: bool) -> Result<Vec<Text>> {
    let body = gptlab_core::fsio::read_text(path)?;
    let mut out = vec![];
    for (i, line) in body.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let at = || format!("{}:{}", path.display(), i + 1);
        let v: Value = serde_json::from_str(line).map_err(|e| Error::Data(format!("{}: invalid JSON: {e}", at())))?;
        let text = v.get("text").and_then(Value::as_str).ok_or_else(|| Error::Data(format!("{}: field `text` must be a string", at())))?;
        if text.is_empty() {
            return Err(Error::Data(format!("{}: empty `text`", at())));
        }
        let key = match v.get(if model { "prefix_of" } else { "id" }) {
            Some(k) if !k.is_null() => format!("passage {k}"),
            _ => format!("text {text}"),
        };
        out.push(Text { key, text: text.to_string(), model });
    }
    if out.is_empty() {
        return Err(Error::Data(format!("{}: no records", path.display())));
    }
    Ok(out)
}

fn encode(tok: &Tokenizer, texts: &[Text], ctx: usize) -> Result<Vec<Example>> {
    texts
        .iter()
        .map(|t| {
            let mut ids = tok.encode(&t.text)?;
            ids.truncate(ctx);
            Ok(Example { ids, model: t.model })
        })
        .collect()
}

fn write_split(path: &Path, texts: &[Text]) -> Result<()> {
    let rows: String = texts.iter().map(|t| serde_json::json!({"text": t.text, "model": t.model, "passage": t.key}).to_string() + "\n").collect();
    Ok(gptlab_core::fsio::write_atomic(path, rows.as_bytes())?)
}

pub fn run(cfg: &DetectConfig, o: &RunOptions) -> Result<DetectReport> {
    let d = &cfg.detect;
    if !(0.0 < d.val_fraction && d.val_fraction < 1.0) {
        return Err(Error::Data(format!("detect.val_fraction = {} must be between 0 and 1", d.val_fraction)));
    }
    let (device, dist) = crate::dist::join(cfg.train.device, cfg.train.threads)?;
    tch::manual_seed(cfg.train.seed as i64);
    let l = ctx(roles::scalar_from_lm(&d.init_from, device, Mode::Trainable), || format!("detect.init_from = {}", d.init_from.display()))?;
    let (vs, tok) = (l.vs, l.tok);
    let Scalar { gpt: mut model, head } = l.model;
    model.set_precision(cfg.train.dtype);
    let mut texts = read(&d.human, false)?;
    texts.extend(read(&d.model_text, true)?);
    let [train, val, _] = split_by_key(texts, |t| t.key.clone(), d.val_fraction, 0.0, Rng::stream(cfg.train.seed, "detect/split"));
    let count = |v: &[Text], m: bool| v.iter().filter(|t| t.model == m).count();
    let counts = [count(&train, false), count(&train, true), count(&val, false), count(&val, true)];
    if counts.contains(&0) {
        return Err(Error::Data(format!(
            "{} and {}: training and validation both need human and model texts (train {} human, {} model; validation {} human, {} model)",
            d.human.display(),
            d.model_text.display(),
            counts[0],
            counts[1],
            counts[2],
            counts[3]
        )));
    }
    // data-parallel: rank 0 alone writes files
    if dist.as_ref().is_none_or(|d| d.is_main()) {
        write_split(&cfg.run.out_dir.join("data/train.jsonl"), &train)?;
        write_split(&cfg.run.out_dir.join("data/val.jsonl"), &val)?;
    }
    let block = model.cfg.n_positions as usize;
    let (train, val) = (encode(&tok, &train, block)?, encode(&tok, &val, block)?);
    let weights = class_weights(&train);
    let n_train = train.len();
    let mut task = DetectTask { train, val, head, batch_size: cfg.train.batch_size, pad: tok.end, seed: cfg.train.seed, device, weights };
    let lc = LoopConfig::epochs(cfg.optim, cfg.schedule, &cfg.train, d.epochs, n_train, o.resume, o.progress, dist);
    let rd = RunDir::new("detect", &cfg.run.out_dir, &tok, &o.resolved_toml)?;
    trainer::run(&mut task, &vs, &model, &rd, &lc)?;
    checkpoint::load_weights(&vs, &rd.dir(Slot::Best).join(checkpoint::MODEL_FILE))?;
    let (val_loss, acc) = task.stats(&model, &task.val)?;
    Ok(DetectReport {
        val_balanced_accuracy: acc,
        val_loss,
        train_human: counts[0],
        train_model: counts[1],
        val_human: counts[2],
        val_model: counts[3],
        out_dir: rd.out_dir.clone(),
    })
}
