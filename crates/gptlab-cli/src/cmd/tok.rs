//! `gptlab tok`: train a tokenizer, encode stdin to a JSON array of ids, decode one back.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use gptlab_data::read_corpus;
use gptlab_tokenizer::{Kind, Tokenizer};
use std::io::Read;
use std::path::PathBuf;

#[derive(Parser)]
pub struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Train a byte-level BPE (or char-level) tokenizer and save it as tokenizer.json.
    Train {
        /// UTF-8 text file(s) to train on.
        #[arg(long, required = true, num_args = 1..)]
        corpus: Vec<PathBuf>,
        #[arg(long, value_enum, default_value = "bpe")]
        kind: KindArg,
        /// Vocabulary size, special tokens included (BPE only).
        #[arg(long, default_value_t = 4096)]
        vocab_size: usize,
        #[arg(long)]
        out: PathBuf,
    },
    /// Read text on stdin, print its token ids as a JSON array.
    Encode {
        /// tokenizer.json, or a tiktoken rank file (*.tiktoken).
        #[arg(long)]
        tokenizer: PathBuf,
    },
    /// Read a JSON array of ids on stdin, print the text.
    Decode {
        #[arg(long)]
        tokenizer: PathBuf,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum KindArg {
    Bpe,
    Char,
}

pub fn run(a: Args) -> Result<()> {
    match a.cmd {
        Cmd::Train { corpus, kind, vocab_size, out } => {
            let texts = corpus.iter().map(|p| read_corpus(p)).collect::<Result<Vec<_>, _>>()?;
            let kind = match kind {
                KindArg::Bpe => Kind::Bpe,
                KindArg::Char => Kind::Char,
            };
            let tok = Tokenizer::train(&texts, kind, vocab_size)?;
            tok.save(&out)?;
            println!("{}", serde_json::json!({"tokenizer": out, "vocab_size": tok.vocab_size()}));
        }
        Cmd::Encode { tokenizer } => {
            let tok = Tokenizer::load(&tokenizer)?;
            let mut bytes = Vec::new();
            std::io::stdin().read_to_end(&mut bytes).context("reading stdin")?;
            let text = String::from_utf8(bytes).map_err(|e| anyhow::anyhow!("stdin is not valid UTF-8 (first bad byte at offset {})", e.utf8_error().valid_up_to()))?;
            println!("{}", serde_json::to_string(&tok.encode(&text)?)?);
        }
        Cmd::Decode { tokenizer } => {
            let tok = Tokenizer::load(&tokenizer)?;
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text).context("reading stdin")?;
            let ids: Vec<u32> = serde_json::from_str(&text).context("stdin must be a JSON array of token ids")?;
            print!("{}", tok.decode(&ids)?);
        }
    }
    Ok(())
}
