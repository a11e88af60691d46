//! A JSONL metrics sink: one JSON object per line, flushed after each record so a
//! killed run keeps everything it logged. Readers tolerate a torn last line.

use crate::{Error, Result};
use serde_json::{Map, Value};
use std::io::Write;
use std::path::{Path, PathBuf};

pub struct MetricsSink {
    path: PathBuf,
    file: std::fs::File,
}

impl MetricsSink {
    /// Opens `path` for appending (a resumed run continues the same file).
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(d) = path.parent() {
            std::fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        Ok(Self { path: path.to_path_buf(), file })
    }

    /// Writes one record.
    pub fn log(&mut self, record: &Map<String, Value>) -> Result<()> {
        let mut line = serde_json::to_string(record).map_err(|e| Error::Json { path: self.path.clone(), msg: e.to_string() })?;
        line.push('\n');
        self.file.write_all(line.as_bytes()).map_err(|e| Error::io(&self.path, e))?;
        self.file.flush().map_err(|e| Error::io(&self.path, e))
    }
}

/// Reads all complete records of a metrics file.
pub fn read_jsonl(path: &Path) -> Result<Vec<Map<String, Value>>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| match v {
            Value::Object(m) => Some(m),
            _ => None,
        })
        .collect())
}

/// Drops records whose `step` is greater than `step` (used when resuming from an
/// earlier checkpoint, so the log has no duplicated steps).
pub fn truncate_after_step(path: &Path, step: u64) -> Result<()> {
    retain(path, |m| m.get("step").and_then(Value::as_u64).is_none_or(|s| s <= step))
}

/// Keeps the records for which `keep` holds (a missing file stays missing).
pub fn retain(path: &Path, keep: impl Fn(&Map<String, Value>) -> bool) -> Result<()> {
    if !path.exists() {
        return Ok(());
    }
    let kept: Vec<String> = read_jsonl(path)?.into_iter().filter(|m| keep(m)).map(|m| Value::Object(m).to_string()).collect();
    let mut text = kept.join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    crate::fsio::write_atomic(path, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_read_and_truncate() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("m.jsonl");
        let mut s = MetricsSink::open(&p).expect("open");
        for step in 0..5u64 {
            let mut m = Map::new();
            m.insert("step".into(), step.into());
            s.log(&m).expect("log");
        }
        drop(s);
        std::fs::OpenOptions::new().append(true).open(&p).expect("o").write_all(b"{\"step\": 9").expect("w");
        assert_eq!(read_jsonl(&p).expect("read").len(), 5);
        truncate_after_step(&p, 2).expect("trunc");
        assert_eq!(read_jsonl(&p).expect("read").len(), 3);
    }
}
