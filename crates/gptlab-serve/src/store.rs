//! The server's store: API keys (hashed), the request log and the labeling tables
//! ([`crate::label`]), in one SQLite file (WAL, a versioned schema migrated on open). A
//! request's row is committed before generation starts and completed when it ends, so a crash
//! leaves every accepted request on record.

use crate::{Error, Result};
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Schema migrations, in order; `PRAGMA user_version` counts those applied.
const MIGRATIONS: [&str; 2] = ["
CREATE TABLE keys (
    id INTEGER PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    user TEXT NOT NULL,
    org TEXT NOT NULL,
    role TEXT NOT NULL,
    consent INTEGER NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE requests (
    id INTEGER PRIMARY KEY,
    created REAL NOT NULL,
    user TEXT NOT NULL,
    org TEXT NOT NULL,
    consent INTEGER NOT NULL,
    model TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    input TEXT NOT NULL,
    params TEXT NOT NULL,
    status TEXT NOT NULL,
    response TEXT,
    error TEXT,
    finished REAL,
    latency_ms REAL,
    prompt_tokens INTEGER,
    completion_tokens INTEGER
);
CREATE INDEX requests_user ON requests(user);
", "
CREATE TABLE guidelines (
    version INTEGER PRIMARY KEY,
    markdown TEXT NOT NULL,
    author TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE tasks (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    prompt TEXT NOT NULL,
    author TEXT NOT NULL,
    outputs TEXT NOT NULL,
    sources TEXT NOT NULL,
    copies INTEGER NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE assignments (
    id INTEGER PRIMARY KEY,
    task INTEGER NOT NULL REFERENCES tasks(id),
    labeler TEXT NOT NULL,
    role TEXT NOT NULL,
    guidelines INTEGER NOT NULL,
    leased REAL NOT NULL,
    status TEXT NOT NULL
);
CREATE UNIQUE INDEX assignments_once ON assignments(task, labeler) WHERE status != 'expired';
CREATE INDEX assignments_labeler ON assignments(labeler, status);
CREATE TABLE labels (
    id INTEGER PRIMARY KEY,
    assignment INTEGER NOT NULL UNIQUE REFERENCES assignments(id),
    task INTEGER NOT NULL REFERENCES tasks(id),
    labeler TEXT NOT NULL,
    role TEXT NOT NULL,
    guidelines INTEGER NOT NULL,
    created REAL NOT NULL,
    skipped TEXT,
    demonstration TEXT,
    scores TEXT,
    flags TEXT,
    ranking TEXT
);
"];

/// What a key may do: call the API (`api`); label (`labeler`, and `held-out` for labelers
/// whose agreement is reported apart, as InstructGPT's held-out labelers were); label gold
/// items, set the guidelines and export (`admin`). Every role may call the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Api,
    Labeler,
    HeldOut,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::Labeler => "labeler",
            Self::HeldOut => "held-out",
            Self::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Api, Self::Labeler, Self::HeldOut, Self::Admin].into_iter().find(|r| r.as_str() == s)
    }

    /// Whether the key may take labeling tasks.
    pub fn labels(self) -> bool {
        self != Self::Api
    }
}

/// Who a request comes from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Principal {
    pub user: String,
    pub org: String,
    pub role: Role,
    /// Whether the user agreed to their prompts being used for training.
    pub consent: bool,
}

impl Principal {
    /// Requests on a server whose store has no keys.
    pub fn anonymous() -> Self {
        Self { user: "anonymous".into(), org: String::new(), role: Role::Api, consent: false }
    }
}

/// One request as logged.
#[derive(Debug, Clone, Serialize)]
pub struct Logged {
    pub id: i64,
    pub created: f64,
    pub user: String,
    pub org: String,
    pub consent: bool,
    pub model: String,
    pub endpoint: String,
    pub input: serde_json::Value,
    pub params: serde_json::Value,
    pub status: String,
    pub response: Option<serde_json::Value>,
    pub prompt_tokens: Option<i64>,
    pub completion_tokens: Option<i64>,
}

/// How a logged request ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// `ok`, `error`, `rejected` or `client_closed`.
    pub status: &'static str,
    pub response: Option<serde_json::Value>,
    pub error: Option<String>,
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
}

pub struct Store {
    conn: Mutex<Connection>,
    path: PathBuf,
}

pub fn now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

fn hash(key: &str) -> String {
    Sha256::digest(key.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

impl Store {
    /// Opens (creating if needed) the store at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self> {
        let db = |e: rusqlite::Error| Error::Store { path: path.to_path_buf(), msg: e.to_string() };
        let mut conn = Connection::open(path).map_err(db)?;
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(db)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(db)?;
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(db)?;
        let version: usize = conn.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(db)?;
        if version > MIGRATIONS.len() {
            return Err(Error::Store { path: path.into(), msg: format!("schema version {version} is newer than this gptlab's ({})", MIGRATIONS.len()) });
        }
        for (i, m) in MIGRATIONS.iter().enumerate().skip(version) {
            let tx = conn.transaction().map_err(db)?;
            tx.execute_batch(m).map_err(db)?;
            tx.pragma_update(None, "user_version", i + 1).map_err(db)?;
            tx.commit().map_err(db)?;
        }
        Ok(Self { conn: Mutex::new(conn), path: path.into() })
    }

    pub(crate) fn err(&self, e: rusqlite::Error) -> Error {
        Error::Store { path: self.path.clone(), msg: e.to_string() }
    }

    pub(crate) fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Creates a key for `user`; returns the key (only its hash is stored).
    pub fn add_key(&self, user: &str, org: &str, role: Role, consent: bool) -> Result<String> {
        if user.trim().is_empty() {
            return Err(Error::Input("--user must not be empty".into()));
        }
        let mut bytes = [0u8; 24];
        std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom")?, &mut bytes)?;
        let key = format!("gl-{}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>());
        self.conn()
            .execute("INSERT INTO keys (hash, user, org, role, consent, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6)", params![hash(&key), user, org, role.as_str(), consent, now()])
            .map_err(|e| self.err(e))?;
        Ok(key)
    }

    /// The principal of `key`, if it is a key of this store.
    pub fn principal(&self, key: &str) -> Result<Option<Principal>> {
        let row = self
            .conn()
            .query_row("SELECT user, org, role, consent FROM keys WHERE hash = ?1", params![hash(key)], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, bool>(3)?)))
            .optional()
            .map_err(|e| self.err(e))?;
        Ok(row.map(|(user, org, role, consent)| Principal { user, org, role: Role::parse(&role).unwrap_or(Role::Api), consent }))
    }

    pub fn has_keys(&self) -> Result<bool> {
        self.conn().query_row("SELECT EXISTS (SELECT 1 FROM keys)", [], |r| r.get(0)).map_err(|e| self.err(e))
    }

    /// Logs an accepted request (committed at once); returns its id.
    pub fn log_request(&self, who: &Principal, model: &str, endpoint: &str, input: &serde_json::Value, params: &serde_json::Value) -> Result<i64> {
        let c = self.conn();
        c.execute(
            "INSERT INTO requests (created, user, org, consent, model, endpoint, input, params, status) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'running')",
            params![now(), who.user, who.org, who.consent, model, endpoint, input.to_string(), params.to_string()],
        )
        .map_err(|e| self.err(e))?;
        Ok(c.last_insert_rowid())
    }

    /// Records how request `id` ended.
    pub fn finish(&self, id: i64, o: &Outcome) -> Result<()> {
        let t = now();
        self.conn()
            .execute(
                "UPDATE requests SET status = ?2, response = ?3, error = ?4, finished = ?5, latency_ms = (?5 - created) * 1000.0, prompt_tokens = ?6, completion_tokens = ?7 WHERE id = ?1",
                params![id, o.status, o.response.as_ref().map(|r| r.to_string()), o.error, t, o.prompt_tokens as i64, o.completion_tokens as i64],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Every logged request, oldest first.
    pub fn requests(&self) -> Result<Vec<Logged>> {
        let c = self.conn();
        let mut st = c
            .prepare("SELECT id, created, user, org, consent, model, endpoint, input, params, status, response, prompt_tokens, completion_tokens FROM requests ORDER BY id")
            .map_err(|e| self.err(e))?;
        let json = |s: String| serde_json::from_str(&s).unwrap_or(serde_json::Value::String(s));
        let rows = st
            .query_map([], |r| {
                Ok(Logged {
                    id: r.get(0)?,
                    created: r.get(1)?,
                    user: r.get(2)?,
                    org: r.get(3)?,
                    consent: r.get(4)?,
                    model: r.get(5)?,
                    endpoint: r.get(6)?,
                    input: json(r.get(7)?),
                    params: json(r.get(8)?),
                    status: r.get(9)?,
                    response: r.get::<_, Option<String>>(10)?.map(json),
                    prompt_tokens: r.get(11)?,
                    completion_tokens: r.get(12)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<std::result::Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_hashed_and_requests_logged_before_they_finish() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("g.db");
        let s = Store::open(&path).expect("open");
        assert!(!s.has_keys().expect("keys"));
        let key = s.add_key("alice", "acme", Role::Api, true).expect("key");
        assert!(key.starts_with("gl-") && key.len() == 51);
        let raw = std::fs::read(&path).unwrap_or_default();
        assert!(!raw.windows(key.len()).any(|w| w == key.as_bytes()), "the key itself is not stored");
        let p = s.principal(&key).expect("lookup").expect("known key");
        assert_eq!((p.user.as_str(), p.org.as_str(), p.role, p.consent), ("alice", "acme", Role::Api, true));
        assert!(s.principal("gl-nope").expect("lookup").is_none());
        let id = s.log_request(&p, "m", "chat", &serde_json::json!([{"role": "user", "content": "hi"}]), &serde_json::json!({"n": 1})).expect("log");
        drop(s);
        // reopening migrates nothing and sees the running row
        let s = Store::open(&path).expect("reopen");
        assert_eq!(s.requests().expect("rows")[0].status, "running");
        s.finish(id, &Outcome { status: "ok", response: Some(serde_json::json!({"x": 1})), error: None, prompt_tokens: 3, completion_tokens: 4 }).expect("finish");
        let r = &s.requests().expect("rows")[0];
        assert_eq!((r.status.as_str(), r.prompt_tokens, r.completion_tokens, r.consent), ("ok", Some(3), Some(4), true));
        assert_eq!(r.input[0]["content"], "hi");
    }
}
