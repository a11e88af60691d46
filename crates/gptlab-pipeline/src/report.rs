//! The demo's report: a typed [`DemoReport`] (`report.json`) and its markdown rendering
//! (`report.md`, with the PPO curves of both runs drawn side by side).

use crate::demo::DemoOptions;
use crate::Result;
use gptlab_eval::world::tasks::TaskScores;
use gptlab_eval::world::data::GenerateReport;
use gptlab_eval::world::winrate::{FamilyStats, WinRate};
use gptlab_eval::world::Family;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// A value for each model of the pipeline.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Models {
    pub pretrain: f64,
    pub sft: f64,
    pub ppo: f64,
    pub ppo_ptx: f64,
}

/// A value for SFT and both RL policies.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Tax {
    pub sft: f64,
    pub ppo: f64,
    pub ppo_ptx: f64,
}

/// The public-task scores of each model.
#[derive(Debug, Clone, Serialize)]
pub struct PublicTasks {
    pub pretrain: TaskScores,
    pub sft: TaskScores,
    pub ppo: TaskScores,
    pub ppo_ptx: TaskScores,
}

/// Dataset sizes in the shape of InstructGPT's Table 6: [train, validation, test] per stage.
#[derive(Debug, Clone, Serialize)]
pub struct Datasets {
    /// Demonstrations (training users' prompts, written by the training labelers).
    pub sft: [usize; 3],
    /// Ranked prompts of every round (samples of the models, ranked by the training labelers),
    /// split by prompt.
    pub rm: [usize; 3],
    /// Training users' prompts PPO draws episodes from, and the validation users' prompts.
    pub ppo: [usize; 3],
    /// Test users' prompts the win rates are measured on: in the seen phrasings, and in the
    /// held-out ones.
    pub eval: [usize; 2],
    /// How the logged prompts became these splits.
    pub prompts: GenerateReport,
}

/// Win rates of both RL policies over SFT on one evaluation set.
#[derive(Debug, Clone, Serialize)]
pub struct EvalSet {
    pub prompts: usize,
    pub win_rate: PolicyPair<f64>,
    pub ci95: PolicyPair<(f64, f64)>,
    pub held_out_labelers: PolicyPair<f64>,
    pub mean_true_score: Tax,
    pub by_family: PolicyPair<BTreeMap<Family, FamilyStats>>,
}

impl EvalSet {
    pub fn new(ppo: WinRate, ppo_ptx: WinRate) -> Self {
        Self {
            prompts: ppo.n,
            win_rate: PolicyPair { ppo: ppo.win_rate, ppo_ptx: ppo_ptx.win_rate },
            ci95: PolicyPair { ppo: ppo.ci95, ppo_ptx: ppo_ptx.ci95 },
            held_out_labelers: PolicyPair { ppo: ppo.win_rate_held_out_labelers, ppo_ptx: ppo_ptx.win_rate_held_out_labelers },
            mean_true_score: Tax { sft: ppo.mean_true_score_baseline, ppo: ppo.mean_true_score, ppo_ptx: ppo_ptx.mean_true_score },
            by_family: PolicyPair { ppo: ppo.by_family, ppo_ptx: ppo_ptx.by_family },
        }
    }
}

/// A value for each RL policy.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PolicyPair<T> {
    pub ppo: T,
    pub ppo_ptx: T,
}

/// One comparison-collection round.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RoundInfo {
    pub round: u32,
    /// Checkpoints whose samples were ranked (sample j from model j mod M).
    pub sampled_from: Vec<String>,
    /// Prompts ranked.
    pub groups: usize,
    pub labeler_agreement: f64,
    /// The RM trained on every comparison so far: accuracy on its test comparisons.
    pub rm_accuracy: f64,
    /// Final KL of the PPO run this round's RM fed.
    pub ppo_final_kl: f64,
}

/// `report.json`.
#[derive(Debug, Clone, Serialize)]
pub struct DemoReport {
    /// The final RM's pairwise accuracy on its test comparisons (prompts it never trained on).
    pub rm_accuracy: f64,
    /// How often the other training labelers agree with those comparisons' recorded rankings.
    pub rm_test_labeler_agreement: f64,
    pub labeler_agreement: f64,
    /// Win rates over SFT on the test users' prompts in the phrasings training saw (texts no
    /// training split holds).
    pub win_rate_ppo_vs_sft: f64,
    pub win_rate_ppo_ptx_vs_sft: f64,
    pub win_rate_ppo_vs_sft_ci95: (f64, f64),
    pub win_rate_ppo_ptx_vs_sft_ci95: (f64, f64),
    pub win_rate_held_out_labelers: PolicyPair<f64>,
    pub mean_true_score: Tax,
    pub by_family: PolicyPair<BTreeMap<Family, FamilyStats>>,
    /// Loss on the world's held-out pretraining text.
    pub pretrain_val_loss: Models,
    /// Rise of that loss over the pretrained model (nats/token).
    pub alignment_tax: Tax,
    /// The world's public tasks (closed-book fact completion, sentence completion), which no
    /// instruction data covers: InstructGPT's alignment tax is a regression on such tasks.
    pub public_tasks: PublicTasks,
    /// The same on the test users' prompts in phrasings no training data holds.
    pub win_rate_held_out_templates: EvalSet,
    /// Test prompts in the seen phrasings.
    pub test_prompts: usize,
    pub comparisons: usize,
    pub rounds: Vec<RoundInfo>,
    pub pretrain_eval_loss: f64,
    pub sft_eval_loss: f64,
    pub datasets: Datasets,
    pub ppo_final_kl: PolicyPair<f64>,
    /// The proxy (RM) and true scores against the KL along the PPO run.
    pub overoptimisation: Vec<crate::overopt::OptPoint>,
    pub stage_seconds: BTreeMap<String, f64>,
    pub wall_s: f64,
}

/// PPO and PPO-ptx curves (each iteration and a trailing mean) in one figure per metric, and
/// the over-optimisation curve.
pub fn plots(out: &Path, opt: &[crate::overopt::OptPoint]) -> Result<()> {
    use gptlab_train::plot::{line_plot, series_from, with_trend, Series};
    let err = |e| crate::Error::Stage { stage: "report".into(), source: e };
    let a = gptlab_core::metrics::read_jsonl(&out.join("ppo/metrics.jsonl"))?;
    let b = gptlab_core::metrics::read_jsonl(&out.join("ppo_ptx/metrics.jsonl"))?;
    for (key, file) in [("objective/scores", "reward.png"), ("objective/kl", "kl.png"), ("objective/entropy", "entropy.png")] {
        let mut series = vec![];
        for (recs, name) in [(&a, "PPO"), (&b, "PPO-ptx")] {
            let mut s = series_from(recs, key);
            s.name = name.into();
            series.extend(with_trend(s));
        }
        line_plot(&out.join(file), key, "PPO iteration", &series).map_err(err)?;
    }
    let proxy = Series { name: "RM score (proxy)".into(), points: opt.iter().map(|p| (p.kl, p.rm_score)).collect() };
    let truth = Series { name: "true preference score".into(), points: opt.iter().map(|p| (p.kl, p.true_score)).collect() };
    line_plot(&out.join("overoptimisation.png"), "PPO: proxy and true reward", "KL to SFT (summed per response)", &[proxy, truth]).map_err(err)
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// A figure with three decimals, or `n/a`.
pub(crate) fn f(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.3}")
    } else {
        "n/a".into()
    }
}

/// `report.md`. Writing into a `String` cannot fail, so the `fmt::Result`s are dropped.
pub fn render(o: &DemoOptions, r: &DemoReport, examples: &[(String, Vec<String>)]) -> String {
    let mut m = String::new();
    let _ = writeln!(m, "# gptlab demo: InstructGPT on a synthetic world\n");
    let _ = writeln!(m, "World seed {}, {} comparisons (K = {}). Win rates on test users' prompts: {} in the phrasings training saw (texts it never saw), {} in held-out phrasings. Wall time {:.0} s.\n", o.seed, r.comparisons, o.k, r.test_prompts, r.win_rate_held_out_templates.prompts, r.wall_s);
    let _ = writeln!(m, "## Findings\n");
    let _ = writeln!(m, "| measure | value | paper (InstructGPT) |\n|---|---|---|");
    let _ = writeln!(m, "| labelers' agreement on shared comparisons | {} | 72–77% |", f(r.labeler_agreement));
    let _ = writeln!(m, "| RM accuracy on test comparisons (prompts it never trained on) | {} (labelers' agreement on the same items: {}) | 69.6–72.4% (labelers 72.6%) |", f(r.rm_accuracy), f(r.rm_test_labeler_agreement));
    let ci = |c: (f64, f64)| format!("[{}, {}]", f(c.0), f(c.1));
    let _ = writeln!(m, "| win rate PPO vs SFT (true preference, 95% CI) | {} {} | ≈ 70% (175B) |", f(r.win_rate_ppo_vs_sft), ci(r.win_rate_ppo_vs_sft_ci95));
    let _ = writeln!(m, "| win rate PPO-ptx vs SFT (true preference, 95% CI) | {} {} | ≈ 70% |", f(r.win_rate_ppo_ptx_vs_sft), ci(r.win_rate_ppo_ptx_vs_sft_ci95));
    let _ = writeln!(m, "| win rate PPO / PPO-ptx vs SFT (held-out labelers) | {} / {} | |", f(r.win_rate_held_out_labelers.ppo), f(r.win_rate_held_out_labelers.ppo_ptx));
    let h = &r.win_rate_held_out_templates;
    let _ = writeln!(m, "| win rate PPO / PPO-ptx vs SFT, held-out phrasings (true preference, 95% CI) | {} {} / {} {} | |", f(h.win_rate.ppo), ci(h.ci95.ppo), f(h.win_rate.ppo_ptx), ci(h.ci95.ppo_ptx));
    let _ = writeln!(m, "| win rate PPO / PPO-ptx vs SFT, held-out phrasings (held-out labelers) | {} / {} | |", f(h.held_out_labelers.ppo), f(h.held_out_labelers.ppo_ptx));
    let t = &r.mean_true_score;
    let _ = writeln!(m, "| mean true score SFT / PPO / PPO-ptx | {} / {} / {} | |", f(t.sft), f(t.ppo), f(t.ppo_ptx));
    let l = &r.pretrain_val_loss;
    let _ = writeln!(m, "| pretraining val loss: pretrain / SFT / PPO / PPO-ptx | {} / {} / {} / {} | PPO-ptx reduces the regressions |\n", f(l.pretrain), f(l.sft), f(l.ppo), f(l.ppo_ptx));
    let t = &r.alignment_tax;
    let _ = writeln!(m, "Rise of the pretraining-corpus validation loss over the pretrained model (nats/token): SFT {}, PPO {}, PPO-ptx {}.\n", f(t.sft), f(t.ppo), f(t.ppo_ptx));
    let p = &r.public_tasks;
    let _ = writeln!(m, "### Alignment tax on the world's public tasks\n\nInstructGPT measures its alignment tax as regressions on public NLP tasks that no instruction data covers. The world's: closed-book fact completion ({} prefixes in the corpus's phrasing, greedy) and sentence completion ({} items, {} candidates, chance {}).\n", p.pretrain.items.fact_completion, p.pretrain.items.next_sentence, p.pretrain.items.candidates, f(p.pretrain.next_sentence_chance));
    let _ = writeln!(m, "| task | pretrain | SFT | PPO | PPO-ptx |\n|---|---|---|---|---|");
    let _ = writeln!(m, "| fact completion | {} | {} | {} | {} |", f(p.pretrain.fact_completion), f(p.sft.fact_completion), f(p.ppo.fact_completion), f(p.ppo_ptx.fact_completion));
    let _ = writeln!(m, "| sentence completion | {} | {} | {} | {} |\n", f(p.pretrain.next_sentence), f(p.sft.next_sentence), f(p.ppo.next_sentence), f(p.ppo_ptx.next_sentence));
    let _ = writeln!(m, "### By task family (win rate vs SFT; mean true score SFT → model)\n");
    let cellf = |v: Option<&FamilyStats>| v.map_or("n/a".into(), |v| format!("{} ({} → {})", f(v.win_rate), f(v.mean_true_score_baseline), f(v.mean_true_score)));
    for (title, fams) in [("seen phrasings", &r.by_family), ("held-out phrasings", &r.win_rate_held_out_templates.by_family)] {
        let _ = writeln!(m, "| family ({title}) | prompts | PPO | PPO-ptx |\n|---|---|---|---|");
        for (k, v) in &fams.ppo {
            let _ = writeln!(m, "| {} | {} | {} | {} |", k.name(), v.prompts, cellf(Some(v)), cellf(fams.ppo_ptx.get(k)));
        }
        let _ = writeln!(m);
    }
    let _ = writeln!(m);
    let d = &r.datasets;
    let _ = writeln!(m, "### Datasets (the shape of InstructGPT's Table 6)\n\n| stage | source | train | validation | test |\n|---|---|---|---|---|");
    let _ = writeln!(m, "| SFT | training labelers' demonstrations for training users' prompts | {} | {} | — |", d.sft[0], d.sft[1]);
    let _ = writeln!(m, "| RM | prompts with K samples ranked by the training labelers, all rounds, split by prompt | {} | {} | {} |", d.rm[0], d.rm[1], d.rm[2]);
    let _ = writeln!(m, "| PPO | training users' prompts (validation: held-out users') | {} | {} | — |", d.ppo[0], d.ppo[1]);
    let _ = writeln!(m, "| evaluation | test users' prompts: seen phrasings / held-out phrasings | — | — | {} / {} |\n", d.eval[0], d.eval[1]);
    let p = &d.prompts;
    let b = &p.builder;
    let _ = writeln!(m, "The {} logged prompts ({} distinct texts, {} users) went through the prompt-dataset builder: {} exact and {} long-common-prefix duplicates dropped, {} over a user's cap of 200; users split {} / {} / {}. {} training and validation prompts in held-out phrasings were left out.\n", b.input, p.distinct_texts, b.users.iter().sum::<usize>(), b.exact_duplicates, b.prefix_duplicates, b.capped, b.users[0], b.users[1], b.users[2], p.held_out_phrasings_dropped);
    let _ = writeln!(m, "## Comparison rounds\n\nEach round ranks K samples per prompt, drawn from the listed models in turn; the RM is retrained on every comparison so far, split by prompt into train, validation (which picks the checkpoint) and test (its accuracy).\n");
    let _ = writeln!(m, "| round | sampled from | prompts ranked | labelers' agreement | RM accuracy | KL of the PPO run it fed |\n|---|---|---|---|---|---|");
    for i in &r.rounds {
        let _ = writeln!(m, "| {} | {} | {} | {} | {} | {} |", i.round, i.sampled_from.join(", "), i.groups, f(i.labeler_agreement), f(i.rm_accuracy), f(i.ppo_final_kl));
    }
    let _ = writeln!(m);
    let _ = writeln!(m, "## PPO curves (PPO and PPO-ptx)\n\nRM score of each iteration's rollouts, the KL to SFT (summed per response) and the entropy, with trailing means of {} iterations.\n\n![reward](reward.png)\n\n![KL](kl.png)\n\n![entropy](entropy.png)\n", gptlab_train::plot::TREND_WINDOW);
    let _ = writeln!(m, "### Over-optimisation\n\nAlong the PPO run, the RM score (the proxy PPO optimises) and the true preference score of the same replies ({} held-out prompts, one sample each at temperature 1) against the KL to SFT, as Gao et al. chart reward over-optimisation.\n", crate::overopt::PROMPTS);
    let _ = writeln!(m, "| PPO iteration | KL | RM score | true score |\n|---|---|---|---|");
    for p in &r.overoptimisation {
        let _ = writeln!(m, "| {} | {} | {} | {} |", p.step, f(p.kl), f(p.rm_score), f(p.true_score));
    }
    let _ = writeln!(m, "\n![over-optimisation](overoptimisation.png)\n");
    let _ = writeln!(m, "## Training curves\n\n![pretrain](pretrain/loss.png) ![sft](sft/loss.png) ![rm](rm/loss.png)\n");
    let _ = writeln!(m, "## Greedy replies to test prompts\n\n| prompt | SFT | PPO | PPO-ptx |\n|---|---|---|---|");
    for (p, cols) in examples {
        let _ = writeln!(m, "| {} | {} |", cell(p), cols.iter().map(|c| cell(c)).collect::<Vec<_>>().join(" | "));
    }
    let _ = writeln!(m, "\n## Stage times (s)\n");
    for (k, v) in &r.stage_seconds {
        let _ = writeln!(m, "- {k}: {v:.1}");
    }
    let _ = writeln!(m, "\nConfigs: `{}/*.toml`; overrides: {:?}. Each stage's resolved config is saved beside its checkpoints.", o.configs.display(), o.overrides);
    m
}
