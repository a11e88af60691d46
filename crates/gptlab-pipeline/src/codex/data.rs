//! The Codex run's data, all made on the machine: natural-language text (the synthetic
//! world's corpus), a code corpus built with Codex's filters from source trees that every
//! machine has (CPython's standard library by default), HumanEval-format function problems
//! with unit tests (training families, new instances of them, held-out families), and one
//! byte-level BPE tokenizer trained on text and code together (the tokenizer of the
//! natural-language GPT, which both code runs share so their losses compare).

use crate::{Error, Result};
use gptlab_core::{fsio, rng::Rng};
use gptlab_data::code::{self as code, CodeOptions, CodeReport, Lang};
use gptlab_data::tasks::{self, TasksOptions, TasksReport};
use gptlab_eval::world::data::{self as world, GenerateOptions};
use gptlab_tokenizer::{Kind, Tokenizer};
use std::path::{Path, PathBuf};

/// The separator between the code corpus's files: the end-of-document token.
const DOC_SEP: &str = "\n<|end|>\n";

/// What the data step builds.
#[derive(Debug, Clone)]
pub struct DataOptions {
    pub seed: u64,
    /// Sentences of natural-language text.
    pub nl_sentences: usize,
    /// Source trees for the code corpus.
    pub code_src: Vec<PathBuf>,
    /// Megabytes of the filtered corpus kept (a seeded sample of whole files).
    pub code_mb: f64,
    /// Training problems per task family.
    pub per_family: usize,
    /// Test problems per family.
    pub test_per_family: usize,
    pub vocab_size: usize,
}

/// Paths and counts of the built data.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Data {
    pub nl: PathBuf,
    pub code: PathBuf,
    pub tokenizer: PathBuf,
    pub tasks: PathBuf,
    /// Codex-S's demonstrations (`prompt`, `completion`): the training families' problems,
    /// split at random into training and validation.
    pub sft_train: PathBuf,
    pub sft_val: PathBuf,
    pub code_report: CodeReport,
    /// Files and bytes of the filtered corpus kept for training.
    pub code_files: usize,
    pub code_bytes: usize,
    pub tasks_report: TasksReport,
}

/// The newest CPython standard library under `/usr/lib` (`python3.N`), the default code source.
pub fn default_code_src() -> Result<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib")
        .map_err(|e| Error::Input(format!("/usr/lib: {e}; give --code-src DIR")))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            let minor = name.strip_prefix("python3.")?.parse().ok()?;
            e.path().join("os.py").exists().then(|| (minor, e.path()))
        })
        .collect();
    found.sort();
    found.pop().map(|f| f.1).ok_or_else(|| Error::Input("no CPython standard library under /usr/lib/python3.N; give --code-src DIR".into()))
}

/// Builds everything under `<out>/data` and `<out>/world`.
pub fn build(o: &DataOptions, out: &Path, progress: bool) -> Result<Data> {
    let d = out.join("data");
    let wdir = out.join("world");
    let go = GenerateOptions { seed: o.seed, corpus_sentences: o.nl_sentences, prompts: 200, known: 16, unknown: 8 };
    world::generate(&go, &wdir).map_err(|e| Error::Input(format!("world stage: {e}")))?;

    let co = CodeOptions { langs: vec![Lang::Python], ..CodeOptions::new(o.code_src.clone(), d.join("code")) };
    let mut last = 0;
    let code_report = code::build(&co, &mut |p| {
        if progress && p.files_done * 10 / p.files_total.max(1) > last {
            last = p.files_done * 10 / p.files_total.max(1);
            eprintln!("codex: code corpus {}/{} files", p.files_done, p.files_total);
        }
    })
    .map_err(|e| Error::Input(format!("code corpus: {e}")))?;
    let (text, code_files, code_bytes) = sample_corpus(&d.join("code/corpus.jsonl"), o.code_mb, o.seed)?;
    let code_path = d.join("code.txt");
    fsio::write_atomic(&code_path, text.as_bytes())?;

    let tdir = out.join("tasks");
    let to = TasksOptions { seed: o.seed, per_family: o.per_family, test_per_family: o.test_per_family, ..TasksOptions::new(&tdir) };
    let tasks_report = tasks::generate(&to).map_err(|e| Error::Input(format!("tasks: {e}")))?;
    let (sft_train, sft_val) = (d.join("codex_s_train.jsonl"), d.join("codex_s_val.jsonl"));
    split_demos(&tdir.join("train.jsonl"), &sft_train, &sft_val, o.seed)?;

    let nl = wdir.join("corpus.txt");
    let tok = Tokenizer::train(&[fsio::read_text(&nl)?, text], Kind::Bpe, o.vocab_size)?;
    let tokenizer = d.join("tokenizer.json");
    tok.save(&tokenizer)?;
    Ok(Data { nl, code: code_path, tokenizer, tasks: tdir, sft_train, sft_val, code_report, code_files, code_bytes, tasks_report })
}

/// A seeded sample of whole files of a `corpus.jsonl`, up to `mb` megabytes, joined by the
/// end-of-document token; with the number of files and bytes.
fn sample_corpus(path: &Path, mb: f64, seed: u64) -> Result<(String, usize, usize)> {
    let mut texts: Vec<String> = gptlab_data::read_documents(path)?.into_iter().filter(|t| !t.contains("<|")).collect();
    Rng::stream(seed, "codex/code_sample").shuffle(&mut texts);
    let budget = (mb * 1e6) as usize;
    let mut kept = vec![];
    let mut bytes = 0;
    for t in texts {
        if bytes >= budget {
            break;
        }
        bytes += t.len();
        kept.push(t);
    }
    if kept.is_empty() {
        return Err(Error::Input(format!("{}: the code corpus kept no files", path.display())));
    }
    Ok((kept.join(DOC_SEP), kept.len(), bytes))
}

/// Codex-S's demonstrations from the tasks' training file: `{"prompt", "completion"}` records
/// in a seeded order, a tenth of them (at least one) held out for validation.
fn split_demos(train: &Path, out_train: &Path, out_val: &Path, seed: u64) -> Result<()> {
    let mut recs: Vec<String> = vec![];
    for (i, line) in fsio::read_text(train)?.lines().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line).map_err(|e| Error::Input(format!("{}:{}: {e}", train.display(), i + 1)))?;
        let (Some(p), Some(c)) = (v.get("prompt"), v.get("completion")) else {
            return Err(Error::Input(format!("{}:{}: expected `prompt` and `completion`", train.display(), i + 1)));
        };
        recs.push(serde_json::json!({"prompt": p, "completion": c}).to_string());
    }
    Rng::stream(seed, "codex/sft_split").shuffle(&mut recs);
    let n_val = (recs.len() / 10).max(1);
    if recs.len() < 2 {
        return Err(Error::Input(format!("{}: too few problems to hold some out", train.display())));
    }
    let lines = |v: &[String]| v.iter().map(|l| format!("{l}\n")).collect::<String>();
    fsio::write_atomic(out_val, lines(&recs[..n_val]).as_bytes())?;
    fsio::write_atomic(out_train, lines(&recs[n_val..]).as_bytes())?;
    Ok(())
}
