//! Client-side rate limits: one token bucket per service, shared by every step that calls it.
//!
//! The bucket starts at the playbook's `rate-limits` (or unlimited). When the service
//! throttles anyway, the rate drops by 30% (at most once a second, so a burst of throttled
//! answers to calls already in flight counts once), then climbs back 2% per success up to the
//! configured limit. A bulk run thus converges on the real quota instead of storming it with
//! retries. A configured limit is trusted within a factor of two: adaptation never goes below
//! half of it.

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
/// How much each success gives back.
const INCREASE: f64 = 1.02;
/// Throttled answers within this long after a decrease do not decrease again.
const COOLDOWN: Duration = Duration::from_secs(1);

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
    last_decrease: Option<Instant>,
    /// Calls sent in the current second, to estimate the rate when there is no limit.
    window: (Instant, u32),
}

impl RateLimiter {
    pub fn new(limit: Option<f64>) -> Self {
        let now = Instant::now();
        let bucket =
            Bucket { limit, rate: limit, next: now, throttles: 0, last_decrease: None, window: (now, 0) };
        Self { state: Mutex::new(bucket) }
    }

    /// Waits for this call's turn. Calls are spaced evenly at the current rate (a bucket of
    /// one token), which is what a per-second service quota accepts.
    pub async fn acquire(&self) {
        let wait = {
            let mut bucket = self.state.lock().await;
            let now = Instant::now();
            if now.duration_since(bucket.window.0) >= Duration::from_secs(1) {
                bucket.window = (now, 0);
            }
            bucket.window.1 += 1;
            let Some(rate) = bucket.rate else {
                return;
            };
            let slot = bucket.next.max(now);
            bucket.next = slot + Duration::from_secs_f64(1.0 / (rate * MARGIN));
            slot - now
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    /// The service throttled: cut the rate by 30%, once per cooldown.
    pub async fn throttled(&self) {
        let mut bucket = self.state.lock().await;
        bucket.throttles += 1;
        let now = Instant::now();
        if bucket.last_decrease.is_some_and(|at| now.duration_since(at) < COOLDOWN) {
            return;
        }
        bucket.last_decrease = Some(now);
        let sent =
            f64::from(bucket.window.1).max(1.0) / now.duration_since(bucket.window.0).as_secs_f64().max(1.0);
        let current = bucket.rate.unwrap_or(sent);
        let floor = bucket.limit.map_or(MIN_RATE, |limit| limit / 2.0);
        let lowered = (current * DECREASE).max(floor);
        bucket.rate = Some(lowered);
        // Everyone waits a full interval at the new rate before trying again.
        bucket.next = bucket.next.max(now + Duration::from_secs_f64(1.0 / lowered));
    }

    /// A call succeeded: climb back towards the limit.
    pub async fn succeeded(&self) {
        let mut bucket = self.state.lock().await;
        if let Some(rate) = bucket.rate {
            let raised = rate * INCREASE + 0.01;
            bucket.rate = match bucket.limit {
                Some(limit) => Some(raised.min(limit)),
                // Unlimited before throttling: unlimited again once far above any quota.
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
    async fn throttling_cuts_the_rate_once_per_cooldown_and_success_restores_it() {
        let limiter = RateLimiter::new(Some(10.0));
        limiter.throttled().await;
        assert_eq!(limiter.rate().await, Some(7.0));
        // A second throttled answer within the cooldown changes nothing.
        limiter.throttled().await;
        assert_eq!(limiter.rate().await, Some(7.0));
        tokio::time::advance(Duration::from_secs(2)).await;
        limiter.throttled().await;
        assert_eq!(limiter.rate().await, Some(5.0), "never below half the configured limit");
        for _ in 0..1000 {
            limiter.succeeded().await;
        }
        assert_eq!(limiter.rate().await, Some(10.0));
        assert_eq!(limiter.throttles().await, 3);
    }

    #[tokio::test(start_paused = true)]
    async fn an_unlimited_service_gets_a_rate_when_it_throttles() {
        let limiter = RateLimiter::new(None);
        assert_eq!(limiter.rate().await, None);
        for _ in 0..40 {
            limiter.acquire().await;
        }
        limiter.throttled().await;
        assert_eq!(limiter.rate().await, Some(28.0), "70% of the 40 calls sent this second");
    }
}
