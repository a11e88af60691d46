//! The InstructGPT demo: world generate → tokenizer + pretrain (world corpus) → SFT (labelers'
//! demonstrations) → comparison rounds (round 1: K samples of the SFT model ranked by the
//! training labelers → RM → a PPO run against it; each later round: samples of SFT and of
//! that policy ranked side by side → RM retrained on all comparisons) → PPO and PPO-ptx from
//! SFT against the last RM (same seed and settings, the second with the pretraining term) →
//! win rates on the test users' prompts, in the seen phrasings and in the held-out ones
//! (hidden true preference, also per task family; held-out labelers), and the alignment tax:
//! the world's public tasks and the pretraining validation loss of every model.
//!
//! Every stage reads its config from `<configs>/<stage>.toml` with the demo's paths set;
//! `STAGE:KEY=VALUE` overrides change one stage's key (`ppo:` applies to every PPO run).

use crate::report::{self, Datasets, DemoReport, EvalSet, Models, PolicyPair, PublicTasks, RoundInfo, Tax};
use crate::{Error, Result};
use gptlab_engine::{chat_replies, SampleConfig};
use gptlab_eval::world::data::{self as world, GenerateOptions, LabelOptions};
use gptlab_eval::world::tasks::{self, TaskScores};
use gptlab_eval::world::winrate::{win_rate, Sampling};
use gptlab_model::roles::{self, Mode};
use gptlab_train::config::{PpoConfig, PretrainConfig, RmConfig, SftConfig};
use gptlab_train::stages::{self, ppo::PpoReport};
use crate::runner::{stage_err, Clock, Stages};
use std::path::{Path, PathBuf};

/// PPO iterations between the final PPO run's snapshots.
const SNAPSHOT_INTERVAL: u64 = 10;

/// The stages whose configs the demo reads.
pub const STAGES: [&str; 4] = ["pretrain", "sft", "rm", "ppo"];

#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Output directory (the report is `<out>/report.md`).
    pub out: PathBuf,
    /// Folder with pretrain.toml, sft.toml, rm.toml and ppo.toml.
    pub configs: PathBuf,
    /// Seed of the synthetic world.
    pub seed: u64,
    pub corpus_sentences: usize,
    pub prompts: usize,
    /// Samples per prompt the labelers rank.
    pub k: usize,
    /// Prompts sent to the labelers per round.
    pub label_prompts: usize,
    /// Rounds of comparison collection (1..=5).
    pub rounds: u32,
    /// `STAGE:KEY=VALUE` overrides.
    pub overrides: Vec<String>,
    pub progress: bool,
}

/// The demo's stage configs in `o.configs`, with `o`'s overrides.
fn stages(o: &DemoOptions) -> Stages<'_> {
    Stages { dir: &o.configs, names: &STAGES, overrides: &o.overrides, progress: o.progress }
}

/// Mean next-token loss of a checkpoint on a text, and its scores on the world's public tasks.
fn judge(ckpt: &Path, text: &str, world: &gptlab_eval::world::World, seed: u64) -> Result<(f64, TaskScores)> {
    let l = roles::lm(ckpt, tch::Device::Cpu, Mode::Frozen)?;
    let ids = l.tok.encode(text)?;
    let loss = gptlab_eval::loss::loss_over_tokens(&l.model, &ids, 8)?.loss;
    Ok((loss, tasks::score(world, &l.model, &l.tok, seed)?))
}

/// Runs the demo and writes `<out>/report.md` and `<out>/report.json`.
pub fn run(o: &DemoOptions) -> Result<DemoReport> {
    let st = stages(o);
    st.check()?;
    if !(1..=5).contains(&o.rounds) {
        return Err(Error::Input(format!("--rounds {}: expected 1 to 5", o.rounds)));
    }
    let mut clock = Clock::start("demo");
    let out = &o.out;
    let wdir = out.join("world");
    let go = GenerateOptions { seed: o.seed, corpus_sentences: o.corpus_sentences, prompts: o.prompts, known: 16, unknown: 8 };
    let prompts_report = world::generate(&go, &wdir).map_err(|e| Error::Input(format!("world stage: {e}")))?;
    clock.tick("world");

    let (pcfg, ro) = st.load::<PretrainConfig>("pretrain", &[("data.corpus", &wdir.join("corpus.txt")), ("run.out_dir", &out.join("pretrain"))], &[])?;
    let pre = stages::pretrain::run(&pcfg, &ro).map_err(stage_err("pretrain"))?;
    clock.tick("pretrain");

    let sft_ckpt = out.join("sft/best");
    let (scfg, ro) = st.load::<SftConfig>("sft", &[("sft.init_from", &out.join("pretrain/best")), ("sft.train", &wdir.join("sft.jsonl")), ("run.out_dir", &out.join("sft"))], &[])?;
    let sft_sum = stages::sft::run(&scfg, &ro).map_err(stage_err("sft"))?;
    clock.tick("sft");

    // the final PPO run keeps snapshots for the over-optimisation curve
    let run_ppo = |dir: &str, rm_dir: &Path, ptx: bool, snapshots: bool| -> Result<PpoReport> {
        let mut paths: Vec<(&str, PathBuf)> = vec![
            ("ppo.policy_from", sft_ckpt.clone()),
            ("ppo.reward_from", rm_dir.join("best")),
            ("ppo.prompts", wdir.join("prompts_train.jsonl")),
            ("ppo.val_prompts", wdir.join("prompts_val.jsonl")),
            ("run.out_dir", out.join(dir)),
        ];
        if ptx {
            paths.push(("ppo.ptx_corpus", wdir.join("corpus.txt")));
        }
        let refs: Vec<(&str, &Path)> = paths.iter().map(|(k, p)| (*k, p.as_path())).collect();
        let extra = if snapshots { vec![format!("train.snapshot_interval={SNAPSHOT_INTERVAL}")] } else { vec![] };
        let (cfg, ro) = st.load::<PpoConfig>("ppo", &refs, &extra)?;
        stages::ppo::run(&cfg, &ro).map_err(stage_err(dir))
    };

    // comparison rounds: label → RM (→ PPO against it, whose samples the next round ranks)
    let mut all_cmp = String::new();
    let mut rounds: Vec<RoundInfo> = vec![];
    let mut policy: Option<PathBuf> = None;
    let mut rm_rep = None;
    for round in 1..=o.rounds {
        let last = round == o.rounds;
        let mut models = vec![sft_ckpt.as_path()];
        if let Some(p) = &policy {
            models.push(p.as_path());
        }
        let cmp = out.join(format!("data/comparisons_r{round}.jsonl"));
        let lo = LabelOptions { k: o.k, limit: o.label_prompts, seed: gptlab_core::rng::stream_seed(o.seed, &format!("demo/label/{round}")) };
        let lab = world::label(&wdir, &models, None, &lo, &cmp).map_err(|e| Error::Input(format!("label stage (round {round}): {e}")))?;
        all_cmp.push_str(&gptlab_core::fsio::read_text(&cmp)?);
        let all = out.join("data/comparisons.jsonl");
        gptlab_core::fsio::write_atomic(&all, all_cmp.as_bytes())?;
        clock.tick(&format!("label_r{round}"));

        let rm_dir = out.join(if last { "rm".to_string() } else { format!("rm_r{round}") });
        let (rcfg, ro) = st.load::<RmConfig>("rm", &[("rm.init_from", &sft_ckpt), ("rm.train", &all), ("rm.demos", &wdir.join("sft.jsonl")), ("run.out_dir", &rm_dir)], &[])?;
        let rep = stages::rm::run(&rcfg, &ro).map_err(stage_err(format!("rm (round {round})")))?;
        clock.tick(&format!("rm_r{round}"));
        let mut info = RoundInfo {
            round,
            sampled_from: models.iter().map(|m| m.display().to_string()).collect(),
            groups: lab.groups,
            labeler_agreement: lab.labeler_agreement,
            rm_accuracy: rep.rm_accuracy,
            ppo_final_kl: f64::NAN,
        };
        if !last {
            let dir = format!("ppo_r{round}");
            info.ppo_final_kl = run_ppo(&dir, &rm_dir, false, false)?.last_kl;
            policy = Some(out.join(dir).join("last"));
            clock.tick(&format!("ppo_r{round}"));
        }
        rounds.push(info);
        rm_rep = Some(rep);
    }
    let rm_rep = rm_rep.ok_or_else(|| Error::Input("no comparison round ran".into()))?;
    let rm_test_labeler_agreement = world::agreement_with_labels(&wdir, &out.join("rm/data/test.jsonl"), o.seed)?;
    let agreement = rounds[0].labeler_agreement;

    let ppo = run_ppo("ppo", &out.join("rm"), false, true)?;
    clock.tick("ppo");
    let ppo_ptx = run_ppo("ppo_ptx", &out.join("rm"), true, false)?;
    clock.tick("ppo_ptx");
    if let Some(i) = rounds.last_mut() {
        i.ppo_final_kl = ppo.last_kl;
    }

    let (val_prompts, test_prompts) = (wdir.join("prompts_val.jsonl"), wdir.join("prompts_test.jsonl"));
    let (ppo_ckpt, ptx_ckpt) = (out.join("ppo/last"), out.join("ppo_ptx/last"));
    let how = Sampling { temperature: 1.0, samples: 4, seed: o.seed };
    let wr_ppo = win_rate(&wdir, &ppo_ckpt, &sft_ckpt, Some(&test_prompts), usize::MAX, &how)?;
    let wr_ptx = win_rate(&wdir, &ptx_ckpt, &sft_ckpt, Some(&test_prompts), usize::MAX, &how)?;
    let templates = wdir.join("prompts_test_templates.jsonl");
    let held_out_templates = EvalSet::new(win_rate(&wdir, &ppo_ckpt, &sft_ckpt, Some(&templates), usize::MAX, &how)?, win_rate(&wdir, &ptx_ckpt, &sft_ckpt, Some(&templates), usize::MAX, &how)?);
    let corpus_val = gptlab_core::fsio::read_text(&wdir.join("corpus_val.txt"))?;
    let world_kb = world::load_world(&wdir)?;
    let (pre_l, pre_t) = judge(&out.join("pretrain/best"), &corpus_val, &world_kb, o.seed)?;
    let (sft_l, sft_t) = judge(&sft_ckpt, &corpus_val, &world_kb, o.seed)?;
    let (ppo_l, ppo_t) = judge(&ppo_ckpt, &corpus_val, &world_kb, o.seed)?;
    let (ptx_l, ptx_t) = judge(&ptx_ckpt, &corpus_val, &world_kb, o.seed)?;
    let loss = Models { pretrain: pre_l, sft: sft_l, ppo: ppo_l, ppo_ptx: ptx_l };
    let public_tasks = PublicTasks { pretrain: pre_t, sft: sft_t, ppo: ppo_t, ppo_ptx: ptx_t };
    let examples = side_by_side(&test_prompts, &[&sft_ckpt, &ppo_ckpt, &ptx_ckpt], 8)?;
    let overoptimisation = crate::overopt::curve(&world_kb, &sft_ckpt, &out.join("ppo"), &out.join("rm/best"), &val_prompts, o.seed)?;
    clock.tick("eval");

    report::plots(out, &overoptimisation)?;
    let r = DemoReport {
        rm_accuracy: rm_rep.rm_accuracy,
        rm_test_labeler_agreement,
        labeler_agreement: agreement,
        win_rate_ppo_vs_sft: wr_ppo.win_rate,
        win_rate_ppo_ptx_vs_sft: wr_ptx.win_rate,
        win_rate_ppo_vs_sft_ci95: wr_ppo.ci95,
        win_rate_ppo_ptx_vs_sft_ci95: wr_ptx.ci95,
        win_rate_held_out_labelers: PolicyPair { ppo: wr_ppo.win_rate_held_out_labelers, ppo_ptx: wr_ptx.win_rate_held_out_labelers },
        mean_true_score: Tax { sft: wr_ppo.mean_true_score_baseline, ppo: wr_ppo.mean_true_score, ppo_ptx: wr_ptx.mean_true_score },
        alignment_tax: Tax { sft: loss.sft - loss.pretrain, ppo: loss.ppo - loss.pretrain, ppo_ptx: loss.ppo_ptx - loss.pretrain },
        pretrain_val_loss: loss,
        public_tasks,
        test_prompts: wr_ppo.n,
        win_rate_held_out_templates: held_out_templates.clone(),
        comparisons: rounds.iter().map(|r| r.groups).sum(),
        by_family: PolicyPair { ppo: wr_ppo.by_family, ppo_ptx: wr_ptx.by_family },
        rounds,
        pretrain_eval_loss: pre.best_eval_loss,
        sft_eval_loss: sft_sum.summary.best_eval_loss,
        datasets: Datasets {
            sft: [sft_sum.train_examples, sft_sum.val_examples, 0],
            rm: [rm_rep.train_groups, rm_rep.val_groups, rm_rep.test_groups],
            ppo: [ppo.prompts, ppo.val_prompts, 0],
            eval: [wr_ppo.n, held_out_templates.prompts],
            prompts: prompts_report,
        },
        ppo_final_kl: PolicyPair { ppo: ppo.last_kl, ppo_ptx: ppo_ptx.last_kl },
        overoptimisation,
        stage_seconds: clock.times.clone(),
        wall_s: clock.total(),
    };
    let md = report::render(o, &r, &examples);
    gptlab_core::fsio::write_atomic(&out.join("report.md"), md.as_bytes())?;
    gptlab_core::fsio::write_json_atomic(&out.join("report.json"), &r)?;
    Ok(r)
}

/// Greedy replies of several checkpoints to the first `n` prompts of a file.
fn side_by_side(prompts: &Path, ckpts: &[&Path], n: usize) -> Result<Vec<(String, Vec<String>)>> {
    let texts: Vec<String> = gptlab_data::read_prompts(prompts)?.into_iter().take(n).collect();
    let sc = SampleConfig { max_new_tokens: 24, temperature: 0.0, ..Default::default() };
    let mut cols = vec![];
    for c in ckpts {
        let l = roles::lm(c, tch::Device::Cpu, Mode::Frozen)?;
        cols.push(chat_replies(&l.model, &l.tok, &texts, &sc)?);
    }
    Ok(texts.into_iter().enumerate().map(|(i, t)| (t, cols.iter().map(|c| c[i].clone()).collect())).collect())
}
