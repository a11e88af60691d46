//! Personally identifiable information in prompts, found as InstructGPT's appendix A asks of
//! its training split: e-mail addresses, phone numbers, payment card numbers (13–19 digits
//! passing the Luhn check) and API keys or secrets (well-known key prefixes, and long tokens
//! after words such as "key", "token", "secret" or "password"). Patterns, not a model: they
//! miss what they do not describe (names, street addresses), and the report says what they
//! removed.

use regex::Regex;
use serde::Serialize;
use std::sync::OnceLock;

/// What kind of PII a text holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Pii {
    Email,
    Phone,
    Card,
    Secret,
}

struct Patterns {
    email: Regex,
    phone: Regex,
    card: Regex,
    key_prefix: Regex,
    key_after_word: Regex,
}

fn patterns() -> &'static Patterns {
    static P: OnceLock<Patterns> = OnceLock::new();
    P.get_or_init(|| {
        let re = |s: &str| Regex::new(s).unwrap_or_else(|e| panic!("PII pattern {s}: {e}"));
        Patterns {
            email: re(r"(?i)\b[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}\b"),
            // international (+CC ...) or North-American style numbers, with separators
            phone: re(r"(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)|\b\d{2,4})[\s.-]\d{3,4}[\s.-]\d{3,4}\b|\+\d{8,15}\b"),
            card: re(r"\b(?:\d[ -]?){12,18}\d\b"),
            key_prefix: re(r"\b(?:sk-[A-Za-z0-9_-]{16,}|gl-[0-9a-f]{32,}|AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{30,}|xox[abpr]-[A-Za-z0-9-]{10,}|AIza[0-9A-Za-z_-]{35})"),
            key_after_word: re(r"(?i)\b(?:api[_ -]?key|token|secret|password|passwd)\b\s*[:=]?\s*[A-Za-z0-9_\-/+]{12,}"),
        }
    })
}

fn luhn(digits: &[u32]) -> bool {
    let sum: u32 = digits.iter().rev().enumerate().map(|(i, &d)| if i % 2 == 1 { let x = d * 2; if x > 9 { x - 9 } else { x } } else { d }).sum();
    sum % 10 == 0
}

/// The kinds of PII in `text` (each once, in order).
pub fn find(text: &str) -> Vec<Pii> {
    let p = patterns();
    let mut out = vec![];
    if p.email.is_match(text) {
        out.push(Pii::Email);
    }
    let card = p.card.find_iter(text).any(|m| {
        let d: Vec<u32> = m.as_str().chars().filter_map(|c| c.to_digit(10)).collect();
        (13..=19).contains(&d.len()) && luhn(&d)
    });
    if p.phone.find_iter(text).any(|m| m.as_str().chars().filter(char::is_ascii_digit).count() >= 7 && !card) {
        out.push(Pii::Phone);
    }
    if card {
        out.push(Pii::Card);
    }
    if p.key_prefix.is_match(text) || p.key_after_word.is_match(text) {
        out.push(Pii::Secret);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_each_kind_and_leaves_ordinary_text() {
        assert_eq!(find("Write to jane.doe@example.com today"), vec![Pii::Email]);
        assert_eq!(find("Call me at (555) 123-4567"), vec![Pii::Phone]);
        assert_eq!(find("my number is +44 20 7946 0958"), vec![Pii::Phone]);
        assert_eq!(find("card 4111 1111 1111 1111 exp 12/29"), vec![Pii::Card]);
        assert!(!find("card 4111 1111 1111 1112").contains(&Pii::Card), "fails the Luhn check");
        assert_eq!(find("use sk-abcdefghijklmnop1234 for the call"), vec![Pii::Secret]);
        assert_eq!(find("password: hunter2hunter2xx"), vec![Pii::Secret]);
        assert_eq!(find("AWS key AKIAIOSFODNN7EXAMPLE"), vec![Pii::Secret]);
        for clean in ["What is 12 plus 30?", "The capital of Vanitel is Oxdor.", "In 1969, 3 men flew 384400 km.", "Explain tokens and secrets of baking."] {
            assert_eq!(find(clean), vec![], "{clean}");
        }
    }
}
