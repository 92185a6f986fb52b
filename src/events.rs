//! What a run reports as it goes. The engine emits [`Event`]s; a [`Reporter`] shows them:
//! the terminal display, plain lines, or JSON lines (`src/progress/`). Every text in an event
//! has already been masked.
//!
//! The serialized form is the `--progress json` contract, versioned by [`EVENTS_VERSION`]
//! and described in `docs/events.md` and `schemas/events.schema.json`.

use std::time::Duration;

use serde::{Serialize, Serializer};

use crate::actions::ActionKind;

/// The version of the JSON event format; bumped on any change that is not an addition.
pub const EVENTS_VERSION: u32 = 1;

/// How an item (or a step without `for-each`) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub succeeded: usize,
    pub failed: usize,
    pub skipped: usize,
    /// Items not done: never started (the failure budget ran out, a step aborted, a quota
    /// was used up) or stopped by a signal before they finished.
    pub not_started: usize,
    pub retries: usize,
    pub throttled: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    RunStarted {
        run_id: String,
        playbook: String,
        steps: usize,
    },
    StepStarted {
        step: String,
        #[serde(serialize_with = "action_name")]
        action: ActionKind,
        /// `None` for a step without `for-each`.
        items: Option<usize>,
        concurrency: usize,
        /// Items already done in the journal, on `--resume`.
        resumed: usize,
        /// The rate limit the step's calls start at, and where it came from (`None` for an
        /// action that is not an AWS call).
        limit: Option<String>,
    },
    /// The pace the rate limiters allow the step's action now, calls per second (`None`:
    /// unlimited). Sent when the step starts and when adaptation changes it.
    Pace {
        step: String,
        per_second: Option<f64>,
        /// The limit the step's calls started at, calls per second: the quota AWS documents
        /// or the playbook's `rate-limits` (`None`: none known).
        limit_per_second: Option<f64>,
    },
    /// An item of a `for-each` was started (it may still wait for the rate limiter).
    ItemStarted {
        step: String,
        item: usize,
    },
    Retrying {
        step: String,
        item: Option<usize>,
        /// The attempt that failed, counted from 1.
        attempt: u32,
        max_attempts: u32,
        #[serde(serialize_with = "seconds")]
        delay: Duration,
        /// `throttling`, `transient`, `timeout`, `connection` or `client`.
        class: &'static str,
        error: String,
        http_status: Option<u16>,
        request_id: Option<String>,
        /// The SDK's full account of the error, masked: shown at `-vv` on the plain display,
        /// left out of JSON events (`error` is what people and tools read).
        #[serde(skip_serializing)]
        detail: Option<String>,
    },
    ItemFinished {
        step: String,
        item: Option<usize>,
        label: String,
        status: ItemStatus,
        attempts: u32,
        error: Option<String>,
    },
    /// The service said a quota that does not refill soon is used up: the step starts no
    /// more items; they are left for `--resume`.
    QuotaExhausted {
        step: String,
        message: String,
    },
    StepFinished {
        step: String,
        #[serde(serialize_with = "action_name")]
        action: ActionKind,
        status: ItemStatus,
        counts: Counts,
        #[serde(serialize_with = "seconds")]
        elapsed: Duration,
    },
    /// One attempt of a request ended (an AWS call, or a program of `exec`), retried or not.
    /// For metrics and reports; not written to `--progress json` (a line per request would
    /// double a bulk run's stream), see [`Event::is_internal`].
    #[serde(skip)]
    Attempt {
        step: String,
        action: ActionKind,
        elapsed: Duration,
        /// `None`: it succeeded.
        failure: Option<AttemptFailure>,
        /// The artifact bytes it moved (`download-artifacts`, `upload-artifacts`).
        bytes: Option<u64>,
    },
    /// What the rolling 24-hour quota of the step's action has used and allows, counted from
    /// the journal as the step starts. Internal, like [`Event::Attempt`].
    #[serde(skip)]
    DailyQuota {
        step: String,
        action: ActionKind,
        used: u64,
        limit: u64,
    },
    /// A signal asked the run to stop: no new item starts; in-flight calls finish.
    Stopping {
        signal: &'static str,
    },
    RunFinished {
        run_id: String,
        counts: Counts,
        failed_steps: Vec<String>,
        #[serde(serialize_with = "seconds")]
        elapsed: Duration,
        stopped: bool,
    },
}

impl Event {
    /// Events for metrics and reports that the displays and `--progress json` leave out.
    pub fn is_internal(&self) -> bool {
        matches!(self, Event::Attempt { .. } | Event::DailyQuota { .. })
    }
}

/// How an attempt failed. The message is masked.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptFailure {
    /// `throttling`, `transient`, `timeout`, `connection`, `client`, `exit-code`...
    pub class: &'static str,
    pub code: Option<String>,
    pub message: String,
    /// AWS refused the caller (credentials or permissions), not the request.
    pub access_refused: bool,
}

fn action_name<S: Serializer>(action: &ActionKind, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(action.name())
}

fn seconds<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64((duration.as_secs_f64() * 1000.0).round() / 1000.0)
}

/// Several reporters as one: the display and the metrics see the same events.
pub struct Tee(pub Vec<std::sync::Arc<dyn Reporter>>);

impl std::fmt::Debug for Tee {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Tee").field(&self.0.len()).finish()
    }
}

impl Reporter for Tee {
    fn report(&self, event: &Event) {
        for reporter in &self.0 {
            reporter.report(event);
        }
    }

    fn finish(&self) {
        for reporter in &self.0 {
            reporter.finish();
        }
    }

    fn flush(&self) {
        for reporter in &self.0 {
            reporter.flush();
        }
    }
}

pub trait Reporter: Send + Sync {
    fn report(&self, event: &Event);

    /// Called once the run is over, before the process prints anything else: a display
    /// clears its bars and prints its summary here.
    fn finish(&self) {}

    /// Writes what is buffered now: the process is about to exit without finishing the run
    /// (a second signal).
    fn flush(&self) {}
}
