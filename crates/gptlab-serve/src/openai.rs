//! The OpenAI API's response objects: chat completions and their stream chunks, text
//! completions, log-probabilities in each endpoint's shape, usage.

use gptlab_engine::sched::TokenOut;
use gptlab_engine::Finish;
use serde_json::{json, Value};

/// Which endpoint a response is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Chat,
    Completions,
}

impl Endpoint {
    pub fn name(self) -> &'static str {
        match self {
            Self::Chat => "chat.completions",
            Self::Completions => "completions",
        }
    }
}

/// One choice as it is generated.
#[derive(Debug, Clone, Default)]
pub struct Choice {
    pub text: String,
    pub tokens: Vec<TokenOut>,
    pub finish: Option<Finish>,
    pub completion_tokens: usize,
}

pub fn finish_reason(f: Option<Finish>) -> Value {
    match f {
        Some(Finish::Stop) => json!("stop"),
        Some(Finish::Length) => json!("length"),
        None => Value::Null,
    }
}

pub fn usage(prompt: usize, completion: usize) -> Value {
    json!({"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion})
}

/// Log-probabilities of `tokens` (generated tokens only) in the endpoint's shape.
pub fn logprobs(ep: Endpoint, tokens: &[TokenOut]) -> Value {
    let real: Vec<&TokenOut> = tokens.iter().filter(|t| t.token != u32::MAX).collect();
    match ep {
        Endpoint::Chat => json!({"content": real.iter().map(|t| json!({
            "token": t.token_text,
            "logprob": t.logprob,
            "bytes": t.token_text.as_bytes(),
            "top_logprobs": t.top.iter().map(|(s, lp)| json!({"token": s, "logprob": lp, "bytes": s.as_bytes()})).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(), "refusal": null}),
        Endpoint::Completions => {
            let mut offset = 0;
            let mut offsets = vec![];
            for t in &real {
                offsets.push(offset);
                offset += t.token_text.len();
            }
            json!({
                "tokens": real.iter().map(|t| t.token_text.clone()).collect::<Vec<_>>(),
                "token_logprobs": real.iter().map(|t| t.logprob).collect::<Vec<_>>(),
                "top_logprobs": real.iter().map(|t| t.top.iter().map(|(s, lp)| (s.clone(), json!(lp))).collect::<serde_json::Map<_, _>>()).collect::<Vec<_>>(),
                "text_offset": offsets,
            })
        }
    }
}

/// The whole response of a non-streaming request.
pub fn response(ep: Endpoint, id: &str, created: u64, model: &str, choices: &[Choice], want_logprobs: bool, prompt_tokens: usize) -> Value {
    let completion: usize = choices.iter().map(|c| c.completion_tokens).sum();
    let lp = |c: &Choice| if want_logprobs { logprobs(ep, &c.tokens) } else { Value::Null };
    match ep {
        Endpoint::Chat => json!({
            "id": id, "object": "chat.completion", "created": created, "model": model,
            "choices": choices.iter().enumerate().map(|(i, c)| json!({
                "index": i, "message": {"role": "assistant", "content": c.text, "refusal": null}, "logprobs": lp(c), "finish_reason": finish_reason(c.finish),
            })).collect::<Vec<_>>(),
            "usage": usage(prompt_tokens, completion),
            "system_fingerprint": null,
        }),
        Endpoint::Completions => json!({
            "id": id, "object": "text_completion", "created": created, "model": model,
            "choices": choices.iter().enumerate().map(|(i, c)| json!({
                "index": i, "text": c.text, "logprobs": lp(c), "finish_reason": finish_reason(c.finish),
            })).collect::<Vec<_>>(),
            "usage": usage(prompt_tokens, completion),
        }),
    }
}

/// One stream chunk for choice `index`: new text (the first chat chunk also carries the role),
/// and the finish reason on the last.
pub fn chunk(ep: Endpoint, id: &str, created: u64, model: &str, index: usize, text: Option<&str>, first: bool, tokens: Option<&[TokenOut]>, finish: Option<Finish>) -> Value {
    let lp = tokens.map_or(Value::Null, |t| logprobs(ep, t));
    match ep {
        Endpoint::Chat => {
            let mut delta = serde_json::Map::new();
            if first {
                delta.insert("role".into(), json!("assistant"));
            }
            if let Some(t) = text {
                delta.insert("content".into(), json!(t));
            }
            json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": [{"index": index, "delta": delta, "logprobs": lp, "finish_reason": finish_reason(finish)}]})
        }
        Endpoint::Completions => json!({"id": id, "object": "text_completion", "created": created, "model": model,
            "choices": [{"index": index, "text": text.unwrap_or(""), "logprobs": lp, "finish_reason": finish_reason(finish)}]}),
    }
}

/// The closing usage chunk (`stream_options.include_usage`): no choices.
pub fn usage_chunk(ep: Endpoint, id: &str, created: u64, model: &str, prompt_tokens: usize, completion_tokens: usize) -> Value {
    let object = if ep == Endpoint::Chat { "chat.completion.chunk" } else { "text_completion" };
    json!({"id": id, "object": object, "created": created, "model": model, "choices": [], "usage": usage(prompt_tokens, completion_tokens)})
}
