//! What every pipeline run shares: stage configs read from one folder with the run's paths
//! set and the user's `STAGE:KEY=VALUE` overrides applied ([`Stages`]), errors that name the
//! stage ([`stage_err`]), and the stage wall times the report lists ([`Clock`]).

use crate::{Error, Result};
use gptlab_train::stages::RunOptions;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

/// A folder of stage configs (`<dir>/<stage>.toml`) and the user's overrides.
pub struct Stages<'a> {
    pub dir: &'a Path,
    /// The stage names the folder must hold; an override names one of them.
    pub names: &'a [&'a str],
    /// `STAGE:KEY=VALUE` overrides.
    pub overrides: &'a [String],
    pub progress: bool,
}

impl Stages<'_> {
    /// Checks the overrides and that every stage's config exists, before anything runs.
    pub fn check(&self) -> Result<()> {
        self.split()?;
        for s in self.names {
            let p = self.dir.join(format!("{s}.toml"));
            if !p.exists() {
                return Err(Error::Input(format!("{}: config not found (--configs DIR must hold {}.toml)", p.display(), self.names.join(".toml, "))));
            }
        }
        Ok(())
    }

    /// The overrides as (stage, `KEY=VALUE`).
    pub fn split(&self) -> Result<Vec<(&str, &str)>> {
        let names = self.names.join(", ");
        self.overrides
            .iter()
            .map(|o| {
                let (s, kv) = o.split_once(':').filter(|(_, kv)| kv.contains('=')).ok_or_else(|| Error::Input(format!("--set {o}: expected STAGE:KEY=VALUE (stages: {names})")))?;
                if !self.names.contains(&s) {
                    return Err(Error::Input(format!("--set {o}: unknown stage `{s}` (stages: {names})")));
                }
                Ok((s, kv))
            })
            .collect()
    }

    /// The config of `stage` with the run's paths and `extra` settings, then the user's
    /// overrides for that stage, and the run options with its resolved TOML.
    pub fn load<T: serde::de::DeserializeOwned + serde::Serialize>(&self, stage: &str, paths: &[(&str, &Path)], extra: &[String]) -> Result<(T, RunOptions)> {
        let mut ov: Vec<String> = paths.iter().map(|(k, p)| format!("{k}={}", toml_str(p))).collect();
        ov.extend(extra.iter().cloned());
        for (s, kv) in self.split()? {
            if s == stage {
                ov.push(kv.to_string());
            }
        }
        let cfg: T = gptlab_core::config::load(&self.dir.join(format!("{stage}.toml")), &ov)?;
        let resolved_toml = gptlab_core::config::to_toml(&cfg);
        Ok((cfg, RunOptions { resolved_toml, resume: false, progress: self.progress }))
    }
}

fn toml_str(p: &Path) -> String {
    serde_json::Value::String(p.display().to_string()).to_string()
}

/// Wraps a training stage's error with the stage's name.
pub fn stage_err(stage: impl Into<String>) -> impl FnOnce(gptlab_train::Error) -> Error {
    let stage = stage.into();
    move |source| Error::Stage { stage, source }
}

/// Stage wall times, in order of completion.
pub struct Clock {
    pub t0: Instant,
    lap: Instant,
    pub times: BTreeMap<String, f64>,
    /// The run's name in the progress lines (`demo`, `codex`).
    name: &'static str,
}

impl Clock {
    pub fn start(name: &'static str) -> Self {
        Self { t0: Instant::now(), lap: Instant::now(), times: BTreeMap::new(), name }
    }

    /// Records the time since the last tick under `stage` and prints a progress line.
    pub fn tick(&mut self, stage: &str) {
        self.times.insert(stage.to_string(), self.lap.elapsed().as_secs_f64());
        self.lap = Instant::now();
        eprintln!("{}: {stage} done ({:.0} s so far)", self.name, self.t0.elapsed().as_secs_f64());
    }

    pub fn total(&self) -> f64 {
        self.t0.elapsed().as_secs_f64()
    }
}
