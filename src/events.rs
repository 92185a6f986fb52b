//! What a run reports as it goes. The engine emits [`Event`]s; a [`Reporter`] shows them
//! (plain timestamped lines here; the terminal display and JSON lines build on the same
//! events). Every text in an event has already been masked.

use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

use crate::actions::ActionKind;

/// How an item (or a step without `for-each`) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemStatus {
    Succeeded,
    Failed,
    Skipped,
}

impl ItemStatus {
    pub fn name(self) -> &'static str {
        match self {
            ItemStatus::Succeeded => "succeeded",
            ItemStatus::Failed => "failed",
            ItemStatus::Skipped => "skipped",
        }
    }
}

/// Counts of a step's items.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    pub succeeded: usize,
    pub failed: usize,
    pub skipped: usize,
    /// Items never started: the failure budget ran out, a step aborted, or the run was stopped.
    pub not_started: usize,
    pub retries: usize,
    pub throttled: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    RunStarted {
        run_id: String,
        playbook: String,
        steps: usize,
    },
    StepStarted {
        step: String,
        action: ActionKind,
        items: Option<usize>,
        concurrency: usize,
        /// Items already done in the journal, on `--resume`.
        resumed: usize,
    },
    StepSkipped {
        step: String,
        reason: String,
    },
    Retrying {
        step: String,
        item: Option<usize>,
        attempt: u32,
        max_attempts: u32,
        delay: Duration,
        error: String,
    },
    ItemFinished {
        step: String,
        item: Option<usize>,
        label: String,
        status: ItemStatus,
        attempts: u32,
        error: Option<String>,
    },
    StepFinished {
        step: String,
        counts: Counts,
        elapsed: Duration,
    },
    /// The service said a quota that does not refill soon is used up: the step starts no
    /// more items; they are left for `--resume`.
    QuotaExhausted {
        step: String,
        message: String,
    },
    /// A signal asked the run to stop: no new item starts; in-flight calls finish.
    Stopping {
        signal: &'static str,
    },
    RunFinished {
        counts: Counts,
        failed_steps: Vec<String>,
        elapsed: Duration,
        stopped: bool,
    },
}

pub trait Reporter: Send + Sync {
    fn report(&self, event: &Event);
}

/// One timestamped line per event on stderr, for cron, CI and anything not a terminal.
/// Successful items are shown only when `verbose` is set, so a cron mail stays short.
pub struct PlainReporter {
    pub verbose: bool,
    out: Mutex<Box<dyn Write + Send>>,
}

impl std::fmt::Debug for PlainReporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlainReporter").field("verbose", &self.verbose).finish_non_exhaustive()
    }
}

impl PlainReporter {
    pub fn stderr(verbose: bool) -> Self {
        Self { verbose, out: Mutex::new(Box::new(std::io::stderr())) }
    }
}

fn seconds(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

/// ` item 3 (engi-...)`, or what there is of it.
fn item_text(item: Option<usize>, label: &str) -> String {
    let mut text = item.map(|i| format!(" item {i}")).unwrap_or_default();
    if !label.is_empty() {
        text.push_str(&format!(" ({label})"));
    }
    text
}

fn counts_text(c: &Counts) -> String {
    let mut text = format!("{} succeeded, {} failed, {} skipped", c.succeeded, c.failed, c.skipped);
    if c.not_started > 0 {
        text.push_str(&format!(", {} not started", c.not_started));
    }
    if c.retries > 0 {
        text.push_str(&format!(", {} retries ({} throttled)", c.retries, c.throttled));
    }
    text
}

impl Reporter for PlainReporter {
    fn report(&self, event: &Event) {
        let line = match event {
            Event::RunStarted { run_id, playbook, steps } => {
                Some(format!("run {run_id} of {playbook} started: {steps} steps"))
            }
            Event::StepStarted { step, action, items: Some(n), concurrency, resumed: 0 } => {
                Some(format!("step {step} ({action}) started: {n} items, concurrency {concurrency}"))
            }
            Event::StepStarted { step, action, items: Some(n), concurrency, resumed } => Some(format!(
                "step {step} ({action}) resumed: {n} items, {resumed} done before, concurrency {concurrency}"
            )),
            Event::StepStarted { step, action, items: None, resumed: 0, .. } => {
                Some(format!("step {step} ({action}) started"))
            }
            Event::StepStarted { step, action, items: None, .. } => {
                Some(format!("step {step} ({action}) done before, not sent again"))
            }
            Event::StepSkipped { step, reason } => Some(format!("step {step} skipped: {reason}")),
            Event::Retrying { step, item, attempt, max_attempts, delay, error } if self.verbose => {
                Some(format!(
                    "step {step}{}: attempt {attempt}/{max_attempts} failed: {error}; retrying in {}",
                    item.map(|i| format!(" item {i}")).unwrap_or_default(),
                    seconds(*delay)
                ))
            }
            Event::Retrying { .. } => None,
            Event::ItemFinished { step, item, label, status: ItemStatus::Failed, attempts, error } => {
                Some(format!(
                    "step {step}{} failed {}: {}",
                    item_text(*item, label),
                    match attempts {
                        0 => "before sending".to_string(),
                        1 => "after 1 attempt".to_string(),
                        n => format!("after {n} attempts"),
                    },
                    error.as_deref().unwrap_or("unknown error")
                ))
            }
            Event::ItemFinished { step, item, label, status, attempts, error } if self.verbose => {
                Some(format!(
                    "step {step}{} {}{} ({attempts} attempts)",
                    item_text(*item, label),
                    status.name(),
                    error.as_ref().map(|e| format!(": {e}")).unwrap_or_default()
                ))
            }
            Event::ItemFinished { .. } => None,
            Event::StepFinished { step, counts, elapsed } => {
                Some(format!("step {step} finished in {}: {}", seconds(*elapsed), counts_text(counts)))
            }
            Event::QuotaExhausted { step, message } => {
                Some(format!("step {step}: {message}; no more items start, the rest are left for --resume"))
            }
            Event::Stopping { signal } => Some(format!(
                "{signal}: stopping; no new item starts, calls in flight finish (signal again to exit at once)"
            )),
            Event::RunFinished { counts, failed_steps, elapsed, stopped } => Some(format!(
                "run {} in {}: {}{}",
                if *stopped {
                    "stopped".to_string()
                } else if failed_steps.is_empty() {
                    "succeeded".to_string()
                } else {
                    format!("failed (steps {})", failed_steps.join(", "))
                },
                seconds(*elapsed),
                counts_text(counts),
                ""
            )),
        };
        if let Some(line) = line {
            let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
            let _ = writeln!(out, "{now} {line}");
        }
    }
}
