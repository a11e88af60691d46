//! `gptlab demo detect`: the detectors at toy scale, evaluated as the field should: thresholds
//! fitted on human text only, false-positive rates measured on other human text.
//!
//! 1. **Data**: the human text (tiny Shakespeare by default) is cut at a line break 90% of the
//!    way in: the models train on the first part; the human passages come from the rest.
//! 2. **Models**: the observer, a GPT pretrained on the first part (stage `pretrain`), and the
//!    performer, the observer trained further on the same text (stage `pretrain_performer`; same
//!    tokenizer), as Binoculars pairs a model with a close relative.
//! 3. **Texts** (`detect make-set`): held-out passages, and each model's matched-length
//!    continuations of their prefixes under greedy, T = 1, top-p 0.96, top-k 40 decoding and
//!    with a green-list watermark (T = 1), each with a sentence-shuffled paraphrase.
//! 4. **Classifier** (`detect train`, stage `detect`): the observer's trunk under a scalar head,
//!    fine-tuned on other held-out passages (the ones after those of step 3, so no text of the
//!    evaluation) and the observer's continuations of their prefixes (the four decodings).
//! 5. **Evaluation** (`detect eval`) of perplexity, burstiness, Fast-DetectGPT, Binoculars
//!    (observer with the performer), the classifier and the watermark: the observer is the
//!    scoring model (and the classifier's generator), so its own texts are white-box and the
//!    performer's cross-model.
//!
//! Writes `report.json`, `report.md`, `roc.png` and the calibrations into the output folder.

use crate::runner::{stage_err, Clock, Stages};
use crate::{Error, Result};
use gptlab_engine::Watermark;
use gptlab_eval::detect::files::{eval_run, EvalRun, EvalRunOptions};
use gptlab_eval::detect::Method;
use gptlab_eval::detect_set::{make_set, Decoding, MakeSetOptions};
use gptlab_train::config::{DetectConfig, PretrainConfig};
use gptlab_train::stages;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The stages whose configs the demo reads.
pub const STAGES: [&str; 3] = ["pretrain", "pretrain_performer", "detect"];

#[derive(Debug, Clone)]
pub struct DetectDemoOptions {
    pub out: PathBuf,
    pub configs: PathBuf,
    pub human: PathBuf,
    pub seed: u64,
    /// Held-out passages.
    pub passages: usize,
    pub watermark_key: String,
    pub resamples: usize,
    pub overrides: Vec<String>,
    pub progress: bool,
}

/// One method's headline figures (all test texts).
#[derive(Debug, Clone, Serialize)]
pub struct MethodSummary {
    pub auroc: Option<f64>,
    pub auroc_ci: Option<[f64; 2]>,
    pub tpr_at_1pct_fpr: Option<f64>,
    pub tpr_at_0_1pct_fpr: Option<f64>,
    /// The 1% threshold's false-positive rate on the disjoint human test split.
    pub measured_fpr: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DetectDemoReport {
    pub human_passages: usize,
    pub model_texts: usize,
    pub human_cal: usize,
    pub human_test: usize,
    pub methods: BTreeMap<String, MethodSummary>,
    pub observer_val_loss: f64,
    pub performer_val_loss: f64,
    /// The classifier's training report (its validation texts are held-out passages too).
    pub classifier: stages::detect::DetectReport,
    pub stage_seconds: BTreeMap<String, f64>,
    pub total_seconds: f64,
    /// Every figure of the evaluation, with its breakdowns.
    pub detail: EvalRun,
}

/// Splits `text` at the first line break after 90% of it: (train, held out).
fn split(text: &str) -> (&str, &str) {
    let at = text.len() * 9 / 10;
    let cut = text[at..].find('\n').map_or(text.len(), |i| at + i + 1);
    text.split_at(cut)
}

fn jsonl_concat(parts: &[PathBuf], out: &Path) -> Result<()> {
    let mut all = String::new();
    for p in parts {
        all.push_str(&gptlab_core::fsio::read_text(p)?);
    }
    Ok(gptlab_core::fsio::write_atomic(out, all.as_bytes())?)
}

pub fn run(o: &DetectDemoOptions) -> Result<DetectDemoReport> {
    let st = Stages { dir: &o.configs, names: &STAGES, overrides: &o.overrides, progress: o.progress };
    st.check()?;
    let out = &o.out;
    let mut clock = Clock::start("detect");
    let text = gptlab_data::read_corpus(&o.human)?;
    let (train, held) = split(&text);
    let (train_p, held_p) = (out.join("data/train.txt"), out.join("data/held_out.txt"));
    gptlab_core::fsio::write_atomic(&train_p, train.as_bytes())?;
    gptlab_core::fsio::write_atomic(&held_p, held.as_bytes())?;
    clock.tick("data");

    let observer_dir = out.join("observer");
    let (cfg, ro) = st.load::<PretrainConfig>("pretrain", &[("data.corpus", &train_p), ("run.out_dir", &observer_dir)], &[])?;
    let obs = stages::pretrain::run(&cfg, &ro).map_err(stage_err("pretrain"))?;
    clock.tick("pretrain");
    let observer = observer_dir.join("best");
    let performer_dir = out.join("performer");
    let tok = observer.join(gptlab_model::roles::TOKENIZER_FILE);
    let (cfg, ro) = st.load::<PretrainConfig>("pretrain_performer", &[("data.corpus", &train_p), ("data.tokenizer", &tok), ("model.init_from", &observer), ("run.out_dir", &performer_dir)], &[])?;
    let perf = stages::pretrain::run(&cfg, &ro).map_err(stage_err("pretrain_performer"))?;
    clock.tick("performer");
    let performer = performer_dir.join("best");

    let wm = Watermark::from_key(&o.watermark_key, gptlab_engine::watermark::DEFAULT_GAMMA, gptlab_engine::watermark::DEFAULT_DELTA)?;
    let mut sets = vec![];
    let mut human = PathBuf::new();
    for (name, model) in [("observer", &observer), ("performer", &performer)] {
        let mo = MakeSetOptions {
            prefix_tokens: 16,
            min_tokens: 32,
            max_tokens: 128,
            skip: 0,
            limit: o.passages,
            decodings: Decoding::ALL.to_vec(),
            generator: name.into(),
            seed: o.seed,
            watermark: Some(wm.clone()),
            paraphrase: true,
        };
        let dir = out.join(format!("set_{name}"));
        make_set(&held_p, model, &mo, &dir)?;
        human = dir.join("human.jsonl");
        sets.push(dir.join("model.jsonl"));
        clock.tick(&format!("texts_{name}"));
    }
    let model_text = out.join("model_texts.jsonl");
    jsonl_concat(&sets, &model_text)?;

    // the classifier's texts: the passages after the evaluation's, the observer's continuations
    let mo = MakeSetOptions { prefix_tokens: 16, min_tokens: 32, max_tokens: 128, skip: o.passages, limit: o.passages, decodings: Decoding::ALL.to_vec(), generator: "observer".into(), seed: o.seed, watermark: None, paraphrase: false };
    let train_set = out.join("set_classifier");
    make_set(&held_p, &observer, &mo, &train_set)?;
    let classifier_dir = out.join("classifier");
    let (cfg, ro) = st.load::<DetectConfig>(
        "detect",
        &[("detect.init_from", &observer), ("detect.human", &train_set.join("human.jsonl")), ("detect.model_text", &train_set.join("model.jsonl")), ("run.out_dir", &classifier_dir)],
        &[],
    )?;
    let classifier = stages::detect::run(&cfg, &ro).map_err(stage_err("detect"))?;
    clock.tick("classifier");
    let eo = EvalRunOptions {
        human: human.clone(),
        model_text: model_text.clone(),
        methods: vec![Method::Perplexity, Method::Burstiness, Method::FastDetectGpt, Method::Binoculars, Method::Classifier, Method::Watermark],
        model: observer.clone(),
        reference: Some(performer.clone()),
        white_box: Some("observer".into()),
        cal_fraction: 0.5,
        seed: o.seed,
        resamples: o.resamples,
        watermark: Some(wm),
        classifier: Some(classifier_dir.join("best")),
    };
    let ev = eval_run(&eo, out).map_err(Error::from)?;
    clock.tick("eval");
    let count = |p: &Path| -> Result<usize> { Ok(gptlab_core::fsio::read_text(p)?.lines().filter(|l| !l.trim().is_empty()).count()) };
    let methods: BTreeMap<String, MethodSummary> = ev
        .methods
        .iter()
        .map(|(k, r)| {
            let s = MethodSummary { auroc: r.overall.auroc, auroc_ci: r.overall.auroc_ci, tpr_at_1pct_fpr: r.overall.tpr_at_1pct_fpr.tpr, tpr_at_0_1pct_fpr: r.overall.tpr_at_0_1pct_fpr.tpr, measured_fpr: r.overall.measured_fpr };
            (k.clone(), s)
        })
        .collect();
    let report = DetectDemoReport {
        human_passages: count(&human)?,
        model_texts: count(&model_text)?,
        human_cal: ev.human_cal,
        human_test: ev.human_test,
        methods,
        observer_val_loss: obs.best_eval_loss,
        performer_val_loss: perf.best_eval_loss,
        classifier,
        stage_seconds: clock.times.clone(),
        total_seconds: clock.total(),
        detail: ev,
    };
    gptlab_core::fsio::write_json_atomic(&out.join("report.json"), &report)?;
    Ok(report)
}
