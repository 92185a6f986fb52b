//! Client-side rate limits that find the rate the service grants.
//!
//! Calls are spaced evenly at the rate in force (a bucket of one token), which is what a
//! per-second service quota accepts. The rate starts at the limit in force (the playbook's, or
//! the quota AWS documents for the action's group, less a 3% margin) and adapts when the
//! service throttles anyway. `docs/retries.md` explains the design; in short:
//!
//! - **Measure, do not only multiply.** A quota is a token bucket: once throttled, the bucket
//!   is empty, and the successes that follow come exactly at the rate the service grants. The
//!   first throttle of a busy period is judged by the bucket's usual shape (a burst of one
//!   second's worth, then the refill): `successes / (elapsed + 1 s)`; later ones by the
//!   successes since the throttle before. The rate goes to that estimate (less 3%), never
//!   down more than 4x at once.
//! - **Verify each decrease.** After a decrease, the next responses are watched. If throttles go
//!   on at the lower rate about as often as before, they did not depend on our rate (another
//!   client, a service having a bad minute): the decrease is undone, and throttles at that
//!   share are from then on left to the retry policy. This is what keeps the rate from sliding
//!   toward zero.
//! - **Climb back by bisection.** After a verified decrease the rate climbs halfway to the
//!   lowest rate throttled recently, one clean window at a time, and holds just below it; that
//!   bound relaxes slowly, so a quota raised (or a neighbour gone quiet) is found again.
//! - **No limit means slow start.** Without any limit, calls start at 50/s and the rate
//!   doubles every ten round trips, within 10-50 ms (never past four times what went out in
//!   the last such period), until the service throttles, or the next doubling would pass
//!   1,000/s with calls keeping up and 50 successes seen; so a quota is found with a
//!   throttle or two instead of a burst of concurrency-many. It never paces slower than one
//!   call per round trip, which is what a caller waiting for each answer sends anyway. A
//!   raise wakes the calls waiting on slots reserved at the slower spacing.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Calls go a little under the limit, so that network jitter does not push two calls into
/// the same second of the service's bucket. Costs 3% of the throughput.
const MARGIN: f64 = 0.97;
/// The most one decrease takes away: a factor of ten.
const MAX_CUT: f64 = 0.1;
/// The least one decrease takes away: 5%, for a throttle just after settling on a rate
/// (network jitter brings two calls closer than their spacing).
const MIN_CUT: f64 = 0.95;
/// Responses to watch after a decrease before judging it.
const VERIFY_RESPONSES: u32 = 8;
/// The least time a window at one rate must last to count as clean: long enough for the
/// tokens a bucket saved while calls went slower to run out.
const WINDOW_TIME: Duration = Duration::from_secs(3);
/// A burst estimate from fewer successes than this is a guess, probed above.
const WEAK_EVIDENCE: u64 = 10;
/// ... or this long, with at least three responses, for slow rates.
const VERIFY_TIME: Duration = Duration::from_secs(5);
/// Responses remembered for the share of throttled answers.
const RECENT: usize = 20;
/// Where slow start begins, how fast it grows, and where it ends (unlimited again).
const SLOW_START: f64 = 50.0;
/// Slow start doubles once per this many round trips, at least every [`SLOW_START_DOUBLING`]
/// and at most every [`FASTEST_DOUBLING`]. What it sends past an empty bucket before the
/// first throttled answer comes back is about the rate times one round trip, so what counts
/// is the doubling period in round trips. A fixed 50 ms was ten on a 5 ms round trip, where
/// a 20/s quota is found with a throttle or two; on the emulator's 0.5 ms it was a hundred,
/// and kept a bulk run paced for a quarter of a second longer than needed.
const ROUND_TRIPS_PER_DOUBLING: f64 = 10.0;
const SLOW_START_DOUBLING: Duration = Duration::from_millis(50);
/// On the emulator, doubling every 5 ms let 2% of the 20/s condition's calls be throttled
/// (4 of 204, once in five runs); every 10 ms, 0.5-1% in six runs, as at 50 ms.
const FASTEST_DOUBLING: Duration = Duration::from_millis(10);
const UNLIMITED_ABOVE: f64 = 1000.0;
/// Successes slow start must have seen before it stops pacing: a quota whose bucket holds
/// fewer would have throttled by then. On a fast link the rate passes 1,000/s after a
/// couple of dozen calls, and without this a 20/s quota then met concurrency-many at once.
const UNLIMITED_AFTER: u64 = 50;
/// The most one clean window raises the rate by.
const PROBE_STEP: f64 = 1.2;
/// How long the lowest throttled rate is trusted before it is raised by 5% and probed again.
const BOUND_TRUST: Duration = Duration::from_secs(120);
/// An idle gap that starts a new busy period (the service's bucket has refilled).
const IDLE: Duration = Duration::from_secs(2);

#[derive(Debug)]
pub struct RateLimiter {
    state: Mutex<State>,
    /// Wakes the calls waiting for their slots when slow start raises the rate: their slots
    /// were reserved at the old, slower spacing.
    raised: tokio::sync::Notify,
}

#[derive(Debug)]
struct State {
    /// The limit in force (the playbook's or the documented quota), calls per second;
    /// `None` is unlimited.
    ceiling: Option<f64>,
    /// The rate calls are spaced at now; `None` sends without waiting.
    rate: Option<f64>,
    /// The earliest time the next call may go.
    next: Instant,
    /// Counts decreases: a call that reserved its slot before one takes a new slot.
    generation: u64,
    /// The start of the current busy period and its successes: the burst estimate.
    busy: (Instant, u64),
    /// When a response last came (for idle gaps).
    last_response: Option<Instant>,
    /// Whether a call was made yet.
    calling: bool,
    /// Set at a rate-caused throttle while every window since was throttled too: the bucket
    /// has been empty since then, so the successes since come at the granted rate.
    saturated: Option<(Instant, u64)>,
    /// Responses (successes and throttles) since `saturated` was set: whether calls really
    /// went out at the rate, or the callers were busy elsewhere (retry delays, slow answers).
    responses_since: u64,
    /// The highest rate that ran a clean window (a lower bound of the grant).
    good: Option<f64>,
    /// The decrease being verified.
    cut: Option<Cut>,
    /// The lowest rate throttled recently (an upper bound of the grant), and since when.
    bound: Option<(f64, Instant)>,
    /// Responses since the rate last changed, and how many were throttled.
    window: (u32, u32),
    window_start: Instant,
    /// The share of throttles that do not depend on our rate, once seen.
    ambient: Option<f64>,
    /// The latest responses, `true` for throttled.
    recent: VecDeque<bool>,
    /// Whether the rate is slow-starting (no limit known, no throttle yet), and the rate
    /// its schedule had reached when last looked at: it doubles every
    /// [`State::doubling_period`].
    slow_start: bool,
    slow_from: (Instant, f64),
    /// Slow start's measure of what is sent: since when, how many successes, and the rate
    /// of the last whole window (one doubling period long).
    sending: (Instant, u64, f64),
    /// The round trip of successful calls, smoothed (seconds): sets slow start's pace.
    round_trip: Option<f64>,
    /// A ceiling that never adapts.
    fixed: bool,
    /// The rate before the first decrease of this run of decreases: restored when they turn
    /// out to have been for throttles that do not depend on the rate.
    peak: Option<(Option<f64>, bool)>,
    /// Whether the rate in force is a guess that deserves probing above (a burst estimate
    /// from few successes, or a bound gone stale).
    probe: bool,
    throttles: u64,
}

/// A decrease under watch.
#[derive(Debug, Clone, Copy)]
struct Cut {
    from: Option<f64>,
    at: Instant,
    /// The share of throttled answers before it.
    before: f64,
    responses: u32,
    throttled: u32,
}

impl RateLimiter {
    /// A limiter at `limit` calls per second (`None`: no limit, so slow start).
    pub fn new(limit: Option<f64>) -> Self {
        Self::with_slow_start(limit, limit.is_none())
    }

    /// A ceiling that never adapts (`None`: no pacing at all): the service-wide limit of
    /// `rate-limits`, and what an action that calls no service waits for.
    pub fn fixed(limit: Option<f64>) -> Self {
        let limiter = Self::with_slow_start(limit, false);
        limiter.lock().fixed = true;
        limiter
    }

    fn with_slow_start(limit: Option<f64>, slow_start: bool) -> Self {
        let now = Instant::now();
        let rate = match limit {
            Some(limit) => Some(limit * MARGIN),
            None if slow_start => Some(SLOW_START),
            None => None,
        };
        let state = State {
            ceiling: limit,
            rate,
            next: now,
            generation: 0,
            busy: (now, 0),
            last_response: None,
            calling: false,
            saturated: None,
            responses_since: 0,
            good: None,
            cut: None,
            bound: None,
            window: (0, 0),
            window_start: now,
            ambient: None,
            recent: VecDeque::with_capacity(RECENT),
            slow_start,
            slow_from: (now, SLOW_START),
            sending: (now, 0, SLOW_START),
            round_trip: None,
            fixed: false,
            peak: None,
            probe: false,
            throttles: 0,
        };
        Self { state: Mutex::new(state), raised: tokio::sync::Notify::new() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for this call's turn. A slot reserved before a decrease is given up for one
    /// at the new rate: otherwise the calls already waiting would go at the old pace.
    pub async fn acquire(&self) {
        loop {
            let (wait, generation) = {
                let mut state = self.lock();
                let now = Instant::now();
                if state.last_response.is_none() && state.busy.1 == 0 && !state.calling {
                    // The first call: the busy period (and the burst estimate) starts now, not
                    // when the run started and built its limiters.
                    state.calling = true;
                    state.busy = (now, 0);
                    if state.slow_start {
                        state.slow_from = (now, state.slow_from.1);
                        state.sending = (now, 0, state.slow_from.1);
                    }
                }
                let Some(rate) = state.rate else { return };
                let slot = state.next.max(now);
                state.next = slot + Duration::from_secs_f64(1.0 / rate);
                (slot - now, state.generation)
            };
            if wait.is_zero() {
                return;
            }
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = self.raised.notified() => {}
            }
            if self.lock().generation == generation {
                return;
            }
        }
    }

    /// The service throttled a call sent at `sent`.
    pub fn throttled(&self, sent: Instant) {
        self.lock().respond(Instant::now(), sent, true);
    }

    /// A call sent at `sent` went through.
    pub fn succeeded(&self, sent: Instant) {
        let generation = {
            let mut state = self.lock();
            let before = state.generation;
            state.respond(Instant::now(), sent, false);
            (state.slow_start || state.rate.is_none()) && state.generation != before
        };
        if generation {
            self.raised.notify_waiters();
        }
    }

    /// The rate in force, calls per second (`None`: unlimited), as a limit: calls are spaced
    /// 3% under it.
    pub fn rate(&self) -> Option<f64> {
        self.lock().rate.map(|rate| rate / MARGIN)
    }

    pub fn throttles(&self) -> u64 {
        self.lock().throttles
    }
}

impl State {
    fn respond(&mut self, now: Instant, sent: Instant, throttled: bool) {
        if self.fixed {
            return;
        }
        if self.last_response.is_some_and(|at| now.duration_since(at) >= IDLE) {
            self.busy = (now, 0);
        }
        self.last_response = Some(now);
        if self.recent.len() == RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back(throttled);
        self.responses_since += 1;
        if throttled {
            self.throttles += 1;
        } else {
            self.busy.1 += 1;
            if let Some((_, successes)) = &mut self.saturated {
                *successes += 1;
            }
            // Smoothed as TCP smooths its round trip (RFC 6298): an eighth of each sample.
            let sample = now.duration_since(sent).as_secs_f64();
            self.round_trip = Some(self.round_trip.map_or(sample, |rtt| rtt + (sample - rtt) / 8.0));
        }
        // A call sent before the last decrease says nothing about the new rate; nor does one
        // sent at the same instant, whose slot was given at the old spacing. (Under the tests'
        // paused clock that is every call whose turn came as the throttle arrived; once faster
        // slow start found a quota sooner, one such throttle undid the decrease as "not our
        // rate's doing" and let 4-8 of 200 calls be throttled.)
        if self.cut.is_some_and(|cut| sent <= cut.at) {
            return;
        }
        self.window.0 += 1;
        self.window.1 += u32::from(throttled);
        if let Some(cut) = &mut self.cut {
            cut.responses += 1;
            cut.throttled += u32::from(throttled);
        }
        if throttled {
            self.on_throttle(now);
        } else {
            self.on_success(now);
        }
        self.judge_cut(now);
    }

    fn share(&self) -> f64 {
        self.recent.iter().filter(|t| **t).count() as f64 / self.recent.len().max(1) as f64
    }

    fn on_throttle(&mut self, now: Instant) {
        // Random throttles come in streaks now and then: within twice their usual share
        // (plus a margin), they are still not the rate's doing.
        if let Some(ambient) = self.ambient
            && self.share() <= 2.0 * ambient + 0.15
        {
            // As often as throttles come whatever our rate: the retry policy deals with it.
            return;
        }
        // One throttle at a rate that ran a clean window is as likely chance as a fallen
        // grant: a second one in the same window decides.
        if let (Some(good), Some(rate)) = (self.good, self.rate)
            && good >= rate * 0.999
            && self.window.1 < 2
        {
            return;
        }
        if self.cut.is_some() && !self.recent.iter().rev().take(3).all(|t| *t) {
            // Judge the last decrease first, unless the service clearly still refuses.
            return;
        }
        self.decrease(now);
    }

    fn decrease(&mut self, now: Instant) {
        if self.peak.is_none() {
            self.peak = Some((self.rate, self.slow_start));
        }
        self.slow_start = false;
        let from = self.rate.unwrap_or_else(|| self.sending_rate(now));
        // Calls went out at the rate since the last throttle (not held back by retry delays or
        // slow answers): only then do the successes since measure what the service grants.
        let went_out = self.saturated.is_some_and(|(at, _)| {
            self.responses_since as f64 >= 0.8 * from * now.duration_since(at).as_secs_f64()
        });
        let (rate, probe) = match (self.saturated, self.good) {
            // Throttled all along since the last throttle: the bucket refilled at the granted
            // rate, and every success since took one of its tokens.
            (Some((at, successes)), _) if successes >= 3 && went_out => {
                (successes as f64 / now.duration_since(at).as_secs_f64() * MARGIN, false)
            }
            // Not enough went out to measure anything: the smallest step down, then verify.
            (Some(_), _) if !went_out => (from * MIN_CUT, false),
            // A probe above a rate that ran clean: back to it.
            (_, Some(good)) if good < from => (good, false),
            // A fresh bucket: a burst of one second's worth, then the refill. From a handful
            // of successes that says little: then the AWS SDKs' 30% cut is the better guess.
            _ => {
                let elapsed = now.duration_since(self.busy.0).as_secs_f64();
                let burst = self.busy.1 as f64 / (elapsed + 1.0) * MARGIN;
                let weak = self.busy.1 < WEAK_EVIDENCE;
                (if weak { burst.max(from * 0.7) } else { burst }, weak)
            }
        };
        self.probe = probe;
        // A guess never cuts more than tenfold at once; a measurement may.
        let lowest = if probe { from * MAX_CUT } else { 0.1 };
        let rate = rate.clamp(lowest, from * MIN_CUT);
        self.cut = Some(Cut { from: self.rate, at: now, before: self.share(), responses: 0, throttled: 0 });
        self.bound = Some((self.bound.map_or(from, |(b, _)| b.min(from)), now));
        if self.good.is_some_and(|good| good >= from) {
            // Throttled at a rate that ran clean before: the grant has fallen.
            self.good = None;
        }
        self.saturated = Some((now, 0));
        self.responses_since = 0;
        self.set_rate(Some(rate), now);
        // Everyone waits a full interval at the new rate before trying again.
        self.next = now + Duration::from_secs_f64(1.0 / rate);
    }

    /// How long slow start takes to double: [`ROUND_TRIPS_PER_DOUBLING`] round trips, within
    /// [`FASTEST_DOUBLING`] and [`SLOW_START_DOUBLING`].
    fn doubling_period(&self) -> Duration {
        let round_trips =
            self.round_trip.map_or(SLOW_START_DOUBLING.as_secs_f64(), |rtt| rtt * ROUND_TRIPS_PER_DOUBLING);
        Duration::from_secs_f64(round_trips).clamp(FASTEST_DOUBLING, SLOW_START_DOUBLING)
    }

    /// Successes per second over the last `window` or so, for slow start.
    fn recent_sending(&mut self, now: Instant, window: Duration) -> f64 {
        let (start, count, rate) = &mut self.sending;
        *count += 1;
        let elapsed = now.duration_since(*start);
        if elapsed >= window {
            *rate = *count as f64 / elapsed.as_secs_f64();
            *start = now;
            *count = 0;
        }
        *rate
    }

    /// How fast calls went lately, for a limiter that had no rate.
    fn sending_rate(&self, now: Instant) -> f64 {
        let elapsed = now.duration_since(self.busy.0).as_secs_f64().max(0.1);
        (self.busy.1 as f64 / elapsed).max(1.0)
    }

    /// After enough responses, keeps or undoes the last decrease.
    fn judge_cut(&mut self, now: Instant) {
        let Some(cut) = self.cut else { return };
        let enough = cut.responses >= VERIFY_RESPONSES
            || (cut.responses >= 3 && now.duration_since(cut.at) >= VERIFY_TIME);
        if !enough {
            return;
        }
        self.cut = None;
        let after = f64::from(cut.throttled) / f64::from(cut.responses);
        // Still far above what came through since the decrease (1.6x: measured from the
        // decrease, the first interval has no success, and random throttles of 15% or so must
        // not pass for this): the bucket is still empty, so measure and decrease again.
        let ambient_like = self.ambient.is_some_and(|ambient| after <= 2.0 * ambient + 0.15);
        if let (Some(rate), Some((at, successes))) = (self.rate, self.saturated)
            && after > 0.0
            && !ambient_like
            && successes >= VERIFY_RESPONSES.into()
            && self.responses_since as f64 >= 0.8 * rate * now.duration_since(at).as_secs_f64()
            && rate > 1.6 * successes as f64 / now.duration_since(at).as_secs_f64().max(0.001)
        {
            self.decrease(now);
            return;
        }
        if after > 0.0 && (ambient_like || after >= cut.before * 0.5 || after >= 0.25) {
            // Slower, and throttled about as often: not our rate's doing. Back to where the
            // decreases started, and throttles this common are the retry policy's business.
            self.ambient = Some(self.ambient.unwrap_or(0.0).max((after + cut.before) / 2.0));
            self.bound = None;
            self.good = None;
            self.saturated = None;
            let (peak, slow_start) = self.peak.take().unwrap_or((cut.from, false));
            self.slow_start = slow_start;
            self.slow_from = (now, peak.unwrap_or(SLOW_START));
            self.set_rate(peak, now);
        } else if after == 0.0 {
            // Clean right after the bucket was emptied: the grant is at least this.
            self.good = self.rate.map(|rate| self.good.map_or(rate, |good| good.max(rate)));
        }
    }

    fn on_success(&mut self, now: Instant) {
        if self.cut.is_some() {
            return;
        }
        let Some(rate) = self.rate else { return };
        if self.slow_start {
            // The schedule grows at the doubling period in force since it was last looked at
            // (the period follows the round trip, so it is summed up piece by piece).
            let period = self.doubling_period();
            let (since, base) = self.slow_from;
            let scheduled = base * 2f64.powf(now.duration_since(since).as_secs_f64() / period.as_secs_f64());
            self.slow_from = (now, scheduled);
            // Never far ahead of what is really sent (concurrency or slow answers may hold
            // calls back), measured over the last moments, not since the first call.
            let sending = self.recent_sending(now, period);
            // Never slower than one call per round trip: a caller that waits for each answer
            // is never held back, and what goes out past an empty bucket before the first
            // "throttled" comes back is still about one call. On a fast link this is most of
            // the ramp: a 0.5 ms round trip allows 2,000/s from the first answer. On the
            // emulator, 20,000 accepts at concurrency 64 finished 387-466 items in their
            // first 0.1 s instead of 47, and a 20/s quota is still found with a throttle or
            // two (docs/decisions/slow-start-and-the-overhead-goal.md).
            let sequential = self.round_trip.map_or(0.0, |rtt| 1.0 / rtt.max(1e-6));
            let raised = scheduled.min(4.0 * sending.max(rate)).max(sequential).max(rate);
            // Past 1,000/s, with the calls really going out at the pace in force (at least
            // half of it, the last window measured) and enough successes seen: no more
            // pacing. Waiting instead for a whole window to measure more than 1,000/s kept a
            // bulk run paced for one more window.
            let unpaced = raised > UNLIMITED_ABOVE && 2.0 * sending >= rate && self.busy.1 >= UNLIMITED_AFTER;
            let raised = if unpaced { None } else { Some(raised) };
            let raised = match (raised, self.ceiling) {
                (Some(r), Some(c)) => Some(r.min(c * MARGIN)),
                (r, _) => r,
            };
            // Take the new spacing at once when it is clearly faster: the calls waiting hold
            // slots reserved at the old one (`acquire` wakes them to take new ones).
            let clearly = match raised {
                Some(raised) => raised >= rate * 1.25,
                None => true,
            };
            if clearly {
                let window = self.window;
                self.set_rate(raised, now);
                self.window = window;
            }
            return;
        }
        let top = self.ceiling.map(|c| c * MARGIN);
        if top.is_some_and(|top| rate >= top) {
            return;
        }
        // A clean window at this rate: it is a lower bound of the grant. Climb toward the
        // lowest rate throttled lately, a step at a time (each probe above the grant costs a
        // throttled call), and hold just below it; the bound is trusted for a while, then
        // probed again.
        let tolerated = self.ambient.map_or(0.0, |a| a + 0.1) * f64::from(self.window.0);
        if f64::from(self.window.1) > tolerated || !self.window_done(now) {
            return;
        }
        self.saturated = None;
        self.peak = None;
        self.good = Some(self.good.map_or(rate, |good| good.max(rate)));
        let target = match self.bound {
            Some((bound, since)) if now.duration_since(since) < BOUND_TRUST => {
                if !self.probe {
                    // The rate was measured: hold it.
                    self.window = (0, 0);
                    self.window_start = now;
                    return;
                }
                bound * MARGIN
            }
            Some((bound, _)) => {
                self.bound = Some((bound * 1.05, now));
                self.probe = true;
                bound * 1.05 * MARGIN
            }
            None => rate * 2.0,
        };
        let raised = if target > rate * 1.02 { (rate * PROBE_STEP).min((rate + target) / 2.0) } else { rate };
        let raised = top.map_or(raised, |top| raised.min(top));
        if raised > rate * 1.005 {
            self.set_rate(Some(raised), now);
        } else {
            self.window = (0, 0);
            self.window_start = now;
        }
    }

    /// Whether the responses since the rate last changed make a window to judge it by.
    fn window_done(&self, now: Instant) -> bool {
        let lasted = now.duration_since(self.window_start);
        (self.window.0 >= VERIFY_RESPONSES && lasted >= WINDOW_TIME)
            || (self.window.0 >= 3 && lasted >= VERIFY_TIME)
    }

    fn set_rate(&mut self, rate: Option<f64>, now: Instant) {
        #[cfg(test)]
        if std::env::var_os("LIMITER_TRACE").is_some() {
            eprintln!(
                "  rate {:?} -> {:?} (cut {:?}, bound {:?}, ambient {:?}, share {:.2})",
                self.rate,
                rate,
                self.cut.map(|c| (c.from, c.before)),
                self.bound.map(|b| b.0),
                self.ambient,
                self.share()
            );
        }
        if self.rate != rate {
            // Slots reserved at the old rate are taken again at the new one.
            self.generation += 1;
            if let (Some(old), Some(new)) = (self.rate, rate) {
                // The next call goes one interval of the new rate after the last one went.
                // (Not one interval after now: a caller that waits for each answer would then
                // wait one more interval at every raise.)
                let last = self.next - Duration::from_secs_f64(1.0 / old);
                self.next = last + Duration::from_secs_f64(1.0 / new);
                if self.next > now + Duration::from_secs_f64(1.0 / new) {
                    self.next = now + Duration::from_secs_f64(1.0 / new);
                }
            }
        }
        self.rate = rate;
        self.window = (0, 0);
        self.window_start = now;
    }
}

#[cfg(test)]
mod tests;
