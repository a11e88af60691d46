//! A prompt dataset from the request log, as InstructGPT built theirs from API prompts
//! (appendix A): prompts of consenting users only, exact and long-common-prefix dedup, at most
//! N prompts per user (or organisation), train / validation / test disjoint by that key
//! (gptlab-data's prompt-dataset builder), and the training split cleared of prompts with
//! personally identifiable information ([`gptlab_data::pii`]).
//!
//! A chat request's prompt is its last user message; a completions request gives each of its
//! prompts.

use crate::store::Store;
use crate::{Error, Result};
use gptlab_data::pii::{self, Pii};
use gptlab_data::prompts::{build, BuildOptions, BuildReport, Dedup, PromptRecord};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What the split keeps apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SplitBy {
    User,
    Org,
}

#[derive(Debug, Clone)]
pub struct PromptsOptions {
    /// Characters of common prefix that make two prompts duplicates.
    pub prefix_chars: usize,
    /// Most prompts per user (or organisation).
    pub per_key: usize,
    pub split_by: SplitBy,
    pub val_fraction: f64,
    pub test_fraction: f64,
    pub seed: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PromptsReport {
    /// Logged requests read.
    pub requests: usize,
    /// Prompts from users without consent, left out.
    pub without_consent: usize,
    /// Prompts of consenting users, before dedup.
    pub prompts: usize,
    pub split_by: SplitBy,
    pub builder: BuildReport,
    /// Training prompts removed for PII, by kind (a prompt counts under each kind it holds).
    pub pii_removed: BTreeMap<Pii, usize>,
    pub pii_prompts_removed: usize,
    /// Prompts written to each split (train, val, test).
    pub written: [usize; 3],
    pub files: [PathBuf; 3],
}

/// The prompts of one logged request's input.
fn prompts_of(endpoint: &str, input: &Value) -> Vec<String> {
    match (endpoint, input) {
        ("chat.completions", Value::Array(msgs)) => msgs
            .iter()
            .rev()
            .find(|m| m["role"] == "user")
            .and_then(|m| match &m["content"] {
                Value::String(s) => Some(s.clone()),
                Value::Array(parts) => Some(parts.iter().filter_map(|p| p["text"].as_str()).collect()),
                _ => None,
            })
            .into_iter()
            .collect(),
        ("completions", Value::String(s)) => vec![s.clone()],
        ("completions", Value::Array(v)) => v.iter().filter_map(|x| x.as_str().map(str::to_string)).collect(),
        _ => vec![],
    }
}

/// Builds the prompt dataset of the log in `db` into `out` (see the module docs).
pub fn build_from_log(db: &Path, out: &Path, o: &PromptsOptions) -> Result<PromptsReport> {
    if !db.exists() {
        return Err(Error::Input(format!("{}: no such database (gptlab serve --db writes one)", db.display())));
    }
    let rows = Store::open(db)?.requests()?;
    let (mut records, mut without_consent) = (vec![], 0);
    for r in &rows {
        for text in prompts_of(&r.endpoint, &r.input).into_iter().filter(|t| !t.trim().is_empty()) {
            if !r.consent {
                without_consent += 1;
                continue;
            }
            let key = match o.split_by {
                SplitBy::User => r.user.clone(),
                SplitBy::Org if r.org.is_empty() => format!("user:{}", r.user),
                SplitBy::Org => r.org.clone(),
            };
            let mut extra = serde_json::Map::new();
            extra.insert("user".into(), Value::String(r.user.clone()));
            extra.insert("org".into(), Value::String(r.org.clone()));
            extra.insert("request".into(), Value::from(r.id));
            records.push(PromptRecord { prompt: text, user: key, extra });
        }
    }
    let prompts = records.len();
    let bo = BuildOptions { dedup: Dedup::Prefix { chars: o.prefix_chars }, per_user_cap: o.per_key, val_fraction: o.val_fraction, test_fraction: o.test_fraction, seed: o.seed };
    let mut s = build(records, &bo);
    let mut pii_removed: BTreeMap<Pii, usize> = BTreeMap::new();
    let before = s.train.len();
    s.train.retain(|r| {
        let found = pii::find(&r.prompt);
        for k in &found {
            *pii_removed.entry(*k).or_default() += 1;
        }
        found.is_empty()
    });
    let files = ["train", "val", "test"].map(|n| out.join(format!("prompts_{n}.jsonl")));
    for (f, split) in files.iter().zip([&s.train, &s.val, &s.test]) {
        let mut text = String::new();
        for r in split.iter() {
            // the record as `gptlab ppo` reads it: the prompt, with the user and organisation
            let mut v = serde_json::Map::new();
            v.insert("prompt".into(), Value::String(r.prompt.clone()));
            v.extend(r.extra.clone());
            text.push_str(&Value::Object(v).to_string());
            text.push('\n');
        }
        gptlab_core::fsio::write_atomic(f, text.as_bytes()).map_err(|e| Error::Input(e.to_string()))?;
    }
    Ok(PromptsReport {
        requests: rows.len(),
        without_consent,
        prompts,
        split_by: o.split_by,
        pii_prompts_removed: before - s.train.len(),
        pii_removed,
        written: [s.train.len(), s.val.len(), s.test.len()],
        builder: s.report,
        files,
    })
}

/// The counts in the shape of InstructGPT's Table 6 (prompts per split and source).
pub fn table(r: &PromptsReport) -> String {
    let key = if r.split_by == SplitBy::User { "users" } else { "organisations" };
    let mut t = format!("| split | source | {key} | prompts |\n|---|---|---|---|\n");
    for (i, name) in ["train", "valid", "test"].iter().enumerate() {
        t.push_str(&format!("| {name} | API (consenting users) | {} | {} |\n", r.builder.users[i], r.written[i]));
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Principal, Role};
    use serde_json::json;

    #[test]
    fn consent_dedup_cap_split_and_pii() {
        let dir = tempfile::tempdir().expect("tmp");
        let db = dir.path().join("g.db");
        let s = Store::open(&db).expect("store");
        let who = |u: &str, org: &str, consent: bool| Principal { user: u.into(), org: org.into(), role: Role::Api, consent };
        let chat = |p: &Principal, text: &str| s.log_request(p, "m", "chat.completions", &json!([{"role": "system", "content": "be brief"}, {"role": "user", "content": text}]), &json!({})).expect("log");
        for u in 0..10 {
            let p = who(&format!("u{u}"), &format!("org{}", u % 3), true);
            chat(&p, &format!("Mail me at user{u}@example.com about question {u}"));
            chat(&p, "What is the capital of Vanitel?"); // the same text from everyone
            for i in 0..5 {
                chat(&p, &format!("Question {i} from user {u}: what is {u} plus {i}?"));
            }
        }
        s.log_request(&who("x", "", false), "m", "completions", &json!(["secret prompt one", "secret prompt two"]), &json!({})).expect("log");
        drop(s);
        let o = PromptsOptions { prefix_chars: 64, per_key: 4, split_by: SplitBy::User, val_fraction: 0.2, test_fraction: 0.2, seed: 1 };
        let r = build_from_log(&db, dir.path(), &o).expect("build");
        assert_eq!((r.requests, r.without_consent, r.prompts), (71, 2, 70));
        assert_eq!(r.builder.exact_duplicates, 9, "the shared question is kept once");
        assert!(r.builder.capped > 0 && r.builder.users == [6, 2, 2]);
        let read = |f: &Path| -> Vec<Value> { std::fs::read_to_string(f).expect("read").lines().map(|l| serde_json::from_str(l).expect("json")).collect() };
        let [train, val, test] = r.files.clone().map(|f| read(&f));
        let users = |v: &[Value]| v.iter().map(|x| x["user"].as_str().expect("user").to_string()).collect::<std::collections::HashSet<_>>();
        assert!(users(&train).is_disjoint(&users(&val)) && users(&train).is_disjoint(&users(&test)) && users(&val).is_disjoint(&users(&test)));
        assert!(train.iter().chain(&val).chain(&test).all(|x| x["user"] != "x"), "no prompt without consent");
        assert!(train.iter().all(|x| !x["prompt"].as_str().expect("p").contains('@')), "PII leaves the training split");
        assert_eq!(r.pii_removed.get(&Pii::Email).copied(), Some(r.pii_prompts_removed));
        assert_eq!(r.pii_prompts_removed, 6, "one per training user");
        assert_eq!(r.written[0] + r.pii_prompts_removed, r.builder.prompts[0]);
        assert!(gptlab_data::read_prompts(&r.files[0]).expect("ppo reads it").len() == r.written[0]);
        let by_org = build_from_log(&db, dir.path(), &PromptsOptions { split_by: SplitBy::Org, ..o }).expect("org");
        assert_eq!(by_org.builder.users.iter().sum::<usize>(), 3, "three organisations");
        assert!(table(&by_org).contains("organisations"));
    }
}
