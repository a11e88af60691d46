//! The labeling tables of the store: guidelines (versioned), tasks, assignments (a labeler's
//! hold on a task: `leased`, then `done`, or `expired` when the lease ran out) and labels.
//! Taking a task and submitting a label are each one immediate transaction, so concurrent
//! labelers never share a copy of a task and a label is never written without its assignment
//! being marked done.

use super::{invalid, LabelError, LabelResult, Submission, TaskKind};
use crate::store::{now, Principal, Role, Store};
use rusqlite::{params, OptionalExtension, TransactionBehavior};
use serde::Serialize;

/// A task to create.
#[derive(Debug, Clone)]
pub struct NewTask {
    pub kind: TaskKind,
    pub prompt: String,
    /// The user who wrote the prompt ("" when unknown): never given the task.
    pub author: String,
    pub outputs: Vec<String>,
    /// The models each output came from (several when identical outputs were merged).
    pub sources: Vec<Vec<String>>,
    /// Labelers wanted (more than one: an overlap task, for agreement).
    pub copies: usize,
}

/// A task as its labeler sees it (never the models the outputs came from).
#[derive(Debug, Clone, Serialize)]
pub struct Assignment {
    pub assignment: i64,
    pub task: i64,
    pub kind: TaskKind,
    pub prompt: String,
    pub outputs: Vec<String>,
    /// `leased`, `done` or `expired`.
    pub status: String,
    pub leased: f64,
    /// When the lease runs out (unix seconds).
    pub expires: f64,
    /// The guideline version shown with the task (0: none set).
    pub guidelines: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<Submission>,
}

/// One label with its task, as exported and measured.
#[derive(Debug, Clone, Serialize)]
pub struct LabelRecord {
    pub label: i64,
    pub task: i64,
    pub kind: TaskKind,
    pub prompt: String,
    pub outputs: Vec<String>,
    pub sources: Vec<Vec<String>>,
    pub copies: usize,
    pub labeler: String,
    pub role: Role,
    pub guidelines: i64,
    pub created: f64,
    pub submission: Submission,
}

/// The guidelines now in force.
#[derive(Debug, Clone, Serialize)]
pub struct Guidelines {
    pub version: i64,
    pub markdown: String,
}

/// Counts over the labeling tables.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Status {
    pub tasks: usize,
    pub demonstration_tasks: usize,
    pub ranking_tasks: usize,
    pub overlap_tasks: usize,
    pub leased: usize,
    pub labels: usize,
    pub skipped: usize,
    /// Copies still wanted by tasks (labels to go, not counting gold).
    pub open_copies: usize,
}

fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

fn parse<T: serde::de::DeserializeOwned + Default>(s: Option<String>) -> T {
    s.and_then(|s| serde_json::from_str(&s).ok()).unwrap_or_default()
}

/// Adds a version of the guidelines; returns its number.
pub fn set_guidelines(store: &Store, markdown: &str, author: &str) -> LabelResult<i64> {
    if markdown.trim().is_empty() {
        return Err(invalid("markdown", "the guidelines must not be empty"));
    }
    let c = store.conn();
    c.execute("INSERT INTO guidelines (markdown, author, created) VALUES (?1, ?2, ?3)", params![markdown, author, now()]).map_err(|e| store.err(e))?;
    Ok(c.last_insert_rowid())
}

pub fn guidelines(store: &Store) -> LabelResult<Option<Guidelines>> {
    let c = store.conn();
    let g = c
        .query_row("SELECT version, markdown FROM guidelines ORDER BY version DESC LIMIT 1", [], |r| Ok(Guidelines { version: r.get(0)?, markdown: r.get(1)? }))
        .optional()
        .map_err(|e| store.err(e))?;
    Ok(g)
}

/// Creates tasks in one transaction; returns their ids.
pub fn insert_tasks(store: &Store, tasks: &[NewTask]) -> LabelResult<Vec<i64>> {
    let mut c = store.conn();
    let tx = c.transaction().map_err(|e| store.err(e))?;
    let mut ids = vec![];
    {
        let mut st = tx.prepare("INSERT INTO tasks (kind, prompt, author, outputs, sources, copies, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)").map_err(|e| store.err(e))?;
        for t in tasks {
            st.execute(params![t.kind.as_str(), t.prompt, t.author, json(&t.outputs), json(&t.sources), t.copies.max(1) as i64, now()]).map_err(|e| store.err(e))?;
            ids.push(tx.last_insert_rowid());
        }
    }
    tx.commit().map_err(|e| store.err(e))?;
    Ok(ids)
}

fn must_label(who: &Principal) -> LabelResult<()> {
    if who.role.labels() {
        Ok(())
    } else {
        Err(LabelError::Forbidden(format!("{} has an API key; labeling needs a labeler or admin key (gptlab keys add --role labeler)", who.user)))
    }
}

const ASSIGNMENT: &str = "SELECT a.id, a.task, t.kind, t.prompt, t.outputs, a.status, a.leased, a.guidelines, a.labeler, l.skipped, l.demonstration, l.scores, l.flags, l.ranking
    FROM assignments a JOIN tasks t ON t.id = a.task LEFT JOIN labels l ON l.assignment = a.id";

fn assignment_row(r: &rusqlite::Row, lease_s: f64) -> rusqlite::Result<(Assignment, String)> {
    let kind: String = r.get(2)?;
    let status: String = r.get(5)?;
    let label = (status == "done").then(|| Submission {
        skip: r.get(9).ok().flatten(),
        demonstration: r.get(10).ok().flatten(),
        scores: r.get::<_, Option<String>>(11).ok().flatten().and_then(|s| serde_json::from_str(&s).ok()),
        flags: r.get::<_, Option<String>>(12).ok().flatten().and_then(|s| serde_json::from_str(&s).ok()),
        ranking: r.get::<_, Option<String>>(13).ok().flatten().and_then(|s| serde_json::from_str(&s).ok()),
    });
    let leased: f64 = r.get(6)?;
    let a = Assignment {
        assignment: r.get(0)?,
        task: r.get(1)?,
        kind: TaskKind::parse(&kind).unwrap_or(TaskKind::Ranking),
        prompt: r.get(3)?,
        outputs: parse(r.get(4)?),
        status,
        leased,
        expires: leased + lease_s,
        guidelines: r.get(7)?,
        label,
    };
    Ok((a, r.get(8)?))
}

/// The labeler's current task, or a new one leased to them; `None` when their queue is
/// empty. Leases older than `lease_s` are expired first, putting their tasks back.
pub fn next(store: &Store, who: &Principal, lease_s: f64) -> LabelResult<Option<Assignment>> {
    must_label(who)?;
    let t = now();
    let mut c = store.conn();
    let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(|e| store.err(e))?;
    tx.execute("UPDATE assignments SET status = 'expired' WHERE status = 'leased' AND leased < ?1", params![t - lease_s]).map_err(|e| store.err(e))?;
    let held: Option<i64> =
        tx.query_row("SELECT id FROM assignments WHERE labeler = ?1 AND status = 'leased' ORDER BY id LIMIT 1", params![who.user], |r| r.get(0)).optional().map_err(|e| store.err(e))?;
    let id = match held {
        Some(id) => Some(id),
        None => {
            // a labeler takes a task with a copy left; an admin (gold) any task, overlap first
            let pick = if who.role == Role::Admin {
                "SELECT t.id FROM tasks t WHERE t.author != ?1
                   AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.task = t.id AND a.labeler = ?1 AND a.status != 'expired')
                 ORDER BY (t.copies > 1) DESC, t.id LIMIT 1"
            } else {
                "SELECT t.id FROM tasks t WHERE t.author != ?1
                   AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.task = t.id AND a.labeler = ?1 AND a.status != 'expired')
                   AND (SELECT COUNT(*) FROM assignments a WHERE a.task = t.id AND a.status != 'expired' AND a.role != 'admin') < t.copies
                 ORDER BY t.id LIMIT 1"
            };
            let task: Option<i64> = tx.query_row(pick, params![who.user], |r| r.get(0)).optional().map_err(|e| store.err(e))?;
            match task {
                None => None,
                Some(task) => {
                    let g: i64 = tx.query_row("SELECT COALESCE(MAX(version), 0) FROM guidelines", [], |r| r.get(0)).map_err(|e| store.err(e))?;
                    tx.execute("INSERT INTO assignments (task, labeler, role, guidelines, leased, status) VALUES (?1, ?2, ?3, ?4, ?5, 'leased')", params![task, who.user, who.role.as_str(), g, t])
                        .map_err(|e| store.err(e))?;
                    Some(tx.last_insert_rowid())
                }
            }
        }
    };
    let out = match id {
        None => None,
        Some(id) => Some(tx.query_row(&format!("{ASSIGNMENT} WHERE a.id = ?1"), params![id], |r| assignment_row(r, lease_s)).map_err(|e| store.err(e))?.0),
    };
    tx.commit().map_err(|e| store.err(e))?;
    Ok(out)
}

/// The labeler's own assignments, newest first.
pub fn my_tasks(store: &Store, who: &Principal, lease_s: f64) -> LabelResult<Vec<Assignment>> {
    must_label(who)?;
    let c = store.conn();
    let mut st = c.prepare(&format!("{ASSIGNMENT} WHERE a.labeler = ?1 ORDER BY a.id DESC")).map_err(|e| store.err(e))?;
    let rows = st.query_map(params![who.user], |r| assignment_row(r, lease_s)).map_err(|e| store.err(e))?;
    let v = rows.collect::<std::result::Result<Vec<_>, _>>().map_err(|e| store.err(e))?;
    Ok(v.into_iter().map(|(a, _)| a).collect())
}

/// One assignment, if it is the caller's (403 otherwise, 404 if there is none).
pub fn assignment(store: &Store, who: &Principal, id: i64, lease_s: f64) -> LabelResult<Assignment> {
    must_label(who)?;
    let c = store.conn();
    let row = c.query_row(&format!("{ASSIGNMENT} WHERE a.id = ?1"), params![id], |r| assignment_row(r, lease_s)).optional().map_err(|e| store.err(e))?;
    match row {
        None => Err(LabelError::NotFound(format!("no assignment {id}"))),
        Some((_, owner)) if owner != who.user => Err(LabelError::Forbidden(format!("assignment {id} is not {}'s", who.user))),
        Some((a, _)) => Ok(a),
    }
}

/// Records the caller's label for their assignment `id` and marks it done, in one
/// transaction. A lease past its time is expired instead (409): the task went back.
pub fn submit(store: &Store, who: &Principal, id: i64, s: &Submission, lease_s: f64) -> LabelResult<Assignment> {
    must_label(who)?;
    let t = now();
    {
        let mut c = store.conn();
        let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(|e| store.err(e))?;
        let row = tx
            .query_row("SELECT a.labeler, a.status, a.leased, a.task, a.guidelines, t.kind, t.outputs FROM assignments a JOIN tasks t ON t.id = a.task WHERE a.id = ?1", params![id], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, f64>(2)?, r.get::<_, i64>(3)?, r.get::<_, i64>(4)?, r.get::<_, String>(5)?, r.get::<_, String>(6)?))
            })
            .optional()
            .map_err(|e| store.err(e))?;
        let Some((owner, status, leased, task, g, kind, outputs)) = row else {
            return Err(LabelError::NotFound(format!("no assignment {id}")));
        };
        if owner != who.user {
            return Err(LabelError::Forbidden(format!("assignment {id} is not {}'s", who.user)));
        }
        match status.as_str() {
            "done" => return Err(LabelError::Conflict(format!("assignment {id} is already labeled"))),
            "expired" => return Err(LabelError::Conflict(format!("the lease on assignment {id} expired; the task went back to the queue"))),
            _ => {}
        }
        if leased < t - lease_s {
            tx.execute("UPDATE assignments SET status = 'expired' WHERE id = ?1", params![id]).map_err(|e| store.err(e))?;
            tx.commit().map_err(|e| store.err(e))?;
            return Err(LabelError::Conflict(format!("the lease on assignment {id} expired; the task went back to the queue")));
        }
        let kind = TaskKind::parse(&kind).unwrap_or(TaskKind::Ranking);
        let k = parse::<Vec<String>>(Some(outputs)).len();
        s.check(kind, k)?;
        let flags = s.scores.as_ref().map(|_| s.flags.clone().unwrap_or_else(|| vec![vec![]; k]));
        tx.execute(
            "INSERT INTO labels (assignment, task, labeler, role, guidelines, created, skipped, demonstration, scores, flags, ranking) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![id, task, who.user, who.role.as_str(), g, t, s.skip, s.demonstration, s.scores.as_ref().map(json), flags.as_ref().map(json), s.ranking.as_ref().map(json)],
        )
        .map_err(|e| store.err(e))?;
        tx.execute("UPDATE assignments SET status = 'done' WHERE id = ?1", params![id]).map_err(|e| store.err(e))?;
        tx.commit().map_err(|e| store.err(e))?;
    }
    assignment(store, who, id, lease_s)
}

/// Every label with its task, by task and then labeler (an order that does not depend on who
/// submitted first, so an export of the same labels is the same file).
pub fn labels(store: &Store) -> LabelResult<Vec<LabelRecord>> {
    let c = store.conn();
    let mut st = c
        .prepare(
            "SELECT l.id, l.task, t.kind, t.prompt, t.outputs, t.sources, t.copies, l.labeler, l.role, l.guidelines, l.created, l.skipped, l.demonstration, l.scores, l.flags, l.ranking
             FROM labels l JOIN tasks t ON t.id = l.task ORDER BY l.task, l.labeler",
        )
        .map_err(|e| store.err(e))?;
    let rows = st
        .query_map([], |r| {
            let kind: String = r.get(2)?;
            let role: String = r.get(8)?;
            Ok(LabelRecord {
                label: r.get(0)?,
                task: r.get(1)?,
                kind: TaskKind::parse(&kind).unwrap_or(TaskKind::Ranking),
                prompt: r.get(3)?,
                outputs: parse(r.get(4)?),
                sources: parse(r.get(5)?),
                copies: r.get::<_, i64>(6)? as usize,
                labeler: r.get(7)?,
                role: Role::parse(&role).unwrap_or(Role::Labeler),
                guidelines: r.get(9)?,
                created: r.get(10)?,
                submission: Submission { skip: r.get(11)?, demonstration: r.get(12)?, scores: parse(r.get(13)?), flags: parse(r.get(14)?), ranking: parse(r.get(15)?) },
            })
        })
        .map_err(|e| store.err(e))?;
    rows.collect::<std::result::Result<Vec<_>, _>>().map_err(|e| store.err(e).into())
}

/// Distinct task prompts with their authors, in task order.
pub fn task_prompts(store: &Store) -> LabelResult<Vec<(String, String)>> {
    let c = store.conn();
    let mut st = c.prepare("SELECT prompt, author FROM tasks GROUP BY prompt ORDER BY MIN(id)").map_err(|e| store.err(e))?;
    let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).map_err(|e| store.err(e))?;
    rows.collect::<std::result::Result<Vec<_>, _>>().map_err(|e| store.err(e).into())
}

pub fn status(store: &Store) -> LabelResult<Status> {
    let c = store.conn();
    let n = |sql: &str| -> LabelResult<usize> { c.query_row(sql, [], |r| r.get::<_, i64>(0)).map(|v| v as usize).map_err(|e| store.err(e).into()) };
    Ok(Status {
        tasks: n("SELECT COUNT(*) FROM tasks")?,
        demonstration_tasks: n("SELECT COUNT(*) FROM tasks WHERE kind = 'demonstration'")?,
        ranking_tasks: n("SELECT COUNT(*) FROM tasks WHERE kind = 'ranking'")?,
        overlap_tasks: n("SELECT COUNT(*) FROM tasks WHERE copies > 1")?,
        leased: n("SELECT COUNT(*) FROM assignments WHERE status = 'leased'")?,
        labels: n("SELECT COUNT(*) FROM labels")?,
        skipped: n("SELECT COUNT(*) FROM labels WHERE skipped IS NOT NULL")?,
        open_copies: n("SELECT COALESCE(SUM(MAX(t.copies - (SELECT COUNT(*) FROM labels l WHERE l.task = t.id AND l.role != 'admin'), 0)), 0) FROM tasks t")?,
    })
}
