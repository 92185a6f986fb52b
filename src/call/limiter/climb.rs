//! The climb after a decrease for contention: a curve in time, not a step per clean window of
//! answers (minutes per step at 1/s). From the relief cut it approaches the level it found,
//! holds it, then probes above it by doubling, the shape of TCP CUBIC's window around the
//! rate where loss came (`W_max`): flat near it, where the others were met, and growing
//! faster away from it, so that a quota the others left is taken back within seconds.

use std::time::Duration;

use tokio::time::Instant;

/// How long the climb takes from the relief cut to the level it holds.
pub(super) const APPROACH: Duration = Duration::from_secs(2);
/// How long a level is held before the first probe above it, and the longest hold: each
/// probe throttled at about the same level holds three times as long next time (10, 30 and
/// 60 s): a neighbour that stays meets a probe or two a minute, and one that leaves is found
/// within seconds of the hold's end.
pub(super) const FIRST_HOLD: Duration = Duration::from_secs(10);
pub(super) const LONGEST_HOLD: Duration = Duration::from_secs(60);
pub(super) const HOLD_GROWTH: u32 = 3;
/// ... but a hold is no longer than this many answers at the level (times the hold's growth),
/// nor shorter than [`SHORTEST_HOLD`]: ten seconds is ten answers at 1/s but two hundred at
/// 20/s, where a level measured a little low from the first throttle's burst would be held
/// for most of a bulk run.
const HOLD_ANSWERS: f64 = 30.0;
const SHORTEST_HOLD: Duration = Duration::from_secs(3);
/// A probe above the held level doubles the rate every this long: from half the quota to
/// 0.9 of it in under three seconds.
pub(super) const PROBE_DOUBLING: Duration = Duration::from_secs(3);
/// How long a probe runs at the limit in force, unthrottled, before the contention counts as
/// over: long enough for a bucket of a few seconds' worth to run dry.
pub(super) const CONFIRM: Duration = Duration::from_secs(20);

/// The climb after a decrease for contention, paced by time, not by responses (which come
/// once a second at 1/s): the shape of TCP CUBIC's window around the rate where throttles
/// came. From the relief cut it approaches `level` in [`APPROACH`], holds it for `hold`,
/// then probes above it, doubling every [`PROBE_DOUBLING`], up to the limit in force.
#[derive(Debug, Clone, Copy)]
pub(super) struct Climb {
    /// When the decrease was made: the hold counts from here, so the time its verdict took
    /// (seconds, at a low rate) is not added to it.
    pub(super) origin: Instant,
    /// When the approach started (the verdict).
    pub(super) since: Instant,
    pub(super) start: f64,
    pub(super) level: f64,
    pub(super) hold: Duration,
    /// The slowest rate of this run of decreases (`FLOOR_SHARE` of the first).
    pub(super) floor: f64,
}

/// Where a climb is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Phase {
    Approach,
    Hold,
    Probe,
}

impl Climb {
    pub(super) fn phase(&self, now: Instant) -> Phase {
        if now < self.since + APPROACH {
            Phase::Approach
        } else if now < self.probe_from() {
            Phase::Hold
        } else {
            Phase::Probe
        }
    }

    pub(super) fn probe_from(&self) -> Instant {
        (self.since + APPROACH).max(self.origin + self.hold_time())
    }

    /// How long the level is held: `hold`, or [`HOLD_ANSWERS`] answers at the level if that
    /// is sooner.
    fn hold_time(&self) -> Duration {
        if self.hold.is_zero() {
            return Duration::ZERO;
        }
        let answers = HOLD_ANSWERS * self.hold.as_secs_f64() / FIRST_HOLD.as_secs_f64();
        let by_answers = Duration::from_secs_f64(answers / self.level.max(0.01));
        self.hold.min(by_answers).max(SHORTEST_HOLD)
    }

    /// The rate the climb has reached at `now`.
    pub(super) fn rate(&self, now: Instant) -> f64 {
        let t = now.saturating_duration_since(self.since);
        match self.phase(now) {
            Phase::Approach => {
                self.start + (self.level - self.start) * (t.as_secs_f64() / APPROACH.as_secs_f64())
            }
            Phase::Hold => self.level,
            Phase::Probe => {
                let probing = now.duration_since(self.probe_from()).as_secs_f64();
                self.level * 2f64.powf(probing / PROBE_DOUBLING.as_secs_f64())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{APPROACH, Climb, PROBE_DOUBLING, Phase};
    use std::time::Duration;
    use tokio::time::Instant;

    #[test]
    fn it_approaches_the_level_holds_it_then_doubles() {
        let origin = Instant::now();
        let since = origin + Duration::from_secs(5);
        let climb =
            Climb { origin, since, start: 0.5, level: 0.7, hold: Duration::from_secs(10), floor: 0.25 };
        let at = |seconds: f64| since + Duration::from_secs_f64(seconds);
        assert_eq!(climb.phase(at(0.0)), Phase::Approach);
        assert!((climb.rate(at(1.0)) - 0.6).abs() < 1e-9, "halfway to the level");
        // The hold counts from the decrease (its verdict took 5 s): 10 s after `origin`,
        // but never before the approach is done.
        assert_eq!(climb.phase(at(2.0)), Phase::Hold);
        assert_eq!(climb.rate(at(4.9)), 0.7);
        assert_eq!(climb.probe_from(), origin + Duration::from_secs(10));
        assert_eq!(climb.phase(at(5.0)), Phase::Probe);
        let doubled = climb.rate(at(5.0) + PROBE_DOUBLING - Duration::from_secs(0));
        assert!((doubled - 1.4).abs() < 1e-9, "{doubled}");
        let quick = Climb { hold: Duration::ZERO, ..climb };
        assert_eq!(quick.probe_from(), since + APPROACH, "a hold of nothing probes once approached");
        // At 20/s, thirty answers are 1.5 s: the hold is the shortest, 3 s.
        let fast = Climb { since: origin, start: 14.0, level: 20.0, ..climb };
        assert_eq!(fast.probe_from(), origin + Duration::from_secs(3));
    }
}
