//! Client-side rate limits: one token bucket per service, shared by every step that calls it.
//!
//! The bucket starts at the playbook's `rate-limits` (or unlimited). When the service
//! throttles anyway, the rate drops to half of what was being sent (multiplicative decrease)
//! and then climbs back slowly on success (additive increase) up to the configured limit, so
//! a bulk run converges on the real quota instead of storming it with retries.

use std::time::Duration;

use tokio::time::Instant;

use tokio::sync::Mutex;

/// The lowest rate adaptation goes down to: one call every ten seconds.
const MIN_RATE: f64 = 0.1;
/// Calls go a little under the limit, so that network jitter does not push two calls into
/// the same second of the service's bucket. Costs 3% of the throughput.
const MARGIN: f64 = 0.97;
/// How much of the rate a throttled answer takes away (the AWS SDKs' adaptive mode uses 0.7).
const DECREASE: f64 = 0.7;

#[derive(Debug)]
pub struct RateLimiter {
    state: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    /// The user's limit, calls per second; `None` is unlimited.
    limit: Option<f64>,
    /// The rate in force now; below `limit` after throttling.
    rate: Option<f64>,
    /// The earliest time the next call may go.
    next: Instant,
    throttles: u64,
}

impl RateLimiter {
    pub fn new(limit: Option<f64>) -> Self {
        Self { state: Mutex::new(Bucket { limit, rate: limit, next: Instant::now(), throttles: 0 }) }
    }

    /// Waits for this call's turn. Calls are spaced evenly at the current rate (a bucket of
    /// one token), which is what a per-second service quota accepts.
    pub async fn acquire(&self) {
        let wait = {
            let mut bucket = self.state.lock().await;
            let Some(rate) = bucket.rate else {
                return;
            };
            let now = Instant::now();
            let slot = bucket.next.max(now);
            bucket.next = slot + Duration::from_secs_f64(1.0 / (rate * MARGIN));
            slot - now
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    /// The service throttled: cut the rate (from the limit, or from what was observed).
    pub async fn throttled(&self, observed_rate: f64) {
        let mut bucket = self.state.lock().await;
        bucket.throttles += 1;
        let current = bucket.rate.unwrap_or(observed_rate.max(MIN_RATE));
        let lowered = (current * DECREASE).max(MIN_RATE);
        bucket.rate = Some(lowered);
        // Everyone waits a full interval at the new rate before trying again.
        bucket.next = bucket.next.max(Instant::now() + Duration::from_secs_f64(1.0 / lowered));
    }

    /// A call succeeded: climb back towards the limit, 5% per success.
    pub async fn succeeded(&self) {
        let mut bucket = self.state.lock().await;
        if let Some(rate) = bucket.rate {
            let raised = rate * 1.05 + 0.01;
            bucket.rate = match bucket.limit {
                Some(limit) => Some(raised.min(limit)),
                // Unlimited before throttling: go back to unlimited once well above where we were.
                None if raised > 1000.0 => None,
                None => Some(raised),
            };
        }
    }

    /// The rate in force, calls per second (`None`: unlimited).
    pub async fn rate(&self) -> Option<f64> {
        self.state.lock().await.rate
    }

    pub async fn throttles(&self) -> u64 {
        self.state.lock().await.throttles
    }
}

#[cfg(test)]
mod tests {
    use super::RateLimiter;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn calls_are_spaced_at_the_limit() {
        let limiter = RateLimiter::new(Some(4.0));
        let start = tokio::time::Instant::now();
        for _ in 0..9 {
            limiter.acquire().await;
        }
        // Nine calls at 4/s (less the 3% margin): the first at once, the ninth about 2.06 s later.
        let elapsed = start.elapsed();
        assert!(
            elapsed >= Duration::from_millis(2050) && elapsed <= Duration::from_millis(2100),
            "{elapsed:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn throttling_halves_the_rate_and_success_brings_it_back_to_the_limit() {
        let limiter = RateLimiter::new(Some(10.0));
        limiter.throttled(10.0).await;
        assert_eq!(limiter.rate().await, Some(7.0));
        for _ in 0..1000 {
            limiter.succeeded().await;
        }
        assert_eq!(limiter.rate().await, Some(10.0));
        assert_eq!(limiter.throttles().await, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn an_unlimited_service_gets_a_rate_when_it_throttles() {
        let limiter = RateLimiter::new(None);
        assert_eq!(limiter.rate().await, None);
        limiter.throttled(40.0).await;
        assert_eq!(limiter.rate().await, Some(28.0));
    }
}
