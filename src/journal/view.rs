//! Reading a run for the HTML report (`src/report/html/`): one row at a time, so a report of a
//! 100,000-item run never holds its items' inputs and outputs all at once.

use std::collections::HashSet;

use rusqlite::params;

use super::{Journal, JournalError, JournaledItem};

/// Items that failed with one error code (`None`: no code, such as a template error).
#[derive(Debug, Clone, PartialEq)]
pub struct FailureGroup {
    pub code: Option<String>,
    pub count: u64,
    /// The steps they failed in.
    pub steps: Vec<String>,
    /// One of their messages (masked, as every text in the journal).
    pub example: String,
}

impl Journal {
    /// Calls `f` with every attempt of the run: its step, when it ended (RFC 3339) and its
    /// outcome (`succeeded`, `failed`, `skipped` for an item's implied attempt, else `ok` or
    /// the error class, `throttling` among them).
    pub fn for_each_attempt(
        &self,
        run_id: &str,
        mut f: impl FnMut(&str, &str, &str),
    ) -> Result<(), JournalError> {
        self.with(|c| {
            let mut written: HashSet<(String, String, u32)> = HashSet::new();
            let mut statement =
                c.prepare("SELECT step_id, item_key, session, at, outcome FROM attempts WHERE run_id = ?1")?;
            let mut rows = statement.query([run_id])?;
            while let Some(row) = rows.next()? {
                let (step, key, session): (String, String, u32) = (row.get(0)?, row.get(1)?, row.get(2)?);
                f(&step, row.get_ref(3)?.as_str().unwrap_or_default(), row.get_ref(4)?.as_str().unwrap_or_default());
                written.insert((step, key, session));
            }
            // An item whose session wrote no attempt rows ended at its one attempt
            // (`AttemptRecord::is_implied_by`): its row stands for that attempt.
            let mut statement = c.prepare(
                "SELECT step_id, key, session, finished_at, status FROM items WHERE run_id = ?1 AND attempts = 1",
            )?;
            let mut rows = statement.query([run_id])?;
            while let Some(row) = rows.next()? {
                let (step, key, session): (String, String, u32) = (row.get(0)?, row.get(1)?, row.get(2)?);
                if !written.contains(&(step.clone(), key, session)) {
                    f(&step, row.get_ref(3)?.as_str().unwrap_or_default(), row.get_ref(4)?.as_str().unwrap_or_default());
                }
            }
            Ok(())
        })
    }

    /// Calls `f` with each of the run's items, in step order, then in list order.
    pub fn for_each_item(&self, run_id: &str, mut f: impl FnMut(JournaledItem)) -> Result<(), JournalError> {
        self.with(|c| {
            let mut statement = c.prepare(
                "SELECT i.step_id, i.key, i.position, i.label, i.status, i.attempts, i.throttled, i.input, i.output,
                        i.error_code, i.error, i.finished_at, i.session
                 FROM items i LEFT JOIN steps s ON s.run_id = i.run_id AND s.step_id = i.step_id
                 WHERE i.run_id = ?1 ORDER BY s.position, i.position, i.key",
            )?;
            let mut rows = statement.query([run_id])?;
            while let Some(row) = rows.next()? {
                f(super::read::item_from_row(row)?);
            }
            Ok(())
        })
    }

    /// The run's failed items grouped by error code, the largest group first.
    pub fn failure_groups(&self, run_id: &str) -> Result<Vec<FailureGroup>, JournalError> {
        self.with(|c| {
            let mut statement = c.prepare(
                "SELECT error_code, count(*), group_concat(DISTINCT step_id), min(coalesce(error, ''))
                 FROM items WHERE run_id = ?1 AND status = 'failed'
                 GROUP BY error_code ORDER BY count(*) DESC, error_code",
            )?;
            statement
                .query_map(params![run_id], |row| {
                    let steps: String = row.get::<_, Option<String>>(2)?.unwrap_or_default();
                    Ok(FailureGroup {
                        code: row.get(0)?,
                        count: row.get::<_, i64>(1)?.max(0) as u64,
                        steps: steps.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect(),
                        example: row.get(3)?,
                    })
                })?
                .collect()
        })
    }
}
