//! `handoff run --metrics ADDR`: what a run (a worker's life, with `--every`) exposes to
//! Prometheus and to Kubernetes' probes.
//!
//! [`Metrics`] is a [`Reporter`]: it is fed the events the engine already emits (beside the
//! display), and turns them into counters, gauges and histograms ([`prometheus_client`], the
//! Prometheus project's own Rust client) and into the probes' state ([`Health`]). `server`
//! answers `/metrics`, `/healthz` and `/readyz`. Labels take bounded values only: a step's id,
//! an action, a service, an operation, an error class; never a job, invitation or item id.

mod health;
mod server;

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

pub use health::{Health, Probe};
pub use server::{MetricsServer, ServeError};

use crate::actions::ActionKind;
use crate::events::{Event, ItemStatus, Reporter};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ItemLabels {
    step: String,
    action: &'static str,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    service: &'static str,
    operation: &'static str,
    /// `ok`, or the failure's class (`throttling`, `transient`, `timeout`, `connection`,
    /// `client`).
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    service: &'static str,
    operation: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RetryLabels {
    action: &'static str,
    class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ExecLabels {
    step: String,
    /// `ok`, `exit-code` (a code the step does not count as success, or a signal), `timeout`.
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GroupLabels {
    /// The quota group (`partnercentral-selling-writes`), or the action for one AWS
    /// documents no group for.
    group: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DirectionLabels {
    direction: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

type FloatGauge = Gauge<f64, AtomicU64>;

/// The exposition formats `/metrics` speaks, chosen by the request's `Accept`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    OpenMetrics,
    Prometheus,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::Prometheus => "text/plain; version=0.0.4; charset=utf-8",
        }
    }
}
type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// A call's latency: 5 ms to 41 s.
fn call_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 14))
}

/// A program's run time: 100 ms to about 14 minutes.
fn exec_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.1, 2.0, 14))
}

/// Every metric of a process, and the probes' state. One per process: a worker's
/// iterations add to the same counters.
pub struct Metrics {
    registry: Registry,
    pub health: Health,
    runs: Family<StatusLabels, Counter>,
    items: Family<ItemLabels, Counter>,
    in_flight: Gauge,
    calls: Family<CallLabels, Counter>,
    call_seconds: Histograms<OperationLabels>,
    retries: Family<RetryLabels, Counter>,
    exec_seconds: Histograms<ExecLabels>,
    rate: Family<GroupLabels, FloatGauge>,
    limit: Family<GroupLabels, FloatGauge>,
    daily_used: Family<GroupLabels, Gauge>,
    daily_left: Family<GroupLabels, Gauge>,
    jobs_claimed: Counter,
    jobs_succeeded: Counter,
    jobs_failed: Counter,
    last_poll: FloatGauge,
    last_run: FloatGauge,
    artifact_bytes: Family<DirectionLabels, Counter>,
    /// 1 while `/readyz` passes; read from [`Health`] at each scrape.
    ready: Gauge,
    /// Each step's action, from `step_started`: item events name only the step.
    actions: Mutex<HashMap<String, ActionKind>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// `stuck_after`: how long an iteration may run before `/healthz` fails; `interval`: a
    /// worker's `--every` (`None` for a single run).
    pub fn new(stuck_after: Duration, interval: Option<Duration>) -> Self {
        let mut registry = Registry::with_prefix("handoff");
        let build: Family<BuildLabels, Gauge> = Family::default();
        build.get_or_create(&BuildLabels { version: env!("CARGO_PKG_VERSION") }).set(1);
        registry.register("build_info", "handoff's version; always 1", build);
        let metrics = Self {
            registry: Registry::default(),
            health: Health::new(stuck_after, interval),
            runs: Family::default(),
            items: Family::default(),
            in_flight: Gauge::default(),
            calls: Family::default(),
            call_seconds: Family::new_with_constructor(call_buckets),
            retries: Family::default(),
            exec_seconds: Family::new_with_constructor(exec_buckets),
            rate: Family::default(),
            limit: Family::default(),
            daily_used: Family::default(),
            daily_left: Family::default(),
            jobs_claimed: Counter::default(),
            jobs_succeeded: Counter::default(),
            jobs_failed: Counter::default(),
            last_poll: FloatGauge::default(),
            last_run: FloatGauge::default(),
            artifact_bytes: Family::default(),
            ready: Gauge::default(),
            actions: Mutex::default(),
        };
        let r = &mut registry;
        // Every status from the start: a rate() over a series that appears only with its first
        // failure misses that failure.
        for status in ["succeeded", "failed", "stopped"] {
            let _ = metrics.runs.get_or_create(&StatusLabels { status });
        }
        r.register("runs", "Runs finished (a worker's iterations), by status", metrics.runs.clone());
        r.register("items", "Items finished, by step, action and status", metrics.items.clone());
        r.register("items_in_flight", "Items started and not yet finished", metrics.in_flight.clone());
        r.register(
            "aws_calls",
            "AWS requests by service, operation and outcome (ok or the error class), retries included",
            metrics.calls.clone(),
        );
        r.register(
            "aws_call_duration_seconds",
            "AWS request latency by service and operation, each attempt",
            metrics.call_seconds.clone(),
        );
        r.register("retries", "Attempts retried, by action and error class", metrics.retries.clone());
        r.register(
            "exec_duration_seconds",
            "How long exec's programs ran, by step and outcome (ok, exit-code, timeout)",
            metrics.exec_seconds.clone(),
        );
        r.register(
            "rate_per_second",
            "The rate the limiter allows now, calls per second, by quota group (groups with a known limit)",
            metrics.rate.clone(),
        );
        r.register(
            "rate_limit_per_second",
            "The limit the group's calls started at (the documented quota or rate-limits), calls per second",
            metrics.limit.clone(),
        );
        r.register(
            "daily_quota_used",
            "Calls the rolling 24-hour quota has counted, from the journal at the step's start, by quota group",
            metrics.daily_used.clone(),
        );
        r.register(
            "daily_quota_left",
            "Calls the rolling 24-hour quota allowed at the step's start, by quota group",
            metrics.daily_left.clone(),
        );
        r.register(
            "jobs_claimed",
            "Jobs acknowledged (claimed) by this worker",
            metrics.jobs_claimed.clone(),
        );
        r.register("jobs_succeeded", "Jobs this worker reported succeeded", metrics.jobs_succeeded.clone());
        r.register("jobs_failed", "Jobs this worker reported failed", metrics.jobs_failed.clone());
        r.register(
            "last_successful_poll_timestamp_seconds",
            "When a poll for jobs last succeeded, Unix time",
            metrics.last_poll.clone(),
        );
        r.register(
            "last_run_finished_timestamp_seconds",
            "When the last run (iteration) finished, Unix time",
            metrics.last_run.clone(),
        );
        r.register(
            "artifact_bytes",
            "Artifact bytes moved, down (downloaded) and up (uploaded)",
            metrics.artifact_bytes.clone(),
        );
        r.register(
            "ready",
            "1 while AWS accepts the credentials and their permissions (/readyz passes), else 0",
            metrics.ready.clone(),
        );
        Self { registry, ..metrics }
    }

    /// The exposition: OpenMetrics (what Prometheus asks for first) or the Prometheus text
    /// format 0.0.4 (what `curl` and `promtool check metrics` read).
    pub fn encode(&self, format: Format) -> String {
        self.ready.set(i64::from(self.health.readiness().ok));
        let mut text = String::with_capacity(8 * 1024);
        // Writing to a String does not fail.
        let _ = match format {
            Format::OpenMetrics => prometheus_client::encoding::text::encode(&mut text, &self.registry),
            Format::Prometheus => {
                prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry)
            }
        };
        text
    }

    fn action(&self, step: &str) -> Option<ActionKind> {
        self.actions.lock().unwrap_or_else(|e| e.into_inner()).get(step).copied()
    }

    fn attempt(
        &self,
        step: &str,
        action: ActionKind,
        elapsed: Duration,
        failure: Option<&crate::events::AttemptFailure>,
    ) {
        let outcome = failure.map_or("ok", |f| f.class);
        match action.service() {
            Some(service) => {
                let (service, operation) = (service.name(), operation_of(action));
                self.calls.get_or_create(&CallLabels { service, operation, outcome }).inc();
                self.call_seconds
                    .get_or_create(&OperationLabels { service, operation })
                    .observe(elapsed.as_secs_f64());
                if action == ActionKind::PollJobs && failure.is_none() {
                    self.last_poll.set(unix_now());
                }
                match failure {
                    Some(failure) if failure.access_refused => {
                        let code = failure.code.as_deref().unwrap_or("no credentials");
                        self.health.refused(format!("{operation}: {code}: {}", failure.message));
                    }
                    // A throttle or a 5xx is not the credentials: readiness stays as it was.
                    Some(_) => {}
                    None => self.health.answered(),
                }
            }
            None => {
                let step = step.to_string();
                self.exec_seconds.get_or_create(&ExecLabels { step, outcome }).observe(elapsed.as_secs_f64());
            }
        }
    }

    fn item_finished(&self, step: &str, item: Option<usize>, status: ItemStatus) {
        if item.is_some() {
            self.in_flight.dec();
        }
        let Some(action) = self.action(step) else { return };
        self.items
            .get_or_create(&ItemLabels {
                step: step.to_string(),
                action: action.name(),
                status: status.name(),
            })
            .inc();
        if status == ItemStatus::Succeeded {
            match action {
                ActionKind::Acknowledge => self.jobs_claimed.inc(),
                ActionKind::ReportSuccess => self.jobs_succeeded.inc(),
                ActionKind::ReportFailure => self.jobs_failed.inc(),
                _ => 0,
            };
        }
    }
}

/// The API operation an action's attempts send: the artifact actions' descriptions name more
/// than the request.
fn operation_of(action: ActionKind) -> &'static str {
    match action {
        ActionKind::DownloadArtifacts => "GetObject",
        ActionKind::UploadArtifacts => "PutObject",
        action => action.operation(),
    }
}

/// The group a limit belongs to: the action's quota group, or the action itself.
fn group_of(action: ActionKind) -> &'static str {
    action.spec().quota.map_or(action.name(), |group| group.name())
}

fn unix_now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

impl Reporter for Metrics {
    fn report(&self, event: &Event) {
        match event {
            Event::RunStarted { .. } => self.health.iteration_started(),
            Event::StepStarted { step, action, .. } => {
                self.actions.lock().unwrap_or_else(|e| e.into_inner()).insert(step.clone(), *action);
            }
            Event::Pace { step, per_second, limit_per_second } => {
                let Some(action) = self.action(step) else { return };
                // Without a known limit the pace is slow start's probe (thousands per second
                // on an idle service): not a rate anyone set or AWS granted.
                let (Some(rate), Some(limit)) = (per_second, limit_per_second) else { return };
                let labels = GroupLabels { group: group_of(action) };
                self.rate.get_or_create(&labels).set(*rate);
                self.limit.get_or_create(&labels).set(*limit);
            }
            Event::ItemStarted { .. } => {
                self.in_flight.inc();
            }
            Event::Attempt { step, action, elapsed, failure, bytes } => {
                self.attempt(step, *action, *elapsed, failure.as_ref());
                if let Some(bytes) = bytes {
                    let direction = if *action == ActionKind::UploadArtifacts { "up" } else { "down" };
                    self.artifact_bytes.get_or_create(&DirectionLabels { direction }).inc_by(*bytes);
                }
            }
            Event::Retrying { step, class, .. } => {
                let Some(action) = self.action(step) else { return };
                self.retries.get_or_create(&RetryLabels { action: action.name(), class }).inc();
            }
            Event::ItemFinished { step, item, status, .. } => self.item_finished(step, *item, *status),
            Event::DailyQuota { action, used, limit, .. } => {
                let labels = GroupLabels { group: group_of(*action) };
                self.daily_used.get_or_create(&labels).set(i64::try_from(*used).unwrap_or(i64::MAX));
                self.daily_left
                    .get_or_create(&labels)
                    .set(i64::try_from(limit.saturating_sub(*used)).unwrap_or(i64::MAX));
            }
            Event::RunFinished { counts, failed_steps, stopped, .. } => {
                let status = if *stopped {
                    "stopped"
                } else if !failed_steps.is_empty() || counts.failed > 0 {
                    "failed"
                } else {
                    "succeeded"
                };
                self.runs.get_or_create(&StatusLabels { status }).inc();
                self.last_run.set(unix_now());
                // Items a stop left unfinished say nothing more.
                self.in_flight.set(0);
                self.health.iteration_finished();
            }
            Event::QuotaExhausted { .. } | Event::StepFinished { .. } | Event::Stopping { .. } => {}
        }
    }
}

#[cfg(test)]
mod tests;
