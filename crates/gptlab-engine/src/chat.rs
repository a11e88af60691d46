//! Replies of a chat model to user prompts: each prompt is rendered as a user turn awaiting
//! the assistant, the batch is sampled with the KV cache (16 prompts at a time), and a reply
//! ends at the first special token the model emits (`<|end|>`, or a stray `<|user|>`).

use crate::{generate, Result, SampleConfig};
use gptlab_model::Gpt;
use gptlab_tokenizer::Tokenizer;

/// Prompts per sampled batch.
pub const CHAT_BATCH: usize = 16;

/// The reply text to each prompt, without its closing special token. Batch `i` samples with
/// the seed of stream `batch/<i>` of `cfg.seed`.
pub fn chat_replies(model: &Gpt, tok: &Tokenizer, prompts: &[String], cfg: &SampleConfig) -> Result<Vec<String>> {
    let mut out = Vec::with_capacity(prompts.len());
    for (i, chunk) in prompts.chunks(CHAT_BATCH).enumerate() {
        let ids: Vec<Vec<u32>> = chunk.iter().map(|p| tok.render_prompt(p)).collect::<std::result::Result<_, _>>()?;
        let c = SampleConfig { seed: gptlab_core::rng::stream_seed(cfg.seed, &format!("batch/{i}")), ..cfg.clone() };
        out.extend(generate(model, Some(tok), &ids, &c)?.into_iter().map(|g| cut_at_special(g.text)));
    }
    Ok(out)
}

/// `text` up to the first special token in it.
pub fn cut_at_special(text: String) -> String {
    match gptlab_tokenizer::SPECIALS.iter().filter_map(|s| text.find(s)).min() {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_ends_at_the_first_special_token() {
        assert_eq!(cut_at_special("Paris.<|user|>x<|end|>".into()), "Paris.");
        assert_eq!(cut_at_special("no specials".into()), "no specials");
    }
}
