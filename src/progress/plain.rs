//! One timestamped line per event, for cron mail, CI logs and anything not a terminal. No
//! escape codes ever. Successful items and retries are shown only at `-v`, so a cron mail
//! stays short; long steps get a periodic "N/M done" line instead.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::events::{Event, ItemStatus, Reporter};

use super::summary::{Summary, counts_text};
use super::{Level, short_duration};

/// Steps with fewer items get no periodic lines: their start and end say enough.
const PERIODIC_MIN_ITEMS: usize = 20;
/// A periodic line at every tenth of a step, and at least this often.
const PERIODIC_INTERVAL: Duration = Duration::from_secs(30);

pub struct PlainReporter {
    level: Level,
    out: Mutex<Box<dyn Write + Send>>,
    steps: Mutex<HashMap<String, StepProgress>>,
    summary: Summary,
}

/// What the periodic line of a step needs.
#[derive(Debug)]
struct StepProgress {
    total: usize,
    resumed: usize,
    done: usize,
    failed: usize,
    throttled: usize,
    started: Instant,
    last_line: Instant,
    last_tenth: usize,
}

impl std::fmt::Debug for PlainReporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlainReporter").field("level", &self.level).finish_non_exhaustive()
    }
}

impl PlainReporter {
    pub fn stderr(level: Level) -> Self {
        Self::new(level, Box::new(std::io::stderr()))
    }

    pub fn new(level: Level, out: Box<dyn Write + Send>) -> Self {
        Self { level, out: Mutex::new(out), steps: Mutex::default(), summary: Summary::default() }
    }

    fn write(&self, line: &str) {
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(out, "{now} {line}");
    }

    /// The periodic line of a long step, when one is due.
    fn periodic(&self, step: &str, status: ItemStatus) -> Option<String> {
        let mut steps = self.steps.lock().unwrap_or_else(|e| e.into_inner());
        let progress = steps.get_mut(step)?;
        progress.done += 1;
        if status == ItemStatus::Failed {
            progress.failed += 1;
        }
        let tenth = progress.done * 10 / progress.total.max(1);
        let due = progress.total >= PERIODIC_MIN_ITEMS
            && progress.done < progress.total
            && (tenth > progress.last_tenth || progress.last_line.elapsed() >= PERIODIC_INTERVAL);
        if !due {
            return None;
        }
        progress.last_tenth = tenth;
        progress.last_line = Instant::now();
        Some(progress_line(step, progress))
    }
}

fn progress_line(step: &str, p: &StepProgress) -> String {
    let elapsed = p.started.elapsed().as_secs_f64();
    let sent = p.done.saturating_sub(p.resumed);
    let rate = if elapsed > 0.0 { sent as f64 / elapsed } else { 0.0 };
    let eta = if rate > 0.0 {
        short_duration(Duration::from_secs_f64((p.total - p.done) as f64 / rate))
    } else {
        "unknown".into()
    };
    format!(
        "step {step}: {}/{} done, {} failed, {} throttled, {rate:.1}/s, ETA {eta}",
        p.done, p.total, p.failed, p.throttled
    )
}

/// ` item 3 (engi-...)`, or what there is of it.
fn item_text(item: Option<usize>, label: &str) -> String {
    let mut text = item.map(|i| format!(" item {i}")).unwrap_or_default();
    if !label.is_empty() {
        text.push_str(&format!(" ({label})"));
    }
    text
}

/// `after 3 attempts`, or `before sending`.
pub fn attempts_text(attempts: u32) -> String {
    match attempts {
        0 => "before sending".to_string(),
        1 => "after 1 attempt".to_string(),
        n => format!("after {n} attempts"),
    }
}

/// The line of a retry, more detailed at `-vv`.
pub fn retry_text(event: &Event, level: Level) -> Option<String> {
    let Event::Retrying {
        step,
        item,
        attempt,
        max_attempts,
        delay,
        error,
        http_status,
        request_id,
        detail,
        ..
    } = event
    else {
        return None;
    };
    let mut line = format!(
        "step {step}{}: attempt {attempt}/{max_attempts} failed: {error}; retrying in {}",
        item.map(|i| format!(" item {i}")).unwrap_or_default(),
        short_duration(*delay)
    );
    if level >= Level::Debug {
        if let Some(status) = http_status {
            line.push_str(&format!(" [HTTP {status}]"));
        }
        if let Some(id) = request_id {
            line.push_str(&format!(" [request {id}]"));
        }
        if let Some(detail) = detail {
            line.push_str(&format!(" [SDK: {detail}]"));
        }
    }
    Some(line)
}

/// The line of a failed item.
pub fn failure_text(
    step: &str,
    item: Option<usize>,
    label: &str,
    attempts: u32,
    error: Option<&str>,
) -> String {
    format!(
        "step {step}{} failed {}: {}",
        item_text(item, label),
        attempts_text(attempts),
        error.unwrap_or("unknown error")
    )
}

impl Reporter for PlainReporter {
    fn report(&self, event: &Event) {
        self.summary.observe(event);
        let normal = self.level >= Level::Normal;
        let verbose = self.level >= Level::Verbose;
        let line = match event {
            Event::RunStarted { run_id, playbook, steps } if normal => {
                Some(format!("run {run_id} of {playbook} started: {steps} steps"))
            }
            Event::StepStarted { step, action, items, concurrency, resumed, limit } => {
                if let Some(total) = items {
                    let now = Instant::now();
                    self.steps.lock().unwrap_or_else(|e| e.into_inner()).insert(
                        step.clone(),
                        StepProgress {
                            total: *total,
                            resumed: *resumed,
                            done: *resumed,
                            failed: 0,
                            throttled: 0,
                            started: now,
                            last_line: now,
                            last_tenth: resumed * 10 / total.max(&1),
                        },
                    );
                }
                let rate = limit.as_ref().map(|l| format!("; limit {l}")).unwrap_or_default();
                match (items, resumed) {
                    _ if !normal => None,
                    (Some(n), 0) => Some(format!(
                        "step {step} ({action}) started: {n} items, concurrency {concurrency}{rate}"
                    )),
                    (Some(n), resumed) => Some(format!(
                        "step {step} ({action}) resumed: {n} items, {resumed} done before, concurrency {concurrency}{rate}"
                    )),
                    (None, 0) => Some(format!("step {step} ({action}) started{rate}")),
                    (None, _) => Some(format!("step {step} ({action}) done before, not sent again")),
                }
            }
            Event::Retrying { step, class, .. } => {
                if *class == "throttling"
                    && let Some(p) = self.steps.lock().unwrap_or_else(|e| e.into_inner()).get_mut(step)
                {
                    p.throttled += 1;
                }
                if verbose { retry_text(event, self.level) } else { None }
            }
            Event::ItemFinished { step, item, label, status, attempts, error } => {
                let periodic = if item.is_some() { self.periodic(step, *status) } else { None };
                let own = match status {
                    ItemStatus::Failed => Some(failure_text(step, *item, label, *attempts, error.as_deref())),
                    _ if verbose => Some(format!(
                        "step {step}{} {} ({attempts} attempts){}",
                        item_text(*item, label),
                        status.name(),
                        error.as_ref().map(|e| format!(": {e}")).unwrap_or_default()
                    )),
                    _ => None,
                };
                if let Some(own) = own {
                    self.write(&own);
                }
                periodic.filter(|_| normal)
            }
            Event::QuotaExhausted { step, message } => {
                Some(format!("step {step}: {message}; no more items start, the rest are left for --resume"))
            }
            Event::StepFinished { step, counts, elapsed, .. } if normal => {
                Some(format!("step {step} finished in {}: {}", short_duration(*elapsed), counts_text(counts)))
            }
            Event::Stopping { signal } => Some(format!(
                "{signal}: stopping; no new item starts, calls in flight finish (signal again to exit at once)"
            )),
            _ => None,
        };
        if let Some(line) = line {
            self.write(&line);
        }
    }

    fn finish(&self) {
        let summary = self.summary.render();
        if !summary.is_empty() {
            let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
            let _ = write!(out, "{summary}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::ActionKind;

    use crate::progress::test_output::Shared;

    #[test]
    fn long_steps_get_a_line_per_tenth_and_successes_stay_quiet() {
        let out = Shared::default();
        let reporter = PlainReporter::new(Level::Normal, Box::new(out.clone()));
        reporter.report(&Event::StepStarted {
            limit: None,
            step: "accept".into(),
            action: ActionKind::AcceptInvitation,
            items: Some(100),
            concurrency: 8,
            resumed: 0,
        });
        for i in 0..100 {
            let status = if i == 50 { ItemStatus::Failed } else { ItemStatus::Succeeded };
            reporter.report(&Event::ItemFinished {
                step: "accept".into(),
                item: Some(i),
                label: format!("engi-{i}"),
                status,
                attempts: 1,
                error: (i == 50).then(|| "ValidationException: no".to_string()),
            });
        }
        let text = out.text();
        assert_eq!(text.lines().filter(|l| l.contains("done,")).count(), 9, "{text}");
        assert_eq!(text.lines().filter(|l| l.contains("failed after 1 attempt")).count(), 1, "{text}");
        assert!(text.contains("step accept: 60/100 done, 1 failed, 0 throttled"), "{text}");
        assert!(!text.contains("engi-3 "), "{text}");
    }
}
