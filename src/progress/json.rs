//! `--progress json`: one JSON object per line on stdout, for log shippers and tools. Each
//! has `v` (the format version), `ts` (RFC 3339, UTC, milliseconds) and `event`, then the
//! event's fields; `docs/events.md` and `schemas/events.schema.json` describe them.

use std::io::Write;
use std::sync::Mutex;

use serde::Serialize;

use crate::events::{EVENTS_VERSION, Event, Reporter};

pub struct JsonReporter {
    /// The output, and a line buffer reused from event to event.
    out: Mutex<(Box<dyn Write + Send>, Vec<u8>)>,
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
        Self { out: Mutex::new((out, Vec::with_capacity(256))) }
    }
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
        let line = Line::now(event);
        let mut guard = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let (out, buffer) = &mut *guard;
        buffer.clear();
        if serde_json::to_writer(&mut *buffer, &line).is_err() {
            return;
        }
        buffer.push(b'\n');
        // Flushed per line: a tool tailing the stream sees each event as it happens.
        let _ = out.write_all(buffer).and_then(|()| out.flush());
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
}
