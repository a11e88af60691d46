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

/// Holds out the last `fraction` of `items` (at least one) for validation.
pub fn hold_out<T>(items: &mut Vec<T>, fraction: f64, origin: &Path) -> Result<Vec<T>> {
    let n_val = ((items.len() as f64) * fraction).round().max(1.0) as usize;
    if n_val >= items.len() {
        anyhow::bail!("{}: {} records are too few to hold out {n_val} for validation", origin.display(), items.len());
    }
    Ok(items.split_off(items.len() - n_val))
}

/// The shared loop's settings for an epoch-based stage: `max_iters = 0` becomes
/// `epochs × steps per epoch`, `decay_iters = 0` becomes the whole run.
#[allow(clippy::too_many_arguments)]
pub fn epoch_loop(
    stage: &str,
    optim: gptlab_train::optim::OptimConfig,
    mut schedule: gptlab_train::optim::ScheduleConfig,
    train: &gptlab_train::config::TrainSection,
    run: &gptlab_train::config::RunSection,
    epochs: u64,
    examples: usize,
    resume: bool,
    resolved: &str,
    progress: bool,
) -> gptlab_train::trainer::LoopConfig {
    let mut t = train.clone();
    if t.max_iters == 0 {
        t.max_iters = epochs * (examples.div_ceil(t.batch_size.max(1) * t.grad_accum.max(1))).max(1) as u64;
    }
    if schedule.decay_iters == 0 {
        schedule.decay_iters = t.max_iters;
    }
    gptlab_train::trainer::LoopConfig {
        stage: stage.into(),
        optim,
        schedule,
        train: t,
        out_dir: run.out_dir.clone(),
        resume,
        resolved_toml: resolved.to_string(),
        progress,
    }
}

/// Replies of a chat model to user prompts (batched, KV cache), texts without `<|end|>`.
pub fn chat_replies(model: &Gpt, tok: &Tokenizer, prompts: &[String], cfg: &gptlab_engine::SampleConfig) -> Result<Vec<String>> {
    let mut out = Vec::with_capacity(prompts.len());
    for (i, chunk) in prompts.chunks(16).enumerate() {
        let ids: Vec<Vec<u32>> = chunk
            .iter()
            .map(|p| tok.render_chat(&[gptlab_tokenizer::chat::Message::user(p)], true).map(|r| r.ids))
            .collect::<std::result::Result<_, _>>()?;
        let c = gptlab_engine::SampleConfig { seed: cfg.seed.wrapping_add(i as u64 * 7919), ..cfg.clone() };
        // a reply ends at the first special token the model emits (e.g. a stray <|user|>)
        let cut = |t: String| match gptlab_tokenizer::SPECIALS.iter().filter_map(|s| t.find(s)).min() {
            Some(i) => t[..i].to_string(),
            None => t,
        };
        out.extend(gptlab_engine::generate(model, Some(tok), &ids, &c)?.into_iter().map(|g| cut(g.text)));
    }
    Ok(out)
}

/// The arguments every training stage takes.
#[derive(clap::Args)]
pub struct StageArgs {
    /// Stage config (TOML), e.g. configs/tiny/<stage>.toml.
    #[arg(long)]
    pub config: std::path::PathBuf,
    /// Override a config key: --set optim.lr=1e-4 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    /// Continue from <out_dir>/last.
    #[arg(long)]
    pub resume: bool,
    /// Hide the progress bar.
    #[arg(long)]
    pub quiet: bool,
}

impl StageArgs {
    /// The config with overrides applied, and its resolved TOML (saved beside checkpoints).
    pub fn load<T: serde::de::DeserializeOwned + serde::Serialize>(&self) -> Result<(T, String)> {
        let cfg: T = gptlab_core::config::load(&self.config, &self.overrides)?;
        let resolved = gptlab_core::config::to_toml(&cfg);
        Ok((cfg, resolved))
    }
}
