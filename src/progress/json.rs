//! `--progress json`: one JSON object per line on stdout, for log shippers and tools. Each
//! has `v` (the format version), `ts` (RFC 3339, UTC, milliseconds) and `event`, then the
//! event's fields; `docs/events.md` and `schemas/events.schema.json` describe them. Item events
//! are written in batches (at most 50 ms late), the others at once.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use serde::Serialize;

use crate::events::{EVENTS_VERSION, Event, Reporter};

/// The longest an event's line waits in the buffer. A bulk run sends two item events per
/// call; written one by one, each line was a write to the pipe and a wake-up of the tool
/// reading it, about 14% of handoff's CPU per call (docs/benchmarks-scale.md). A tool tailing
/// the stream sees item events in batches at most this late.
const LATENCY: Duration = Duration::from_millis(50);
/// A buffer this full is written at once.
const FULL: usize = 64 * 1024;

/// Lines are buffered and written by a flusher thread at most [`LATENCY`] after the first of
/// them; an event that is not about one item (a step or the run starting or ending, a quota
/// used up, a signal) writes the buffer at once, so lines never change order.
pub struct JsonReporter {
    shared: Arc<Shared>,
    flusher: Mutex<Option<std::thread::JoinHandle<()>>>,
}

struct Shared {
    state: Mutex<State>,
    /// Tells the flusher that the buffer has lines, or that the reporter is closing.
    wake: Condvar,
}

struct State {
    out: Box<dyn Write + Send>,
    /// Whole lines not yet written.
    pending: Vec<u8>,
    closed: bool,
}

impl State {
    fn write_pending(&mut self) {
        if !self.pending.is_empty() {
            // Nowhere to report a failed write to stdout (a closed pipe): the lines are dropped,
            // as a line-at-a-time writer would have dropped them.
            let _ = self.out.write_all(&self.pending).and_then(|()| self.out.flush());
            self.pending.clear();
        }
    }
}

impl std::fmt::Debug for JsonReporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonReporter").finish_non_exhaustive()
    }
}

impl JsonReporter {
    pub fn stdout() -> Self {
        Self::new(Box::new(std::io::stdout()))
    }

    pub fn new(out: Box<dyn Write + Send>) -> Self {
        Self::with_latency(out, LATENCY)
    }

    fn with_latency(out: Box<dyn Write + Send>, latency: Duration) -> Self {
        let shared = Arc::new(Shared {
            state: Mutex::new(State { out, pending: Vec::with_capacity(FULL), closed: false }),
            wake: Condvar::new(),
        });
        let flusher = {
            let shared = shared.clone();
            std::thread::Builder::new().name("json-events".into()).spawn(move || shared.flush_loop(latency))
        };
        // Without the thread (none can be spawned), every line is written at once.
        let flusher = flusher.ok();
        if flusher.is_none() {
            shared.lock().closed = true;
        }
        Self { shared, flusher: Mutex::new(flusher) }
    }

    /// Writes what is buffered and stops the flusher; later events are written at once.
    fn close(&self) {
        self.shared.lock().closed = true;
        self.shared.wake.notify_one();
        if let Some(flusher) = self.flusher.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = flusher.join();
        }
        self.shared.lock().write_pending();
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for lines, gives later ones [`LATENCY`] to join them, writes them all.
    fn flush_loop(&self, latency: Duration) {
        let mut state = self.lock();
        loop {
            while state.pending.is_empty() && !state.closed {
                state = self.wake.wait(state).unwrap_or_else(|e| e.into_inner());
            }
            if state.closed {
                return;
            }
            let (next, _) = self.wake.wait_timeout(state, latency).unwrap_or_else(|e| e.into_inner());
            state = next;
            state.write_pending();
        }
    }
}

/// Whether an event is about one item (and so may wait in the buffer).
fn is_item_event(event: &Event) -> bool {
    matches!(
        event,
        Event::ItemStarted { .. } | Event::ItemFinished { .. } | Event::Retrying { .. } | Event::Pace { .. }
    )
}

/// An event as its line holds it: `v`, `ts`, then the event's own fields (`event` first).
/// Serialized straight to bytes: two events per item, so building a `Value` first showed in
/// profiles of large runs.
#[derive(Serialize)]
struct Line<'a> {
    v: u32,
    ts: String,
    #[serde(flatten)]
    event: &'a Event,
}

impl<'a> Line<'a> {
    fn now(event: &'a Event) -> Self {
        let ts = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        Self { v: EVENTS_VERSION, ts, event }
    }
}

impl Reporter for JsonReporter {
    fn report(&self, event: &Event) {
        if event.is_internal() {
            return;
        }
        let line = Line::now(event);
        let mut state = self.shared.lock();
        let mark = state.pending.len();
        if serde_json::to_writer(&mut state.pending, &line).is_err() {
            state.pending.truncate(mark);
            return;
        }
        state.pending.push(b'\n');
        if state.closed || !is_item_event(event) || state.pending.len() >= FULL {
            state.write_pending();
        } else if mark == 0 {
            self.shared.wake.notify_one();
        }
    }

    fn finish(&self) {
        self.close();
    }

    fn flush(&self) {
        self.shared.lock().write_pending();
    }
}

impl Drop for JsonReporter {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::ItemStatus;

    use crate::progress::test_output::Shared;

    #[test]
    fn each_event_is_one_line_with_version_time_and_name_first() {
        let out = Shared::default();
        let reporter = JsonReporter::new(Box::new(out.clone()));
        reporter.report(&Event::ItemFinished {
            step: "accept".into(),
            item: Some(3),
            label: "engi-\"1\"\n".into(),
            status: ItemStatus::Failed,
            attempts: 2,
            error: None,
        });
        reporter.report(&Event::ItemStarted { step: "accept".into(), item: 4 });
        reporter.finish();
        let text = out.text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        let first: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        let keys: Vec<&str> = first.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["v", "ts", "event", "step", "item", "label", "status", "attempts", "error"]);
        assert_eq!(first["v"], EVENTS_VERSION);
        assert_eq!(first["event"], "item_finished");
        assert_eq!(first["label"], "engi-\"1\"\n");
        assert_eq!(first["status"], "failed");
        assert!(first["error"].is_null());
        let ts = first["ts"].as_str().unwrap();
        assert!(chrono::DateTime::parse_from_rfc3339(ts).is_ok() && ts.ends_with('Z'), "{ts}");
        assert!(
            lines[1].starts_with(r#"{"v":1,"ts":"#)
                && lines[1].contains(r#""event":"item_started","step":"accept","item":4"#),
            "{}",
            lines[1]
        );
    }

    fn item(item: usize) -> Event {
        Event::ItemStarted { step: "accept".into(), item }
    }

    fn events(out: &Shared) -> Vec<String> {
        out.text()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["event"].to_string())
            .collect()
    }

    #[test]
    fn item_events_wait_in_the_buffer_and_a_step_event_writes_them_in_order() {
        let out = Shared::default();
        // A latency no test run reaches: only the step event and `finish` may write.
        let reporter = JsonReporter::with_latency(Box::new(out.clone()), Duration::from_secs(3600));
        reporter.report(&item(0));
        reporter.report(&item(1));
        assert_eq!(out.text(), "", "item events are buffered");
        reporter.report(&Event::Stopping { signal: "SIGTERM" });
        assert_eq!(events(&out), [r#""item_started""#, r#""item_started""#, r#""stopping""#]);
        reporter.report(&item(2));
        reporter.flush();
        assert_eq!(events(&out).len(), 4, "flush writes the buffer");
        reporter.report(&item(3));
        drop(reporter);
        assert_eq!(events(&out).len(), 5, "dropping the reporter writes the buffer");
    }

    #[test]
    fn buffered_item_events_are_written_without_a_later_event() {
        let out = Shared::default();
        let reporter = JsonReporter::with_latency(Box::new(out.clone()), Duration::from_millis(5));
        reporter.report(&item(0));
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while out.text().is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(events(&out), [r#""item_started""#], "the flusher wrote the line on its own");
        // After `finish` (the run is over), lines are written at once.
        reporter.finish();
        reporter.report(&item(1));
        assert_eq!(events(&out).len(), 2);
    }
}
