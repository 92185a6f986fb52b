//! `--progress json`: one JSON object per line on stdout, for log shippers and tools. Each
//! has `v` (the format version), `ts` (RFC 3339, UTC, milliseconds) and `event`, then the
//! event's fields; `docs/events.md` and `schemas/events.schema.json` describe them.

use std::io::Write;
use std::sync::Mutex;

use serde_json::{Map, Value};

use crate::events::{EVENTS_VERSION, Event, Reporter};

pub struct JsonReporter {
    out: Mutex<Box<dyn Write + Send>>,
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
        Self { out: Mutex::new(out) }
    }
}

/// An event as its JSON line holds it.
pub fn to_json(event: &Event) -> Value {
    let mut object = Map::new();
    object.insert("v".into(), EVENTS_VERSION.into());
    object
        .insert("ts".into(), chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true).into());
    if let Ok(Value::Object(fields)) = serde_json::to_value(event) {
        object.extend(fields);
    }
    Value::Object(object)
}

impl Reporter for JsonReporter {
    fn report(&self, event: &Event) {
        let line = to_json(event).to_string();
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        // Flushed per line: a tool tailing the stream sees each event as it happens.
        let _ = writeln!(out, "{line}").and_then(|()| out.flush());
    }
}
