//! `gptlab demo codex`: Codex's findings at toy scale on a CPU (gptlab-pipeline's `codex`
//! module says what runs). Included from `demo.rs`.

use anyhow::Result;
use clap::Parser;
use gptlab_pipeline::codex::{self, data::DataOptions, study::Sampling, CodexOptions};
use std::path::PathBuf;

/// Codex at toy scale: a natural-language GPT, code fine-tuning from it and from scratch at
/// the same token budget, Codex-S on standalone functions, the sampling study (pass@k
/// against temperature, ranking by mean log-probability, BLEU against functional
/// correctness), and RL from unit tests (GRPO) on Codex-S. Writes <out>/report.md, report.json and plots; prints a summary line.
#[derive(Parser)]
pub struct CodexArgs {
    #[arg(long, default_value = "runs/codex")]
    out: PathBuf,
    /// Folder with pretrain.toml, pretrain_code.toml, sft.toml and ppo.toml.
    #[arg(long, default_value = "configs/tiny/codex")]
    configs: PathBuf,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Source trees of the code corpus (default: the newest /usr/lib/python3.N).
    #[arg(long, num_args = 1..)]
    code_src: Vec<PathBuf>,
    /// Megabytes of filtered code trained on (a seeded sample of whole files).
    #[arg(long, default_value_t = 2.0)]
    code_mb: f64,
    /// Sentences of natural-language text for the GPT.
    #[arg(long, default_value_t = 20_000)]
    nl_sentences: usize,
    /// Training problems per task family (Codex-S's demonstrations).
    #[arg(long, default_value_t = 50)]
    per_family: usize,
    /// Unseen problems per training family in the sampling study.
    #[arg(long, default_value_t = 1)]
    study_per_family: usize,
    /// Completions per problem (n).
    #[arg(short = 'n', long, default_value_t = 100)]
    samples: usize,
    /// Completions per problem in the comparisons around the study (the code model against
    /// Codex-S, held-out families, before and after RL).
    #[arg(long, default_value_t = 20)]
    compare_n: usize,
    #[arg(long, value_delimiter = ',', default_value = "0.2,0.4,0.6,0.8,1.0")]
    temperatures: Vec<f64>,
    /// Most tokens of each completion.
    #[arg(long, default_value_t = 128)]
    max_new_tokens: usize,
    #[arg(long, default_value_t = 2048)]
    vocab_size: usize,
    /// Override one stage's config key, e.g. --set pretrain_code:train.max_iters=50
    /// (repeatable; stages: pretrain, pretrain_code, sft, ppo).
    #[arg(long = "set", value_name = "STAGE:KEY=VALUE")]
    overrides: Vec<String>,
    #[arg(long)]
    quiet: bool,
}

pub fn run(a: CodexArgs) -> Result<()> {
    let code_src = if a.code_src.is_empty() { vec![codex::data::default_code_src()?] } else { a.code_src };
    let jobs = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let mut temperatures = a.temperatures;
    temperatures.sort_by(f64::total_cmp);
    let o = CodexOptions {
        out: a.out,
        configs: a.configs,
        data: DataOptions { seed: a.seed, nl_sentences: a.nl_sentences, code_src, code_mb: a.code_mb, per_family: a.per_family, test_per_family: 10, vocab_size: a.vocab_size },
        study_per_family: a.study_per_family,
        sampling: Sampling { n: a.samples, max_new_tokens: a.max_new_tokens, top_p: 0.95, seed: a.seed, jobs, timeout: 3.0, progress: !a.quiet },
        compare_n: a.compare_n,
        temperatures,
        overrides: a.overrides,
        progress: !a.quiet,
    };
    let r = codex::run(&o)?;
    let c = &r.from_scratch_vs_from_gpt;
    let line = serde_json::json!({"report": o.out.join("report.md"), "speedup_from_gpt": c.speedup, "final_loss": [c.from_gpt.final_loss, c.from_scratch.final_loss],
        "best_temperature": r.best_temperature, "ranking": r.ranking, "codex_s_vs_base": r.codex_s_vs_base, "rl_unit_tests": r.rl_unit_tests});
    println!("{line}");
    Ok(())
}
