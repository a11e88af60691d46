//! Text out of a token stream, a token at a time: incremental detokenization (each step decodes
//! only the few tokens since the last complete character, as Hugging Face's text-generation
//! server does, never the whole output) and stop-sequence matching on the text so far, holding
//! back only what could still begin a stop sequence.

use gptlab_tokenizer::Tokenizer;

/// Turns tokens into text deltas.
#[derive(Debug, Default, Clone)]
pub struct Detokenizer {
    tokens: Vec<u32>,
    /// Tokens before `prefix` are emitted and never decoded again.
    prefix: usize,
    /// Tokens before `read` are emitted.
    read: usize,
}

impl Detokenizer {
    /// The new text `t` completes (empty while a multi-byte character is still incomplete).
    pub fn push(&mut self, tok: &Tokenizer, t: u32) -> gptlab_tokenizer::Result<String> {
        self.tokens.push(t);
        let before = tok.decode(&self.tokens[self.prefix..self.read])?;
        let now = tok.decode(&self.tokens[self.prefix..])?;
        if now.len() > before.len() && !now.ends_with('\u{FFFD}') && now.is_char_boundary(before.len()) {
            self.prefix = self.read;
            self.read = self.tokens.len();
            Ok(now[before.len()..].to_string())
        } else {
            Ok(String::new())
        }
    }
}

impl Detokenizer {
    /// The text of tokens still held back (an incomplete character, shown as U+FFFD), at the
    /// end of generation.
    pub fn flush(&mut self, tok: &Tokenizer) -> gptlab_tokenizer::Result<String> {
        let before = tok.decode(&self.tokens[self.prefix..self.read])?;
        let now = tok.decode(&self.tokens[self.prefix..])?;
        self.prefix = self.read;
        self.read = self.tokens.len();
        Ok(now.get(before.len()..).unwrap_or_default().to_string())
    }
}

/// Finds stop sequences in a growing text and says what may be sent.
#[derive(Debug, Default, Clone)]
pub struct StopMatcher {
    stops: Vec<String>,
    text: String,
    sent: usize,
}

/// What [`StopMatcher::push`] allows out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Release {
    /// Send this text; generation goes on.
    More(String),
    /// Send this text (what precedes the stop sequence); generation ends.
    Stopped(String),
}

impl StopMatcher {
    pub fn new(stops: &[String]) -> Self {
        Self { stops: stops.iter().filter(|s| !s.is_empty()).cloned().collect(), ..Default::default() }
    }

    /// Adds `delta` to the text. Only the tail that could hold a stop sequence is searched.
    pub fn push(&mut self, delta: &str) -> Release {
        let longest = self.stops.iter().map(String::len).max().unwrap_or(0);
        let mut from = self.sent.saturating_sub(longest);
        self.text.push_str(delta);
        while !self.text.is_char_boundary(from) {
            from -= 1;
        }
        if let Some(cut) = self.stops.iter().filter_map(|s| self.text[from..].find(s.as_str()).map(|i| from + i)).min() {
            let out = self.text[self.sent.min(cut)..cut].to_string();
            self.sent = cut.max(self.sent);
            return Release::Stopped(out);
        }
        // hold back the longest tail that is a proper prefix of some stop sequence
        let held = self.stops.iter().map(|s| (1..s.len()).rev().find(|&k| s.is_char_boundary(k) && self.text.ends_with(&s[..k])).unwrap_or(0)).max().unwrap_or(0);
        let safe = (self.text.len() - held).max(self.sent);
        let out = self.text[self.sent..safe].to_string();
        self.sent = safe;
        Release::More(out)
    }

    /// What was held back, at the end of generation.
    pub fn flush(&mut self) -> String {
        let out = self.text[self.sent..].to_string();
        self.sent = self.text.len();
        out
    }

    /// The text sent so far.
    pub fn sent(&self) -> &str {
        &self.text[..self.sent]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(stops: &[&str], deltas: &[&str]) -> (String, bool) {
        let mut m = StopMatcher::new(&stops.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let mut out = String::new();
        for d in deltas {
            match m.push(d) {
                Release::More(s) => out.push_str(&s),
                Release::Stopped(s) => {
                    out.push_str(&s);
                    return (out, true);
                }
            }
        }
        out.push_str(&m.flush());
        (out, false)
    }

    #[test]
    fn stops_across_deltas_and_holds_back_only_possible_starts() {
        assert_eq!(run(&["\n\n"], &["Hello", "\n", "\nmore"]), ("Hello".into(), true));
        assert_eq!(run(&["END"], &["abc E", "N", "D tail"]), ("abc ".into(), true));
        assert_eq!(run(&["END"], &["abc E", "x"]), ("abc Ex".into(), false));
        assert_eq!(run(&[], &["a", "b"]), ("ab".into(), false));
        assert_eq!(run(&["é!"], &["café", "!"]), ("caf".into(), true));
        let mut m = StopMatcher::new(&["XY".to_string()]);
        assert_eq!(m.push("abX"), Release::More("ab".into()), "X might start XY");
        assert_eq!(m.push("Z"), Release::More("XZ".into()));
        assert_eq!(m.sent(), "abXZ");
    }
}
