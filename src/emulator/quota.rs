//! The service quotas AWS documents for Partner Central Selling, per account:
//! StartEngagementByAcceptingInvitationTask 1 per second and 10,000 per 24 hours; the read
//! operations 10 per second. Each is a token bucket (a burst of one second's worth) with an
//! optional daily cap, configurable and switchable off.

use std::str::FromStr;
use std::time::{Duration, Instant};

use crate::playbook::Rate;

/// Which quota a request counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QuotaKind {
    Accept,
    Reads,
}

/// One quota's limits; `None` means off.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quota {
    pub per_second: f64,
    pub daily: Option<u64>,
}

/// Every quota the emulator enforces.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuotaSpec {
    pub accept: Option<Quota>,
    pub reads: Option<Quota>,
}

impl Default for QuotaSpec {
    /// The documented quotas.
    fn default() -> Self {
        Self {
            accept: Some(Quota { per_second: 1.0, daily: Some(10_000) }),
            reads: Some(Quota { per_second: 10.0, daily: None }),
        }
    }
}

impl QuotaSpec {
    pub fn off() -> Self {
        Self { accept: None, reads: None }
    }

    pub fn get(&self, kind: QuotaKind) -> Option<Quota> {
        match kind {
            QuotaKind::Accept => self.accept,
            QuotaKind::Reads => self.reads,
        }
    }

    /// Applies one `--quota` argument: `off`, `accept=20/s`, `accept=1/s,10000`, `reads=off`.
    pub fn apply(&mut self, text: &str) -> Result<(), String> {
        if text == "off" {
            *self = QuotaSpec::off();
            return Ok(());
        }
        let (name, value) = text
            .split_once('=')
            .ok_or_else(|| format!("`{text}` is not off or OP=RATE[,DAILY] (accept=1/s,10000)"))?;
        let quota = if value == "off" {
            None
        } else {
            let (rate, daily) = match value.split_once(',') {
                Some((rate, daily)) => {
                    let daily = daily.parse().map_err(|_| format!("`{daily}` is not a whole number"))?;
                    (rate, Some(daily))
                }
                None => (value, None),
            };
            let rate = Rate::from_str(rate)?;
            Some(Quota { per_second: rate.per_second, daily })
        };
        match name {
            "accept" => self.accept = quota,
            "reads" => self.reads = quota,
            other => return Err(format!("unknown quota `{other}`: use accept or reads")),
        }
        Ok(())
    }
}

/// A token bucket with an optional daily cap, for one account and one quota.
#[derive(Debug, Clone)]
pub struct Bucket {
    quota: Quota,
    tokens: f64,
    refilled: Instant,
    day_started: Instant,
    used_today: u64,
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Rate,
    Daily,
}

impl Bucket {
    pub fn new(quota: Quota, now: Instant) -> Self {
        Self { quota, tokens: quota.per_second.max(1.0), refilled: now, day_started: now, used_today: 0 }
    }

    pub fn take(&mut self, now: Instant) -> Result<(), Refusal> {
        if now.duration_since(self.day_started) >= Duration::from_secs(24 * 3600) {
            self.day_started = now;
            self.used_today = 0;
        }
        if self.quota.daily.is_some_and(|daily| self.used_today >= daily) {
            return Err(Refusal::Daily);
        }
        let capacity = self.quota.per_second.max(1.0);
        let elapsed = now.duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.quota.per_second).min(capacity);
        self.refilled = now;
        if self.tokens < 1.0 {
            return Err(Refusal::Rate);
        }
        self.tokens -= 1.0;
        self.used_today += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{Bucket, Quota, QuotaSpec, Refusal};
    use std::time::{Duration, Instant};

    #[test]
    fn one_per_second_allows_one_then_refuses_until_a_second_passes() {
        let start = Instant::now();
        let mut bucket = Bucket::new(Quota { per_second: 1.0, daily: None }, start);
        assert_eq!(bucket.take(start), Ok(()));
        assert_eq!(bucket.take(start + Duration::from_millis(500)), Err(Refusal::Rate));
        assert_eq!(bucket.take(start + Duration::from_millis(1000)), Ok(()));
    }

    #[test]
    fn the_daily_cap_holds_until_the_day_is_over() {
        let start = Instant::now();
        let mut bucket = Bucket::new(Quota { per_second: 1000.0, daily: Some(2) }, start);
        let second = Duration::from_secs(1);
        assert_eq!(bucket.take(start), Ok(()));
        assert_eq!(bucket.take(start + second), Ok(()));
        assert_eq!(bucket.take(start + 2 * second), Err(Refusal::Daily));
        assert_eq!(bucket.take(start + Duration::from_secs(24 * 3600)), Ok(()));
    }

    #[test]
    fn quota_arguments_parse() {
        let mut spec = QuotaSpec::default();
        spec.apply("accept=20/s,500").unwrap();
        assert_eq!(spec.accept, Some(Quota { per_second: 20.0, daily: Some(500) }));
        spec.apply("reads=off").unwrap();
        assert_eq!(spec.reads, None);
        spec.apply("off").unwrap();
        assert_eq!(spec, QuotaSpec::off());
        assert!(spec.apply("writes=1/s").is_err());
    }
}
