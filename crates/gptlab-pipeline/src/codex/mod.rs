//! The Codex demo (`gptlab demo codex`): Codex's findings at toy scale on a CPU.
//!
//! data (natural-language text, a filtered code corpus, function problems, a shared tokenizer:
//! [`data`]) → a natural-language GPT (`pretrain`) → code fine-tuning from that GPT and from
//! random weights at the same token budget (`pretrain_code`, twice: [`curves`]) → Codex-S,
//! supervised fine-tuning on standalone functions with the loss on the body only (`sft` with
//! `format = "completion"`) → the sampling study on Codex-S ([`study`]: pass@k against the
//! temperature, ranking by mean log-probability, BLEU against functional correctness) and
//! Codex-S against the code model it started from → reinforcement learning from unit tests on
//! Codex-S (`ppo` with the unit-test reward and GRPO's group baseline), pass@1 before and after
//! → `report.md` and `report.json` ([`report`]).
//!
//! Every stage reads `<configs>/<stage>.toml` with the run's paths set; `STAGE:KEY=VALUE`
//! overrides change one stage's keys (`pretrain_code:` applies to both code runs, which must
//! share a budget).

pub mod curves;
pub mod data;
pub mod report;
pub mod study;

use crate::runner::{stage_err, Clock, Stages};
use crate::{Error, Result};
use curves::{Curve, ScratchVsGpt};
use gptlab_train::config::{PpoConfig, PretrainConfig, SftConfig};
use gptlab_train::stages;
use report::{CodexReport, CodexSVsBase, Datasets, Ranked, RlUnitTests};
use std::path::PathBuf;
use study::{Sampling, TemperaturePoint};

/// The stages whose configs the Codex demo reads.
pub const STAGES: [&str; 4] = ["pretrain", "pretrain_code", "sft", "ppo"];

#[derive(Debug, Clone)]
pub struct CodexOptions {
    pub out: PathBuf,
    /// Folder with pretrain.toml, pretrain_code.toml, sft.toml and ppo.toml.
    pub configs: PathBuf,
    pub data: data::DataOptions,
    /// Problems per training family in the sampling study (from the unseen instances).
    pub study_per_family: usize,
    pub sampling: Sampling,
    /// Completions per problem of the comparisons around the study (the code model against
    /// Codex-S, held-out families, before and after RL).
    pub compare_n: usize,
    /// Temperatures of the sampling study, ascending.
    pub temperatures: Vec<f64>,
    pub overrides: Vec<String>,
    pub progress: bool,
}

/// Runs the demo and writes `<out>/report.md`, `<out>/report.json` and the plots.
pub fn run(o: &CodexOptions) -> Result<CodexReport> {
    let st = Stages { dir: &o.configs, names: &STAGES, overrides: &o.overrides, progress: o.progress };
    st.check()?;
    if o.temperatures.is_empty() || o.temperatures.iter().any(|t| !(*t > 0.0 && t.is_finite())) {
        return Err(Error::Input(format!("--temperatures {:?}: expected one or more temperatures above 0", o.temperatures)));
    }
    if o.sampling.n == 0 || o.study_per_family == 0 {
        return Err(Error::Input("--samples and --study-per-family must be at least 1".into()));
    }
    let out = &o.out;
    let mut clock = Clock::start("codex");
    let d = data::build(&o.data, out, o.progress)?;
    clock.tick("data");

    let (cfg, ro) = st.load::<PretrainConfig>("pretrain", &[("data.corpus", &d.nl), ("data.tokenizer", &d.tokenizer), ("run.out_dir", &out.join("pretrain"))], &[])?;
    stages::pretrain::run(&cfg, &ro).map_err(stage_err("pretrain"))?;
    clock.tick("pretrain");

    let gpt = out.join("pretrain/best");
    let mut tokens_per_step = 0;
    for (dir, init) in [("code_from_gpt", Some(&gpt)), ("code_from_scratch", None)] {
        let mut paths = vec![("data.corpus", d.code.as_path()), ("data.tokenizer", d.tokenizer.as_path())];
        if let Some(g) = init {
            paths.push(("model.init_from", g.as_path()));
        }
        let od = out.join(dir);
        paths.push(("run.out_dir", &od));
        let (cfg, ro) = st.load::<PretrainConfig>("pretrain_code", &paths, &[])?;
        tokens_per_step = (cfg.train.batch_size * cfg.train.grad_accum) as u64 * cfg.model.block_size as u64;
        stages::pretrain::run(&cfg, &ro).map_err(stage_err(dir))?;
        clock.tick(dir);
    }
    let comparison = ScratchVsGpt::new(Curve::read(&out.join("code_from_gpt/metrics.jsonl"), tokens_per_step)?, Curve::read(&out.join("code_from_scratch/metrics.jsonl"), tokens_per_step)?, tokens_per_step);

    let codex = out.join("code_from_gpt/best");
    let paths = [("sft.init_from", codex.as_path()), ("sft.train", d.sft_train.as_path()), ("sft.val", d.sft_val.as_path()), ("run.out_dir", &out.join("codex_s"))];
    let (cfg, ro) = st.load::<SftConfig>("sft", &paths, &["sft.format=\"completion\"".to_string()])?;
    let sft = stages::sft::run(&cfg, &ro).map_err(stage_err("sft"))?;
    clock.tick("codex_s");

    // the sampling study on Codex-S, over the unseen instances of the training families
    let codex_s = out.join("codex_s/best");
    let sdir = out.join("samples");
    let problems = out.join("data/study_problems.jsonl");
    let n_problems = study::subset_per_family(&d.tasks.join("test_seen.jsonl"), o.study_per_family, &problems)?;
    let mut points = vec![];
    let mut evaluated = vec![];
    for &t in &o.temperatures {
        let e = study::sample_and_judge(&codex_s, &problems, t, &o.sampling, &sdir, &format!("codex_s_t{t}"))?;
        points.push(TemperaturePoint { temperature: t, pass_at_k: e.pass_at_k.clone() });
        evaluated.push(e);
    }
    clock.tick("sampling_study");
    // Codex ranks and compares BLEU at T = 0.8: the study temperature nearest to it
    let at = (0..o.temperatures.len()).min_by(|&a, &b| (o.temperatures[a] - 0.8).abs().total_cmp(&(o.temperatures[b] - 0.8).abs())).unwrap_or(0);
    let (t_rank, e_rank) = (o.temperatures[at], &evaluated[at]);
    let ranking = Ranked { temperature: t_rank, mean_logprob: e_rank.ranking.pass_at_1_by_logprob, random: e_rank.ranking.random, oracle: e_rank.ranking.oracle, problems: e_rank.ranking.problems };
    let bleu = study::bleu_of(&problems, e_rank)?;

    // Codex-S against the code model it started from: pass@1 at the lowest temperature and
    // pass@k at the largest k at the ranking temperature, on seen families' new instances and
    // on held-out families
    let t_low = o.temperatures[0];
    let cmp = Sampling { n: o.compare_n.max(1), ..o.sampling.clone() };
    let held_out = d.tasks.join("test_heldout.jsonl");
    let base_low = study::sample_and_judge(&codex, &problems, t_low, &cmp, &sdir, &format!("codex_t{t_low}"))?;
    let base_rank = study::sample_and_judge(&codex, &problems, t_rank, &cmp, &sdir, &format!("codex_t{t_rank}"))?;
    let held_base = study::sample_and_judge(&codex, &held_out, t_low, &cmp, &sdir, &format!("heldout_codex_t{t_low}"))?;
    let held_s = study::sample_and_judge(&codex_s, &held_out, t_low, &cmp, &sdir, &format!("heldout_codex_s_t{t_low}"))?;
    let codex_s_vs_base = CodexSVsBase::new(t_low, t_rank, [&base_low, &base_rank, &held_base], [&evaluated[0], e_rank, &held_s]);
    clock.tick("codex_s_vs_base");

    // RL from unit tests on the training families, judged on what it did not train on
    let rl_dir = out.join("rl");
    let paths = [("ppo.policy_from", codex_s.as_path()), ("ppo.problems", &d.tasks.join("train.jsonl")), ("ppo.val_problems", problems.as_path()), ("run.out_dir", rl_dir.as_path())];
    let (cfg, ro) = st.load::<PpoConfig>("ppo", &paths, &[])?;
    let rl = stages::ppo::run(&cfg, &ro).map_err(stage_err("rl"))?;
    clock.tick("rl");
    let policy = rl_dir.join("last");
    let rl_seen = study::sample_and_judge(&policy, &problems, t_low, &cmp, &sdir, &format!("rl_t{t_low}"))?;
    let rl_held = study::sample_and_judge(&policy, &held_out, t_low, &cmp, &sdir, &format!("heldout_rl_t{t_low}"))?;
    let before = study::sample_and_judge(&codex_s, &problems, t_low, &cmp, &sdir, &format!("codex_s_cmp_t{t_low}"))?;
    let rl_unit_tests = RlUnitTests::new(t_low, &rl, [&before, &held_s], [&rl_seen, &rl_held]);
    clock.tick("rl_eval");

    let r = CodexReport {
        from_scratch_vs_from_gpt: comparison,
        best_temperature: study::best_temperatures(&points),
        pass_at_k_by_temperature: points,
        ranking,
        bleu_vs_pass: report::BleuAt { temperature: t_rank, summary: bleu },
        codex_s_vs_base,
        rl_unit_tests,
        codex_s_val_loss: sft.summary.best_eval_loss,
        datasets: Datasets::new(&d, n_problems, sft.train_examples, sft.val_examples),
        samples_per_problem: o.sampling.n,
        stage_seconds: clock.times.clone(),
        wall_s: clock.total(),
    };
    report::plots(out, &r)?;
    gptlab_core::fsio::write_atomic(&out.join("report.md"), report::render(o, &r).as_bytes())?;
    gptlab_core::fsio::write_json_atomic(&out.join("report.json"), &r)?;
    Ok(r)
}
