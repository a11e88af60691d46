//! `gptlab eval code --model DIR`: samples the completions from a gptlab checkpoint as Codex
//! did (n per problem, temperature, top-p, Codex's stop sequences), writes the samples file
//! with each completion's mean log-probability, then evaluates it (`crate::eval_code`).

use crate::common;
use crate::eval_code::{self, Args};
use anyhow::{Context, Result};
use gptlab_code::{problems, pyjson};
use gptlab_engine::{generate, SampleConfig};
use std::path::Path;

/// Codex's stop sequences for HumanEval.
const STOPS: [&str; 5] = ["\nclass", "\ndef", "\n#", "\nif", "\nprint"];

/// `eval code` in gptlab-torch: with --model, sample first; then evaluate.
pub fn run(a: Args) -> Result<()> {
    let samples = eval_code::samples_path(&a)?;
    if let Some(m) = &a.model {
        sample(&a, m, &samples)?;
    }
    eval_code::evaluate(&a, &samples)
}

fn sample(a: &Args, model: &Path, out: &Path) -> Result<()> {
    let device = common::setup(&a.device, 0)?;
    let l = common::load_checkpoint(model, device)?;
    let probs = problems::load_problems(&a.problems)?;
    let cfg = SampleConfig {
        max_new_tokens: a.max_new_tokens,
        temperature: a.temperature,
        top_p: Some(a.top_p),
        top_k: None,
        stop: STOPS.iter().map(|s| s.to_string()).collect(),
        seed: a.seed,
        stop_at_end: true,
    };
    let mut text = String::new();
    for (pi, p) in probs.iter().enumerate() {
        let ids = l.tok.encode(&p.prompt)?;
        let ctx = l.model.cfg.n_positions as usize;
        if ids.len() >= ctx {
            eprintln!("note: {}: prompt of {} tokens does not fit the context ({ctx}); sampling empty completions", p.task_id, ids.len());
        }
        let mut done = 0;
        while done < a.num_samples {
            let b = (a.num_samples - done).min(16);
            let gens = if ids.len() >= ctx {
                vec![]
            } else {
                let c = SampleConfig { seed: cfg.seed.wrapping_add((pi * 1_000_003 + done) as u64), ..cfg.clone() };
                generate(&l.model, Some(&l.tok), &vec![ids.clone(); b], &c).with_context(|| format!("sampling {}", p.task_id))?
            };
            for i in 0..b {
                let (completion, lp) = gens.get(i).map(|g| (g.text.clone(), g.mean_logprob())).unwrap_or_default();
                let rec = serde_json::json!({"task_id": p.task_id, "completion": completion, "mean_logprob": lp});
                text.push_str(&pyjson::dumps(&rec));
                text.push('\n');
            }
            done += b;
        }
    }
    gptlab_core::fsio::write_atomic(out, text.as_bytes())?;
    eprintln!("wrote {} ({} samples per problem)", out.display(), a.num_samples);
    Ok(())
}
