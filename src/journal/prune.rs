//! Retention: which runs `handoff prune` removes, and giving their space back to the file
//! system. A run is history once it finished cleanly; one that failed, was stopped or died can
//! still be resumed, so it stays unless named. Whatever the age, the newest runs of each
//! playbook can be kept (`keep_last`).
//!
//! Space: deleted rows leave free pages inside the file. A journal made by this version has
//! SQLite's incremental auto-vacuum, and a prune gives the free pages back at once; an older
//! file is converted by one `VACUUM` (it rewrites the file: a moment for a big journal, and
//! room for a copy) the first time it is pruned. The write-ahead log is then truncated, so
//! the sizes reported are what `ls` shows.

use std::path::Path;

use rusqlite::params;

use super::{Journal, JournalError};

/// What to prune.
#[derive(Debug, Clone, Default)]
pub struct PrunePlan {
    /// Runs that ended before this time (RFC 3339, as the journal writes times) and
    /// succeeded are removed.
    pub ended_before: Option<String>,
    /// The newest runs of each playbook kept whatever their age.
    pub keep_last: usize,
    /// Runs removed whatever their status and age (not one in progress).
    pub named: Vec<String>,
    /// Only say what would go.
    pub dry_run: bool,
    /// Runs with calls a rolling daily quota still counts are kept (not named ones).
    pub quota_window: Option<QuotaWindow>,
}

/// The calls a rolling daily quota counts: those of `actions` that finished since `since`.
#[derive(Debug, Clone, Default)]
pub struct QuotaWindow {
    pub actions: Vec<String>,
    pub since: String,
}

/// A run the plan looked at.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PrunedRun {
    pub id: String,
    pub playbook: String,
    pub status: String,
    pub started_at: String,
}

/// What a prune did (or, dry, would do).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Pruned {
    pub removed: Vec<PrunedRun>,
    /// Old enough, but they can still be resumed: kept unless named.
    pub kept_resumable: Vec<PrunedRun>,
    /// Named, but in progress now: kept.
    pub kept_in_progress: Vec<PrunedRun>,
    /// Old enough, but a rolling daily quota still counts their calls: kept.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kept_for_quota: Vec<PrunedRun>,
    pub items_removed: u64,
    /// The journal's size on disk (with its write-ahead log) before and after.
    pub bytes_before: u64,
    pub bytes_after: u64,
}

impl Journal {
    /// Removes what `plan` selects; `in_progress` tells a run being recorded by a live
    /// process (its playbook's lock is held) from one that died.
    pub fn prune(
        &self,
        plan: &PrunePlan,
        in_progress: impl Fn(&PrunedRun) -> bool,
    ) -> Result<Pruned, JournalError> {
        let runs: Vec<(PrunedRun, Option<String>)> = self.with(|c| {
            let mut statement = c.prepare(
                "SELECT id, playbook, status, started_at, ended_at FROM runs ORDER BY playbook, started_at DESC, id DESC",
            )?;
            statement
                .query_map([], |row| {
                    let run = PrunedRun {
                        id: row.get(0)?,
                        playbook: row.get(1)?,
                        status: row.get(2)?,
                        started_at: row.get(3)?,
                    };
                    Ok((run, row.get(4)?))
                })?
                .collect()
        })?;
        for name in &plan.named {
            if !runs.iter().any(|(run, _)| &run.id == name) {
                return Err(JournalError::NoSuchRun { path: self.path.clone(), run_id: name.clone() });
            }
        }
        let mut pruned = Pruned { bytes_before: size_on_disk(&self.path), ..Pruned::default() };
        let mut newest = 0;
        let mut playbook = None;
        for (run, ended_at) in runs {
            if playbook.as_ref() != Some(&run.playbook) {
                playbook = Some(run.playbook.clone());
                newest = 0;
            }
            newest += 1;
            let named = plan.named.contains(&run.id);
            let old = match (&plan.ended_before, &ended_at) {
                (Some(before), Some(ended)) => ended < before,
                _ => false,
            };
            if named && run.status == "running" && in_progress(&run) {
                pruned.kept_in_progress.push(run);
            } else if !named
                && old
                && newest > plan.keep_last
                && run.status == "succeeded"
                && self.counted(&run, plan.quota_window.as_ref())?
            {
                pruned.kept_for_quota.push(run);
            } else if named || (old && newest > plan.keep_last && run.status == "succeeded") {
                pruned.removed.push(run);
            } else if old && newest > plan.keep_last {
                pruned.kept_resumable.push(run);
            }
        }
        if plan.dry_run {
            pruned.items_removed = self.count_items(&pruned.removed)?;
            pruned.bytes_after = pruned.bytes_before;
            return Ok(pruned);
        }
        pruned.items_removed = self.remove_runs(&pruned.removed)?;
        if !pruned.removed.is_empty() {
            self.reclaim()?;
        }
        pruned.bytes_after = size_on_disk(&self.path);
        Ok(pruned)
    }

    /// Whether the quota window still counts calls of `run`.
    fn counted(&self, run: &PrunedRun, window: Option<&QuotaWindow>) -> Result<bool, JournalError> {
        let Some(window) = window else { return Ok(false) };
        self.with(|c| {
            let mut query = c.prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM items WHERE run_id = ?1 AND action = ?2 AND finished_at >= ?3)",
            )?;
            for action in &window.actions {
                if query.query_row(params![run.id, action, window.since], |row| row.get::<_, bool>(0))? {
                    return Ok(true);
                }
            }
            Ok(false)
        })
    }

    fn count_items(&self, runs: &[PrunedRun]) -> Result<u64, JournalError> {
        self.with(|c| {
            let mut count = c.prepare_cached("SELECT count(*) FROM items WHERE run_id = ?1")?;
            let mut total = 0u64;
            for run in runs {
                total += count.query_row(params![run.id], |row| row.get::<_, i64>(0))?.max(0) as u64;
            }
            Ok(total)
        })
    }

    /// Deletes the runs and everything recorded of them, in one transaction.
    fn remove_runs(&self, runs: &[PrunedRun]) -> Result<u64, JournalError> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let mut items = 0u64;
            for run in runs {
                items += super::delete_run(&tx, &run.id)?;
            }
            tx.commit()?;
            Ok(items)
        })
    }

    /// Gives the free pages back to the file system and truncates the write-ahead log.
    fn reclaim(&self) -> Result<(), JournalError> {
        self.with(|c| {
            let mode: i64 = c.pragma_query_value(None, "auto_vacuum", |row| row.get(0))?;
            if mode == INCREMENTAL {
                c.execute_batch("PRAGMA incremental_vacuum;")?;
            } else {
                // An older file: the mode takes effect with a VACUUM, which also compacts it.
                c.pragma_update(None, "auto_vacuum", INCREMENTAL)?;
                c.execute_batch("VACUUM;")?;
            }
            c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        })
    }
}

/// SQLite's `auto_vacuum = INCREMENTAL`.
pub(super) const INCREMENTAL: i64 = 2;

/// The journal file and its write-ahead log, in bytes.
fn size_on_disk(path: &Path) -> u64 {
    let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    size(path) + size(Path::new(&wal))
}
