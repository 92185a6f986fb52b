//! One call to AWS as the engine makes it: wait for the service's rate limiter, send with a
//! per-attempt timeout, classify a failure, and retry by the step's policy. Actions use a
//! [`Caller`] for every request they send, so paging and polling are retried the same way.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::limiter::RateLimiter;
use super::retry::{CallError, ErrorClass, RetryPolicy};

/// How an action ended for one item.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Succeeded(Value),
    /// Nothing to do: the work was already done (an invitation already accepted, say).
    Skipped {
        output: Option<Value>,
        reason: String,
    },
    Failed {
        error: CallError,
        output: Option<Value>,
    },
}

/// Something a caller reports as it goes (a retry, a throttled answer).
#[derive(Debug, Clone, PartialEq)]
pub struct RetryNotice {
    pub attempt: u32,
    pub max_attempts: u32,
    pub delay: Duration,
    pub error: CallError,
}

/// One attempt ended: how long it took and how it went. What metrics and reports count; the
/// value is the attempt's own (an artifact action's is the bytes it moved).
#[derive(Debug)]
pub struct AttemptNotice<'v> {
    pub elapsed: Duration,
    pub result: Result<&'v Value, &'v CallError>,
}

/// Sends requests for one item with the step's retry policy and the service's limiter.
pub struct Caller<'a> {
    pub policy: &'a RetryPolicy,
    /// The action's adaptive limiter, then the service's ceiling.
    pub limiters: [&'a RateLimiter; 2],
    pub timeout: Duration,
    pub on_retry: &'a (dyn Fn(&RetryNotice) + Send + Sync),
    /// Told of every attempt's end, retried or not.
    on_attempt: Option<&'a (dyn Fn(&AttemptNotice<'_>) + Send + Sync)>,
    /// The run's stop signal: no new attempt starts once it fires.
    cancel: CancellationToken,
    attempts: AtomicU32,
    retries: AtomicU32,
    throttled: AtomicU32,
    ambiguous: AtomicBool,
}

impl std::fmt::Debug for Caller<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caller")
            .field("policy", self.policy)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl<'a> Caller<'a> {
    pub fn new(
        policy: &'a RetryPolicy,
        limiters: [&'a RateLimiter; 2],
        timeout: Duration,
        on_retry: &'a (dyn Fn(&RetryNotice) + Send + Sync),
    ) -> Self {
        Self {
            policy,
            limiters,
            timeout,
            on_retry,
            on_attempt: None,
            cancel: CancellationToken::new(),
            attempts: AtomicU32::new(0),
            retries: AtomicU32::new(0),
            throttled: AtomicU32::new(0),
            ambiguous: AtomicBool::new(false),
        }
    }

    /// Stops starting attempts once `cancel` fires (the run was asked to stop).
    pub fn with_cancel(mut self, cancel: CancellationToken) -> Self {
        self.cancel = cancel;
        self
    }

    /// Tells `on_attempt` of every attempt's end.
    pub fn with_attempts(mut self, on_attempt: &'a (dyn Fn(&AttemptNotice<'_>) + Send + Sync)) -> Self {
        self.on_attempt = Some(on_attempt);
        self
    }

    /// Resolves when the run is asked to stop; long waits (task polling) race it.
    pub async fn stopped(&self) {
        self.cancel.cancelled().await;
    }

    /// Attempts made so far, over every request of this item.
    pub fn attempts(&self) -> u32 {
        self.attempts.load(Ordering::Relaxed)
    }

    /// Counts a request sent on this item's behalf by someone else (the batched task checks
    /// of `wait-for-acceptance`), so reports do not call the item unsent.
    pub fn note_attempt(&self) {
        self.attempts.fetch_add(1, Ordering::Relaxed);
    }

    /// Attempts that were retries of a failed one (a paged list sends several requests
    /// without any retry).
    pub fn retries(&self) -> u32 {
        self.retries.load(Ordering::Relaxed)
    }

    /// Attempts the service answered with throttling.
    pub fn throttled(&self) -> u32 {
        self.throttled.load(Ordering::Relaxed)
    }

    /// Whether an earlier attempt may have been applied without our seeing the answer.
    pub fn had_ambiguous_attempt(&self) -> bool {
        self.ambiguous.load(Ordering::Relaxed)
    }

    /// Sends one request, retrying as the policy says. `attempt` builds and sends it anew
    /// each time.
    pub async fn send<F, Fut>(&self, attempt: F) -> Result<Value, CallError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<Value, CallError>>,
    {
        self.send_within(self.timeout, attempt).await
    }

    /// [`Caller::send`] with another per-attempt timeout: for work that enforces its own
    /// (a program, ended gracefully), this one is only the backstop.
    pub async fn send_within<F, Fut>(&self, timeout: Duration, mut attempt: F) -> Result<Value, CallError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<Value, CallError>>,
    {
        let mut tries = 0;
        loop {
            tries += 1;
            let [adaptive, ceiling] = self.limiters;
            let turn = loop {
                // A stopped run sends nothing new: an item still waiting for its turn is left
                // unfinished, for `--resume`.
                let turn = tokio::select! {
                    turn = adaptive.acquire() => turn,
                    () = self.cancel.cancelled() => return Err(CallError::stopped()),
                };
                tokio::select! {
                    _ = ceiling.acquire() => {}
                    () = self.cancel.cancelled() => return Err(CallError::stopped()),
                }
                // A turn given before a decrease would send at the old pace: take a new one.
                if !adaptive.stale(turn) {
                    break turn;
                }
            };
            self.attempts.fetch_add(1, Ordering::Relaxed);
            let sent = tokio::time::Instant::now();
            let result = match tokio::time::timeout(timeout, attempt()).await {
                Ok(result) => result,
                Err(_) => Err(CallError::timeout(timeout)),
            };
            if let Some(on_attempt) = self.on_attempt {
                on_attempt(&AttemptNotice { elapsed: sent.elapsed(), result: result.as_ref() });
            }
            let error = match result {
                Ok(value) => {
                    adaptive.succeeded(sent, turn);
                    return Ok(value);
                }
                Err(error) => error,
            };
            if error.ambiguous {
                self.ambiguous.store(true, Ordering::Relaxed);
            }
            if error.class == ErrorClass::Throttling {
                self.throttled.fetch_add(1, Ordering::Relaxed);
                adaptive.throttled(sent, turn);
            }
            if tries >= self.policy.max_attempts || !self.policy.should_retry(&error) {
                return Err(error);
            }
            if self.cancel.is_cancelled() {
                return Err(CallError::stopped());
            }
            // Seeded here, not per call: most calls never retry, and seeding from the OS is a
            // `getrandom` system call.
            let delay = self.policy.delay(tries, &mut StdRng::from_os_rng());
            self.retries.fetch_add(1, Ordering::Relaxed);
            (self.on_retry)(&RetryNotice {
                attempt: tries,
                max_attempts: self.policy.max_attempts,
                delay,
                error,
            });
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = self.cancel.cancelled() => return Err(CallError::stopped()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Caller;
    use crate::call::RateLimiter;
    use crate::call::{CallError, ErrorClass, RetryPolicy};
    use serde_json::json;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    fn failure(class: ErrorClass, code: &str) -> CallError {
        CallError { code: Some(code.into()), ..CallError::new(class, "no") }
    }

    #[tokio::test(start_paused = true)]
    async fn retries_transient_errors_until_success() {
        let policy = RetryPolicy::default();
        let limiter = RateLimiter::new(None);
        let notices = AtomicU32::new(0);
        let on_retry = |_: &super::RetryNotice| {
            notices.fetch_add(1, Ordering::Relaxed);
        };
        let caller = Caller::new(&policy, [&limiter, &limiter], Duration::from_secs(5), &on_retry);
        let calls = AtomicU32::new(0);
        let result = caller
            .send(|| {
                let n = calls.fetch_add(1, Ordering::Relaxed);
                async move {
                    if n < 2 {
                        Err(failure(ErrorClass::Transient, "InternalFailure"))
                    } else {
                        Ok(json!({"ok": true}))
                    }
                }
            })
            .await;
        assert_eq!(result, Ok(json!({"ok": true})));
        assert_eq!(caller.attempts(), 3);
        assert_eq!(notices.load(Ordering::Relaxed), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn does_not_retry_validation_and_stops_at_max_attempts() {
        let policy = RetryPolicy { max_attempts: 3, ..RetryPolicy::default() };
        let limiter = RateLimiter::new(None);
        let on_retry = |_: &super::RetryNotice| {};
        let caller = Caller::new(&policy, [&limiter, &limiter], Duration::from_secs(5), &on_retry);
        let result = caller
            .send(|| async {
                Err::<serde_json::Value, _>(failure(ErrorClass::Client, "ValidationException"))
            })
            .await;
        assert_eq!(result.unwrap_err().code(), Some("ValidationException"));
        assert_eq!(caller.attempts(), 1);
        let caller = Caller::new(&policy, [&limiter, &limiter], Duration::from_secs(5), &on_retry);
        let result = caller
            .send(|| async {
                Err::<serde_json::Value, _>(failure(ErrorClass::Throttling, "ThrottlingException"))
            })
            .await;
        assert!(result.is_err());
        assert_eq!(caller.attempts(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_attempt_times_out_and_counts_as_ambiguous() {
        let policy = RetryPolicy { max_attempts: 2, ..RetryPolicy::default() };
        let limiter = RateLimiter::new(None);
        let on_retry = |_: &super::RetryNotice| {};
        let caller = Caller::new(&policy, [&limiter, &limiter], Duration::from_millis(100), &on_retry);
        let result = caller
            .send(|| async {
                tokio::time::sleep(Duration::from_secs(1)).await;
                Ok(json!(1))
            })
            .await;
        assert_eq!(result.unwrap_err().class, ErrorClass::Timeout);
        assert!(caller.had_ambiguous_attempt());
    }
}
