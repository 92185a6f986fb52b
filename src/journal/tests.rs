//! The journal's unit tests: a real SQLite file in a temporary directory.

use super::*;
use std::os::unix::fs::PermissionsExt;

/// Starts run `id` of a playbook `p`.
fn begin(journal: &Journal, id: &str) {
    let arguments = vec!["run".to_string(), "p.yaml".to_string()];
    let run = NewRun {
        id,
        playbook: "p",
        path: "p.yaml",
        content_hash: "abc",
        arguments: &arguments,
        started_at: &now(),
    };
    journal.begin_run(&run).unwrap();
}

fn item(key: &str, status: ItemStatus) -> ItemRecord {
    ItemRecord {
        action: "accept-invitation".into(),
        step_id: "accept".into(),
        key: key.into(),
        position: Some(0),
        replaces: None,
        label: "engi-1".into(),
        status,
        attempts: 2,
        throttled: 1,
        input: serde_json::json!({"identifier": "engi-1"}),
        output: serde_json::json!({"TaskId": "task-1"}),
        error_code: None,
        error: None,
        started_at: now(),
        finished_at: now(),
    }
}

#[test]
fn creates_a_private_file_and_round_trips_a_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/journal.sqlite");
    let journal = Journal::open(&path).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(journal.schema_version().unwrap(), MIGRATIONS.len() as u32);
    begin(&journal, "r1");
    let attempt = AttemptRecord {
        attempt: 1,
        at: now(),
        outcome: "throttling".into(),
        error_code: Some("ThrottlingException".into()),
        http_status: Some(400),
        request_id: Some("req-1".into()),
        message: Some("slow down".into()),
        delay_ms: Some(200),
    };
    journal.record_item("r1", 0, &item("k1", ItemStatus::Failed), std::slice::from_ref(&attempt)).unwrap();
    // A resumed attempt replaces the item's outcome and adds its attempts; here the list
    // changed order in between, and the earlier row goes by the position it had.
    let resumed =
        ItemRecord { position: Some(3), replaces: Some(Some(0)), ..item("k1", ItemStatus::Succeeded) };
    journal.record_item("r1", 1, &resumed, &[attempt]).unwrap();
    journal.finish_run("r1", "succeeded", 0).unwrap();
    drop(journal);

    let journal = Journal::open(&path).unwrap();
    let runs = journal.runs(10).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!((runs[0].status.as_str(), runs[0].succeeded, runs[0].failed), ("succeeded", 1, 0));
    let detail = journal.run("r1").unwrap();
    assert_eq!(detail.items.len(), 1);
    assert_eq!(detail.items[0].done_status(), Some(ItemStatus::Succeeded));
    assert_eq!(detail.items[0].output["TaskId"], "task-1");
    assert_eq!(detail.attempts.len(), 2);
    // Read back where the item is now, and (searched by key) from where it was.
    for position in [Some(3), Some(0), None] {
        let output = journal.item_output("r1", "accept", position, "k1").unwrap();
        assert_eq!(output, Some(serde_json::json!({"TaskId": "task-1"})), "{position:?}");
    }
    assert_eq!(journal.item_output("r1", "accept", Some(3), "k2").unwrap(), None);
    // What --resume reads: the run's row and each item's outcome, not its input or output.
    assert_eq!(journal.summary("r1").unwrap(), detail.run);
    let outcomes = journal.outcomes("r1").unwrap();
    let outcome = &outcomes["accept"]["k1"];
    assert_eq!(outcome.done_status(), Some(ItemStatus::Succeeded));
    assert_eq!(
        (outcome.label.as_str(), outcome.attempts),
        (detail.items[0].label.as_str(), detail.items[0].attempts)
    );
    assert!(journal.outcomes("nope").unwrap().is_empty());
    assert!(matches!(journal.summary("nope"), Err(JournalError::NoSuchRun { .. })));
    assert_eq!(journal.resume_run("r1").unwrap(), 1);
    assert!(matches!(journal.resume_run("nope"), Err(JournalError::NoSuchRun { .. })));
}

#[test]
fn an_item_done_at_its_first_attempt_is_its_own_attempt_record() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(&dir.path().join("journal.sqlite")).unwrap();
    begin(&journal, "r1");
    let clean = |at: &str| AttemptRecord {
        attempt: 1,
        at: at.into(),
        outcome: "succeeded".into(),
        error_code: None,
        http_status: None,
        request_id: None,
        message: None,
        delay_ms: None,
    };
    let throttled = AttemptRecord {
        outcome: "throttling".into(),
        error_code: Some("ThrottlingException".into()),
        http_status: Some(400),
        delay_ms: Some(100),
        ..clean("2026-12-02T06:00:01.000Z")
    };
    let once = |key: &str, status, at: &str| ItemRecord {
        attempts: 1,
        throttled: 0,
        finished_at: at.into(),
        ..item(key, status)
    };
    // Clean at the first try: no attempt row.
    let first = once("k1", ItemStatus::Succeeded, "2026-12-02T06:00:00.000Z");
    // Retried: both attempts written.
    let retried =
        ItemRecord { finished_at: "2026-12-02T06:00:02.000Z".into(), ..item("k2", ItemStatus::Succeeded) };
    let second = AttemptRecord { attempt: 2, ..clean("2026-12-02T06:00:02.000Z") };
    // One attempt that failed with an error: written, it holds what the row does not.
    let failed = once("k3", ItemStatus::Failed, "2026-12-02T06:00:03.000Z");
    let refused = AttemptRecord {
        outcome: "client".into(),
        error_code: Some("ValidationException".into()),
        http_status: Some(400),
        request_id: Some("req-3".into()),
        ..clean("2026-12-02T06:00:03.000Z")
    };
    journal
        .record_items(
            "r1",
            0,
            &[
                (&first, &[clean("2026-12-02T06:00:00.000Z")][..]),
                (&retried, &[throttled.clone(), second.clone()][..]),
                (&failed, std::slice::from_ref(&refused)),
            ],
        )
        .unwrap();
    // Resumed, k3 succeeds at its first attempt of session 1: implied again, beside the
    // row session 0 wrote for it.
    let resumed = once("k3", ItemStatus::Succeeded, "2026-12-02T06:00:04.000Z");
    journal.record_item("r1", 1, &resumed, &[clean("2026-12-02T06:00:04.000Z")]).unwrap();
    let rows: u32 = journal.with(|c| c.query_row("SELECT count(*) FROM attempts", [], |r| r.get(0))).unwrap();
    assert_eq!(rows, 3, "only the attempts that say more than their item's row");

    let shown: Vec<(String, u32, u32, String, Option<String>)> = journal
        .run("r1")
        .unwrap()
        .attempts
        .into_iter()
        .map(|a| (a.item_key, a.session, a.record.attempt, a.record.outcome, a.record.error_code))
        .collect();
    let row = |key: &str, session, attempt, outcome: &str, code: Option<&str>| {
        (key.to_string(), session, attempt, outcome.to_string(), code.map(String::from))
    };
    assert_eq!(
        shown,
        [
            row("k1", 0, 1, "succeeded", None),
            row("k2", 0, 1, "throttling", Some("ThrottlingException")),
            row("k2", 0, 2, "succeeded", None),
            row("k3", 0, 1, "client", Some("ValidationException")),
            row("k3", 1, 1, "succeeded", None),
        ]
    );
}

#[test]
fn a_version_2_journal_keeps_its_runs_and_indexes_attempts_by_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite");
    let journal = Journal::open(&path).unwrap();
    begin(&journal, "r1");
    let attempt = AttemptRecord {
        attempt: 1,
        at: now(),
        outcome: "ok".into(),
        error_code: None,
        http_status: Some(200),
        request_id: None,
        message: None,
        delay_ms: None,
    };
    journal.record_item("r1", 0, &item("k1", ItemStatus::Succeeded), &[attempt]).unwrap();
    drop(journal);
    // Back to the file a handoff of schema version 2 left.
    let connection = Connection::open(&path).unwrap();
    connection
        .execute_batch(
            "DROP INDEX attempts_by_run;
             CREATE INDEX attempts_by_item ON attempts (run_id, step_id, item_key);
             PRAGMA user_version = 2;",
        )
        .unwrap();
    drop(connection);

    let journal = Journal::open(&path).unwrap();
    assert_eq!(journal.schema_version().unwrap(), MIGRATIONS.len() as u32);
    assert_eq!(journal.run("r1").unwrap().attempts.len(), 1);
    let plan: Vec<String> = journal
        .with(|c| {
            c.prepare("EXPLAIN QUERY PLAN SELECT attempt FROM attempts WHERE run_id = ?1 ORDER BY rowid")?
                .query_map(["r1"], |row| row.get::<_, String>(3))?
                .collect()
        })
        .unwrap();
    assert!(plan.iter().any(|p| p.contains("attempts_by_run")), "{plan:?}");
    let indexes: Vec<String> = journal
        .with(|c| {
            c.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'attempts'")?
                .query_map([], |row| row.get(0))?
                .collect()
        })
        .unwrap();
    assert_eq!(indexes, ["attempts_by_run"]);
}

#[test]
fn a_version_3_journal_keeps_its_items_and_indexes_them_by_position() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite");
    // The file a handoff of schema version 3 left: items keyed by (run, step, key).
    let connection = Connection::open(&path).unwrap();
    for migration in &MIGRATIONS[..3] {
        connection.execute_batch(migration).unwrap();
    }
    connection
        .execute_batch(
            "PRAGMA user_version = 3;
             INSERT INTO runs (id, playbook, path, content_hash, arguments, host, pid, started_at, status)
                 VALUES ('r1', 'p', 'p.yaml', 'abc', '[]', 'h', 1, '2026-12-02T06:00:00.000Z', 'failed');
             INSERT INTO items (run_id, step_id, key, position, label, status, attempts, throttled, input, output,
                                session, started_at, finished_at, action)
                 VALUES ('r1', 'accept', 'k2', 1, 'engi-2', 'failed', 1, 0, '{}', 'null', 0,
                         '2026-12-02T06:00:00.000Z', '2026-12-02T06:00:01.000Z', 'accept-invitation'),
                        ('r1', 'accept', 'k1', 0, 'engi-1', 'succeeded', 1, 0, '{}', '{\"TaskId\":\"task-1\"}', 0,
                         '2026-12-02T06:00:00.000Z', '2026-12-02T06:00:01.000Z', 'accept-invitation');",
        )
        .unwrap();
    let autoindex: Vec<String> = connection
        .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'items'")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(autoindex.iter().any(|name| name.starts_with("sqlite_autoindex_items")), "{autoindex:?}");
    drop(connection);

    let journal = Journal::open(&path).unwrap();
    assert_eq!(journal.schema_version().unwrap(), MIGRATIONS.len() as u32);
    let detail = journal.run("r1").unwrap();
    let kept: Vec<(&str, Option<usize>, &str)> =
        detail.items.iter().map(|i| (i.key.as_str(), i.position, i.status.as_str())).collect();
    assert_eq!(kept, [("k1", Some(0), "succeeded"), ("k2", Some(1), "failed")]);
    assert_eq!(
        journal.item_output("r1", "accept", Some(0), "k1").unwrap(),
        Some(serde_json::json!({"TaskId": "task-1"}))
    );
    assert_eq!(journal.calls_since(&["accept-invitation"], "2026-12-02T00:00:00.000Z").unwrap(), 2);
    let indexes: Vec<String> = journal
        .with(|c| {
            c.prepare(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'items' ORDER BY name",
            )?
            .query_map([], |row| row.get(0))?
            .collect()
        })
        .unwrap();
    assert_eq!(indexes, ["items_by_action", "items_by_position"]);
    // A lookup of one item's output goes through the position index, not a scan.
    let plan: Vec<String> = journal
        .with(|c| {
            c.prepare(
                "EXPLAIN QUERY PLAN SELECT output FROM items
                 WHERE run_id = ?1 AND step_id = ?2 AND position IS ?3 AND key = ?4 ORDER BY rowid DESC LIMIT 1",
            )?
            .query_map(params!["r1", "accept", 0, "k1"], |row| row.get::<_, String>(3))?
            .collect()
        })
        .unwrap();
    assert!(plan.iter().any(|p| p.contains("items_by_position")), "{plan:?}");
}

#[test]
fn refuses_a_journal_from_a_newer_handoff() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite");
    drop(Journal::open(&path).unwrap());
    let connection = Connection::open(&path).unwrap();
    connection.pragma_update(None, "user_version", 99).unwrap();
    drop(connection);
    assert!(matches!(Journal::open(&path), Err(JournalError::TooNew { found: 99, .. })));
}

#[test]
fn a_step_record_rides_on_the_next_synced_commit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite");
    let journal = Journal::open(&path).unwrap();
    begin(&journal, "r1");
    let counts = crate::events::Counts { succeeded: 3, failed: 1, ..Default::default() };
    let step = StepRecord {
        step_id: "accept".into(),
        position: 0,
        action: "accept-invitation".into(),
        status: "failed".into(),
        counts,
        elapsed_ms: 12,
    };
    journal.record_step("r1", &step).unwrap();
    // Written without an fsync of its own, and every commit after it is synced again
    // (2 = FULL): an item's outcome must never count as done before it is durable.
    let synchronous: u32 = journal.with(|c| c.pragma_query_value(None, "synchronous", |r| r.get(0))).unwrap();
    assert_eq!(synchronous, 2);
    journal.finish_run("r1", "failed", 1).unwrap();
    drop(journal);

    let detail = Journal::open(&path).unwrap().run("r1").unwrap();
    assert_eq!(detail.steps.len(), 1);
    let read = &detail.steps[0];
    assert_eq!(
        (read.step_id.as_str(), read.status.as_str(), read.succeeded, read.failed),
        ("accept", "failed", 3, 1)
    );
}

/// `prune`: succeeded runs older than the cutoff go, with their items and attempts; a failed
/// (resumable) one stays unless named; the newest of a playbook stay with `keep_last`; the
/// file gives the space back; a dry run removes nothing.
#[test]
fn prune_removes_old_finished_runs_keeps_resumable_ones_and_shrinks_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite");
    let journal = Journal::open(&path).unwrap();
    let big = serde_json::json!({"detail": "x".repeat(2000)});
    for (n, status) in ["succeeded", "succeeded", "failed", "succeeded", "succeeded"].iter().enumerate() {
        let id = format!("r{n}");
        begin(&journal, &id);
        let items: Vec<_> = (0..200)
            .map(|k| (k, ItemRecord { output: big.clone(), ..item(&format!("k{k}"), ItemStatus::Succeeded) }))
            .collect();
        for (k, record) in &items {
            journal.record_item(&id, *k, record, &[]).unwrap();
        }
        journal.finish_run(&id, status, i32::from(*status != "succeeded")).unwrap();
    }
    // r0-r2 ended long ago, r3-r4 just now; each run starts in its own millisecond order.
    journal
        .with(|c| {
            c.execute_batch(
                "UPDATE runs SET ended_at = '2020-01-01T00:00:00.000Z', started_at = '2020-01-01T00:00:0' || substr(id, 2) || '.000Z' WHERE id IN ('r0', 'r1', 'r2');",
            )
        })
        .unwrap();
    let plan = PrunePlan { ended_before: Some("2026-01-01T00:00:00.000Z".into()), ..PrunePlan::default() };
    let never = |_: &PrunedRun| false;
    let dry = journal.prune(&PrunePlan { dry_run: true, ..plan.clone() }, never).unwrap();
    assert_eq!(dry.removed.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["r1", "r0"]);
    assert_eq!(dry.items_removed, 400);
    assert_eq!(journal.runs(10).unwrap().len(), 5, "a dry run removes nothing");

    let kept_newest = journal.prune(&PrunePlan { keep_last: 4, ..plan.clone() }, never).unwrap();
    assert_eq!(
        kept_newest.removed.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["r0"],
        "the 4 newest stay"
    );

    let pruned = journal.prune(&plan, never).unwrap();
    assert_eq!(pruned.removed.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["r1"]);
    assert_eq!(pruned.kept_resumable.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["r2"]);
    let left: Vec<String> = journal.runs(10).unwrap().into_iter().map(|r| r.id).collect();
    assert_eq!(left, ["r4", "r3", "r2"]);
    let orphans: i64 = journal
        .with(|c| {
            c.query_row("SELECT count(*) FROM items WHERE run_id IN ('r0', 'r1')", [], |row| row.get(0))
        })
        .unwrap();
    assert_eq!(orphans, 0);
    assert!(
        kept_newest.bytes_after < kept_newest.bytes_before && pruned.bytes_after < pruned.bytes_before,
        "the file gives the space back: {kept_newest:?} {pruned:?}"
    );

    // Named, a resumable run goes too; one in progress does not; an unknown one is an error.
    let named = PrunePlan { named: vec!["r2".into(), "r3".into()], ..PrunePlan::default() };
    let in_progress = |run: &PrunedRun| run.id == "r3";
    journal.with(|c| c.execute("UPDATE runs SET status = 'running' WHERE id = 'r3'", [])).unwrap();
    let pruned = journal.prune(&named, in_progress).unwrap();
    assert_eq!(pruned.removed.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["r2"]);
    assert_eq!(pruned.kept_in_progress.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["r3"]);
    let unknown = PrunePlan { named: vec!["nope".into()], ..PrunePlan::default() };
    assert!(matches!(journal.prune(&unknown, never), Err(JournalError::NoSuchRun { .. })));
}

/// A journal made before incremental vacuum is converted by its first prune.
#[test]
fn an_older_journal_is_converted_by_its_first_prune() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite");
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.pragma_update(None, "auto_vacuum", 0).unwrap();
        c.execute_batch("CREATE TABLE placeholder (x);").unwrap();
    }
    let journal = Journal::open(&path).unwrap();
    let mode = |j: &Journal| {
        j.with(|c| c.pragma_query_value(None, "auto_vacuum", |row| row.get::<_, i64>(0))).unwrap()
    };
    assert_eq!(mode(&journal), 0, "an existing file keeps its mode on open");
    begin(&journal, "r0");
    journal.finish_run("r0", "succeeded", 0).unwrap();
    let named = PrunePlan { named: vec!["r0".into()], ..PrunePlan::default() };
    journal.prune(&named, |_| false).unwrap();
    assert_eq!(mode(&journal), 2, "incremental from now on");
    let fresh = Journal::open(&dir.path().join("new.sqlite")).unwrap();
    assert_eq!(mode(&fresh), 2, "a new journal starts incremental");
}

/// A short retention (a worker's `--keep-runs-for 10m`) never removes a run whose calls the
/// rolling daily quota still counts: the quota's count is read from the journal.
#[test]
fn prune_keeps_runs_whose_calls_a_daily_quota_still_counts() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(&dir.path().join("journal.sqlite")).unwrap();
    for (id, action) in [("accepts", "accept-invitation"), ("jobs", "acknowledge")] {
        begin(&journal, id);
        let record = ItemRecord { action: action.into(), ..item("k", ItemStatus::Succeeded) };
        journal.record_item(id, 0, &record, &[]).unwrap();
        journal.finish_run(id, "succeeded", 0).unwrap();
    }
    let window =
        QuotaWindow { actions: vec!["accept-invitation".into()], since: "2020-01-01T00:00:00.000Z".into() };
    let plan = PrunePlan {
        ended_before: Some("2999-01-01T00:00:00.000Z".into()),
        quota_window: Some(window),
        ..PrunePlan::default()
    };
    let pruned = journal.prune(&plan, |_| false).unwrap();
    assert_eq!(pruned.removed.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["jobs"]);
    assert_eq!(pruned.kept_for_quota.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["accepts"]);
    let counted = journal.calls_since(&["accept-invitation"], "2020-01-01T00:00:00.000Z").unwrap();
    // Two attempts, one of them throttled (not counted by the service).
    assert_eq!(counted, 1, "the quota's count is unchanged");
}
