//! Detection over files: `gptlab detect` scores a JSONL file (`{"text"}` per line) and
//! `gptlab detect eval` evaluates methods on a human file and a model-text file (as `gptlab
//! detect make-set` writes them).
//!
//! Scoring keeps each input record's fields and adds `score` and `tokens`, or `error` for a
//! record that cannot be scored (no `text` string, empty or too short); with a calibration
//! (`calibration_<method>.json` from `detect eval`) also `p_model` and `fpr_at_score`.
//!
//! Evaluation splits the human texts by text (identical texts stay together) into a
//! calibration part (`cal_fraction`, seeded stream `detect/eval/split`) and a disjoint test
//! part; model texts whose `prefix_of` is a calibration passage (or, without `prefix_of`, a
//! seeded half) fit `p_model` only. Thresholds come from the human calibration scores; the
//! report measures their false-positive rate on the human test texts.

use super::{score_dirs, Method, Scored};
use crate::detect_eval::{self, Calibration, EvalOptions, Record, Report};
use crate::{Error, Result};
use gptlab_core::rng::Rng;
use gptlab_engine::watermark::{detect_text, Watermark};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

/// A JSONL record and its text, or why it has none.
pub type Input = (Map<String, Value>, std::result::Result<String, String>);

/// Reads JSONL records; a line that is not a JSON object is an error naming the file and line,
/// a record without a string `text` a per-record error.
pub fn read_inputs(path: &Path) -> Result<Vec<Input>> {
    let text = gptlab_core::fsio::read_text(path)?;
    let mut out = vec![];
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let m = match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(m)) => m,
            Ok(_) => return Err(Error::Input(format!("{}:{}: expected a JSON object", path.display(), i + 1))),
            Err(e) => return Err(Error::Input(format!("{}:{}: invalid JSON: {e}", path.display(), i + 1))),
        };
        let t = match m.get("text") {
            Some(Value::String(s)) => Ok(s.clone()),
            _ => Err("field `text` must be a string".to_string()),
        };
        out.push((m, t));
    }
    if out.is_empty() {
        return Err(Error::Input(format!("{}: no records", path.display())));
    }
    Ok(out)
}

/// The watermark z-score of each text (higher: more green tokens than chance), tokenized with
/// `tok`; texts under 2 tokens get an error.
pub fn watermark_scored(wm: &Watermark, tok: &gptlab_tokenizer::Tokenizer, texts: &[String]) -> Vec<Scored> {
    texts
        .iter()
        .map(|t| match detect_text(wm, tok, t) {
            Ok(d) => Scored { score: Some(d.z), tokens: d.scored + 1, error: None },
            Err(e) => Scored { score: None, tokens: 0, error: Some(e.to_string()) },
        })
        .collect()
}

/// Scores the records' texts; a record without a text gets its error. `watermark` is the key
/// for [`Method::Watermark`] (its score is the z-score of green tokens).
pub fn score_inputs(method: Method, model: &Path, reference: Option<&Path>, inputs: &[Input], watermark: Option<&Watermark>) -> Result<Vec<Scored>> {
    let texts: Vec<String> = inputs.iter().filter_map(|(_, t)| t.as_ref().ok().cloned()).collect();
    let scored = match (method, watermark) {
        (Method::Watermark, Some(wm)) => watermark_scored(wm, &gptlab_tokenizer::Tokenizer::load(&model.join(gptlab_model::roles::TOKENIZER_FILE))?, &texts),
        (Method::Watermark, None) => return Err(Error::Input("--method watermark needs --watermark KEY".into())),
        _ => score_dirs(method, model, reference, gptlab_model::device::setup(gptlab_model::DeviceSpec::Cpu, 0)?, &texts)?,
    };
    let mut scored = scored.into_iter();
    Ok(inputs
        .iter()
        .map(|(_, t)| match t {
            Ok(_) => scored.next().unwrap_or(Scored { score: None, tokens: 0, error: Some("not scored".into()) }),
            Err(e) => Scored { score: None, tokens: 0, error: Some(e.clone()) },
        })
        .collect())
}

/// The output records: each input's fields plus its score (and calibration figures).
pub fn scored_records(inputs: &[Input], scored: &[Scored], method: Method, cal: Option<&Calibration>) -> Vec<Value> {
    inputs
        .iter()
        .zip(scored)
        .map(|((m, _), s)| {
            let mut m = m.clone();
            m.insert("method".into(), Value::from(method.as_str()));
            m.insert("tokens".into(), Value::from(s.tokens));
            match (s.score, &s.error) {
                (Some(x), _) => {
                    m.insert("score".into(), Value::from(x));
                    if let Some(c) = cal {
                        let info = c.score_info(x);
                        m.insert("p_model".into(), info.p_model.map_or(Value::Null, Value::from));
                        m.insert("fpr_at_score".into(), Value::from(info.fpr_at_score));
                    }
                }
                (None, e) => {
                    m.insert("error".into(), Value::from(e.clone().unwrap_or_else(|| "not scored".into())));
                }
            }
            Value::Object(m)
        })
        .collect()
}

/// The records of a JSONL file ([`read_inputs`]), or one record holding `text`.
pub fn inputs(file: Option<&Path>, text: Option<&str>) -> Result<Vec<Input>> {
    match (file, text) {
        (Some(f), _) => read_inputs(f),
        (None, Some(t)) => Ok(vec![(Map::from_iter([("text".to_string(), Value::from(t))]), Ok(t.to_string()))]),
        (None, None) => Err(Error::Input("--file F or --text S".into())),
    }
}

/// `gptlab detect`: the inputs scored with `method`, as JSONL lines (see [`scored_records`]),
/// with the calibration file's figures when one is given.
pub fn detect_lines(method: Method, model: &Path, reference: Option<&Path>, inputs: &[Input], watermark: Option<&Watermark>, calibration: Option<&Path>) -> Result<String> {
    let cal = calibration.map(Calibration::load).transpose()?;
    let scored = score_inputs(method, model, reference, inputs, watermark)?;
    Ok(scored_records(inputs, &scored, method, cal.as_ref()).iter().map(|r| r.to_string() + "\n").collect())
}

#[derive(Debug, Clone)]
pub struct EvalRunOptions {
    pub human: PathBuf,
    pub model_text: PathBuf,
    pub methods: Vec<Method>,
    pub model: PathBuf,
    pub reference: Option<PathBuf>,
    /// The generator name whose texts count as white-box (the detector's own model wrote them).
    pub white_box: Option<String>,
    pub cal_fraction: f64,
    pub seed: u64,
    pub resamples: usize,
    /// The key of [`Method::Watermark`].
    pub watermark: Option<Watermark>,
    /// The trained detector of [`Method::Classifier`] (`gptlab detect train`'s `best/`).
    pub classifier: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EvalRun {
    pub human_cal: usize,
    pub human_test: usize,
    pub model_cal: usize,
    pub model_test: usize,
    /// Per method: texts that could not be scored (too short, no text).
    pub unscored: BTreeMap<String, usize>,
    pub methods: BTreeMap<String, Report>,
}

/// An evaluation record of a scored input. A human text's `formulaic` is the input's own tag,
/// or computed from its text ([`detect_eval::is_formulaic`]); model texts have none.
fn record(m: &Map<String, Value>, s: &Scored, white_box: Option<&str>, human: bool) -> Option<Record> {
    let text = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    let generator = text("generator");
    let formulaic = human && m.get("formulaic").and_then(Value::as_bool).unwrap_or_else(|| detect_eval::is_formulaic(&text("text")));
    Some(Record {
        id: m.get("id").map(|v| v.to_string()).unwrap_or_default(),
        score: s.score?,
        tokens: s.tokens,
        decoding: text("decoding"),
        white_box: white_box.is_some_and(|w| w == generator),
        generator,
        paraphrased: m.get("paraphrased").and_then(Value::as_bool).unwrap_or(false),
        formulaic,
    })
}

/// Evaluates each method and writes `report.json`, `report.md`, `roc.png` and
/// `calibration_<method>.json` into `out`.
pub fn eval_run(o: &EvalRunOptions, out: &Path) -> Result<EvalRun> {
    if !(0.0 < o.cal_fraction && o.cal_fraction < 1.0) {
        return Err(Error::Input(format!("--cal-fraction {} must be between 0 and 1", o.cal_fraction)));
    }
    let human = read_inputs(&o.human)?;
    let model = read_inputs(&o.model_text)?;
    // the human split, by text
    let mut texts: Vec<&str> = human.iter().filter_map(|(_, t)| t.as_deref().ok()).collect::<HashSet<_>>().into_iter().collect();
    texts.sort_unstable();
    Rng::stream(o.seed, "detect/eval/split").shuffle(&mut texts);
    let cal_texts: HashSet<&str> = texts[..((texts.len() as f64 * o.cal_fraction).round() as usize).clamp(1, texts.len().saturating_sub(1).max(1))].iter().copied().collect();
    let is_cal_h = |(_, t): &Input| t.as_deref().is_ok_and(|t| cal_texts.contains(t));
    let cal_ids: HashSet<String> = human.iter().filter(|h| is_cal_h(h)).filter_map(|(m, _)| m.get("id").map(|v| v.to_string())).collect();
    let mut coin = Rng::stream(o.seed, "detect/eval/model-split");
    let model_cal: Vec<bool> = model.iter().map(|(m, _)| match m.get("prefix_of") { Some(v) => cal_ids.contains(&v.to_string()), None => coin.uniform() < o.cal_fraction }).collect();
    let opts = EvalOptions { seed: o.seed, resamples: o.resamples, ..EvalOptions::default() };
    // human and model texts are scored in one call per method (one model load, shared batches)
    let all: Vec<Input> = human.iter().chain(&model).cloned().collect();
    let mut run = EvalRun { human_cal: 0, human_test: 0, model_cal: 0, model_test: 0, unscored: BTreeMap::new(), methods: BTreeMap::new() };
    let mut md = vec![];
    let mut curves = vec![];
    for &method in &o.methods {
        // the reference serves the methods that take one
        let reference = o.reference.as_deref().filter(|_| matches!(method, Method::FastDetectGpt | Method::Binoculars));
        let scorer = match (method, &o.classifier) {
            (Method::Classifier, Some(c)) => c,
            (Method::Classifier, None) => return Err(Error::Input("method classifier needs the trained detector (--classifier DIR, from `gptlab detect train`)".into())),
            _ => &o.model,
        };
        let mut hs = score_inputs(method, scorer, reference, &all, o.watermark.as_ref())?;
        let ms = hs.split_off(human.len());
        let wb = o.white_box.as_deref();
        let (mut hc, mut ht, mut mc, mut mt) = (vec![], vec![], vec![], vec![]);
        let mut unscored = 0;
        for (h, s) in human.iter().zip(&hs) {
            match record(&h.0, s, wb, true) {
                Some(r) if is_cal_h(h) => hc.push(r),
                Some(r) => ht.push(r),
                None => unscored += 1,
            }
        }
        for ((m, s), cal) in model.iter().zip(&ms).zip(&model_cal) {
            match record(&m.0, s, wb, false) {
                Some(r) if *cal => mc.push(r),
                Some(r) => mt.push(r),
                None => unscored += 1,
            }
        }
        if hc.is_empty() || ht.is_empty() || mt.is_empty() {
            return Err(Error::Input(format!("{method}: too few scored texts to evaluate ({} human calibration, {} human test, {} model test)", hc.len(), ht.len(), mt.len())));
        }
        let score = |v: &[Record]| v.iter().map(|r| r.score).collect::<Vec<_>>();
        let cal = Calibration::fit(&score(&hc), &score(&mc))?;
        cal.save(&out.join(format!("calibration_{}.json", method.as_str())))?;
        let report = detect_eval::evaluate(&hc, &ht, &mt, &opts)?;
        (run.human_cal, run.human_test, run.model_cal, run.model_test) = (hc.len(), ht.len(), mc.len(), mt.len());
        run.unscored.insert(method.as_str().into(), unscored);
        curves.push((method.as_str().to_string(), report.roc.clone()));
        md.push((method.as_str().to_string(), report.clone()));
        run.methods.insert(method.as_str().into(), report);
    }
    gptlab_core::fsio::write_json_atomic(&out.join("report.json"), &run)?;
    gptlab_core::fsio::write_atomic(&out.join("report.md"), detect_eval::report_md(&md).as_bytes())?;
    detect_eval::roc_png(&out.join("roc.png"), &curves)?;
    Ok(run)
}
