//! The Codex demo's report: a typed [`CodexReport`] (`report.json`), its markdown rendering
//! (`report.md`) and plots (`code_loss.png`, `pass_at_k.png`, `bleu.png`).

use super::curves::ScratchVsGpt;
use super::data::Data;
use super::study::{Evaluated, TemperaturePoint};
use super::CodexOptions;
use crate::report::f;
use crate::Result;
use gptlab_eval::bleu::BleuVsPass;
use gptlab_train::plot::{line_plot, Series};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// pass@1 of one completion chosen per problem, three ways (Codex, Figure 7).
#[derive(Debug, Clone, Serialize)]
pub struct Ranked {
    pub temperature: f64,
    /// The completion with the highest mean token log-probability.
    pub mean_logprob: f64,
    /// A completion at random (the expected value: the unbiased pass@1).
    pub random: f64,
    /// Any completion that passes (pass@n).
    pub oracle: f64,
    pub problems: usize,
}

/// BLEU against functional correctness at one temperature.
#[derive(Debug, Clone, Serialize)]
pub struct BleuAt {
    pub temperature: f64,
    #[serde(flatten)]
    pub summary: BleuVsPass,
}

/// pass@k of the code model (`base`) and of Codex-S.
#[derive(Debug, Clone, Serialize)]
pub struct CodexSVsBase {
    /// Temperature of the pass@1 figures and of the largest-k figures.
    pub temperature_pass_at_1: f64,
    pub temperature_pass_at_k: f64,
    /// Unseen instances of the training families: pass@1, and pass@k at the largest k.
    pub base: BTreeMap<String, f64>,
    pub codex_s: BTreeMap<String, f64>,
    /// Held-out families: pass@k at the pass@1 temperature.
    pub held_out_base: BTreeMap<String, f64>,
    pub held_out_codex_s: BTreeMap<String, f64>,
}

impl CodexSVsBase {
    /// From (low temperature, ranking temperature, held-out) evaluations of each model: pass@1,
    /// and pass@k at the largest k both models' ranking-temperature evaluations have.
    pub fn new(t_low: f64, t_rank: f64, base: [&Evaluated; 3], codex_s: [&Evaluated; 3]) -> Self {
        let k_of = |k: &String| k.trim_start_matches("pass@").parse::<u64>().unwrap_or(0);
        let kmax = base[1].pass_at_k.keys().filter(|k| codex_s[1].pass_at_k.contains_key(*k)).max_by_key(|k| k_of(k)).cloned();
        let pick = |low: &Evaluated, rank: &Evaluated| {
            let mut m = BTreeMap::new();
            if let Some(v) = low.pass_at_k.get("pass@1") {
                m.insert("pass@1".to_string(), *v);
            }
            if let Some(v) = kmax.as_ref().and_then(|k| rank.pass_at_k.get(k)) {
                m.insert(kmax.clone().unwrap_or_default(), *v);
            }
            m
        };
        let held = |e: &Evaluated| e.pass_at_k.iter().filter(|(k, _)| base[2].pass_at_k.contains_key(*k) && codex_s[2].pass_at_k.contains_key(*k)).map(|(k, v)| (k.clone(), *v)).collect();
        Self {
            temperature_pass_at_1: t_low,
            temperature_pass_at_k: t_rank,
            base: pick(base[0], base[1]),
            codex_s: pick(codex_s[0], codex_s[1]),
            held_out_base: held(base[2]),
            held_out_codex_s: held(codex_s[2]),
        }
    }
}

/// Reinforcement learning from unit tests: Codex-S before, the RL policy after.
#[derive(Debug, Clone, Serialize)]
pub struct RlUnitTests {
    pub temperature: f64,
    pub iterations: u64,
    /// Unseen instances of the training families (the RL prompts' families).
    pub before_unseen: BTreeMap<String, f64>,
    pub after_unseen: BTreeMap<String, f64>,
    /// Held-out families.
    pub before_held_out: BTreeMap<String, f64>,
    pub after_held_out: BTreeMap<String, f64>,
    /// Mean fraction of asserts passed by greedy completions to the study problems, before and
    /// after (the RL stage's own measure).
    pub greedy_test_fraction_before: f64,
    pub greedy_test_fraction_after: f64,
    pub final_kl: f64,
}

impl RlUnitTests {
    /// From Codex-S's and the policy's evaluations, each [unseen instances, held-out families].
    pub fn new(temperature: f64, r: &gptlab_train::stages::ppo::PpoReport, before: [&Evaluated; 2], after: [&Evaluated; 2]) -> Self {
        Self {
            temperature,
            iterations: r.steps,
            before_unseen: before[0].pass_at_k.clone(),
            after_unseen: after[0].pass_at_k.clone(),
            before_held_out: before[1].pass_at_k.clone(),
            after_held_out: after[1].pass_at_k.clone(),
            greedy_test_fraction_before: r.val_score_before,
            greedy_test_fraction_after: r.val_score_after,
            final_kl: r.last_kl,
        }
    }
}

/// The data the run made.
#[derive(Debug, Clone, Serialize)]
pub struct Datasets {
    pub nl_bytes: u64,
    /// Files and bytes of the filtered code corpus, and of the sample trained on.
    pub code_corpus_files: usize,
    pub code_corpus_bytes: u64,
    pub code_train_files: usize,
    pub code_train_bytes: usize,
    pub code_filters: gptlab_data::code::CodeReport,
    /// Codex-S demonstrations (training, validation), study problems, held-out problems.
    pub codex_s: [usize; 2],
    pub study_problems: usize,
    pub held_out_problems: usize,
    pub tasks: gptlab_data::tasks::TasksReport,
}

impl Datasets {
    pub fn new(d: &Data, study_problems: usize, sft_train: usize, sft_val: usize) -> Self {
        Self {
            nl_bytes: std::fs::metadata(&d.nl).map(|m| m.len()).unwrap_or(0),
            code_corpus_files: d.code_report.kept,
            code_corpus_bytes: d.code_report.bytes_kept,
            code_train_files: d.code_files,
            code_train_bytes: d.code_bytes,
            code_filters: d.code_report.clone(),
            codex_s: [sft_train, sft_val],
            study_problems,
            held_out_problems: d.tasks_report.test_heldout,
            tasks: d.tasks_report.clone(),
        }
    }
}

/// `report.json`.
#[derive(Debug, Clone, Serialize)]
pub struct CodexReport {
    pub from_scratch_vs_from_gpt: ScratchVsGpt,
    pub pass_at_k_by_temperature: Vec<TemperaturePoint>,
    /// The temperature with the best pass@k, per k.
    pub best_temperature: BTreeMap<String, f64>,
    pub ranking: Ranked,
    pub bleu_vs_pass: BleuAt,
    pub codex_s_vs_base: CodexSVsBase,
    pub rl_unit_tests: RlUnitTests,
    /// Codex-S's best validation loss (on held-out demonstrations of the training families).
    pub codex_s_val_loss: f64,
    pub datasets: Datasets,
    pub samples_per_problem: usize,
    pub stage_seconds: BTreeMap<String, f64>,
    pub wall_s: f64,
}

/// The three plots.
pub fn plots(out: &Path, r: &CodexReport) -> Result<()> {
    let err = |e| crate::Error::Stage { stage: "report".into(), source: e };
    let c = &r.from_scratch_vs_from_gpt;
    let curve = |name: &str, pts: &[(u64, f64)]| Series { name: name.into(), points: pts.iter().map(|&(t, l)| (t as f64, l)).collect() };
    let loss = [curve("from the GPT", &c.from_gpt.points), curve("from scratch", &c.from_scratch.points)];
    line_plot(&out.join("code_loss.png"), "code fine-tuning: validation loss", "training tokens", &loss).map_err(err)?;
    let mut ks: Vec<String> = r.pass_at_k_by_temperature.iter().flat_map(|p| p.pass_at_k.keys().cloned()).collect();
    ks.sort_by_key(|k| k.trim_start_matches("pass@").parse::<u64>().unwrap_or(0));
    ks.dedup();
    let series: Vec<Series> = ks.iter().map(|k| Series { name: k.clone(), points: r.pass_at_k_by_temperature.iter().filter_map(|p| Some((p.temperature, *p.pass_at_k.get(k)?))).collect() }).collect();
    line_plot(&out.join("pass_at_k.png"), "Codex-S: pass@k against the sampling temperature", "temperature", &series).map_err(err)?;
    let b = &r.bleu_vs_pass.summary;
    let hist = |name: &str, h: &[f64]| Series { name: name.into(), points: h.iter().enumerate().map(|(i, &v)| (i as f64 / 10.0 + 0.05, v)).collect() };
    line_plot(&out.join("bleu.png"), "BLEU of samples to the reference: share per decile", "BLEU", &[hist("passing samples", &b.histogram_passed), hist("failing samples", &b.histogram_failed)]).map_err(err)
}

fn tokens(x: Option<f64>) -> String {
    x.map_or("not reached".into(), |t| format!("{:.0}", t))
}

fn kv(m: &BTreeMap<String, f64>) -> String {
    m.iter().map(|(k, v)| format!("{k} {}", f(*v))).collect::<Vec<_>>().join(", ")
}

/// `report.md`.
pub fn render(o: &CodexOptions, r: &CodexReport) -> String {
    let mut s = String::new();
    let c = &r.from_scratch_vs_from_gpt;
    let d = &r.datasets;
    let _ = writeln!(s, "# gptlab Codex demo\n");
    let _ = writeln!(s, "Seed {}, {} samples per problem, temperatures {:?}; {:.0} s in all.\n", o.data.seed, r.samples_per_problem, o.temperatures, r.wall_s);
    let _ = writeln!(s, "## Data\n");
    let _ = writeln!(
        s,
        "- natural-language text: {} bytes (the synthetic world's corpus)\n- code corpus: {} files, {} bytes kept by Codex's filters from {}; trained on a seeded sample of {} files, {} bytes\n- function problems: {} training families ({} Codex-S demonstrations, {} held out for validation), {} study problems (unseen instances), {} problems of held-out families",
        d.nl_bytes,
        d.code_corpus_files,
        d.code_corpus_bytes,
        o.data.code_src.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "),
        d.code_train_files,
        d.code_train_bytes,
        d.tasks.families.values().filter(|f| !f.held_out).count(),
        d.codex_s[0],
        d.codex_s[1],
        d.study_problems,
        d.held_out_problems
    );
    let _ = writeln!(s, "\n## Code fine-tuning: from a GPT vs from scratch, same token budget\n");
    let _ = writeln!(s, "| run | final validation loss | best | tokens to reach {} |\n|---|---|---|---|", f(c.target_loss));
    let _ = writeln!(s, "| from the GPT | {} | {} | {} |", f(c.from_gpt.final_loss), f(c.from_gpt.best_loss), tokens(c.tokens_to_target_from_gpt));
    let _ = writeln!(s, "| from scratch | {} | {} | {} |", f(c.from_scratch.final_loss), f(c.from_scratch.best_loss), tokens(c.tokens_to_target_from_scratch));
    let _ = writeln!(s, "\nSpeed-up of the GPT start to the from-scratch run's final loss: {}. Codex: fine-tuning from GPT-3 converges faster, to the same final loss.\n\n![code loss](code_loss.png)\n", c.speedup.map_or("n/a".into(), |x| format!("{x:.2}×")));
    let _ = writeln!(s, "## Sampling study (Codex-S, unseen instances of the training families)\n");
    let mut ks: Vec<&String> = r.best_temperature.keys().collect();
    ks.sort_by_key(|k| k.trim_start_matches("pass@").parse::<u64>().unwrap_or(0));
    let _ = writeln!(s, "| temperature | {} |\n|---|{}", ks.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(" | "), "---|".repeat(ks.len()));
    for p in &r.pass_at_k_by_temperature {
        let _ = writeln!(s, "| {} | {} |", p.temperature, ks.iter().map(|k| p.pass_at_k.get(*k).map_or("".into(), |v| f(*v))).collect::<Vec<_>>().join(" | "));
    }
    let _ = writeln!(s, "\nBest temperature: {}. Codex: T* ≈ 0.2 for pass@1, 0.8 for pass@100.\n\n![pass@k](pass_at_k.png)\n", ks.iter().map(|k| format!("{k} at {}", r.best_temperature[*k])).collect::<Vec<_>>().join(", "));
    let rk = &r.ranking;
    let _ = writeln!(s, "## Picking one sample (T = {}, {} problems)\n", rk.temperature, rk.problems);
    let _ = writeln!(s, "| pick | pass@1 |\n|---|---|\n| highest mean log-probability | {} |\n| at random | {} |\n| oracle (any passes) | {} |\n", f(rk.mean_logprob), f(rk.random), f(rk.oracle));
    let b = &r.bleu_vs_pass.summary;
    let _ = writeln!(s, "## BLEU vs functional correctness (T = {})\n", r.bleu_vs_pass.temperature);
    let _ = writeln!(
        s,
        "Mean BLEU to the reference: passing samples {} ({}), failing {} ({}). Within a problem, a passing sample out-scores a failing one with probability {} over {} problems with both (0.5: BLEU does not separate them).\n\n![bleu](bleu.png)\n",
        f(b.mean_bleu_passed),
        b.passed,
        f(b.mean_bleu_failed),
        b.failed,
        f(b.auc_within_problem),
        b.problems_with_both
    );
    let cs = &r.codex_s_vs_base;
    let _ = writeln!(s, "## Codex-S vs the code model it started from\n");
    let _ = writeln!(s, "pass@1 at T = {}, the largest k at T = {}.\n", cs.temperature_pass_at_1, cs.temperature_pass_at_k);
    let _ = writeln!(s, "| model | unseen instances | held-out families |\n|---|---|---|");
    let _ = writeln!(s, "| code model (Codex) | {} | {} |", kv(&cs.base), kv(&cs.held_out_base));
    let _ = writeln!(s, "| Codex-S | {} | {} |\n", kv(&cs.codex_s), kv(&cs.held_out_codex_s));
    let rl = &r.rl_unit_tests;
    let _ = writeln!(s, "## Reinforcement learning from unit tests (GRPO on Codex-S)\n");
    let _ = writeln!(s, "{} iterations; reward = the fraction of a problem's asserts a sample passes; final KL to Codex-S {}. pass@k at T = {}:\n", rl.iterations, f(rl.final_kl), rl.temperature);
    let _ = writeln!(s, "| model | unseen instances | held-out families |\n|---|---|---|");
    let _ = writeln!(s, "| Codex-S (before) | {} | {} |", kv(&rl.before_unseen), kv(&rl.before_held_out));
    let _ = writeln!(s, "| after RL | {} | {} |\n", kv(&rl.after_unseen), kv(&rl.after_held_out));
    let _ = writeln!(s, "Greedy completions' mean fraction of asserts passed on the study problems: {} before, {} after.\n", f(rl.greedy_test_fraction_before), f(rl.greedy_test_fraction_after));
    let _ = writeln!(s, "## Stage times (s)\n");
    for (k, v) in &r.stage_seconds {
        let _ = writeln!(s, "- {k}: {v:.0}");
    }
    s
}
