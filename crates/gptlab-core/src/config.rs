//! Stage configs: TOML files plus `--set key.path=value` overrides.
//!
//! Overrides are applied to the parsed TOML tree *before* it is type-checked, so an
//! override gets exactly the same validation as the file. Config structs use
//! `#[serde(deny_unknown_fields)]`; an unknown or mistyped key is reported with its full
//! dotted path (`optim.lrr`), and the file it came from.

use crate::{Error, Result};
use serde::de::DeserializeOwned;
use std::path::Path;

/// Parses `text` (from `origin`) and overrides into `T`.
pub fn from_str<T: DeserializeOwned>(text: &str, origin: &str, overrides: &[String]) -> Result<T> {
    let mut table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| Error::TomlSyntax { path: origin.into(), msg: e.to_string() })?;
    for spec in overrides {
        apply_override(&mut table, spec)?;
    }
    let origin = if overrides.is_empty() {
        origin.to_string()
    } else {
        format!("{origin} (with --set {})", overrides.join(" --set "))
    };
    let value = toml::Value::Table(table);
    serde_path_to_error::deserialize(value).map_err(|e| {
        let key = e.path().to_string();
        Error::Config { origin: origin.clone(), key, msg: e.into_inner().to_string() }
    })
}

/// Reads the TOML file at `path` and applies overrides.
pub fn load<T: DeserializeOwned>(path: &Path, overrides: &[String]) -> Result<T> {
    let text = crate::fsio::read_text(path)?;
    from_str(&text, &path.display().to_string(), overrides)
}

/// Applies one `a.b.c=value` override. The value is parsed as a TOML value
/// (`1e-4`, `true`, `[1, 2]`, `"text"`); anything that is not valid TOML is taken as a string.
pub fn apply_override(table: &mut toml::Table, spec: &str) -> Result<()> {
    let bad = |msg: &str| Error::Override { spec: spec.to_string(), msg: msg.to_string() };
    let (key, raw) = spec.split_once('=').ok_or_else(|| bad("expected key.path=value"))?;
    let key = key.trim();
    if key.is_empty() || key.split('.').any(str::is_empty) {
        return Err(bad("empty key segment"));
    }
    let value = parse_value(raw.trim());
    let parts: Vec<&str> = key.split('.').collect();
    let (last, parents) = parts.split_last().ok_or_else(|| bad("empty key"))?;
    let mut cur = table;
    for p in parents {
        let entry = cur.entry(p.to_string()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        cur = entry.as_table_mut().ok_or_else(|| bad(&format!("`{p}` is not a table")))?;
    }
    cur.insert(last.to_string(), value);
    Ok(())
}

fn parse_value(raw: &str) -> toml::Value {
    let doc = format!("v = {raw}");
    match doc.parse::<toml::Table>() {
        Ok(mut t) => t.remove("v").unwrap_or_else(|| toml::Value::String(raw.to_string())),
        Err(_) => toml::Value::String(raw.to_string()),
    }
}

/// Serializes a resolved config back to TOML (saved beside checkpoints).
pub fn to_toml<T: serde::Serialize>(value: &T) -> String {
    toml::to_string_pretty(value).unwrap_or_else(|e| format!("# could not serialize config: {e}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Optim {
        lr: f64,
        #[serde(default)]
        betas: Vec<f64>,
    }
    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Cfg {
        optim: Optim,
        name: String,
    }

    #[test]
    fn overrides_apply_before_type_check() {
        let c: Cfg = from_str("name='a'\n[optim]\nlr=1.0\n", "t.toml", &["optim.lr=1e-4".into(), "name=bee".into()])
            .expect("parse");
        assert_eq!(c.optim.lr, 1e-4);
        assert_eq!(c.name, "bee");
        let c: Cfg = from_str("name='a'\n[optim]\nlr=1.0\n", "t.toml", &["optim.betas=[0.9, 0.95]".into()])
            .expect("parse");
        assert_eq!(c.optim.betas, vec![0.9, 0.95]);
    }

    #[test]
    fn unknown_key_is_named_by_path() {
        let e = from_str::<Cfg>("name='a'\n[optim]\nlr=1.0\nlrr=2\n", "t.toml", &[]).expect_err("unknown");
        let s = e.to_string();
        assert!(s.contains("t.toml") && s.contains("optim") && s.contains("lrr"), "{s}");
        let e = from_str::<Cfg>("name='a'\n[optim]\nlr=1.0\n", "t.toml", &["optim.lr=fast".into()]).expect_err("type");
        assert!(e.to_string().contains("optim.lr"), "{e}");
    }

    #[test]
    fn malformed_override_is_rejected() {
        let mut t = toml::Table::new();
        assert!(apply_override(&mut t, "noequals").is_err());
        assert!(apply_override(&mut t, "a..b=1").is_err());
        t.insert("x".into(), toml::Value::Integer(1));
        assert!(apply_override(&mut t, "x.y=1").is_err());
    }

    #[test]
    fn syntax_error_names_file() {
        let e = from_str::<Cfg>("name = ", "bad.toml", &[]).expect_err("syntax");
        assert!(e.to_string().contains("bad.toml"));
    }
}
