//! `POST /v1/detect`: is this text model-written? The detectors of `gptlab detect` on a served
//! model, behind the same API keys and rate limit as the completions.
//!
//! Body: `{"model": NAME, "input": TEXT or [TEXT, ...], "method": METHOD, "reference": NAME?,
//! "watermark": KEY?}` with METHOD one of `perplexity`, `burstiness`, `fast-detectgpt`,
//! `binoculars` (with a `reference`, another served model sharing the tokenizer) and
//! `watermark` (with the `KEY` the text was generated under; default γ and δ), or `classifier`
//! (then `model` names a trained detector, `gptlab serve --detector NAME=DIR`). Answer:
//! `{"object": "list", "model", "method", "data": [{"index", "score", "tokens"} or {"index",
//! "error"}]}`: higher scores mean more likely model-written; a text that cannot be scored
//! (empty, too short) gets an `error`, never a score. The model's weights are loaded for the
//! request (the served copy belongs to its scheduler thread) and requests are scored one at a
//! time.

use crate::api::ApiError;
use crate::server::{authorize, read_body, AppState};
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use gptlab_eval::detect::files::watermark_scored;
use gptlab_eval::detect::{score_dirs, Method, Scored};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DetectRequest {
    model: String,
    input: Input,
    method: String,
    #[serde(default)]
    reference: Option<String>,
    #[serde(default)]
    watermark: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Input {
    One(String),
    Many(Vec<String>),
}

/// Most texts per request.
pub const MAX_INPUTS: usize = 256;

pub async fn detect(State(st): State<Arc<AppState>>, h: HeaderMap, body: Body) -> Response {
    match run(&st, &h, body).await {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn run(st: &Arc<AppState>, h: &HeaderMap, body: Body) -> Result<Value, ApiError> {
    authorize(st, h)?;
    let bytes = read_body(st, h, body).await?;
    let r: DetectRequest = serde_json::from_slice(&bytes).map_err(|e| ApiError::invalid(None, format!("invalid request body: {e}")))?;
    let method = Method::parse(&r.method).ok_or_else(|| ApiError::invalid("method".to_string(), format!("`{}`: one of perplexity, burstiness, fast-detectgpt, binoculars, classifier, watermark", r.method)))?;
    let texts = match r.input {
        Input::One(t) => vec![t],
        Input::Many(v) => v,
    };
    if texts.is_empty() || texts.len() > MAX_INPUTS {
        return Err(ApiError::invalid("input".to_string(), format!("1 to {MAX_INPUTS} texts")));
    }
    let dir = |name: &str, field: &str| -> Result<std::path::PathBuf, ApiError> {
        // the classifier's `model` names a trained detector; every other name a served model
        let (found, what) = if method == Method::Classifier && field == "model" { (st.detectors.get(name).cloned(), "detector") } else { (st.models.get(name).map(|m| m.dir.clone()), "model") };
        found.ok_or_else(|| ApiError::invalid(field.to_string(), format!("The {what} `{name}` does not exist")).status(axum::http::StatusCode::NOT_FOUND).with_code("model_not_found"))
    };
    let model = dir(&r.model, "model")?;
    let reference = r.reference.as_deref().map(|n| dir(n, "reference")).transpose()?;
    let scored: Vec<Scored> = if method == Method::Watermark {
        let key = r.watermark.ok_or_else(|| ApiError::invalid("watermark".to_string(), "method `watermark` needs the `watermark` key"))?;
        let wm = gptlab_engine::Watermark::from_key(&key, gptlab_engine::watermark::DEFAULT_GAMMA, gptlab_engine::watermark::DEFAULT_DELTA).map_err(|e| ApiError::invalid("watermark".to_string(), e.to_string()))?;
        watermark_scored(&wm, &st.models[&r.model].tok, &texts)
    } else {
        let (st2, device) = (st.clone(), st.detect_device);
        tokio::task::spawn_blocking(move || {
            let _one = st2.detect_lock.lock().unwrap_or_else(|p| p.into_inner());
            score_dirs(method, &model, reference.as_deref(), device, &texts)
        })
        .await
        .map_err(|e| ApiError::server(e.to_string()))?
        .map_err(|e| ApiError::invalid(None, e.to_string()))?
    };
    let data: Vec<Value> = scored
        .iter()
        .enumerate()
        .map(|(i, s)| match (s.score, &s.error) {
            (Some(x), _) => json!({"index": i, "score": x, "tokens": s.tokens}),
            (None, e) => json!({"index": i, "error": e.clone().unwrap_or_else(|| "not scored".into())}),
        })
        .collect();
    Ok(json!({"object": "list", "model": r.model, "method": method.as_str(), "data": data}))
}
