//! Loading tiktoken rank files (`r50k_base.tiktoken`: one `base64(token bytes) rank` per line)
//! as a byte-level BPE `tokenizers::Tokenizer` that encodes exactly as tiktoken does.
//!
//! tiktoken stores ranks, not merges. A merge list is recovered the standard way: for each
//! multi-byte token, in rank order, run the byte-pair merge on its bytes using only tokens of
//! lower rank; it ends in exactly two parts, and that pair is the token's merge. BPE with these
//! merges applied lowest-rank-first (leftmost on ties) is then the same procedure as tiktoken's
//! `byte_pair_merge`, and the pre-tokenizer regex is GPT-2's (tiktoken's r50k pattern is the
//! same language, written with possessive quantifiers). Tested against tiktoken's own output.

use crate::{added_token, Error, Result, Tokenizer, ENDOFTEXT};
use base64::Engine;
use std::collections::HashMap;
use std::path::Path;

/// GPT-2's byte → printable-unicode map (the alphabet of byte-level BPE vocabularies).
pub fn byte_to_unicode() -> [char; 256] {
    let mut out = ['\0'; 256];
    let mut n = 0u32;
    for b in 0..=255u32 {
        let printable = (33..=126).contains(&b) || (161..=172).contains(&b) || (174..=255).contains(&b);
        let c = if printable {
            b
        } else {
            n += 1;
            255 + n
        };
        out[b as usize] = char::from_u32(c).unwrap_or('\u{fffd}');
    }
    out
}

/// Parses a rank file into (token bytes, rank) pairs, checking ranks are 0..n without gaps.
pub fn read_ranks(path: &Path) -> Result<Vec<Vec<u8>>> {
    let text = gptlab_core::fsio::read_text(path)?;
    let mut tokens: Vec<Option<Vec<u8>>> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let err = |msg: String| Error::Line { path: path.to_path_buf(), line: i + 1, msg };
        let (b64, rank) = line.split_once(' ').ok_or_else(|| err("expected `<base64> <rank>`".into()))?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| err(format!("bad base64: {e}")))?;
        let rank: usize = rank.trim().parse().map_err(|e| err(format!("bad rank: {e}")))?;
        if rank >= 10_000_000 {
            return Err(err(format!("rank {rank} is implausibly large")));
        }
        if tokens.len() <= rank {
            tokens.resize(rank + 1, None);
        }
        if tokens[rank].is_some() {
            return Err(err(format!("rank {rank} appears twice")));
        }
        tokens[rank] = Some(bytes);
    }
    if tokens.len() < 256 {
        return Err(Error::Invalid { path: path.to_path_buf(), msg: "fewer than 256 ranks".into() });
    }
    tokens
        .into_iter()
        .enumerate()
        .map(|(r, t)| t.ok_or_else(|| Error::Invalid { path: path.to_path_buf(), msg: format!("rank {r} is missing") }))
        .collect()
}

/// Splits `token` into the two parts its last merge joined, using ranks below `max_rank`.
fn last_merge(token: &[u8], ranks: &HashMap<&[u8], usize>, max_rank: usize) -> Option<(usize, usize)> {
    // parts as byte ranges [start, end)
    let mut parts: Vec<(usize, usize)> = (0..token.len()).map(|i| (i, i + 1)).collect();
    while parts.len() > 2 {
        let mut best: Option<(usize, usize)> = None; // (rank, index)
        for i in 0..parts.len() - 1 {
            let piece = &token[parts[i].0..parts[i + 1].1];
            if let Some(&r) = ranks.get(piece) {
                if r < max_rank && best.is_none_or(|(br, _)| r < br) {
                    best = Some((r, i));
                }
            }
        }
        let (_, i) = best?;
        parts[i].1 = parts[i + 1].1;
        parts.remove(i + 1);
    }
    (parts.len() == 2).then(|| (parts[0].1, token.len()))
}

/// Loads a tiktoken rank file as a [`Tokenizer`] (with `<|endoftext|>` after the last rank).
pub fn load(path: &Path) -> Result<Tokenizer> {
    let tokens = read_ranks(path)?;
    let ranks: HashMap<&[u8], usize> = tokens.iter().enumerate().map(|(r, t)| (t.as_slice(), r)).collect();
    let b2u = byte_to_unicode();
    let show = |b: &[u8]| b.iter().map(|&x| b2u[x as usize]).collect::<String>();
    let mut vocab = serde_json::Map::new();
    let mut merges = Vec::new();
    for (rank, tok) in tokens.iter().enumerate() {
        vocab.insert(show(tok), rank.into());
        if tok.len() >= 2 {
            let (split, _) = last_merge(tok, &ranks, rank).ok_or_else(|| Error::Invalid {
                path: path.to_path_buf(),
                msg: format!("token of rank {rank} cannot be built from lower-ranked tokens"),
            })?;
            merges.push(serde_json::json!([show(&tok[..split]), show(&tok[split..])]));
        }
    }
    let eot = tokens.len() as u32;
    vocab.insert(ENDOFTEXT.to_string(), eot.into());
    let json = serde_json::json!({
        "version": "1.0",
        "truncation": null, "padding": null,
        "added_tokens": [added_token(eot, ENDOFTEXT)],
        "normalizer": null,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
        "post_processor": null,
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "", "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                  "vocab": vocab, "merges": merges},
    });
    Tokenizer::from_json(&json.to_string(), path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_map_is_a_bijection_onto_printables() {
        let m = byte_to_unicode();
        let mut s: Vec<char> = m.to_vec();
        s.sort_unstable();
        s.dedup();
        assert_eq!(s.len(), 256);
        assert_eq!(m[b'a' as usize], 'a');
        assert_eq!(m[b' ' as usize], 'Ġ');
        assert_eq!(m[b'\n' as usize], 'Ċ');
    }

    #[test]
    fn tiny_rank_file_round_trips() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("tiny.tiktoken");
        let e = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let mut lines: Vec<String> = (0..=255u8).map(|b| format!("{} {}", e(&[b]), b)).collect();
        lines.push(format!("{} 256", e(b"ab")));
        lines.push(format!("{} 257", e(b"abc")));
        lines.push(format!("{} 258", e(b" abc")));
        std::fs::write(&p, lines.join("\n")).expect("w");
        let tk = load(&p).expect("load");
        assert_eq!(tk.vocab_size(), 260);
        assert_eq!(tk.encode("abc abcab").expect("e"), vec![257, 258, 256]);
        assert_eq!(tk.decode(&[257, 258, 256]).expect("d"), "abc abcab");
        assert_eq!(tk.bos, 259);
    }

    #[test]
    fn bad_rank_files_name_the_line() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("bad.tiktoken");
        std::fs::write(&p, "QQ== 0\n!!! 1\n").expect("w");
        let e = load(&p).expect_err("bad").to_string();
        assert!(e.contains("bad.tiktoken:2"), "{e}");
        std::fs::write(&p, "QQ== 0\nQg== 0\n").expect("w");
        assert!(load(&p).expect_err("dup").to_string().contains("twice"));
    }
}
