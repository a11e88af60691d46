//! GPT-2's rank file loaded by gptlab encodes exactly as tiktoken does. References come from
//! testdata/gen/tiktoken_ref.py (tiktoken from PyPI). The rank file is shared data
//! (../shared/data/gpt2-tokenizer); without it the test says so and checks nothing else.

use gptlab_tokenizer::Tokenizer;
use std::path::PathBuf;

#[derive(serde::Deserialize)]
struct Case {
    text: String,
    ids: Vec<u32>,
}

#[test]
fn r50k_matches_tiktoken() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let ranks = root.join("../shared/data/gpt2-tokenizer/r50k_base.tiktoken");
    if !ranks.exists() {
        panic!("{} is absent: this test needs the shared datasets beside the repository (../shared/data)", ranks.display());
    }
    let tok = Tokenizer::load(&ranks).expect("load rank file");
    assert_eq!(tok.vocab_size(), 50257);
    assert_eq!(tok.bos, 50256);
    let text = std::fs::read_to_string(root.join("testdata/golden/tiktoken_r50k.json")).expect("reference file");
    let cases: Vec<Case> = serde_json::from_str(&text).expect("json");
    assert!(cases.len() > 20);
    let mut tokens = 0;
    for c in &cases {
        let got = tok.encode(&c.text).expect("encode");
        if got != c.ids {
            let at = got.iter().zip(&c.ids).position(|(a, b)| a != b).unwrap_or(got.len().min(c.ids.len()));
            panic!("mismatch for {:?}…: first difference at token {at}: gptlab {:?} tiktoken {:?}",
                c.text.chars().take(40).collect::<String>(), &got[at..(at + 5).min(got.len())], &c.ids[at..(at + 5).min(c.ids.len())]);
        }
        assert_eq!(tok.decode(&got).expect("decode"), c.text, "round trip");
        tokens += got.len();
    }
    println!("{} cases, {tokens} tokens identical to tiktoken", cases.len());
}
