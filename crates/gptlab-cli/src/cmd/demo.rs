//! `gptlab demo`: InstructGPT's method end to end on the synthetic world, at toy scale on a
//! CPU, ending in `<out>/report.md` (with plots) and `<out>/report.json`.
//!
//! world generate → tokenizer + pretrain (world corpus) → SFT (labelers' demonstrations) →
//! comparison rounds (round 1: K samples of the SFT model ranked by the training labelers →
//! RM → a PPO run against it; round 2: samples of SFT and of that policy ranked side by side →
//! RM retrained on all comparisons) → PPO and PPO-ptx from SFT against the last RM (same seed
//! and settings, the second with the pretraining term) → win rates on held-out users' prompts
//! (hidden true preference, also per task family; held-out labelers) and the pretraining
//! validation loss of every model (the alignment tax).
//!
//! Every stage reads its config from `<configs>/<stage>.toml`; `--set STAGE:KEY=VALUE`
//! overrides a key of one stage (`ppo:` applies to both PPO runs).

use crate::cmd::{eval_world, ppo, pretrain, rm, sft, world};
use crate::common;
use anyhow::{Context, Result};
use clap::Parser;
use gptlab_engine::SampleConfig;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Parser)]
pub struct Args {
    /// Output directory (the report is <out>/report.md).
    #[arg(long, default_value = "runs/demo")]
    out: PathBuf,
    /// Folder with pretrain.toml, sft.toml, rm.toml and ppo.toml.
    #[arg(long, default_value = "configs/tiny")]
    configs: PathBuf,
    /// Seed of the synthetic world.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Sentences of pretraining text in the world.
    #[arg(long, default_value_t = 20_000)]
    corpus_sentences: usize,
    /// Prompts logged from the world's API users.
    #[arg(long, default_value_t = 3_000)]
    prompts: usize,
    /// Samples per prompt the labelers rank.
    #[arg(short = 'k', long, default_value_t = 4)]
    k: usize,
    /// Prompts sent to the labelers for ranking, per round.
    #[arg(long, default_value_t = 2_400)]
    label_prompts: usize,
    /// Rounds of comparison collection. Round 1 ranks SFT samples; each later round first runs
    /// PPO against the current RM, then ranks samples of SFT and that policy side by side, and
    /// retrains the RM on every comparison so far (InstructGPT's comparisons came from several
    /// models). The final PPO and PPO-ptx start from SFT with the last RM.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=5))]
    rounds: u32,
    /// Override one stage's config key, e.g. --set pretrain:train.max_iters=50 (repeatable;
    /// stages: pretrain, sft, rm, ppo).
    #[arg(long = "set", value_name = "STAGE:KEY=VALUE")]
    overrides: Vec<String>,
    #[arg(long)]
    quiet: bool,
}

fn toml_str(p: &Path) -> String {
    serde_json::Value::String(p.display().to_string()).to_string()
}

/// The config of `stage` with the demo's paths, then the user's overrides for that stage.
fn stage_config<T: serde::de::DeserializeOwned + serde::Serialize>(a: &Args, stage: &str, paths: &[(&str, &Path)], extra: &[String]) -> Result<(T, String)> {
    let mut ov: Vec<String> = paths.iter().map(|(k, p)| format!("{k}={}", toml_str(p))).collect();
    ov.extend(extra.iter().cloned());
    for (s, kv) in split_overrides(&a.overrides)? {
        if s == stage {
            ov.push(kv.to_string());
        }
    }
    let path = a.configs.join(format!("{stage}.toml"));
    let cfg: T = gptlab_core::config::load(&path, &ov)?;
    let resolved = gptlab_core::config::to_toml(&cfg);
    Ok((cfg, resolved))
}

const STAGES: [&str; 4] = ["pretrain", "sft", "rm", "ppo"];

/// `STAGE:KEY=VALUE` overrides as (stage, `KEY=VALUE`), checked before anything runs.
fn split_overrides(overrides: &[String]) -> Result<Vec<(&str, &str)>> {
    overrides
        .iter()
        .map(|o| {
            let (s, kv) = o.split_once(':').filter(|(_, kv)| kv.contains('=')).with_context(|| format!("--set {o}: expected STAGE:KEY=VALUE (stages: {})", STAGES.join(", ")))?;
            if !STAGES.contains(&s) {
                anyhow::bail!("--set {o}: unknown stage `{s}` (stages: {})", STAGES.join(", "));
            }
            Ok((s, kv))
        })
        .collect()
}

fn val_loss(ckpt: &Path, ids_text: &str) -> Result<f64> {
    let l = common::load_checkpoint(ckpt, tch::Device::Cpu)?;
    let ids = l.tok.encode(ids_text)?;
    Ok(gptlab_eval::loss::loss_over_tokens(&l.model, &ids, 8)?.loss)
}

pub fn run(a: Args) -> Result<()> {
    split_overrides(&a.overrides)?;
    for s in STAGES {
        let p = a.configs.join(format!("{s}.toml"));
        if !p.exists() {
            anyhow::bail!("{}: config not found (--configs DIR must hold {}.toml)", p.display(), STAGES.join(".toml, "));
        }
    }
    let t0 = Instant::now();
    let mut times: Vec<(String, f64)> = vec![];
    let mut lap = Instant::now();
    let mut tick = |name: &str, times: &mut Vec<(String, f64)>| {
        times.push((name.to_string(), lap.elapsed().as_secs_f64()));
        lap = Instant::now();
        eprintln!("demo: {name} done ({:.0} s so far)", t0.elapsed().as_secs_f64());
    };
    let progress = !a.quiet;
    let out = &a.out;
    let wdir = out.join("world");
    let go = world::GenerateOptions { seed: a.seed, corpus_sentences: a.corpus_sentences, prompts: a.prompts, known: 16, unknown: 8 };
    world::generate(&go, &wdir).context("world stage")?;
    tick("world", &mut times);

    let (pcfg, resolved) = stage_config::<gptlab_train::config::PretrainConfig>(&a, "pretrain", &[("data.corpus", &wdir.join("corpus.txt")), ("run.out_dir", &out.join("pretrain"))], &[])?;
    let pre = pretrain::run_config(&pcfg, &resolved, false, progress).context("pretrain stage")?;
    tick("pretrain", &mut times);

    let (scfg, resolved) = stage_config::<gptlab_train::config::SftConfig>(
        &a,
        "sft",
        &[("sft.init_from", &out.join("pretrain/best")), ("sft.train", &wdir.join("sft.jsonl")), ("run.out_dir", &out.join("sft"))],
        &[],
    )?;
    let sft_sum = sft::run_config(&scfg, &resolved, false, progress).context("sft stage")?;
    tick("sft", &mut times);
    let sft_ckpt = out.join("sft/best");

    let run_ppo = |dir: &str, rm_dir: &Path, ptx: bool| -> Result<ppo::PpoReport> {
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
        let (cfg, resolved) = stage_config::<gptlab_train::config::PpoConfig>(&a, "ppo", &refs, &[])?;
        ppo::run_config(&cfg, &resolved, false, progress).with_context(|| format!("{dir} stage"))
    };

    // comparison rounds: label → RM (→ PPO against it, whose samples the next round ranks)
    let mut all_cmp = String::new();
    let mut rounds = vec![];
    let mut policy: Option<PathBuf> = None;
    let mut rm_rep = None;
    for round in 1..=a.rounds {
        let last = round == a.rounds;
        let mut models = vec![sft_ckpt.as_path()];
        if let Some(p) = &policy {
            models.push(p.as_path());
        }
        let cmp = out.join(format!("data/comparisons_r{round}.jsonl"));
        let seed = a.seed.wrapping_add(u64::from(round - 1) * 7_919);
        let lab = world::label(&wdir, &models, None, a.k, a.label_prompts, &cmp, seed).with_context(|| format!("label stage (round {round})"))?;
        all_cmp.push_str(&gptlab_core::fsio::read_text(&cmp)?);
        let all = out.join("data/comparisons.jsonl");
        gptlab_core::fsio::write_atomic(&all, all_cmp.as_bytes())?;
        tick(&format!("label_r{round}"), &mut times);

        let rm_dir = out.join(if last { "rm".to_string() } else { format!("rm_r{round}") });
        let (rcfg, resolved) = stage_config::<gptlab_train::config::RmConfig>(
            &a,
            "rm",
            &[("rm.init_from", &sft_ckpt), ("rm.train", &all), ("rm.demos", &wdir.join("sft.jsonl")), ("run.out_dir", &rm_dir)],
            &[],
        )?;
        let rep = rm::run_config(&rcfg, &resolved, false, progress).with_context(|| format!("rm stage (round {round})"))?;
        tick(&format!("rm_r{round}"), &mut times);
        let mut info = serde_json::json!({"round": round, "sampled_from": models.iter().map(|m| m.display().to_string()).collect::<Vec<_>>(),
            "groups": lab.groups, "labeler_agreement": lab.agreement, "rm_accuracy": rep.rm_accuracy});
        if !last {
            let dir = format!("ppo_r{round}");
            let r = run_ppo(&dir, &rm_dir, false)?;
            info["ppo_final_kl"] = serde_json::json!(r.last_kl);
            policy = Some(out.join(dir).join("last"));
            tick(&format!("ppo_r{round}"), &mut times);
        }
        rounds.push((lab, info));
        rm_rep = Some(rep);
    }
    let rm_rep = rm_rep.context("no comparison round ran")?;
    let agreement = rounds[0].0.agreement;

    let mut ppo_reps = vec![];
    for (dir, ptx) in [("ppo", false), ("ppo_ptx", true)] {
        ppo_reps.push(run_ppo(dir, &out.join("rm"), ptx)?);
        tick(dir, &mut times);
    }
    if let Some((_, i)) = rounds.last_mut() {
        i["ppo_final_kl"] = serde_json::json!(ppo_reps[0].last_kl);
    }

    let val_prompts = wdir.join("prompts_val.jsonl");
    let (ppo_ckpt, ptx_ckpt) = (out.join("ppo/last"), out.join("ppo_ptx/last"));
    let how = eval_world::Sampling { temperature: 1.0, samples: 4, seed: a.seed };
    let wr_ppo = eval_world::win_rate(&wdir, &ppo_ckpt, &sft_ckpt, Some(&val_prompts), usize::MAX, &how)?;
    let wr_ptx = eval_world::win_rate(&wdir, &ptx_ckpt, &sft_ckpt, Some(&val_prompts), usize::MAX, &how)?;
    let corpus_val = gptlab_core::fsio::read_text(&wdir.join("corpus_val.txt"))?;
    let losses: Vec<(&str, f64)> = [("pretrain", out.join("pretrain/best")), ("sft", sft_ckpt.clone()), ("ppo", ppo_ckpt.clone()), ("ppo_ptx", ptx_ckpt.clone())]
        .iter()
        .map(|(k, p)| val_loss(p, &corpus_val).map(|l| (*k, l)))
        .collect::<Result<_>>()?;
    let examples = side_by_side(&val_prompts, &[&sft_ckpt, &ppo_ckpt, &ptx_ckpt], 8)?;
    tick("eval", &mut times);

    compare_plots(out)?;
    let loss_of = |k: &str| losses.iter().find(|(n, _)| *n == k).map_or(f64::NAN, |(_, l)| *l);
    let report = serde_json::json!({
        "rm_accuracy": rm_rep.rm_accuracy,
        "labeler_agreement": agreement,
        "win_rate_ppo_vs_sft": wr_ppo.win_rate,
        "win_rate_ppo_ptx_vs_sft": wr_ptx.win_rate,
        "win_rate_ppo_vs_sft_ci95": wr_ppo.ci95,
        "win_rate_ppo_ptx_vs_sft_ci95": wr_ptx.ci95,
        "win_rate_held_out_labelers": {"ppo": wr_ppo.win_rate_held_out_labelers, "ppo_ptx": wr_ptx.win_rate_held_out_labelers},
        "mean_true_score": {"sft": wr_ppo.mean_true_score_baseline, "ppo": wr_ppo.mean_true_score, "ppo_ptx": wr_ptx.mean_true_score},
        "by_family": {"ppo": wr_ppo.by_family, "ppo_ptx": wr_ptx.by_family},
        "pretrain_val_loss": {"pretrain": loss_of("pretrain"), "sft": loss_of("sft"), "ppo": loss_of("ppo"), "ppo_ptx": loss_of("ppo_ptx")},
        "alignment_tax": {"sft": loss_of("sft") - loss_of("pretrain"), "ppo": loss_of("ppo") - loss_of("pretrain"), "ppo_ptx": loss_of("ppo_ptx") - loss_of("pretrain")},
        "val_prompts": wr_ppo.n,
        "comparisons": rounds.iter().map(|(l, _)| l.groups).sum::<usize>(),
        "rounds": rounds.iter().map(|(_, i)| i.clone()).collect::<Vec<_>>(),
        "pretrain_eval_loss": pre.best_eval_loss,
        "sft_eval_loss": sft_sum.best_eval_loss,
        "ppo_final_kl": {"ppo": ppo_reps[0].last_kl, "ppo_ptx": ppo_reps[1].last_kl},
        "stage_seconds": times.iter().map(|(k, s)| (k.clone(), serde_json::json!(s))).collect::<serde_json::Map<_, _>>(),
        "wall_s": t0.elapsed().as_secs_f64(),
    });
    let md = render_report(&a, &report, &examples)?;
    gptlab_core::fsio::write_atomic(&out.join("report.md"), md.as_bytes())?;
    gptlab_core::fsio::write_json_atomic(&out.join("report.json"), &report)?;
    println!("{}", serde_json::json!({"report": out.join("report.md"), "rm_accuracy": rm_rep.rm_accuracy, "labeler_agreement": agreement,
        "win_rate_ppo_vs_sft": wr_ppo.win_rate, "win_rate_ppo_ptx_vs_sft": wr_ptx.win_rate, "pretrain_val_loss": report["pretrain_val_loss"]}));
    Ok(())
}

/// Greedy replies of several checkpoints to the first `n` prompts of a file.
fn side_by_side(prompts: &Path, ckpts: &[&Path], n: usize) -> Result<Vec<(String, Vec<String>)>> {
    let texts: Vec<String> = gptlab_tokenizer::chat::read_prompts(prompts)?.into_iter().take(n).collect();
    let sc = SampleConfig { max_new_tokens: 24, temperature: 0.0, ..Default::default() };
    let mut cols = vec![];
    for c in ckpts {
        let l = common::load_checkpoint(c, tch::Device::Cpu)?;
        cols.push(common::chat_replies(&l.model, &l.tok, &texts, &sc)?);
    }
    Ok(texts.into_iter().enumerate().map(|(i, t)| (t, cols.iter().map(|c| c[i].clone()).collect())).collect())
}

/// PPO and PPO-ptx curves in one figure per metric.
fn compare_plots(out: &Path) -> Result<()> {
    let a = gptlab_core::metrics::read_jsonl(&out.join("ppo/metrics.jsonl"))?;
    let b = gptlab_core::metrics::read_jsonl(&out.join("ppo_ptx/metrics.jsonl"))?;
    for (key, file) in [("objective/rlhf_reward", "reward.png"), ("objective/kl", "kl.png"), ("objective/entropy", "entropy.png")] {
        let mut sa = gptlab_train::plot::series_from(&a, key);
        sa.name = "PPO".into();
        let mut sb = gptlab_train::plot::series_from(&b, key);
        sb.name = "PPO-ptx".into();
        gptlab_train::plot::line_plot(&out.join(file), key, "PPO iteration", &[sa, sb])?;
    }
    Ok(())
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn render_report(a: &Args, r: &serde_json::Value, examples: &[(String, Vec<String>)]) -> Result<String> {
    let f = |v: &serde_json::Value| v.as_f64().map_or("n/a".to_string(), |x| format!("{x:.3}"));
    let mut m = String::new();
    writeln!(m, "# gptlab demo: InstructGPT on a synthetic world\n")?;
    writeln!(m, "World seed {}, {} comparisons (K = {}), {} held-out prompts from held-out users. Wall time {:.0} s.\n", a.seed, r["comparisons"], a.k, r["val_prompts"], r["wall_s"].as_f64().unwrap_or(0.0))?;
    writeln!(m, "## Findings\n")?;
    writeln!(m, "| measure | value | paper (InstructGPT) |\n|---|---|---|")?;
    writeln!(m, "| labelers' agreement on shared comparisons | {} | 72–77% |", f(&r["labeler_agreement"]))?;
    writeln!(m, "| RM accuracy on held-out comparisons | {} | 69.6–72.4% |", f(&r["rm_accuracy"]))?;
    let ci = |k: &str| format!("[{}, {}]", f(&r[k][0]), f(&r[k][1]));
    writeln!(m, "| win rate PPO vs SFT (true preference, 95% CI) | {} {} | ≈ 70% (175B) |", f(&r["win_rate_ppo_vs_sft"]), ci("win_rate_ppo_vs_sft_ci95"))?;
    writeln!(m, "| win rate PPO-ptx vs SFT (true preference, 95% CI) | {} {} | ≈ 70% |", f(&r["win_rate_ppo_ptx_vs_sft"]), ci("win_rate_ppo_ptx_vs_sft_ci95"))?;
    writeln!(m, "| win rate PPO / PPO-ptx vs SFT (held-out labelers) | {} / {} | |", f(&r["win_rate_held_out_labelers"]["ppo"]), f(&r["win_rate_held_out_labelers"]["ppo_ptx"]))?;
    writeln!(m, "| mean true score SFT / PPO / PPO-ptx | {} / {} / {} | |", f(&r["mean_true_score"]["sft"]), f(&r["mean_true_score"]["ppo"]), f(&r["mean_true_score"]["ppo_ptx"]))?;
    let l = &r["pretrain_val_loss"];
    writeln!(m, "| pretraining val loss: pretrain / SFT / PPO / PPO-ptx | {} / {} / {} / {} | PPO-ptx reduces the regressions |\n", f(&l["pretrain"]), f(&l["sft"]), f(&l["ppo"]), f(&l["ppo_ptx"]))?;
    let t = &r["alignment_tax"];
    writeln!(
        m,
        "Alignment tax (rise of the pretraining-corpus validation loss over the pretrained model, nats/token; the paper measures it the same way, against GPT-3): SFT {}, PPO {}, PPO-ptx {}.\n",
        f(&t["sft"]),
        f(&t["ppo"]),
        f(&t["ppo_ptx"])
    )?;
    writeln!(m, "### By task family (win rate vs SFT; mean true score SFT → model)\n")?;
    writeln!(m, "| family | prompts | PPO | PPO-ptx |\n|---|---|---|---|")?;
    if let Some(fams) = r["by_family"]["ppo"].as_object() {
        for (k, v) in fams {
            let x = &r["by_family"]["ppo_ptx"][k];
            let cellf = |v: &serde_json::Value| format!("{} ({} → {})", f(&v["win_rate"]), f(&v["mean_true_score_baseline"]), f(&v["mean_true_score"]));
            writeln!(m, "| {k} | {} | {} | {} |", v["prompts"], cellf(v), cellf(x))?;
        }
    }
    writeln!(m)?;
    writeln!(m, "## Comparison rounds\n\nEach round ranks K samples per prompt, drawn from the listed models in turn; the RM is retrained on every comparison so far (its accuracy is on held-out comparisons of all rounds).\n")?;
    writeln!(m, "| round | sampled from | prompts ranked | labelers' agreement | RM accuracy | KL of the PPO run it fed |\n|---|---|---|---|---|---|")?;
    for i in r["rounds"].as_array().into_iter().flatten() {
        let from: Vec<&str> = i["sampled_from"].as_array().into_iter().flatten().filter_map(|v| v.as_str()).collect();
        writeln!(m, "| {} | {} | {} | {} | {} | {} |", i["round"], from.join(", "), i["groups"], f(&i["labeler_agreement"]), f(&i["rm_accuracy"]), f(&i["ppo_final_kl"]))?;
    }
    writeln!(m)?;
    writeln!(m, "## PPO curves (PPO and PPO-ptx)\n\n![reward](reward.png)\n\n![KL](kl.png)\n\n![entropy](entropy.png)\n")?;
    writeln!(m, "## Training curves\n\n![pretrain](pretrain/loss.png) ![sft](sft/loss.png) ![rm](rm/loss.png)\n")?;
    writeln!(m, "## Greedy replies to held-out prompts\n\n| prompt | SFT | PPO | PPO-ptx |\n|---|---|---|---|")?;
    for (p, cols) in examples {
        writeln!(m, "| {} | {} |", cell(p), cols.iter().map(|c| cell(c)).collect::<Vec<_>>().join(" | "))?;
    }
    writeln!(m, "\n## Stage times (s)\n")?;
    if let Some(t) = r["stage_seconds"].as_object() {
        for (k, v) in t {
            writeln!(m, "- {k}: {:.1}", v.as_f64().unwrap_or(0.0))?;
        }
    }
    writeln!(m, "\nConfigs: `{}/*.toml`; overrides: {:?}. Each stage's resolved config is saved beside its checkpoints.", a.configs.display(), a.overrides)?;
    Ok(m)
}
