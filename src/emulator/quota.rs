//! The service quotas AWS documents for Partner Central Selling, per account, by group: the
//! write operations (StartEngagementByAcceptingInvitationTask and the other writes) share 1
//! per second and 10,000 per 24 hours; the read operations share 10 per second. Each is a
//! token bucket (a burst of one second's worth) with an optional daily cap, configurable and
//! switchable off. Another client of the same account can be given a steady share of a
//! bucket (`--background writes=0.3/s`): what it uses is not refilled for anyone else, as
//! when a partner's CRM integration calls the same quota.

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
            accept: Some(Quota { per_second: 1.0, daily: Some(10_000), background: 0.0 }),
            reads: Some(Quota { per_second: 10.0, daily: None, background: 0.0 }),
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

    /// Applies one `--background` argument: `writes=0.3/s` (another client's steady use).
    pub fn apply_background(&mut self, text: &str) -> Result<(), String> {
        let (name, rate) =
            text.split_once('=').ok_or_else(|| format!("`{text}` is not GROUP=RATE (writes=0.3/s)"))?;
        let rate = Rate::from_str(rate)?.per_second;
        let quota = match name {
            "accept" | "writes" => &mut self.accept,
            "reads" => &mut self.reads,
            other => return Err(format!("unknown quota `{other}`: use writes or reads")),
        };
        match quota {
            Some(quota) => {
                quota.background = rate;
                Ok(())
            }
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
            Some(Quota { per_second: rate.per_second, daily, background: 0.0 })
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
        let mut bucket = Bucket::new(Quota { per_second: 1.0, daily: None, background: 0.0 }, start);
        assert_eq!(bucket.take(start), Ok(()));
        assert_eq!(bucket.take(start + Duration::from_millis(500)), Err(Refusal::Rate));
        assert_eq!(bucket.take(start + Duration::from_millis(1000)), Ok(()));
    }

    #[test]
    fn another_clients_share_is_not_refilled_for_us() {
        let start = Instant::now();
        let quota = Quota { per_second: 1.0, daily: None, background: 0.3 };
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
    fn the_daily_cap_holds_until_the_day_is_over() {
        let start = Instant::now();
        let mut bucket = Bucket::new(Quota { per_second: 1000.0, daily: Some(2), background: 0.0 }, start);
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
        assert_eq!(spec.accept, Some(Quota { per_second: 20.0, daily: Some(500), background: 0.0 }));
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
