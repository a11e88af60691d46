//! What the stage commands share: their arguments, config loading and JSON output.

use anyhow::Result;
use gptlab_train::stages::RunOptions;

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
    /// Print the resolved config (file, overrides and defaults) as TOML and exit.
    #[arg(long)]
    pub print_config: bool,
}

impl StageArgs {
    /// The config with overrides applied and the run options, or `None` after printing the
    /// resolved config (`--print-config`).
    pub fn load<T: serde::de::DeserializeOwned + serde::Serialize>(&self) -> Result<Option<(T, RunOptions)>> {
        let cfg: T = gptlab_core::config::load(&self.config, &self.overrides)?;
        let resolved_toml = gptlab_core::config::to_toml(&cfg);
        if self.print_config {
            print!("{resolved_toml}");
            return Ok(None);
        }
        Ok(Some((cfg, RunOptions { resolved_toml, resume: self.resume, progress: !self.quiet })))
    }
}

/// Runs a training stage from its arguments and prints its report as one JSON line.
pub fn run_stage<C, R, F>(a: &StageArgs, stage: F) -> Result<()>
where
    C: serde::de::DeserializeOwned + serde::Serialize,
    R: serde::Serialize,
    F: FnOnce(&C, &RunOptions) -> gptlab_train::Result<R>,
{
    match a.load::<C>()? {
        // in a data-parallel run rank 0 alone reports (the others' reports are the same run's)
        Some((cfg, opts)) => {
            let report = stage(&cfg, &opts)?;
            match gptlab_dist::DistEnv::from_env()? {
                Some(e) if e.rank > 0 => Ok(()),
                _ => print_json(&report),
            }
        }
        None => Ok(()),
    }
}

/// Prints a report as one JSON line.
pub fn print_json<T: serde::Serialize>(report: &T) -> Result<()> {
    println!("{}", serde_json::to_string(report)?);
    Ok(())
}

/// The green-list watermark's key and settings (`sample`, `serve`, `detect`).
#[derive(clap::Args)]
pub struct WatermarkArgs {
    /// Watermark key (green lists of Kirchenbauer et al. 2023): generation marks its text,
    /// `detect --method watermark` looks for the mark.
    #[arg(long, value_name = "KEY")]
    pub watermark: Option<String>,
    /// Fraction of the vocabulary on each green list.
    #[arg(long, default_value_t = gptlab_engine::watermark::DEFAULT_GAMMA, requires = "watermark")]
    pub watermark_gamma: f64,
    /// Logit bias added to green tokens.
    #[arg(long, default_value_t = gptlab_engine::watermark::DEFAULT_DELTA, requires = "watermark")]
    pub watermark_delta: f32,
}

impl WatermarkArgs {
    pub fn get(&self) -> Result<Option<gptlab_engine::Watermark>> {
        Ok(self.watermark.as_deref().map(|k| gptlab_engine::Watermark::from_key(k, self.watermark_gamma, self.watermark_delta)).transpose()?)
    }
}
