//! The live display on a terminal (indicatif): a line per running step, a spinner for a
//! single call and a bar for a `for-each`; a finished step collapses to one line; retries,
//! throttling and failures print above the bars; the summary table ends the run.
//!
//! Drawing is rate-capped (the draw target redraws at most [`DRAW_HZ`] times a second,
//! however many events arrive), so a 10,000-item run costs the display little CPU
//! (`bench/run` measures it with the display on and off).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use console::style;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::actions::ActionKind;
use crate::events::{Event, ItemStatus, Reporter};

use super::plain::{failure_text, retry_text};
use super::summary::{Summary, counts_text};
use super::{Level, short_duration};

/// Redraws per second, at most.
pub const DRAW_HZ: u8 = 10;
/// How often a step's bar takes in new counts. Events arrive thousands of times a second in
/// a bulk run; handing each to indicatif costs a lock and a redraw check, so the counts are
/// kept here and passed on at the draw rate.
const UPDATE_EVERY: Duration = Duration::from_millis(100);

pub struct TerminalReporter {
    level: Level,
    multi: MultiProgress,
    steps: Mutex<HashMap<String, StepBar>>,
    summary: Summary,
}

/// One step's line and what its message shows.
struct StepBar {
    bar: ProgressBar,
    action: ActionKind,
    total: Option<usize>,
    resumed: usize,
    done: usize,
    ok: usize,
    failed: usize,
    skipped: usize,
    in_flight: usize,
    throttled: usize,
    attempt: u32,
    max_attempts: u32,
    pace: Option<f64>,
    started: Instant,
    /// When the bar last took in the counts.
    shown: Instant,
}

impl std::fmt::Debug for TerminalReporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TerminalReporter").field("level", &self.level).finish_non_exhaustive()
    }
}

impl TerminalReporter {
    pub fn new(level: Level, color: bool) -> Self {
        console::set_colors_enabled_stderr(color);
        Self {
            level,
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(DRAW_HZ)),
            steps: Mutex::default(),
            summary: Summary::default(),
        }
    }

    fn println(&self, line: &str) {
        let _ = self.multi.println(line);
    }

    fn start_step(&self, step: &str, action: ActionKind, items: Option<usize>, resumed: usize) {
        let bar = match items {
            Some(total) => {
                // Hidden until the multi-progress owns it: a bar draws to stderr on its own
                // otherwise, and leaves a stray line behind.
                let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::hidden());
                bar.set_style(
                    ProgressStyle::with_template("{prefix:.bold} [{bar:24.cyan/blue}] {pos}/{len} {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("=> "),
                );
                bar.set_position(resumed as u64);
                bar
            }
            None => {
                let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
                bar.set_style(
                    ProgressStyle::with_template("{spinner:.cyan} {prefix:.bold} {msg} {elapsed}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar
            }
        };
        let bar = self.multi.add(bar.with_prefix(step.to_string()));
        if items.is_none() {
            bar.enable_steady_tick(Duration::from_millis(100));
        }
        let state = StepBar {
            bar,
            action,
            total: items,
            resumed,
            done: resumed,
            ok: resumed,
            failed: 0,
            skipped: 0,
            in_flight: 0,
            throttled: 0,
            attempt: 1,
            max_attempts: 0,
            pace: None,
            started: Instant::now(),
            shown: Instant::now(),
        };
        state.bar.set_message(state.message());
        self.steps.lock().unwrap_or_else(|e| e.into_inner()).insert(step.to_string(), state);
    }

    /// Updates a step's line, if it is running.
    fn update(&self, step: &str, change: impl FnOnce(&mut StepBar)) {
        let mut steps = self.steps.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(state) = steps.get_mut(step) {
            change(state);
            if state.shown.elapsed() >= UPDATE_EVERY {
                state.shown = Instant::now();
                state.bar.set_position(state.done as u64);
                state.bar.set_message(state.message());
            }
        }
    }
}

impl StepBar {
    fn message(&self) -> String {
        let Some(total) = self.total else {
            let attempt = if self.max_attempts > 0 {
                format!(" · attempt {}/{}", self.attempt, self.max_attempts)
            } else {
                String::new()
            };
            return format!("{}{attempt}", self.action);
        };
        let elapsed = self.started.elapsed().as_secs_f64();
        let sent = self.done.saturating_sub(self.resumed);
        let rate = if elapsed > 0.5 { sent as f64 / elapsed } else { 0.0 };
        let mut text = format!(
            "ok {} · failed {} · skipped {} · in flight {} · {rate:.1}/s",
            self.ok, self.failed, self.skipped, self.in_flight
        );
        if let Some(pace) = self.pace {
            text.push_str(&format!(" (limit {pace:.1}/s)"));
        }
        if self.throttled > 0 {
            text.push_str(&format!(" · throttled {}", self.throttled));
        }
        if rate > 0.0 && self.done < total {
            let eta = Duration::from_secs_f64((total - self.done) as f64 / rate);
            text.push_str(&format!(" · ETA {}", short_duration(eta)));
        }
        text
    }
}

impl Reporter for TerminalReporter {
    fn report(&self, event: &Event) {
        self.summary.observe(event);
        match event {
            Event::RunStarted { run_id, playbook, steps } => {
                self.println(&format!("run {run_id} of {playbook}: {steps} steps"));
            }
            Event::StepStarted { step, action, items, resumed, .. } => {
                self.start_step(step, *action, *items, *resumed);
            }
            Event::Pace { step, per_second, .. } => self.update(step, |s| s.pace = *per_second),
            Event::ItemStarted { step, .. } => self.update(step, |s| s.in_flight += 1),
            Event::Retrying { step, item, attempt, max_attempts, class, .. } => {
                self.update(step, |s| {
                    if *class == "throttling" {
                        s.throttled += 1;
                    }
                    if item.is_none() {
                        s.attempt = attempt + 1;
                        s.max_attempts = *max_attempts;
                    }
                });
                if let Some(line) = retry_text(event, self.level) {
                    self.println(&format!("{} {line}", style("↻").yellow()));
                }
            }
            Event::ItemFinished { step, item, label, status, attempts, error } => {
                self.update(step, |s| {
                    if item.is_some() {
                        s.in_flight = s.in_flight.saturating_sub(1);
                        s.done += 1;
                    }
                    match status {
                        ItemStatus::Succeeded => s.ok += 1,
                        ItemStatus::Failed => s.failed += 1,
                        ItemStatus::Skipped => s.skipped += 1,
                    }
                });
                if *status == ItemStatus::Failed {
                    let line = failure_text(step, *item, label, *attempts, error.as_deref());
                    self.println(&format!("{} {line}", style("✘").red()));
                } else if self.level >= Level::Verbose {
                    self.println(&format!("  step {step} {label} {}", status.name()));
                }
            }
            Event::QuotaExhausted { step, message } => self.println(&format!(
                "{} step {step}: {message}; no more items start, the rest are left for --resume",
                style("!").red().bold()
            )),
            Event::StepFinished { step, action, status, counts, elapsed } => {
                let state = self.steps.lock().unwrap_or_else(|e| e.into_inner()).remove(step);
                if let Some(state) = state {
                    let mark = match status {
                        ItemStatus::Succeeded => style("✔").green(),
                        ItemStatus::Failed => style("✘").red(),
                        ItemStatus::Skipped => style("–").dim(),
                    };
                    // The live line goes, and the step's one-line result is printed above the
                    // bars still running: printed text stays in order whatever the redraw rate.
                    state.bar.finish_and_clear();
                    self.multi.remove(&state.bar);
                    self.println(&format!(
                        "{mark} {} ({action}) {} in {}",
                        style(step).bold(),
                        counts_text(counts),
                        short_duration(*elapsed)
                    ));
                }
            }
            Event::Stopping { signal } => self.println(&format!(
                "{} {signal}: stopping; no new item starts, calls in flight finish (signal again to exit at once)",
                style("!").yellow().bold()
            )),
            Event::RunFinished { .. } | Event::Attempt { .. } | Event::DailyQuota { .. } => {}
        }
    }

    fn finish(&self) {
        // Steps cut short (a stopped run) still have live lines: end them where they are.
        for (step, state) in self.steps.lock().unwrap_or_else(|e| e.into_inner()).drain() {
            state.bar.finish_and_clear();
            self.multi.remove(&state.bar);
            self.println(&format!(
                "{} {} stopped: {}",
                style("■").yellow(),
                style(&step).bold(),
                state.message()
            ));
        }
        let _ = self.multi.clear();
        eprint!("{}", self.summary.render());
    }
}
