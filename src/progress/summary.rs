//! The table every human-facing form ends with: one row per step that ran, then one line
//! for the run.

use std::sync::Mutex;

use crate::events::{Counts, Event};

use super::short_duration;

/// Collects finished steps and the run's end from the events.
#[derive(Debug, Default)]
pub struct Summary {
    rows: Mutex<Vec<Vec<String>>>,
    run: Mutex<Option<String>>,
}

impl Summary {
    pub fn observe(&self, event: &Event) {
        match event {
            Event::StepFinished { step, action, status, counts, elapsed } => {
                self.rows.lock().unwrap_or_else(|e| e.into_inner()).push(vec![
                    step.clone(),
                    action.name().to_string(),
                    status.name().to_string(),
                    counts.succeeded.to_string(),
                    counts.failed.to_string(),
                    counts.skipped.to_string(),
                    counts.not_started.to_string(),
                    counts.retries.to_string(),
                    counts.throttled.to_string(),
                    short_duration(*elapsed),
                ]);
            }
            Event::RunFinished { .. } => {
                *self.run.lock().unwrap_or_else(|e| e.into_inner()) = run_line(event);
            }
            _ => {}
        }
    }

    /// The table and the run's line; empty before the run finished.
    pub fn render(&self) -> String {
        let Some(run) = self.run.lock().unwrap_or_else(|e| e.into_inner()).clone() else {
            return String::new();
        };
        let rows = self.rows.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = String::new();
        if !rows.is_empty() {
            out.push_str(&table(
                &[
                    "STEP",
                    "ACTION",
                    "STATUS",
                    "OK",
                    "FAILED",
                    "SKIPPED",
                    "NOT DONE",
                    "RETRIES",
                    "THROTTLED",
                    "TIME",
                ],
                &rows,
            ));
        }
        out.push_str(&run);
        out.push('\n');
        out
    }
}

/// `run R succeeded in 9.1s: 8 succeeded, 0 failed, 0 skipped`.
pub fn run_line(event: &Event) -> Option<String> {
    let Event::RunFinished { run_id, counts, failed_steps, elapsed, stopped } = event else { return None };
    let outcome = if *stopped {
        "stopped".to_string()
    } else if failed_steps.is_empty() {
        "succeeded".to_string()
    } else {
        format!("failed (steps {})", failed_steps.join(", "))
    };
    Some(format!("run {run_id} {outcome} in {}: {}", short_duration(*elapsed), counts_text(counts)))
}

/// `8 succeeded, 1 failed, 0 skipped, 2 not done, 5 retries (3 throttled)`.
pub fn counts_text(c: &Counts) -> String {
    let mut text = format!("{} succeeded, {} failed, {} skipped", c.succeeded, c.failed, c.skipped);
    if c.not_started > 0 {
        text.push_str(&format!(", {} not done", c.not_started));
    }
    if c.retries > 0 {
        text.push_str(&format!(", {} retries ({} throttled)", c.retries, c.throttled));
    }
    text
}

/// Left-aligned columns, two spaces apart; numbers line up because headers are wider.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    use unicode_width::UnicodeWidthStr;
    let mut widths: Vec<usize> = headers.iter().map(|h| h.width()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.width());
        }
    }
    let line = |cells: &[&str]| {
        let mut text = String::new();
        for (i, (cell, width)) in cells.iter().zip(&widths).enumerate() {
            text.push_str(cell);
            if i + 1 < cells.len() {
                text.push_str(&" ".repeat(width - cell.width() + 2));
            }
        }
        text.push('\n');
        text
    };
    let mut out = line(headers);
    for row in rows {
        out.push_str(&line(&row.iter().map(String::as_str).collect::<Vec<_>>()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::ActionKind;
    use crate::events::ItemStatus;
    use std::time::Duration;

    #[test]
    fn the_summary_has_a_row_per_step_and_the_run_line() {
        let summary = Summary::default();
        let counts = Counts { succeeded: 8, failed: 1, retries: 3, throttled: 2, ..Counts::default() };
        summary.observe(&Event::StepFinished {
            step: "accept".into(),
            action: ActionKind::AcceptInvitation,
            status: ItemStatus::Failed,
            counts,
            elapsed: Duration::from_millis(9100),
        });
        assert_eq!(summary.render(), "");
        summary.observe(&Event::RunFinished {
            run_id: "r1".into(),
            counts,
            failed_steps: vec!["accept".into()],
            elapsed: Duration::from_secs(10),
            stopped: false,
        });
        assert_eq!(
            summary.render(),
            "STEP    ACTION             STATUS  OK  FAILED  SKIPPED  NOT DONE  RETRIES  THROTTLED  TIME\n\
             accept  accept-invitation  failed  8   1       0        0         3        2          9.1s\n\
             run r1 failed (steps accept) in 10.0s: 8 succeeded, 1 failed, 0 skipped, 3 retries (2 throttled)\n"
        );
    }
}
