//! The OpenAI API's request bodies, their checks, and its error object. A request is checked
//! field by field, and each failure names its field (`param`) as OpenAI's errors do; what
//! passes becomes a [`Job`]: token ids and sampling settings for the engine.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use gptlab_data::chat::{Message, Role};
use gptlab_engine::SampleConfig;
use gptlab_tokenizer::Tokenizer;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// An OpenAI error object with its HTTP status.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub kind: &'static str,
    pub param: Option<String>,
    pub code: Option<&'static str>,
}

impl ApiError {
    pub fn invalid(param: impl Into<Option<String>>, message: impl Into<String>) -> Self {
        Self { status: StatusCode::BAD_REQUEST, message: message.into(), kind: "invalid_request_error", param: param.into(), code: None }
    }
    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }
    pub fn status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }
    pub fn unauthorized(message: &str) -> Self {
        Self { status: StatusCode::UNAUTHORIZED, message: message.into(), kind: "invalid_request_error", param: None, code: Some("invalid_api_key") }
    }
    pub fn rate_limited(message: String) -> Self {
        Self { status: StatusCode::TOO_MANY_REQUESTS, message, kind: "requests", param: None, code: Some("rate_limit_exceeded") }
    }
    pub fn server(message: String) -> Self {
        Self { status: StatusCode::INTERNAL_SERVER_ERROR, message, kind: "server_error", param: None, code: None }
    }
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}})
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body())).into_response()
    }
}

/// The server's limits on a request.
#[derive(Debug, Clone, Serialize)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub max_messages: usize,
    /// Most tokens one choice may generate.
    pub max_tokens: usize,
    /// Most choices per request (`n`, times the prompts of a completions request).
    pub max_n: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_body_bytes: 1 << 20, max_messages: 256, max_tokens: 1024, max_n: 16 }
    }
}

/// A failed deserialisation as a 400 naming the field it happened at.
fn field_error(e: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = e.path().to_string();
    let inner = e.into_inner();
    if inner.is_syntax() || inner.is_eof() {
        ApiError::invalid(None, format!("the body is not valid JSON: {inner}"))
    } else if path == "." {
        ApiError::invalid(None, format!("invalid request body: {inner}"))
    } else {
        ApiError::invalid(path.clone(), format!("invalid value for '{path}': {inner}"))
    }
}

/// A JSON body as `T`; a failure names the field it happened at.
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_slice(body)).map_err(field_error)
}

/// A parsed body as `T`; a failure names the field it happened at.
fn from_value<T: DeserializeOwned>(v: &serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(v).map_err(field_error)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Stop {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StreamOptions {
    #[serde(default)]
    pub include_usage: bool,
}

/// Settings both endpoints share.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Common {
    pub model: String,
    pub max_tokens: Option<u64>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub n: Option<u64>,
    pub stop: Option<Stop>,
    pub seed: Option<i64>,
    pub user: Option<String>,
    #[serde(default)]
    pub stream: bool,
    pub stream_options: Option<StreamOptions>,
    pub frequency_penalty: Option<f64>,
    pub presence_penalty: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Content {
    Text(String),
    Parts(Vec<Part>),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Part {
    #[serde(rename = "type")]
    pub kind: String,
    pub text: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: Content,
    pub name: Option<String>,
}

/// The fields of [`Common`], which every endpoint accepts.
const COMMON: [&str; 13] = ["model", "max_tokens", "temperature", "top_p", "n", "stop", "seed", "user", "stream", "stream_options", "frequency_penalty", "presence_penalty", "logprobs"];

/// An endpoint's own fields.
pub trait Endpoint: DeserializeOwned {
    const FIELDS: &'static [&'static str];
}

/// A request body: the shared settings, the endpoint's own fields, and the body as parsed
/// (the body is parsed once). A field neither knows is an error, as OpenAI's API answers it.
pub fn parse_request<T: Endpoint>(body: &[u8]) -> Result<(Common, T, serde_json::Value), ApiError> {
    let v: serde_json::Value = parse(body)?;
    let Some(obj) = v.as_object() else { return Err(ApiError::invalid(None, "the body must be a JSON object")) };
    if let Some(k) = obj.keys().find(|k| !COMMON.contains(&k.as_str()) && !T::FIELDS.contains(&k.as_str())) {
        return Err(ApiError::invalid(k.clone(), format!("Unrecognized request argument supplied: {k}")));
    }
    if !obj.contains_key("model") {
        return Err(ApiError::invalid("model".to_string(), "you must provide a model parameter"));
    }
    Ok((from_value(&v)?, from_value(&v)?, v))
}

#[derive(Debug, Clone, Deserialize)]
pub struct ChatRequest {
    pub messages: Vec<ChatMessage>,
    pub max_completion_tokens: Option<u64>,
    #[serde(default)]
    pub logprobs: bool,
    pub top_logprobs: Option<u64>,
}

impl Endpoint for ChatRequest {
    const FIELDS: &'static [&'static str] = &["messages", "max_completion_tokens", "top_logprobs"];
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Prompt {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Clone, Deserialize)]
pub struct CompletionRequest {
    pub prompt: Prompt,
    pub logprobs: Option<u64>,
    #[serde(default)]
    pub echo: bool,
}

impl Endpoint for CompletionRequest {
    const FIELDS: &'static [&'static str] = &["prompt", "echo"];
}

/// A checked request: what to generate.
#[derive(Debug, Clone)]
pub struct Job {
    /// Token ids of each prompt; each gets `n` choices.
    pub prompts: Vec<Vec<u32>>,
    pub n: usize,
    /// Sampling settings; each choice's seed comes from [`Job::seed`].
    pub cfg: SampleConfig,
    pub seed: u64,
    /// Alternatives per token when log-probabilities are asked for.
    pub logprobs: Option<usize>,
    pub stream: bool,
    pub include_usage: bool,
}

/// The model's context, for the limits that depend on it.
pub struct ModelInfo<'a> {
    pub tok: &'a Tokenizer,
    pub context: usize,
}

fn stops(s: &Option<Stop>) -> Result<Vec<String>, ApiError> {
    let v = match s {
        None => vec![],
        Some(Stop::One(x)) => vec![x.clone()],
        Some(Stop::Many(v)) => v.clone(),
    };
    if v.len() > 4 {
        return Err(ApiError::invalid("stop".to_string(), format!("at most 4 stop sequences, got {}", v.len())));
    }
    if v.iter().any(String::is_empty) {
        return Err(ApiError::invalid("stop".to_string(), "a stop sequence must not be empty"));
    }
    Ok(v)
}

impl Common {
    /// The sampling settings and choices per prompt; `max_tokens` is the asked-for budget.
    fn job(&self, prompts: Vec<Vec<u32>>, max_tokens: Option<u64>, logprobs: Option<usize>, m: &ModelInfo, l: &Limits, fresh_seed: u64) -> Result<Job, ApiError> {
        let bad = |p: &str, msg: String| Err(ApiError::invalid(p.to_string(), msg));
        let t = self.temperature.unwrap_or(1.0);
        if !(0.0..=2.0).contains(&t) {
            return bad("temperature", format!("{t} is not in [0, 2]"));
        }
        let top_p = self.top_p.unwrap_or(1.0);
        if !(top_p > 0.0 && top_p <= 1.0) {
            return bad("top_p", format!("{top_p} is not in (0, 1]"));
        }
        for (name, v) in [("frequency_penalty", self.frequency_penalty), ("presence_penalty", self.presence_penalty)] {
            if v.is_some_and(|x| x != 0.0) {
                return bad(name, format!("{name} is not supported by this server (only 0)"));
            }
        }
        let n = self.n.unwrap_or(1) as usize;
        if n == 0 || n * prompts.len() > l.max_n {
            return bad("n", format!("n = {n} for {} prompt(s): at most {} choices per request", prompts.len(), l.max_n));
        }
        let longest = prompts.iter().map(Vec::len).max().unwrap_or(0);
        if longest >= m.context {
            return Err(ApiError::invalid("messages".to_string(), format!("this model's maximum context length is {} tokens; the prompt has {longest}", m.context)).with_code("context_length_exceeded"));
        }
        let max = match max_tokens {
            Some(0) => return bad("max_tokens", "max_tokens must be at least 1".into()),
            Some(x) if x as usize > l.max_tokens => return bad("max_tokens", format!("max_tokens = {x} is over this server's limit of {}", l.max_tokens)),
            Some(x) if longest + x as usize > m.context => {
                return Err(ApiError::invalid("max_tokens".to_string(), format!("this model's maximum context length is {} tokens; you asked for {} ({longest} in the prompt, {x} in the completion)", m.context, longest + x as usize)).with_code("context_length_exceeded"))
            }
            Some(x) => x as usize,
            None => (m.context - longest).min(l.max_tokens),
        };
        let cfg = SampleConfig { max_new_tokens: max, temperature: t, top_k: None, top_p: (top_p < 1.0).then_some(top_p), stop: stops(&self.stop)?, seed: 0, stop_at_end: true, watermark: None };
        let seed = self.seed.map(|s| s as u64).unwrap_or(fresh_seed);
        let include_usage = self.stream_options.as_ref().is_some_and(|o| o.include_usage);
        if self.stream_options.is_some() && !self.stream {
            return bad("stream_options", "stream_options is only allowed with stream: true".into());
        }
        Ok(Job { prompts, n, cfg, seed, logprobs, stream: self.stream, include_usage })
    }
}

impl ChatRequest {
    /// The conversation as chat messages (roles checked, content parts joined).
    pub fn messages(&self, l: &Limits) -> Result<Vec<Message>, ApiError> {
        if self.messages.is_empty() {
            return Err(ApiError::invalid("messages".to_string(), "messages must not be empty"));
        }
        if self.messages.len() > l.max_messages {
            return Err(ApiError::invalid("messages".to_string(), format!("{} messages: at most {}", self.messages.len(), l.max_messages)));
        }
        self.messages
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let role = match m.role.as_str() {
                    "system" | "developer" => Role::System,
                    "user" => Role::User,
                    "assistant" => Role::Assistant,
                    other => return Err(ApiError::invalid(format!("messages[{i}].role"), format!("unknown role '{other}' (system, developer, user, assistant)"))),
                };
                let content = match &m.content {
                    Content::Text(s) => s.clone(),
                    Content::Parts(parts) => {
                        let mut s = String::new();
                        for (j, p) in parts.iter().enumerate() {
                            match (p.kind.as_str(), &p.text) {
                                ("text", Some(t)) => s.push_str(t),
                                _ => return Err(ApiError::invalid(format!("messages[{i}].content[{j}]"), "only text content parts are supported")),
                            }
                        }
                        s
                    }
                };
                Ok(Message { role, content })
            })
            .collect()
    }

    pub fn job(&self, common: &Common, m: &ModelInfo, l: &Limits, fresh_seed: u64) -> Result<Job, ApiError> {
        let msgs = self.messages(l)?;
        if msgs.last().map(|m| m.role) != Some(Role::User) {
            return Err(ApiError::invalid("messages".to_string(), "the last message must be the user's"));
        }
        let ids = m.tok.render_chat(&msgs, true).map_err(|e| ApiError::invalid("messages".to_string(), e.to_string()))?.ids;
        let logprobs = match (self.logprobs, self.top_logprobs) {
            (false, Some(_)) => return Err(ApiError::invalid("top_logprobs".to_string(), "top_logprobs needs logprobs: true")),
            (_, Some(k)) if k > 20 => return Err(ApiError::invalid("top_logprobs".to_string(), format!("{k} is over 20"))),
            (true, k) => Some(k.unwrap_or(0) as usize),
            (false, None) => None,
        };
        let max = self.max_completion_tokens.or(common.max_tokens);
        common.job(vec![ids], max, logprobs, m, l, fresh_seed).map_err(|mut e| {
            if e.param.as_deref() == Some("max_tokens") && self.max_completion_tokens.is_some() {
                e.param = Some("max_completion_tokens".into());
            }
            e
        })
    }
}

impl CompletionRequest {
    pub fn texts(&self) -> Vec<String> {
        match &self.prompt {
            Prompt::One(s) => vec![s.clone()],
            Prompt::Many(v) => v.clone(),
        }
    }

    pub fn job(&self, common: &Common, m: &ModelInfo, l: &Limits, fresh_seed: u64) -> Result<Job, ApiError> {
        if self.echo {
            return Err(ApiError::invalid("echo".to_string(), "echo is not supported by this server"));
        }
        let texts = self.texts();
        if texts.is_empty() {
            return Err(ApiError::invalid("prompt".to_string(), "prompt must not be an empty list"));
        }
        let prompts = texts
            .iter()
            .map(|t| {
                // an empty prompt conditions on the start token, as a new document
                let ids = m.tok.encode(t).map_err(|e| ApiError::invalid("prompt".to_string(), e.to_string()))?;
                Ok(if ids.is_empty() { vec![m.tok.bos] } else { ids })
            })
            .collect::<Result<Vec<_>, ApiError>>()?;
        if let Some(k) = self.logprobs.filter(|&k| k > 5) {
            return Err(ApiError::invalid("logprobs".to_string(), format!("{k} is over 5")));
        }
        common.job(prompts, common.max_tokens.or(Some(16)), self.logprobs.map(|k| k as usize), m, l, fresh_seed).map_err(|mut e| {
            if e.param.as_deref() == Some("messages") {
                e.param = Some("prompt".into());
            }
            e
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_field() {
        let e = parse_request::<ChatRequest>(br#"{"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": "hot"}"#).expect_err("bad type");
        assert_eq!(e.param.as_deref(), Some("temperature"), "{}", e.message);
        let e = parse_request::<ChatRequest>(br#"{"model": "m", "messages": [{"role": "user", "content": 3}]}"#).expect_err("bad content");
        assert_eq!(e.param.as_deref(), Some("messages[0].content"), "{}", e.message);
        let e = parse_request::<ChatRequest>(b"{not json").expect_err("syntax");
        assert!(e.message.contains("not valid JSON") && e.status == StatusCode::BAD_REQUEST);
        let e = parse_request::<ChatRequest>(br#"{"model": "m", "messages": [], "bogus": 1}"#).expect_err("unknown field");
        assert_eq!(e.param.as_deref(), Some("bogus"), "{}", e.message);
        let e = parse_request::<CompletionRequest>(br#"{"prompt": "x"}"#).expect_err("no model");
        assert_eq!(e.param.as_deref(), Some("model"));
        let (_, r, _) = parse_request::<ChatRequest>(br#"{"model": "m", "messages": [{"role": "tool", "content": "x"}]}"#).expect("parses");
        assert_eq!(r.messages(&Limits::default()).expect_err("role").param.as_deref(), Some("messages[0].role"));
        let body = ApiError::unauthorized("no key").body();
        assert_eq!(body["error"]["code"], "invalid_api_key");
        assert!(body["error"].as_object().is_some_and(|o| ["message", "type", "param", "code"].iter().all(|k| o.contains_key(*k))));
    }
}
