//! Reading the journal back: the run history (`handoff runs`), one run in detail
//! (`handoff show`), and what `--resume` replays.

use std::collections::BTreeMap;

use rusqlite::{OptionalExtension, params};
use serde_json::Value;

use super::{AttemptRecord, Journal, JournalError};
use crate::events::ItemStatus;

/// A row of `handoff runs`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RunSummary {
    pub id: String,
    pub playbook: String,
    pub path: String,
    pub content_hash: String,
    pub arguments: Vec<String>,
    pub host: String,
    pub pid: u32,
    pub started_at: String,
    pub ended_at: Option<String>,
    pub status: String,
    pub exit_code: Option<i64>,
    pub resumes: u32,
    pub succeeded: i64,
    pub failed: i64,
    pub skipped: i64,
}

/// One journaled item, as `handoff show` prints it and `--resume` replays it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct JournaledItem {
    pub step_id: String,
    pub key: String,
    pub position: Option<usize>,
    pub label: String,
    pub status: String,
    pub attempts: u32,
    pub throttled: u32,
    pub input: Value,
    pub output: Value,
    pub error_code: Option<String>,
    pub error: Option<String>,
    pub finished_at: String,
    /// 0 for the first run, n for its n-th resumption: the session that recorded this outcome.
    pub session: u32,
}

impl JournaledItem {
    /// The attempt this item's row implies, when none was written for it (see
    /// [`AttemptRecord::is_implied_by`]): its only attempt, ending as it did, no error.
    fn implied_attempt(&self) -> Option<JournaledAttempt> {
        (self.attempts == 1).then(|| JournaledAttempt {
            step_id: self.step_id.clone(),
            item_key: self.key.clone(),
            session: self.session,
            record: AttemptRecord {
                attempt: 1,
                at: self.finished_at.clone(),
                outcome: self.status.clone(),
                error_code: None,
                http_status: None,
                request_id: None,
                message: None,
                delay_ms: None,
            },
        })
    }

    /// Done items are not sent again on resume.
    pub fn done_status(&self) -> Option<ItemStatus> {
        done_status(&self.status)
    }
}

/// What `--resume` needs of a journaled item: its outcome, without its input and output (an
/// output is read back from the journal when a template asks for it). Resuming a 100,000-item
/// run held every item's input and output, parsed, twice.
#[derive(Debug, Clone, PartialEq)]
pub struct JournaledOutcome {
    /// Where the item was in its step's list when this row was written.
    pub position: Option<usize>,
    pub label: String,
    pub status: String,
    pub attempts: u32,
    pub throttled: u32,
    pub error_code: Option<String>,
    pub error: Option<String>,
}

impl JournaledOutcome {
    /// Done items are not sent again on resume.
    pub fn done_status(&self) -> Option<ItemStatus> {
        done_status(&self.status)
    }
}

fn done_status(status: &str) -> Option<ItemStatus> {
    match status {
        "succeeded" => Some(ItemStatus::Succeeded),
        "skipped" => Some(ItemStatus::Skipped),
        _ => None,
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct JournaledStep {
    pub step_id: String,
    pub position: usize,
    pub action: String,
    pub status: String,
    pub succeeded: i64,
    pub failed: i64,
    pub skipped: i64,
    pub not_done: i64,
    pub retries: i64,
    pub throttled: i64,
    pub elapsed_ms: i64,
    pub finished_at: String,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct JournaledAttempt {
    pub step_id: String,
    pub item_key: String,
    /// 0 for the first run, n for its n-th resumption.
    pub session: u32,
    #[serde(flatten)]
    pub record: AttemptRecord,
}

/// Everything the journal holds about one run.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RunDetail {
    pub run: RunSummary,
    pub steps: Vec<JournaledStep>,
    pub items: Vec<JournaledItem>,
    pub attempts: Vec<JournaledAttempt>,
}

impl Journal {
    /// The newest runs first.
    pub fn runs(&self, limit: usize) -> Result<Vec<RunSummary>, JournalError> {
        self.with(|c| {
            let mut statement =
                c.prepare(&format!("{RUN_COLUMNS} ORDER BY r.started_at DESC, r.id DESC LIMIT ?1"))?;
            statement.query_map([limit as i64], run_summary)?.collect()
        })
    }

    pub fn run(&self, run_id: &str) -> Result<RunDetail, JournalError> {
        let run = self.summary(run_id)?;
        let steps = self.steps(run_id)?;
        let items: Vec<JournaledItem> =
            self.items(run_id)?.into_values().flat_map(BTreeMap::into_values).collect();
        let mut attempts: Vec<JournaledAttempt> = self.with(|c| {
            let mut statement = c.prepare(
                "SELECT step_id, item_key, session, attempt, at, outcome, error_code, http_status, request_id, message,
                        delay_ms
                 FROM attempts WHERE run_id = ?1 ORDER BY rowid",
            )?;
            statement
                .query_map([run_id], |row| {
                    Ok(JournaledAttempt {
                        step_id: row.get(0)?,
                        item_key: row.get(1)?,
                        session: row.get(2)?,
                        record: AttemptRecord {
                            attempt: row.get(3)?,
                            at: row.get(4)?,
                            outcome: row.get(5)?,
                            error_code: row.get(6)?,
                            http_status: row.get(7)?,
                            request_id: row.get(8)?,
                            message: row.get(9)?,
                            delay_ms: row.get::<_, Option<i64>>(10)?.map(|d| d as u64),
                        },
                    })
                })?
                .collect()
        })?;
        // An item whose session wrote no attempt rows ended at its first attempt: its row
        // stands for that attempt. (Journals written before that rule have a row for it.)
        let written: std::collections::HashSet<(&str, &str, u32)> =
            attempts.iter().map(|a| (a.step_id.as_str(), a.item_key.as_str(), a.session)).collect();
        let implied: Vec<JournaledAttempt> = items
            .iter()
            .filter(|i| !written.contains(&(i.step_id.as_str(), i.key.as_str(), i.session)))
            .filter_map(JournaledItem::implied_attempt)
            .collect();
        attempts.extend(implied);
        // In the order they happened (the times' fixed format sorts as text); the sort is
        // stable, so attempts stamped in the same millisecond keep the order they were written.
        attempts.sort_by(|a, b| a.record.at.cmp(&b.record.at));
        Ok(RunDetail { run, steps, items, attempts })
    }

    /// A run's steps, in playbook order, as each last finished.
    pub fn steps(&self, run_id: &str) -> Result<Vec<JournaledStep>, JournalError> {
        self.with(|c| {
            let mut statement = c.prepare(
                "SELECT step_id, position, action, status, succeeded, failed, skipped, not_done, retries, throttled,
                        elapsed_ms, finished_at
                 FROM steps WHERE run_id = ?1 ORDER BY position",
            )?;
            statement
                .query_map([run_id], |row| {
                    Ok(JournaledStep {
                        step_id: row.get(0)?,
                        position: row.get::<_, i64>(1)? as usize,
                        action: row.get(2)?,
                        status: row.get(3)?,
                        succeeded: row.get(4)?,
                        failed: row.get(5)?,
                        skipped: row.get(6)?,
                        not_done: row.get(7)?,
                        retries: row.get(8)?,
                        throttled: row.get(9)?,
                        elapsed_ms: row.get(10)?,
                        finished_at: row.get(11)?,
                    })
                })?
                .collect()
        })
    }

    /// One run's row of `handoff runs`.
    pub fn summary(&self, run_id: &str) -> Result<RunSummary, JournalError> {
        let run = self.with(|c| {
            c.query_row(&format!("{RUN_COLUMNS} WHERE r.id = ?1"), [run_id], run_summary).optional()
        })?;
        run.ok_or_else(|| JournalError::NoSuchRun { path: self.path.clone(), run_id: run_id.into() })
    }

    /// A run's item outcomes by step id, then key: what `--resume` replays.
    pub fn outcomes(
        &self,
        run_id: &str,
    ) -> Result<BTreeMap<String, BTreeMap<String, JournaledOutcome>>, JournalError> {
        self.with(|c| {
            let mut statement = c.prepare(
                "SELECT step_id, key, label, status, attempts, throttled, error_code, error, position
                 FROM items WHERE run_id = ?1 ORDER BY rowid",
            )?;
            let mut rows = statement.query([run_id])?;
            let mut by_step: BTreeMap<String, BTreeMap<String, JournaledOutcome>> = BTreeMap::new();
            while let Some(row) = rows.next()? {
                let outcome = JournaledOutcome {
                    position: row.get::<_, Option<i64>>(8)?.map(|p| p as usize),
                    label: row.get(2)?,
                    status: row.get(3)?,
                    attempts: row.get(4)?,
                    throttled: row.get(5)?,
                    error_code: row.get(6)?,
                    error: row.get(7)?,
                };
                by_step.entry(row.get(0)?).or_default().insert(row.get(1)?, outcome);
            }
            Ok(by_step)
        })
    }

    /// One item's output (masked, as recorded), `None` when the journal has no such item.
    /// Items are indexed by position: `position` is where the item is now, which is where its
    /// row is unless an earlier session of a resumed run recorded it elsewhere in a list that
    /// has since changed order; only then are the step's rows searched by key.
    pub fn item_output(
        &self,
        run_id: &str,
        step_id: &str,
        position: Option<usize>,
        key: &str,
    ) -> Result<Option<Value>, JournalError> {
        let text: Option<String> = self.with(|c| {
            let at = c
                .prepare_cached(
                    "SELECT output FROM items WHERE run_id = ?1 AND step_id = ?2 AND position IS ?3 AND key = ?4
                     ORDER BY rowid DESC LIMIT 1",
                )?
                .query_row(params![run_id, step_id, position.map(|p| p as i64), key], |row| row.get(0))
                .optional()?;
            match at {
                Some(text) => Ok(Some(text)),
                None => c
                    .prepare_cached(
                        "SELECT output FROM items WHERE run_id = ?1 AND step_id = ?2 AND key = ?3
                         ORDER BY rowid DESC LIMIT 1",
                    )?
                    .query_row([run_id, step_id, key], |row| row.get(0))
                    .optional(),
            }
        })?;
        Ok(text.map(|text| serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    /// A run's items by step id, then key.
    pub fn items(
        &self,
        run_id: &str,
    ) -> Result<BTreeMap<String, BTreeMap<String, JournaledItem>>, JournalError> {
        let rows: Vec<JournaledItem> = self.with(|c| {
            let mut statement = c.prepare(
                "SELECT step_id, key, position, label, status, attempts, throttled, input, output, error_code, error,
                        finished_at, session
                 FROM items WHERE run_id = ?1 ORDER BY step_id, position, key",
            )?;
            statement
                .query_map([run_id], item_from_row)?
                .collect()
        })?;
        let mut by_step: BTreeMap<String, BTreeMap<String, JournaledItem>> = BTreeMap::new();
        for item in rows {
            by_step.entry(item.step_id.clone()).or_default().insert(item.key.clone(), item);
        }
        Ok(by_step)
    }
}

/// An item from a row of `step_id, key, position, label, status, attempts, throttled, input,
/// output, error_code, error, finished_at, session`.
pub(super) fn item_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<JournaledItem> {
    let json = |text: String| serde_json::from_str(&text).unwrap_or(Value::Null);
    Ok(JournaledItem {
        step_id: row.get(0)?,
        key: row.get(1)?,
        position: row.get::<_, Option<i64>>(2)?.map(|p| p as usize),
        label: row.get(3)?,
        status: row.get(4)?,
        attempts: row.get(5)?,
        throttled: row.get(6)?,
        input: json(row.get(7)?),
        output: json(row.get(8)?),
        error_code: row.get(9)?,
        error: row.get(10)?,
        finished_at: row.get(11)?,
        session: row.get(12)?,
    })
}

const RUN_COLUMNS: &str =
    "SELECT r.id, r.playbook, r.path, r.content_hash, r.arguments, r.host, r.pid, r.started_at,
        r.ended_at, r.status, r.exit_code, r.resumes,
        (SELECT count(*) FROM items i WHERE i.run_id = r.id AND i.status = 'succeeded'),
        (SELECT count(*) FROM items i WHERE i.run_id = r.id AND i.status = 'failed'),
        (SELECT count(*) FROM items i WHERE i.run_id = r.id AND i.status = 'skipped')
    FROM runs r";

fn run_summary(row: &rusqlite::Row<'_>) -> rusqlite::Result<RunSummary> {
    Ok(RunSummary {
        id: row.get(0)?,
        playbook: row.get(1)?,
        path: row.get(2)?,
        content_hash: row.get(3)?,
        arguments: serde_json::from_str(&row.get::<_, String>(4)?).unwrap_or_default(),
        host: row.get(5)?,
        pid: row.get(6)?,
        started_at: row.get(7)?,
        ended_at: row.get(8)?,
        status: row.get(9)?,
        exit_code: row.get(10)?,
        resumes: row.get(11)?,
        succeeded: row.get(12)?,
        failed: row.get(13)?,
        skipped: row.get(14)?,
    })
}
