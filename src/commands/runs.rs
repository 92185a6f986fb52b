//! `handoff runs` and `handoff show RUN_ID`: the run journal, for people and tools.

use std::fmt::Write as _;

use crate::cli::{Format, RunsArgs, ShowArgs};
use crate::exit::Exit;
use crate::journal::{Journal, RunDetail, RunLock, RunSummary};

use super::print_out;
use super::run::journal_path;
use crate::progress::summary::table;

pub fn runs(args: &RunsArgs) -> anyhow::Result<Exit> {
    let Some(journal) = open(&args.state)? else { return Ok(Exit::Invalid) };
    let mut runs = match journal.runs(args.limit) {
        Ok(runs) => runs,
        Err(error) => {
            eprintln!("handoff: error: {error}");
            return Ok(Exit::Failures);
        }
    };
    for run in &mut runs {
        run.status = shown_status(&journal, run);
    }
    match args.format {
        Format::Json => print_out(format_args!("{}\n", serde_json::to_string_pretty(&runs)?))?,
        Format::Human if runs.is_empty() => {
            print_out(format_args!("no runs in {}\n", journal.path().display()))?;
        }
        Format::Human => {
            let rows: Vec<Vec<String>> = runs
                .iter()
                .map(|r| {
                    vec![
                        r.id.clone(),
                        r.playbook.clone(),
                        r.status.clone(),
                        r.started_at.clone(),
                        r.succeeded.to_string(),
                        r.failed.to_string(),
                        r.skipped.to_string(),
                        r.resumes.to_string(),
                    ]
                })
                .collect();
            print_out(table(
                &["RUN", "PLAYBOOK", "STATUS", "STARTED", "OK", "FAILED", "SKIPPED", "RESUMES"],
                &rows,
            ))?;
        }
    }
    Ok(Exit::Success)
}

pub fn show(args: &ShowArgs) -> anyhow::Result<Exit> {
    let Some(journal) = open(&args.state)? else { return Ok(Exit::Invalid) };
    let mut detail = match journal.run(&args.run_id) {
        Ok(detail) => detail,
        Err(error) => {
            eprintln!("handoff: error: {error}");
            return Ok(Exit::Invalid);
        }
    };
    detail.run.status = shown_status(&journal, &detail.run);
    match args.format {
        Format::Json => print_out(format_args!("{}\n", serde_json::to_string_pretty(&detail)?))?,
        Format::Human => print_out(describe(&detail, args.verbose))?,
    }
    Ok(Exit::Success)
}

pub(super) fn open(state: &crate::cli::StateArgs) -> anyhow::Result<Option<Journal>> {
    let Ok(path) = journal_path(state) else { return Ok(None) };
    if !path.exists() {
        eprintln!(
            "handoff: error: no run journal at {} (no run has been recorded there yet)",
            path.display()
        );
        return Ok(None);
    }
    match Journal::open(&path) {
        Ok(journal) => Ok(Some(journal)),
        Err(error) => {
            eprintln!("handoff: error: {error}");
            Ok(None)
        }
    }
}

/// A run recorded as running whose lock nobody holds died without finishing (`kill -9`,
/// a reboot): `--resume` continues it.
fn shown_status(journal: &Journal, run: &RunSummary) -> String {
    if run.status == "running" && !RunLock::is_held(&RunLock::path_for(journal.path(), &run.playbook)) {
        "interrupted".to_string()
    } else {
        run.status.clone()
    }
}

pub fn describe(detail: &RunDetail, verbose: bool) -> String {
    let run = &detail.run;
    let mut out = String::new();
    let _ = writeln!(out, "run {} of {} ({})", run.id, run.playbook, run.path);
    let _ = writeln!(
        out,
        "  status: {}{}",
        run.status,
        run.exit_code.map(|c| format!(" (exit {c})")).unwrap_or_default()
    );
    let _ = writeln!(
        out,
        "  started: {}   ended: {}   host: {} pid {}   resumed: {} times",
        run.started_at,
        run.ended_at.as_deref().unwrap_or("-"),
        run.host,
        run.pid,
        run.resumes
    );
    let _ = writeln!(out, "  command: handoff {}", run.arguments.join(" "));
    let _ = writeln!(out, "  playbook sha256: {}", run.content_hash);
    let rows: Vec<Vec<String>> = detail
        .steps
        .iter()
        .map(|s| {
            vec![
                s.step_id.clone(),
                s.action.clone(),
                s.status.clone(),
                s.succeeded.to_string(),
                s.failed.to_string(),
                s.skipped.to_string(),
                s.not_done.to_string(),
                s.retries.to_string(),
                s.throttled.to_string(),
                format!("{:.1}s", s.elapsed_ms as f64 / 1000.0),
            ]
        })
        .collect();
    let _ = writeln!(out, "\nsteps:");
    out.push_str(&table(
        &["STEP", "ACTION", "STATUS", "OK", "FAILED", "SKIPPED", "NOT DONE", "RETRIES", "THROTTLED", "TIME"],
        &rows,
    ));
    let shown: Vec<_> = detail.items.iter().filter(|i| verbose || i.status == "failed").collect();
    // Each item's attempts, found by its step and key: a scan of every attempt per item was
    // quadratic, minutes for `show -v` of a 100,000-item run.
    let mut attempts: std::collections::HashMap<(&str, &str), Vec<&crate::journal::JournaledAttempt>> =
        std::collections::HashMap::new();
    if verbose {
        for attempt in &detail.attempts {
            attempts.entry((attempt.step_id.as_str(), attempt.item_key.as_str())).or_default().push(attempt);
        }
    }
    if !shown.is_empty() {
        let _ = writeln!(out, "\n{}:", if verbose { "items" } else { "failed items" });
    }
    for item in shown {
        let _ = writeln!(
            out,
            "  {} {} [{}] {} after {} attempt{}{}",
            item.step_id,
            if item.label.is_empty() { &item.key } else { &item.label },
            item.key,
            item.status,
            item.attempts,
            if item.attempts == 1 { "" } else { "s" },
            match (&item.error_code, &item.error) {
                (_, Some(error)) => format!(": {error}"),
                _ => String::new(),
            }
        );
        if verbose {
            for attempt in attempts.get(&(item.step_id.as_str(), item.key.as_str())).into_iter().flatten() {
                let _ = writeln!(
                    out,
                    "      session {} attempt {} at {}: {}{}{}{}{}",
                    attempt.session,
                    attempt.record.attempt,
                    attempt.record.at,
                    attempt.record.outcome,
                    attempt.record.http_status.map(|s| format!(" HTTP {s}")).unwrap_or_default(),
                    attempt.record.error_code.as_ref().map(|c| format!(" {c}")).unwrap_or_default(),
                    attempt.record.request_id.as_ref().map(|r| format!(" request {r}")).unwrap_or_default(),
                    attempt.record.delay_ms.map(|d| format!(", retried after {d} ms")).unwrap_or_default(),
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{AttemptRecord, JournaledAttempt, JournaledItem, RunSummary};

    fn item(key: &str, attempts: u32) -> JournaledItem {
        JournaledItem {
            step_id: "accept".into(),
            key: key.into(),
            position: None,
            label: String::new(),
            status: "succeeded".into(),
            attempts,
            throttled: 0,
            input: serde_json::Value::Null,
            output: serde_json::Value::Null,
            error_code: None,
            error: None,
            finished_at: "2026-11-24T08:00:00Z".into(),
            session: 0,
        }
    }

    fn attempt(key: &str, attempt: u32, outcome: &str) -> JournaledAttempt {
        JournaledAttempt {
            step_id: "accept".into(),
            item_key: key.into(),
            session: 0,
            record: AttemptRecord {
                attempt,
                at: format!("t{attempt}"),
                outcome: outcome.into(),
                error_code: None,
                http_status: None,
                request_id: None,
                message: None,
                delay_ms: None,
            },
        }
    }

    #[test]
    fn verbose_show_lists_each_items_attempts_under_it_in_order() {
        let detail = RunDetail {
            run: RunSummary {
                id: "r".into(),
                playbook: "p".into(),
                path: "p.yaml".into(),
                content_hash: "h".into(),
                arguments: vec![],
                host: "h".into(),
                pid: 1,
                started_at: "s".into(),
                ended_at: None,
                status: "succeeded".into(),
                exit_code: Some(0),
                resumes: 0,
                succeeded: 2,
                failed: 0,
                skipped: 0,
            },
            steps: vec![],
            items: vec![item("a", 2), item("b", 1)],
            // Interleaved, as concurrent items write them.
            attempts: vec![
                attempt("a", 1, "throttling"),
                attempt("b", 1, "succeeded"),
                attempt("a", 2, "succeeded"),
            ],
        };
        let text = describe(&detail, true);
        let lines: Vec<&str> = text.lines().skip_while(|l| *l != "items:").skip(1).map(str::trim).collect();
        assert_eq!(
            lines,
            [
                "accept a [a] succeeded after 2 attempts",
                "session 0 attempt 1 at t1: throttling",
                "session 0 attempt 2 at t2: succeeded",
                "accept b [b] succeeded after 1 attempt",
                "session 0 attempt 1 at t1: succeeded",
            ]
        );
        assert!(!describe(&detail, false).contains("attempt 1 at"));
    }
}
