//! File writes that never leave a half-written file behind.
//!
//! Every artifact gptlab writes goes through [`write_atomic`]: the bytes go to a
//! temporary file in the same directory, are flushed to disk, and the file is then
//! renamed over the destination. A crash leaves either the old file or the new one.

use crate::{Error, Result};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The temporary sibling used while `path` is being written.
pub fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    // pid + a counter: two writers of one path (processes or threads) never share a temp file
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    path.with_file_name(format!(".{name}.tmp{}-{n}", std::process::id()))
}

/// Writes `path` atomically by calling `fill` on a temporary file, then renaming it.
/// The parent directory is created if needed. On error the temporary file is removed.
pub fn write_atomic_with<F>(path: &Path, fill: F) -> Result<()>
where
    F: FnOnce(&Path) -> Result<()>,
{
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
    }
    let tmp = temp_path(path);
    let out = fill(&tmp).and_then(|()| {
        let f = std::fs::File::open(&tmp).map_err(|e| Error::io(&tmp, e))?;
        f.sync_all().map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
    });
    if out.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    out
}

/// Writes `bytes` to `path` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |tmp| {
        let mut f = std::fs::File::create(tmp).map_err(|e| Error::io(tmp, e))?;
        f.write_all(bytes).map_err(|e| Error::io(tmp, e))
    })
}

/// Serializes `value` as pretty JSON and writes it atomically.
pub fn write_json_atomic<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Error::Json { path: path.to_path_buf(), msg: e.to_string() })?;
    write_atomic(path, text.as_bytes())
}

/// Reads a file to a string, with an error naming the file; rejects non-UTF-8 by byte offset.
/// A gzip file (its first two bytes are gzip's magic number) is decompressed first, so every
/// data reader takes `x.jsonl.gz` as well as `x.jsonl`.
pub fn read_text(path: &Path) -> Result<String> {
    let mut bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = vec![];
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut out)
            .map_err(|e| Error::io(path, std::io::Error::new(std::io::ErrorKind::InvalidData, format!("not a valid gzip file: {e}"))))?;
        bytes = out;
    }
    String::from_utf8(bytes).map_err(|e| {
        Error::io(
            path,
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("not valid UTF-8 (first bad byte at offset {})", e.utf8_error().valid_up_to()),
            ),
        )
    })
}

/// Hex SHA-256 of a file's bytes.
pub fn sha256_file(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    Ok(sha256_hex(&bytes))
}

/// Hex SHA-256 of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("sub/a.txt");
        write_atomic(&p, b"one").expect("write");
        write_atomic(&p, b"two").expect("write");
        assert_eq!(std::fs::read(&p).expect("read"), b"two");
        let names: Vec<_> = std::fs::read_dir(p.parent().expect("parent"))
            .expect("ls")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names.len(), 1, "only the final file remains: {names:?}");
    }

    #[test]
    fn failed_fill_leaves_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("b.bin");
        let r = write_atomic_with(&p, |tmp| {
            std::fs::write(tmp, b"partial").map_err(|e| Error::io(tmp, e))?;
            Err(Error::Override { spec: "x".into(), msg: "boom".into() })
        });
        assert!(r.is_err());
        assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 0);
    }

    #[test]
    fn non_utf8_is_reported_with_offset() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("bad.txt");
        std::fs::write(&p, b"ab\xffcd").expect("write");
        let e = read_text(&p).expect_err("must fail").to_string();
        assert!(e.contains("bad.txt") && e.contains("offset 2"), "{e}");
    }

    #[test]
    fn gzip_files_read_as_their_text() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("x.jsonl.gz");
        let mut z = flate2::write::GzEncoder::new(vec![], flate2::Compression::default());
        std::io::Write::write_all(&mut z, "{\"a\": \"é\"}\n".as_bytes()).expect("gz");
        std::fs::write(&p, z.finish().expect("gz")).expect("write");
        assert_eq!(read_text(&p).expect("read"), "{\"a\": \"é\"}\n");
        std::fs::write(&p, [0x1f, 0x8b, 8, 0, 1, 2]).expect("write");
        let e = read_text(&p).expect_err("truncated gzip").to_string();
        assert!(e.contains("x.jsonl.gz") && e.contains("gzip"), "{e}");
    }
}
