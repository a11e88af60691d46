//! gptlab-tokenizer: byte-level BPE and character-level tokenizers, saved as Hugging Face
//! `tokenizer.json` (loaded unchanged by the `tokenizers` library), and GPT-2's tiktoken rank
//! file (`r50k_base.tiktoken`) loaded so that encoding matches tiktoken exactly.
//!
//! The heavy lifting (pre-tokenizer regex, merge loop, trainer) is the `tokenizers` crate;
//! this crate adds the tiktoken conversion ([`tiktoken`]), gptlab's special tokens, atomic
//! saving and errors that name the file.
//!
//! Special tokens (added to every tokenizer gptlab trains, in this order, ids 0..4):
//! `<|bos|>` starts a document or conversation, `<|user|>` / `<|assistant|>` open a turn,
//! `<|end|>` closes a turn or a document. GPT-2's rank file brings its own `<|endoftext|>`
//! (id 50256), which gptlab treats as both bos and end for that vocabulary.

pub mod chat;
pub mod tiktoken;

use std::path::{Path, PathBuf};

pub const BOS: &str = "<|bos|>";
pub const USER: &str = "<|user|>";
pub const ASSISTANT: &str = "<|assistant|>";
pub const END: &str = "<|end|>";
pub const UNK: &str = "<|unk|>";
/// GPT-2's end-of-text token.
pub const ENDOFTEXT: &str = "<|endoftext|>";
/// The chat special tokens, in id order, for tokenizers gptlab trains.
pub const SPECIALS: [&str; 4] = [BOS, USER, ASSISTANT, END];

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Core(#[from] gptlab_core::Error),
    #[error("{path}: not a valid tokenizer: {msg}")]
    Invalid { path: PathBuf, msg: String },
    #[error("{path}:{line}: {msg}")]
    Line { path: PathBuf, line: usize, msg: String },
    #[error("tokenizer training failed: {0}")]
    Train(String),
    #[error("{0}")]
    Codec(String),
}
pub type Result<T> = std::result::Result<T, Error>;

/// Which kind of tokenizer to train.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Byte-level BPE (GPT-2 pre-tokenizer regex, byte-to-unicode alphabet).
    Bpe,
    /// One token per character seen in the corpus (nanoGPT's shakespeare_char), plus `<|unk|>`.
    Char,
}

/// A loaded tokenizer: a `tokenizers::Tokenizer` plus the ids of the special tokens.
#[derive(Clone)]
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    /// Token that starts a document (`<|bos|>`, or `<|endoftext|>` for GPT-2).
    pub bos: u32,
    /// Token that ends a turn or document (`<|end|>`, or `<|endoftext|>` for GPT-2).
    pub end: u32,
    pub user: Option<u32>,
    pub assistant: Option<u32>,
    /// Cached: `tokenizers` rebuilds its vocabulary map to count it.
    vocab_size: usize,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tokenizer(vocab={}, bos={}, end={})", self.vocab_size(), self.bos, self.end)
    }
}

impl Tokenizer {
    /// Wraps a `tokenizers::Tokenizer`, resolving special ids. `origin` names it in errors.
    pub fn from_inner(inner: tokenizers::Tokenizer, origin: &Path) -> Result<Self> {
        let id = |s: &str| inner.token_to_id(s);
        let (bos, end) = match (id(BOS), id(END), id(ENDOFTEXT)) {
            (Some(b), Some(e), _) => (b, e),
            (_, _, Some(eot)) => (eot, eot),
            _ => {
                return Err(Error::Invalid {
                    path: origin.to_path_buf(),
                    msg: format!("needs special tokens {BOS} and {END} (or {ENDOFTEXT})"),
                })
            }
        };
        let vocab_size = inner.get_vocab_size(true);
        Ok(Self { bos, end, user: id(USER), assistant: id(ASSISTANT), vocab_size, inner })
    }

    /// Loads a `tokenizer.json`, or a tiktoken rank file (`*.tiktoken`).
    pub fn load(path: &Path) -> Result<Self> {
        if path.extension().is_some_and(|e| e == "tiktoken") {
            return tiktoken::load(path);
        }
        let text = gptlab_core::fsio::read_text(path)?;
        Self::from_json(&text, path)
    }

    /// Parses tokenizer.json text; `origin` names it in errors.
    pub fn from_json(text: &str, origin: &Path) -> Result<Self> {
        let inner: tokenizers::Tokenizer = text
            .parse()
            .map_err(|e: tokenizers::Error| Error::Invalid { path: origin.to_path_buf(), msg: e.to_string() })?;
        Self::from_inner(inner, origin)
    }

    /// Trains a tokenizer on the given texts. `vocab_size` counts every token, specials included
    /// (ignored for [`Kind::Char`], whose vocabulary is the corpus's character set).
    pub fn train(texts: &[String], kind: Kind, vocab_size: usize) -> Result<Self> {
        match kind {
            Kind::Bpe => train_bpe(texts, vocab_size),
            Kind::Char => train_char(texts),
        }
    }

    pub fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    /// Encodes text. Special-token strings in the text are recognised as special tokens.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self.inner.encode_fast(text, false).map_err(|e| Error::Codec(e.to_string()))?;
        Ok(enc.get_ids().to_vec())
    }

    /// Decodes ids to text (special tokens kept). Invalid UTF-8 byte sequences become U+FFFD.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        let n = self.vocab_size;
        if let Some(bad) = ids.iter().find(|&&i| i as usize >= n) {
            return Err(Error::Codec(format!("token id {bad} is outside the vocabulary (size {n})")));
        }
        self.inner.decode(ids, false).map_err(|e| Error::Codec(e.to_string()))
    }

    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// The tokenizer.json text.
    pub fn to_json(&self) -> Result<String> {
        self.inner.to_string(true).map_err(|e| Error::Codec(e.to_string()))
    }

    /// Saves tokenizer.json atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        let json = self.to_json()?;
        gptlab_core::fsio::write_atomic(path, json.as_bytes())?;
        Ok(())
    }

    pub fn inner(&self) -> &tokenizers::Tokenizer {
        &self.inner
    }
}

fn train_bpe(texts: &[String], vocab_size: usize) -> Result<Tokenizer> {
    use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
    use tokenizers::models::TrainerWrapper;
    use tokenizers::pre_tokenizers::byte_level::ByteLevel;
    use tokenizers::AddedToken;
    let min = 256 + SPECIALS.len();
    if vocab_size < min {
        return Err(Error::Train(format!("vocab_size {vocab_size} is below the byte alphabet plus specials ({min})")));
    }
    let specials = SPECIALS.iter().map(|s| AddedToken::from(*s, true)).collect();
    let mut trainer: TrainerWrapper = BpeTrainerBuilder::new()
        .vocab_size(vocab_size)
        .min_frequency(2)
        .show_progress(false)
        .special_tokens(specials)
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        .build()
        .into();
    let mut tk = tokenizers::Tokenizer::new(BPE::default());
    tk.with_pre_tokenizer(Some(ByteLevel::new(false, true, true)));
    tk.with_decoder(Some(ByteLevel::default()));
    tk.train(&mut trainer, texts.iter()).map_err(|e| Error::Train(e.to_string()))?;
    Tokenizer::from_inner(tk, Path::new("<trained>"))
}

fn train_char(texts: &[String]) -> Result<Tokenizer> {
    let mut chars: Vec<char> = texts.iter().flat_map(|t| t.chars()).collect();
    chars.sort_unstable();
    chars.dedup();
    let mut vocab = serde_json::Map::new();
    for (i, s) in SPECIALS.iter().chain(std::iter::once(&UNK)).enumerate() {
        vocab.insert(s.to_string(), i.into());
    }
    let base = vocab.len();
    for (i, c) in chars.iter().enumerate() {
        vocab.insert(c.to_string(), (base + i).into());
    }
    let added: Vec<_> = SPECIALS
        .iter()
        .chain(std::iter::once(&UNK))
        .enumerate()
        .map(|(i, s)| added_token(i as u32, s))
        .collect();
    let json = serde_json::json!({
        "version": "1.0",
        "truncation": null, "padding": null,
        "added_tokens": added,
        "normalizer": null, "pre_tokenizer": null, "post_processor": null,
        "decoder": {"type": "Fuse"},
        "model": {"type": "BPE", "dropout": null, "unk_token": UNK, "continuing_subword_prefix": null,
                  "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                  "vocab": vocab, "merges": []},
    });
    Tokenizer::from_json(&json.to_string(), Path::new("<char>"))
}

/// A tokenizer.json `added_tokens` entry for a special token.
pub(crate) fn added_token(id: u32, content: &str) -> serde_json::Value {
    serde_json::json!({"id": id, "content": content, "single_word": false, "lstrip": false,
                       "rstrip": false, "normalized": false, "special": true})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus() -> Vec<String> {
        let base = "The quick brown fox jumps over the lazy dog. Über café naïve — 東京 123 456!\n";
        vec![base.repeat(50), "hello world hello world\n\n   spaced   out\t\ttabs".repeat(20)]
    }

    #[test]
    fn bpe_round_trip_and_specials() {
        let tk = Tokenizer::train(&corpus(), Kind::Bpe, 300).expect("train");
        assert_eq!(tk.vocab_size(), 300);
        assert_eq!(tk.bos, 0);
        assert_eq!(tk.token_to_id(END), Some(3));
        for s in ["The quick brown fox", "unseen ✓ text\n\t  with  spaces ", "東京 café", ""] {
            let ids = tk.encode(s).expect("encode");
            assert_eq!(tk.decode(&ids).expect("decode"), s);
        }
        let ids = tk.encode("<|user|>hi<|end|>").expect("encode");
        assert_eq!(ids.first(), Some(&1));
        assert_eq!(ids.last(), Some(&3));
        assert!(tk.encode("the lazy dog").expect("e").len() < "the lazy dog".len(), "merges learned");
    }

    #[test]
    fn saved_json_reloads_identically() {
        let dir = tempfile::tempdir().expect("tmp");
        let tk = Tokenizer::train(&corpus(), Kind::Bpe, 280).expect("train");
        let p = dir.path().join("tokenizer.json");
        tk.save(&p).expect("save");
        let tk2 = Tokenizer::load(&p).expect("load");
        let s = "The quick brown 東京 fox!!";
        assert_eq!(tk.encode(s).expect("a"), tk2.encode(s).expect("b"));
    }

    #[test]
    fn char_level() {
        let tk = Tokenizer::train(&["abcab\n".to_string()], Kind::Char, 0).expect("train");
        assert_eq!(tk.vocab_size(), 5 + 4);
        let ids = tk.encode("cab\n").expect("enc");
        assert_eq!(ids.len(), 4);
        assert_eq!(tk.decode(&ids).expect("dec"), "cab\n");
        assert_eq!(tk.encode("z").expect("enc"), vec![4], "unknown char maps to <|unk|>");
    }

    #[test]
    fn bad_inputs() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("tokenizer.json");
        std::fs::write(&p, "{not json").expect("w");
        let e = Tokenizer::load(&p).expect_err("corrupt").to_string();
        assert!(e.contains("tokenizer.json"), "{e}");
        let e = Tokenizer::load(&dir.path().join("missing.json")).expect_err("missing").to_string();
        assert!(e.contains("missing.json"), "{e}");
        let tk = Tokenizer::train(&corpus(), Kind::Bpe, 280).expect("train");
        assert!(tk.decode(&[100_000]).is_err());
    }
}
