//! The service quotas AWS documents for Partner Central Selling, per account, by group: the
//! write operations (StartEngagementByAcceptingInvitationTask and the other writes) share 1
//! per second and 10,000 per 24 hours; the read operations share 10 per second. Each is a
//! token bucket with an optional daily cap, configurable and switchable off. AWS documents
//! the rate, not the bucket: by default it holds one second's worth (at least one token), and
//! `--bucket writes=2` sets its size.
//!
//! Another client of the same account comes in two kinds. `--background writes=0.3/s` is a
//! steady share that is never refilled for anyone else: it always gets its share, so it can
//! never be crowded out. `--client writes=0.3/s` behaves like a real client (a partner's CRM
//! integration): it asks for a token at evenly spaced times, gets one only when the bucket
//! has one, and is refused otherwise, without retrying; the summary counts what it was
//! refused, beside every other client's count (`quota_clients`).

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
    /// Another client's steady use of the same quota, calls per second.
    pub background: f64,
    /// The bucket's size in tokens; `None` is one second's worth (at least one).
    pub burst: Option<f64>,
    /// A real-like client inside the emulator: evenly spaced requests, calls per second.
    pub client: f64,
}

impl Quota {
    /// A quota of `per_second` with the default bucket and no other client.
    pub fn new(per_second: f64, daily: Option<u64>) -> Self {
        Self { per_second, daily, background: 0.0, burst: None, client: 0.0 }
    }

    /// How many tokens the bucket holds when full.
    pub fn capacity(&self) -> f64 {
        self.burst.unwrap_or(self.per_second).max(1.0)
    }
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
        Self { accept: Some(Quota::new(1.0, Some(10_000))), reads: Some(Quota::new(10.0, None)) }
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

    /// Applies one `--background` argument: `writes=0.3/s` (another client's steady use).
    pub fn apply_background(&mut self, text: &str) -> Result<(), String> {
        let (quota, rate) = self.group_setting(text, "GROUP=RATE (writes=0.3/s)")?;
        quota.background = Rate::from_str(rate)?.per_second;
        Ok(())
    }

    /// Applies one `--client` argument: `writes=0.3/s` (a real-like client's even requests).
    pub fn apply_client(&mut self, text: &str) -> Result<(), String> {
        let (quota, rate) = self.group_setting(text, "GROUP=RATE (writes=0.3/s)")?;
        quota.client = Rate::from_str(rate)?.per_second;
        Ok(())
    }

    /// Applies one `--bucket` argument: `writes=2` (the bucket holds two tokens).
    pub fn apply_bucket(&mut self, text: &str) -> Result<(), String> {
        let (quota, size) = self.group_setting(text, "GROUP=TOKENS (writes=2)")?;
        let size: f64 = size
            .parse()
            .ok()
            .filter(|s: &f64| s.is_finite() && *s >= 1.0)
            .ok_or_else(|| format!("`{size}` is not a bucket size: a number of tokens, at least 1"))?;
        quota.burst = Some(size);
        Ok(())
    }

    /// The quota a `GROUP=VALUE` argument names, and its value.
    fn group_setting<'t>(&mut self, text: &'t str, form: &str) -> Result<(&mut Quota, &'t str), String> {
        let (name, value) = text.split_once('=').ok_or_else(|| format!("`{text}` is not {form}"))?;
        let quota = match name {
            "accept" | "writes" => &mut self.accept,
            "reads" => &mut self.reads,
            other => return Err(format!("unknown quota `{other}`: use writes or reads")),
        };
        match quota {
            Some(quota) => Ok((quota, value)),
            None => Err(format!("the {name} quota is off: nothing to share")),
        }
    }

    /// Applies one `--quota` argument: `off`, `writes=20/s`, `writes=1/s,10000`, `reads=off`
    /// (`accept` is the old name of `writes`).
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
            Some(Quota::new(rate.per_second, daily))
        };
        match name {
            "accept" | "writes" => self.accept = quota,
            "reads" => self.reads = quota,
            other => return Err(format!("unknown quota `{other}`: use writes or reads")),
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
        Self { quota, tokens: quota.capacity(), refilled: now, day_started: now, used_today: 0 }
    }

    pub fn take(&mut self, now: Instant) -> Result<(), Refusal> {
        if now.duration_since(self.day_started) >= Duration::from_secs(24 * 3600) {
            self.day_started = now;
            self.used_today = 0;
        }
        if self.quota.daily.is_some_and(|daily| self.used_today >= daily) {
            return Err(Refusal::Daily);
        }
        let capacity = self.quota.capacity();
        let elapsed = now.duration_since(self.refilled).as_secs_f64();
        let refill = (self.quota.per_second - self.quota.background).max(0.0);
        self.tokens = (self.tokens + elapsed * refill).min(capacity);
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
        let mut bucket = Bucket::new(Quota::new(1.0, None), start);
        assert_eq!(bucket.take(start), Ok(()));
        assert_eq!(bucket.take(start + Duration::from_millis(500)), Err(Refusal::Rate));
        assert_eq!(bucket.take(start + Duration::from_millis(1000)), Ok(()));
    }

    #[test]
    fn another_clients_share_is_not_refilled_for_us() {
        let start = Instant::now();
        let quota = Quota { background: 0.3, ..Quota::new(1.0, None) };
        let mut bucket = Bucket::new(quota, start);
        assert_eq!(bucket.take(start), Ok(()));
        // 0.7 tokens a second are left for us: one call each 1.43 s.
        assert_eq!(bucket.take(start + Duration::from_millis(1400)), Err(Refusal::Rate));
        assert_eq!(bucket.take(start + Duration::from_millis(1430)), Ok(()));
        let mut spec = QuotaSpec::default();
        spec.apply_background("writes=0.3/s").unwrap();
        assert_eq!(spec.accept.unwrap().background, 0.3);
        assert!(spec.apply_background("writes=lots").is_err());
    }

    #[test]
    fn a_bucket_of_two_lets_two_calls_through_at_once_then_refills_at_the_rate() {
        let start = Instant::now();
        let mut spec = QuotaSpec::default();
        spec.apply_bucket("writes=2").unwrap();
        let mut bucket = Bucket::new(spec.accept.unwrap(), start);
        assert_eq!(bucket.take(start), Ok(()));
        assert_eq!(bucket.take(start), Ok(()));
        assert_eq!(bucket.take(start), Err(Refusal::Rate));
        assert_eq!(bucket.take(start + Duration::from_millis(999)), Err(Refusal::Rate));
        assert_eq!(bucket.take(start + Duration::from_millis(1000)), Ok(()));
        for bad in ["writes=0.5", "writes=lots", "writes", "deletes=2"] {
            assert!(spec.apply_bucket(bad).is_err(), "{bad}");
        }
        spec.apply_client("writes=0.3/s").unwrap();
        assert_eq!(spec.accept.unwrap().client, 0.3);
    }

    #[test]
    fn the_daily_cap_holds_until_the_day_is_over() {
        let start = Instant::now();
        let mut bucket = Bucket::new(Quota::new(1000.0, Some(2)), start);
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
        assert_eq!(spec.accept, Some(Quota::new(20.0, Some(500))));
        spec.apply("reads=off").unwrap();
        assert_eq!(spec.reads, None);
        spec.apply("off").unwrap();
        assert_eq!(spec, QuotaSpec::off());
        spec.apply("writes=1/s").unwrap();
        assert_eq!(
            spec.accept.map(|q| q.per_second),
            Some(1.0),
            "writes is the group's name, accept the old one"
        );
        assert!(spec.apply("deletes=1/s").is_err());
    }
}
