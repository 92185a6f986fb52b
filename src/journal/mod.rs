//! The run journal: an SQLite file that records every run, step, item and attempt, so a
//! killed or stopped run can be resumed without sending anything twice (SPEC section 4).
//!
//! Durability: WAL mode with `synchronous = FULL`, and one transaction per item, committed
//! before the engine counts the item as done. A process killed at any instant leaves either
//! the item's whole record or none of it; an item without a record runs again on resume,
//! with the same derived idempotency token. A step's totals, a summary of its items, ride on
//! the next synced commit instead of their own ([`Journal::record_step`]). Every text stored
//! here was masked first.
//! Every attempt is journaled: one that ended its item at the first try, without an error,
//! is implied by the item's row rather than written as a row of its own
//! ([`AttemptRecord::is_implied_by`]).
//!
//! Schema versions are kept in `PRAGMA user_version`; [`MIGRATIONS`] brings an older file up
//! to date when it is opened.

use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use crate::events::ItemStatus;

mod lock;
mod prune;
mod read;
mod recorder;
mod telemetry;
mod view;

pub use read::{JournaledAttempt, JournaledItem, JournaledOutcome, JournaledStep, RunDetail, RunSummary};
pub use recorder::RunRecorder;
pub use telemetry::{Histogram, Pace, Telemetry};
pub use view::FailureGroup;

pub use lock::{LockError, LockHolder, RunLock};
pub use prune::{PrunePlan, Pruned, PrunedRun, QuotaWindow};

/// The environment variable that moves the journal, as `--state` does.
pub const STATE_ENV: &str = "HANDOFF_STATE";

/// Each entry moves the schema from version `index` to `index + 1`.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE runs (
    id           TEXT PRIMARY KEY,
    playbook     TEXT NOT NULL,
    path         TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    arguments    TEXT NOT NULL,
    host         TEXT NOT NULL,
    pid          INTEGER NOT NULL,
    started_at   TEXT NOT NULL,
    ended_at     TEXT,
    status       TEXT NOT NULL,
    exit_code    INTEGER,
    resumes      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX runs_by_playbook ON runs (playbook, started_at);
CREATE TABLE steps (
    run_id      TEXT NOT NULL REFERENCES runs (id),
    step_id     TEXT NOT NULL,
    position    INTEGER NOT NULL,
    action      TEXT NOT NULL,
    status      TEXT NOT NULL,
    succeeded   INTEGER NOT NULL,
    failed      INTEGER NOT NULL,
    skipped     INTEGER NOT NULL,
    not_done    INTEGER NOT NULL,
    retries     INTEGER NOT NULL,
    throttled   INTEGER NOT NULL,
    elapsed_ms  INTEGER NOT NULL,
    finished_at TEXT NOT NULL,
    PRIMARY KEY (run_id, step_id)
);
CREATE TABLE items (
    run_id      TEXT NOT NULL REFERENCES runs (id),
    step_id     TEXT NOT NULL,
    key         TEXT NOT NULL,
    position    INTEGER,
    label       TEXT NOT NULL,
    status      TEXT NOT NULL,
    attempts    INTEGER NOT NULL,
    throttled   INTEGER NOT NULL,
    input       TEXT NOT NULL,
    output      TEXT NOT NULL,
    error_code  TEXT,
    error       TEXT,
    session     INTEGER NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    PRIMARY KEY (run_id, step_id, key)
);
CREATE TABLE attempts (
    run_id      TEXT NOT NULL REFERENCES runs (id),
    step_id     TEXT NOT NULL,
    item_key    TEXT NOT NULL,
    session     INTEGER NOT NULL,
    attempt     INTEGER NOT NULL,
    at          TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    error_code  TEXT,
    http_status INTEGER,
    request_id  TEXT,
    message     TEXT,
    delay_ms    INTEGER
);
CREATE INDEX attempts_by_item ON attempts (run_id, step_id, item_key);
"#,
    r#"
ALTER TABLE items ADD COLUMN action TEXT;
CREATE INDEX items_by_action ON items (action, finished_at);
"#,
    // Attempts are only ever read and deleted by run. Keyed by item, the index took each
    // attempt to a random page (item keys are hashes), one more page written per item at every
    // commit; keyed by run, attempts append to the index as they append to the table.
    r#"
DROP INDEX attempts_by_item;
CREATE INDEX attempts_by_run ON attempts (run_id);
"#,
    // Items were keyed by (run, step, key), and keys are hashes: each item's entry in that
    // index landed on a random page, so every commit wrote about one index page per item
    // (1.6 WAL frames per item at 20,000 accepts), and a bulk step's throughput was 7 points
    // lower for it. Indexed by position instead, items append to the index as they append to
    // the table; an item run again by `--resume` deletes its earlier row by the position it
    // had then (`ItemRecord::replaces`). SQLite cannot drop a primary key, so the table is
    // rebuilt (its other index goes with it and is made again).
    r#"
CREATE TABLE items_v4 (
    run_id      TEXT NOT NULL REFERENCES runs (id),
    step_id     TEXT NOT NULL,
    key         TEXT NOT NULL,
    position    INTEGER,
    label       TEXT NOT NULL,
    status      TEXT NOT NULL,
    attempts    INTEGER NOT NULL,
    throttled   INTEGER NOT NULL,
    input       TEXT NOT NULL,
    output      TEXT NOT NULL,
    error_code  TEXT,
    error       TEXT,
    session     INTEGER NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    action      TEXT
);
INSERT INTO items_v4 (run_id, step_id, key, position, label, status, attempts, throttled, input, output,
                      error_code, error, session, started_at, finished_at, action)
    SELECT run_id, step_id, key, position, label, status, attempts, throttled, input, output,
           error_code, error, session, started_at, finished_at, action
    FROM items ORDER BY run_id, step_id, position, key;
DROP TABLE items;
ALTER TABLE items_v4 RENAME TO items;
CREATE INDEX items_by_position ON items (run_id, step_id, position, key);
CREATE INDEX items_by_action ON items (action, finished_at);
"#,
    // What the rate control decided and how long the calls took, for the HTML report
    // (`telemetry`): at most one pace row a second per step, a histogram per step and session.
    r#"
CREATE TABLE IF NOT EXISTS paces (
    run_id           TEXT NOT NULL REFERENCES runs (id),
    step_id          TEXT NOT NULL,
    session          INTEGER NOT NULL,
    at               TEXT NOT NULL,
    per_second       REAL,
    limit_per_second REAL
);
CREATE INDEX IF NOT EXISTS paces_by_run ON paces (run_id);
CREATE TABLE IF NOT EXISTS latencies (
    run_id    TEXT NOT NULL REFERENCES runs (id),
    step_id   TEXT NOT NULL,
    session   INTEGER NOT NULL,
    action    TEXT NOT NULL,
    histogram TEXT NOT NULL,
    PRIMARY KEY (run_id, step_id, session)
);
"#,
];

/// Every table that holds rows of a run, children first: what forgetting or pruning a run
/// deletes.
const RUN_TABLES: [&str; 5] = ["attempts", "items", "steps", "paces", "latencies"];

/// Deletes a run and everything recorded of it, inside the caller's transaction; the number
/// of its items.
fn delete_run(tx: &rusqlite::Transaction<'_>, run_id: &str) -> rusqlite::Result<u64> {
    let mut items = 0;
    for table in RUN_TABLES {
        let deleted = tx.execute(&format!("DELETE FROM {table} WHERE run_id = ?1"), params![run_id])?;
        if table == "items" {
            items = deleted as u64;
        }
    }
    tx.execute("DELETE FROM runs WHERE id = ?1", params![run_id])?;
    Ok(items)
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("cannot open the run journal {path}: {source}")]
    Open { path: PathBuf, source: std::io::Error },
    #[error("the run journal {path}: {source}")]
    Sqlite { path: PathBuf, source: rusqlite::Error },
    #[error(
        "the run journal {path} is at schema version {found}, newer than this handoff knows ({known}); use a newer handoff"
    )]
    TooNew { path: PathBuf, found: u32, known: u32 },
    #[error("no run `{run_id}` in the journal {path} (`handoff runs` lists them)")]
    NoSuchRun { path: PathBuf, run_id: String },
    #[error("no state directory: set $XDG_STATE_HOME or $HOME, or pass --state PATH")]
    NoStateDir,
}

/// Where the journal lives unless `--state` or `HANDOFF_STATE` says otherwise:
/// `$XDG_STATE_HOME/handoff/journal.sqlite`, else `~/.local/state/handoff/journal.sqlite`.
pub fn default_path() -> Result<PathBuf, JournalError> {
    let from_env = |name| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(path) = from_env(STATE_ENV) {
        return Ok(path);
    }
    let base = from_env("XDG_STATE_HOME")
        .filter(|p| p.is_absolute())
        .or_else(|| from_env("HOME").map(|home| home.join(".local/state")))
        .ok_or(JournalError::NoStateDir)?;
    Ok(base.join("handoff").join("journal.sqlite"))
}

/// A run as it starts.
#[derive(Debug, Clone)]
pub struct NewRun<'a> {
    pub id: &'a str,
    pub playbook: &'a str,
    pub path: &'a str,
    pub content_hash: &'a str,
    /// The command line, masked.
    pub arguments: &'a [String],
    pub started_at: &'a str,
}

/// One attempt of an item, for the `attempts` table.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AttemptRecord {
    pub attempt: u32,
    pub at: String,
    /// `ok`, or the error class (`throttling`, `transient`, ...).
    pub outcome: String,
    pub error_code: Option<String>,
    pub http_status: Option<u16>,
    pub request_id: Option<String>,
    /// Masked.
    pub message: Option<String>,
    /// The wait before the next attempt, when there was one.
    pub delay_ms: Option<u64>,
}

impl AttemptRecord {
    /// Whether this attempt says nothing its item's row does not: the item's only attempt,
    /// ending as the item did, with no error. Such an attempt, the common case, gets no row
    /// of its own (the row and its index entry were 19-29% of the journal's page writes per
    /// item at 2-5 items per commit, `bench/journal_frames.py`); [`Journal::run`] presents it
    /// from the item's row, with the item's session and its finish time.
    fn is_implied_by(&self, item: &ItemRecord) -> bool {
        let AttemptRecord { attempt, at: _, outcome, error_code, http_status, request_id, message, delay_ms } =
            self;
        *attempt == 1
            && item.attempts == 1
            && outcome == item.status.name()
            && error_code.is_none()
            && http_status.is_none()
            && request_id.is_none()
            && message.is_none()
            && delay_ms.is_none()
    }
}

/// An item's outcome as it is recorded: every text already masked.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemRecord {
    pub step_id: String,
    /// The action's name: what the rolling daily quotas are counted by.
    pub action: String,
    pub key: String,
    pub position: Option<usize>,
    /// `Some(position)` when an earlier session of this run left a row for the item (at the
    /// position it had then): `--resume` runs it again, and this row replaces that one.
    pub replaces: Option<Option<usize>>,
    pub label: String,
    pub status: ItemStatus,
    pub attempts: u32,
    pub throttled: u32,
    pub input: Value,
    pub output: Value,
    pub error_code: Option<String>,
    pub error: Option<String>,
    pub started_at: String,
    pub finished_at: String,
}

/// A step's totals as it finished.
#[derive(Debug, Clone, PartialEq)]
pub struct StepRecord {
    pub step_id: String,
    pub position: usize,
    pub action: String,
    pub status: String,
    pub counts: crate::events::Counts,
    pub elapsed_ms: u64,
}

/// The journal file. One connection; the engine's item tasks take turns on it.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    connection: Mutex<Connection>,
}

impl Journal {
    /// Opens (or creates, mode 0600, in a 0700 directory) the journal and brings its schema
    /// up to date.
    pub fn open(path: &Path) -> Result<Self, JournalError> {
        let open_error = |source| JournalError::Open { path: path.to_path_buf(), source };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::DirBuilder::new().recursive(true).mode(0o700).create(parent).map_err(open_error)?;
        }
        // Create the file ourselves so it is 0600 from its first byte; SQLite gives its
        // -wal and -shm files the same mode.
        std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(path).map_err(open_error)?;
        let connection = Connection::open(path).map_err(|source| sqlite(path, source))?;
        let journal = Self { path: path.to_path_buf(), connection: Mutex::new(connection) };
        journal.with(|c| {
            c.busy_timeout(std::time::Duration::from_secs(10))?;
            // A new file gives the pages of pruned runs back to the file system (`prune`);
            // the mode can only be chosen before the first table.
            let pages: i64 = c.pragma_query_value(None, "page_count", |row| row.get(0))?;
            if pages == 0 {
                c.pragma_update(None, "auto_vacuum", prune::INCREMENTAL)?;
            }
            c.pragma_update(None, "journal_mode", "WAL")?;
            c.pragma_update(None, "synchronous", "FULL")?;
            c.pragma_update(None, "foreign_keys", "ON")?;
            Ok(())
        })?;
        journal.migrate()?;
        Ok(journal)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>) -> Result<T, JournalError> {
        let mut connection = self.connection.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut connection).map_err(|source| sqlite(&self.path, source))
    }

    fn migrate(&self) -> Result<(), JournalError> {
        let known = MIGRATIONS.len() as u32;
        let found: u32 = self.with(|c| c.pragma_query_value(None, "user_version", |row| row.get(0)))?;
        if found > known {
            return Err(JournalError::TooNew { path: self.path.clone(), found, known });
        }
        if found == known {
            // Up to date: no write transaction, which would wait for another run's writer.
            return Ok(());
        }
        self.with(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            // Read again inside the write lock: another process may have migrated meanwhile.
            let current: u32 = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
            for (version, migration) in MIGRATIONS.iter().enumerate().skip(current as usize) {
                tx.execute_batch(migration)?;
                tx.pragma_update(None, "user_version", version as u32 + 1)?;
            }
            tx.commit()
        })
    }

    /// The schema version of the file.
    pub fn schema_version(&self) -> Result<u32, JournalError> {
        self.with(|c| c.pragma_query_value(None, "user_version", |row| row.get(0)))
    }

    pub fn begin_run(&self, run: &NewRun<'_>) -> Result<(), JournalError> {
        let arguments = serde_json::to_string(run.arguments).unwrap_or_default();
        self.with(|c| {
            c.execute(
                "INSERT INTO runs (id, playbook, path, content_hash, arguments, host, pid, started_at, status)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'running')",
                params![
                    run.id,
                    run.playbook,
                    run.path,
                    run.content_hash,
                    arguments,
                    hostname(),
                    std::process::id(),
                    run.started_at
                ],
            )
            .map(drop)
        })
    }

    /// Marks a run as running again for `--resume`; returns its resume count (the session
    /// number of the attempts recorded from now on).
    pub fn resume_run(&self, run_id: &str) -> Result<u32, JournalError> {
        let resumes = self.with(|c| {
            c.query_row(
                "UPDATE runs SET resumes = resumes + 1, status = 'running', ended_at = NULL, exit_code = NULL,
                        host = ?2, pid = ?3
                 WHERE id = ?1 RETURNING resumes",
                params![run_id, hostname(), std::process::id()],
                |row| row.get(0),
            )
            .optional()
        })?;
        resumes.ok_or_else(|| JournalError::NoSuchRun { path: self.path.clone(), run_id: run_id.into() })
    }

    /// Records an item's outcome and its attempts in one transaction.
    pub fn record_item(
        &self,
        run_id: &str,
        session: u32,
        item: &ItemRecord,
        attempts: &[AttemptRecord],
    ) -> Result<(), JournalError> {
        self.record_items(run_id, session, &[(item, attempts)])
    }

    /// Records several items' outcomes in one transaction: one commit (one fsync) for all.
    pub fn record_items(
        &self,
        run_id: &str,
        session: u32,
        items: &[(&ItemRecord, &[AttemptRecord])],
    ) -> Result<(), JournalError> {
        self.with(|c| {
            let tx = c.transaction()?;
            for (item, attempts) in items {
            if let Some(earlier) = item.replaces {
                tx.prepare_cached(
                    "DELETE FROM items WHERE run_id = ?1 AND step_id = ?2 AND position IS ?3 AND key = ?4",
                )?
                .execute(params![run_id, item.step_id, earlier.map(|p| p as i64), item.key])?;
            }
            tx.prepare_cached(
                "INSERT INTO items (run_id, step_id, key, position, label, status, attempts, throttled,
                        input, output, error_code, error, session, started_at, finished_at, action)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
            )?
            .execute(params![
                    run_id,
                    item.step_id,
                    item.key,
                    item.position.map(|p| p as i64),
                    item.label,
                    item.status.name(),
                    item.attempts,
                    item.throttled,
                    json_text(&item.input),
                    json_text(&item.output),
                    item.error_code,
                    item.error,
                    session,
                    item.started_at,
                    item.finished_at,
                    item.action,
                ])?;
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO attempts (run_id, step_id, item_key, session, attempt, at, outcome, error_code,
                            http_status, request_id, message, delay_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                )?;
                // An item that ended at its only attempt is its own attempt record.
                let written = match attempts {
                    [only] if only.is_implied_by(item) => &[][..],
                    all => all,
                };
                for attempt in written {
                    insert.execute(params![
                        run_id,
                        item.step_id,
                        item.key,
                        session,
                        attempt.attempt,
                        attempt.at,
                        attempt.outcome,
                        attempt.error_code,
                        attempt.http_status,
                        attempt.request_id,
                        attempt.message,
                        attempt.delay_ms.map(|d| d as i64),
                    ])?;
                }
            }
            }
            tx.commit()
        })
    }

    /// Records a step's totals. Not synced on its own: a step's row is a summary of item rows
    /// that are durable already, and the next synced commit (the run's end, or the next step's
    /// first item) makes it durable too, since a WAL's fsync covers every frame before it. A
    /// power loss before then loses only the summary, of a run that then reads as unfinished,
    /// and `--resume` writes it again. It saves one fsync per step (0.4-0.7 ms each here).
    pub fn record_step(&self, run_id: &str, step: &StepRecord) -> Result<(), JournalError> {
        let c = &step.counts;
        self.with(|conn| {
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            let written = conn.execute(
                "INSERT OR REPLACE INTO steps (run_id, step_id, position, action, status, succeeded, failed, skipped,
                        not_done, retries, throttled, elapsed_ms, finished_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                params![
                    run_id,
                    step.step_id,
                    step.position as i64,
                    step.action,
                    step.status,
                    c.succeeded as i64,
                    c.failed as i64,
                    c.skipped as i64,
                    c.not_started as i64,
                    c.retries as i64,
                    c.throttled as i64,
                    step.elapsed_ms as i64,
                    now(),
                ],
            );
            // Back to FULL whether or not the write went through: every other commit is synced.
            conn.pragma_update(None, "synchronous", "FULL")?;
            written.map(drop)
        })
    }

    pub fn finish_run(&self, run_id: &str, status: &str, exit_code: i32) -> Result<(), JournalError> {
        self.with(|c| {
            c.execute(
                "UPDATE runs SET status = ?2, exit_code = ?3, ended_at = ?4 WHERE id = ?1",
                params![run_id, status, exit_code, now()],
            )
            .map(drop)
        })
    }

    /// Calls of `actions` that reached the service (attempts less throttled answers) in items
    /// finished at or after `since` (RFC 3339, as the journal writes times), across every run
    /// in this journal: what a rolling daily quota has used.
    pub fn calls_since(&self, actions: &[&str], since: &str) -> Result<u64, JournalError> {
        self.with(|c| {
            let mut total = 0u64;
            let mut query = c.prepare_cached(
                "SELECT coalesce(sum(attempts - throttled), 0) FROM items WHERE action = ?1 AND finished_at >= ?2",
            )?;
            for action in actions {
                let used: i64 = query.query_row(params![action, since], |row| row.get(0))?;
                total += used.max(0) as u64;
            }
            Ok(total)
        })
    }

    /// Removes a run and everything recorded of it: an idle `--every` iteration, which found
    /// nothing to do, is not history worth keeping.
    pub fn forget_run(&self, run_id: &str) -> Result<(), JournalError> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            delete_run(&tx, run_id)?;
            tx.commit()
        })
    }
}

/// A value as the journal stores it, compact JSON. Serialized straight into the string:
/// `Value`'s `Display` (`to_string`) goes through the formatter one fragment at a time, about
/// twice the instructions, on the thread every commit waits for.
fn json_text(value: &Value) -> String {
    // A `Value` always serializes (its keys are strings); `Display` would have said nothing too.
    serde_json::to_string(value).unwrap_or_default()
}

fn sqlite(path: &Path, source: rusqlite::Error) -> JournalError {
    JournalError::Sqlite { path: path.to_path_buf(), source }
}

/// Now, as the journal writes times: RFC 3339, UTC, milliseconds.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub fn hostname() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests;
