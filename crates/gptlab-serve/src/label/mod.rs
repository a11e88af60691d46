//! Labeling: InstructGPT's data collection (§3.4, appendix B) on the server's store.
//!
//! - **Tasks** ([`tasks`]): for each prompt, a demonstration task (write the reply) and a
//!   ranking task (K replies sampled from one or several models, identical ones merged). A
//!   task wants `copies` labelers: one, or several for the overlap tasks that agreement is
//!   measured on.
//! - **Queue** ([`db`]): a labeler asks for the next task and holds it under a lease; a task
//!   held past its lease goes back to the queue. A labeler is never given a task twice, nor a
//!   task whose prompt they wrote (the prompt's `user`). An admin's labels are the gold
//!   items: an admin may take any task, overlap tasks first, and does not use up a copy.
//! - **Labels**: a demonstration, or for a ranking task a 1–7 score and the paper's metadata
//!   flags ([`FLAGS`]) per output and a ranking with ties; or a skip with a reason. Each label
//!   is stamped with its labeler, role and the guideline version shown with the task, and is
//!   written in one transaction with its task's assignment: a crash leaves it whole or absent.
//! - **Agreement** ([`agreement`]): pairwise agreement, Kendall's τ-b and Krippendorff's α
//!   on the overlap tasks, for training and held-out labelers and against the admin's gold.
//! - **Export** ([`export`]): the formats `gptlab sft`, `gptlab rm` and `gptlab ppo` read.
//! - **HTTP** ([`http`]): the pages at `/label` and their JSON API on `gptlab serve`.

pub mod agreement;
pub mod db;
pub mod export;
pub mod http;
pub mod tasks;

use serde::{Deserialize, Serialize};

/// What a task asks of its labeler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskKind {
    /// Write the reply the assistant should give.
    Demonstration,
    /// Score, flag and rank K replies.
    Ranking,
}

impl TaskKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Demonstration => "demonstration",
            Self::Ranking => "ranking",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Demonstration, Self::Ranking].into_iter().find(|k| k.as_str() == s)
    }
}

/// The metadata a labeler ticks for each output: InstructGPT's Table 3 (appendix B.2),
/// besides the 1–7 overall quality score.
pub const FLAGS: [&str; 11] = [
    "fails_to_follow_instruction",
    "inappropriate_for_customer_assistant",
    "hallucination",
    "satisfies_constraint",
    "sexual_content",
    "violent_content",
    "encourages_violence",
    "denigrates_protected_class",
    "harmful_advice",
    "expresses_opinion",
    "expresses_moral_judgment",
];

/// Reasons a labeler may give for skipping a task.
pub const SKIP_REASONS: [&str; 4] = ["task unclear", "prompt is harmful", "needs expertise I lack", "other"];

/// The longest demonstration or skip note accepted, in characters.
pub const MAX_TEXT_CHARS: usize = 20_000;

/// Errors of the labeling layer, each with the HTTP status it maps to.
#[derive(Debug, thiserror::Error)]
pub enum LabelError {
    /// A bad field (400), named.
    #[error("{field}: {msg}")]
    Invalid { field: String, msg: String },
    /// The key may not do this (403).
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// The task's state does not allow it (409): e.g. the lease expired.
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] crate::Error),
}

pub type LabelResult<T> = std::result::Result<T, LabelError>;

fn invalid(field: &str, msg: impl Into<String>) -> LabelError {
    LabelError::Invalid { field: field.into(), msg: msg.into() }
}

/// A labeler's answer to a task, as posted.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Submission {
    /// Skip the task, with a reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub demonstration: Option<String>,
    /// The 1–7 quality score of each output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scores: Option<Vec<u8>>,
    /// The [`FLAGS`] ticked for each output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flags: Option<Vec<Vec<String>>>,
    /// Tie groups of output indices, best first: `[[2], [0, 1], [3]]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranking: Option<Vec<Vec<usize>>>,
}

fn check_text(field: &str, t: &str) -> LabelResult<()> {
    if t.trim().is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if t.chars().count() > MAX_TEXT_CHARS {
        return Err(invalid(field, format!("longer than {MAX_TEXT_CHARS} characters")));
    }
    Ok(())
}

impl Submission {
    /// Checks the submission against a task of `kind` with `k` outputs; every failure names
    /// its field.
    pub fn check(&self, kind: TaskKind, k: usize) -> LabelResult<()> {
        let given = |name: &str, present: bool| {
            if present {
                Err(invalid(name, "not allowed with `skip`"))
            } else {
                Ok(())
            }
        };
        if let Some(reason) = &self.skip {
            check_text("skip", reason)?;
            given("demonstration", self.demonstration.is_some())?;
            given("scores", self.scores.is_some())?;
            given("flags", self.flags.is_some())?;
            return given("ranking", self.ranking.is_some());
        }
        match kind {
            TaskKind::Demonstration => {
                let d = self.demonstration.as_deref().ok_or_else(|| invalid("demonstration", "required (or `skip` with a reason)"))?;
                check_text("demonstration", d)?;
                for (name, present) in [("scores", self.scores.is_some()), ("flags", self.flags.is_some()), ("ranking", self.ranking.is_some())] {
                    if present {
                        return Err(invalid(name, "not part of a demonstration task"));
                    }
                }
                Ok(())
            }
            TaskKind::Ranking => {
                if self.demonstration.is_some() {
                    return Err(invalid("demonstration", "not part of a ranking task"));
                }
                let scores = self.scores.as_ref().ok_or_else(|| invalid("scores", "required: a 1-7 score per output"))?;
                if scores.len() != k {
                    return Err(invalid("scores", format!("{} scores for {k} outputs", scores.len())));
                }
                if let Some(i) = scores.iter().position(|s| !(1..=7).contains(s)) {
                    return Err(invalid(&format!("scores[{i}]"), "must be 1 to 7"));
                }
                let flags = self.flags.clone().unwrap_or_else(|| vec![vec![]; k]);
                if flags.len() != k {
                    return Err(invalid("flags", format!("{} lists for {k} outputs", flags.len())));
                }
                for (i, f) in flags.iter().enumerate() {
                    for (j, x) in f.iter().enumerate() {
                        if !FLAGS.contains(&x.as_str()) || f[..j].contains(x) {
                            return Err(invalid(&format!("flags[{i}]"), format!("`{x}` is not one of {FLAGS:?}, or is repeated")));
                        }
                    }
                }
                let ranking = self.ranking.as_ref().ok_or_else(|| invalid("ranking", "required: tie groups of output indices, best first"))?;
                check_ranking(ranking, k)
            }
        }
    }
}

/// Checks that `ranking` partitions `0..k` into non-empty tie groups.
pub fn check_ranking(ranking: &[Vec<usize>], k: usize) -> LabelResult<()> {
    let mut seen = vec![false; k];
    for g in ranking {
        if g.is_empty() {
            return Err(invalid("ranking", "an empty tie group"));
        }
        for &i in g {
            if i >= k || std::mem::replace(&mut seen[i], true) {
                return Err(invalid("ranking", format!("must list each output index 0..{k} exactly once (got {i} out of range or twice)")));
            }
        }
    }
    if seen.iter().any(|s| !s) {
        return Err(invalid("ranking", format!("must list every output index 0..{k}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn submissions_are_checked_field_by_field() {
        let rank = |scores: Vec<u8>, ranking: Vec<Vec<usize>>| Submission { scores: Some(scores), ranking: Some(ranking), ..Default::default() };
        assert!(rank(vec![7, 3, 3], vec![vec![0], vec![1, 2]]).check(TaskKind::Ranking, 3).is_ok());
        let field = |s: Submission, kind| match s.check(kind, 3) {
            Err(LabelError::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field(rank(vec![7, 3], vec![vec![0], vec![1, 2]]), TaskKind::Ranking), "scores");
        assert_eq!(field(rank(vec![7, 3, 8], vec![vec![0], vec![1, 2]]), TaskKind::Ranking), "scores[2]");
        assert_eq!(field(rank(vec![7, 3, 3], vec![vec![0], vec![1]]), TaskKind::Ranking), "ranking");
        assert_eq!(field(rank(vec![7, 3, 3], vec![vec![0], vec![1, 1, 2]]), TaskKind::Ranking), "ranking");
        assert_eq!(field(rank(vec![7, 3, 3], vec![vec![0], vec![], vec![1, 2]]), TaskKind::Ranking), "ranking");
        let flagged = Submission { flags: Some(vec![vec!["hallucination".into()], vec![], vec!["rude".into()]]), ..rank(vec![1, 2, 3], vec![vec![0, 1, 2]]) };
        assert_eq!(field(flagged, TaskKind::Ranking), "flags[2]");
        assert_eq!(field(Submission::default(), TaskKind::Demonstration), "demonstration");
        assert_eq!(field(Submission { demonstration: Some("  ".into()), ..Default::default() }, TaskKind::Demonstration), "demonstration");
        assert!(Submission { demonstration: Some("Paris.".into()), ..Default::default() }.check(TaskKind::Demonstration, 0).is_ok());
        let skip = Submission { skip: Some("task unclear".into()), ..Default::default() };
        assert!(skip.check(TaskKind::Ranking, 3).is_ok());
        assert_eq!(field(Submission { demonstration: Some("x".into()), ..skip }, TaskKind::Demonstration), "demonstration");
        let e = serde_json::from_str::<Submission>("{\"ranking\": [[0]], \"score\": 1}").expect_err("unknown field").to_string();
        assert!(e.contains("score"), "{e}");
    }
}
