//! The probes' state: `/healthz` says whether the loop is alive (no iteration has run past
//! `--stuck-after`, and the next one started when it should have); `/readyz` whether AWS
//! accepts the credentials (the last answer that judged them was not a refusal).

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A probe's answer: whether it passes, and the body that says why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub ok: bool,
    pub body: String,
}

#[derive(Debug)]
enum Readiness {
    /// No AWS answer yet, and no run finished.
    Starting,
    Ready,
    /// AWS refused the credentials or their permissions: what it said (masked).
    Refused(String),
}

#[derive(Debug)]
struct State {
    /// When the running iteration started; `None` between iterations.
    running_since: Option<Instant>,
    /// When the last iteration ended (at first, when the process started).
    idle_since: Instant,
    iterations: u64,
    readiness: Readiness,
}

/// What the probes read; the events of [`super::Metrics`] keep it.
#[derive(Debug)]
pub struct Health {
    stuck_after: Duration,
    /// A worker's `--every`: between iterations, the next is due this long after the last
    /// one ended at most.
    interval: Option<Duration>,
    state: Mutex<State>,
}

impl Health {
    pub fn new(stuck_after: Duration, interval: Option<Duration>) -> Self {
        let state = State {
            running_since: None,
            idle_since: Instant::now(),
            iterations: 0,
            readiness: Readiness::Starting,
        };
        Self { stuck_after, interval, state: Mutex::new(state) }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn iteration_started(&self) {
        let mut state = self.state();
        state.running_since = Some(Instant::now());
        state.iterations += 1;
    }

    pub(super) fn iteration_finished(&self) {
        let mut state = self.state();
        state.running_since = None;
        state.idle_since = Instant::now();
        // A run that calls no AWS API (or only found nothing to do with them) is ready once
        // it finished without a refusal.
        if matches!(state.readiness, Readiness::Starting) {
            state.readiness = Readiness::Ready;
        }
    }

    /// An AWS call was answered: the credentials work.
    pub(super) fn answered(&self) {
        let mut state = self.state();
        if !matches!(state.readiness, Readiness::Ready) {
            state.readiness = Readiness::Ready;
        }
    }

    /// AWS refused the credentials: `why` is masked.
    pub(super) fn refused(&self, why: String) {
        self.state().readiness = Readiness::Refused(why);
    }

    /// `/healthz`.
    pub fn liveness(&self) -> Probe {
        self.liveness_at(Instant::now())
    }

    fn liveness_at(&self, now: Instant) -> Probe {
        let state = self.state();
        let bound = humantime::format_duration(self.stuck_after);
        match state.running_since {
            Some(since) => {
                let running = round(now.saturating_duration_since(since));
                if running > self.stuck_after {
                    return Probe {
                        ok: false,
                        body: format!(
                            "stuck: iteration {} has run for {}, past --stuck-after {bound}\n",
                            state.iterations,
                            humantime::format_duration(running)
                        ),
                    };
                }
                Probe {
                    ok: true,
                    body: format!(
                        "ok: iteration {} running for {}\n",
                        state.iterations,
                        humantime::format_duration(running)
                    ),
                }
            }
            None => {
                let idle = round(now.saturating_duration_since(state.idle_since));
                // Between iterations the worker sleeps at most its interval (and a single
                // run, after its end, only serves the endpoint until it exits).
                if let Some(interval) = self.interval
                    && idle > interval + self.stuck_after
                {
                    return Probe {
                        ok: false,
                        body: format!(
                            "stuck: no iteration started for {}, past --every {} and --stuck-after {bound}\n",
                            humantime::format_duration(idle),
                            humantime::format_duration(interval)
                        ),
                    };
                }
                Probe {
                    ok: true,
                    body: format!(
                        "ok: {} iterations, waiting for the next for {}\n",
                        state.iterations,
                        humantime::format_duration(idle)
                    ),
                }
            }
        }
    }

    /// `/readyz`.
    pub fn readiness(&self) -> Probe {
        match &self.state().readiness {
            Readiness::Starting => {
                Probe { ok: false, body: "not ready: starting, no AWS call answered yet\n".into() }
            }
            Readiness::Ready => Probe { ok: true, body: "ready\n".into() },
            Readiness::Refused(why) => {
                Probe { ok: false, body: format!("not ready: AWS refused the credentials: {why}\n") }
            }
        }
    }
}

/// Whole seconds: a probe's body does not need nanoseconds.
fn round(duration: Duration) -> Duration {
    Duration::from_secs(duration.as_secs())
}

#[cfg(test)]
mod tests {
    use super::Health;
    use std::time::{Duration, Instant};

    #[test]
    fn an_iteration_past_the_bound_is_stuck_and_a_finished_one_is_not() {
        let health = Health::new(Duration::from_secs(60), Some(Duration::from_secs(30)));
        health.iteration_started();
        let now = Instant::now();
        assert!(health.liveness_at(now + Duration::from_secs(59)).ok);
        let stuck = health.liveness_at(now + Duration::from_secs(61));
        assert!(!stuck.ok);
        assert!(stuck.body.contains("past --stuck-after 1m"), "{}", stuck.body);
        health.iteration_finished();
        let now = Instant::now();
        assert!(health.liveness_at(now + Duration::from_secs(89)).ok);
        let asleep = health.liveness_at(now + Duration::from_secs(91));
        assert!(!asleep.ok, "{}", asleep.body);
    }

    #[test]
    fn readiness_follows_the_last_answer_that_judged_the_credentials() {
        let health = Health::new(Duration::from_secs(60), None);
        assert!(!health.readiness().ok);
        health.answered();
        assert!(health.readiness().ok);
        health.refused("PollForThirdPartyJobs: AccessDeniedException: not allowed".into());
        let refused = health.readiness();
        assert!(!refused.ok);
        assert!(refused.body.contains("AccessDeniedException"), "{}", refused.body);
        health.iteration_finished();
        assert!(!health.readiness().ok, "a run's end does not clear a refusal");
        health.answered();
        assert!(health.readiness().ok);
    }
}
