//! Setup shared by commands: threads, device, loading a checkpoint with its tokenizer.

use anyhow::{Context, Result};
use gptlab_model::{checkpoint, Gpt};
use gptlab_tokenizer::Tokenizer;
use std::path::Path;

/// Sets libtorch's CPU threads (0 = all cores) and returns the device.
pub fn setup(device: &str, threads: usize) -> Result<tch::Device> {
    let n = if threads == 0 { std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) } else { threads };
    tch::set_num_threads(n as i32);
    static INTEROP: std::sync::Once = std::sync::Once::new();
    INTEROP.call_once(|| tch::set_num_interop_threads(1));
    Ok(gptlab_model::parse_device(device)?)
}

/// A checkpoint directory: model (frozen, eval) and its tokenizer.json.
pub struct Loaded {
    pub _vs: tch::nn::VarStore,
    pub model: Gpt,
    pub tok: Tokenizer,
}

pub fn load_checkpoint(dir: &Path, device: tch::Device) -> Result<Loaded> {
    if !dir.is_dir() {
        anyhow::bail!("{}: checkpoint directory does not exist", dir.display());
    }
    let tok_path = dir.join("tokenizer.json");
    let tok = Tokenizer::load(&tok_path).with_context(|| format!("loading the tokenizer of checkpoint {}", dir.display()))?;
    let (mut vs, model) = checkpoint::load_model(dir, device)?;
    if tok.vocab_size() as i64 > model.cfg.vocab_size {
        anyhow::bail!(
            "{}: tokenizer has {} tokens but the model's vocab_size is {}",
            tok_path.display(),
            tok.vocab_size(),
            model.cfg.vocab_size
        );
    }
    vs.freeze();
    Ok(Loaded { _vs: vs, model, tok })
}
