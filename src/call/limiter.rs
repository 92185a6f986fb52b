//! Client-side rate limits that find the rate the service grants, and leave other clients of
//! the same quota their share.
//!
//! Calls are spaced evenly at the rate in force (a bucket of one token), which is what a
//! per-second service quota accepts. The rate starts at the limit in force (the playbook's, or
//! the quota AWS documents for the action's group, less a 3% margin) and adapts when the
//! service throttles anyway. `docs/retries.md` explains the design; in short:
//!
//! - **Tell contention from ambient throttling.** A throttle is answered by a decrease, and
//!   each decrease is verified: if throttles go on at the lower rate about as often as before,
//!   they did not depend on our rate (a service having a bad minute, random refusals), the
//!   decrease is undone and throttles at that share are from then on left to the retry
//!   policy. Throttles that fall when we slow are contention: the account's quota is shared.
//! - **Measure where it can.** A quota is a token bucket: once throttled, the bucket is
//!   empty, and the successes that follow come at the rate the service grants. A first
//!   throttle after many successes is judged by the bucket's usual shape (one second's
//!   burst, then the refill); a first throttle after a handful is not evidence enough, and the
//!   level is cut by a fixed step instead.
//! - **Under contention, a good neighbour.** After a decrease the rate does not climb back by
//!   responses (minutes per step at 1/s) but by time, in the shape of TCP CUBIC's window: a
//!   relief cut lets the bucket refill, the rate approaches the level it found in two seconds,
//!   holds it, then probes above by doubling every three seconds. A probe that is throttled
//!   at about the same level again means the others are still there: the next hold is three
//!   times as long (10, 30, 60 s), so a steady neighbour meets few probes; a probe that is
//!   not throttled reaches the limit in force within seconds, at any quota size. Calls
//!   waiting on slots given out at a slow spacing look again as the rate climbs.
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

use super::host_quota::HostQuota;
use climb::{CONFIRM, Climb, FIRST_HOLD, HOLD_GROWTH, LONGEST_HOLD, Phase};

/// Calls go a little under the limit, so that network jitter does not push two calls into
/// the same second of the service's bucket. Costs 3% of the throughput.
const MARGIN: f64 = 0.97;
/// A share of throttled answers that goes on at this or more whatever the rate is not taken
/// for random throttles: others take nearly the whole quota.
const AMBIENT_AT_MOST: f64 = 0.5;
/// The slowest a run of decreases goes: a quarter of the rate the first was made at (one
/// call in four seconds at 1/s), but no more than half the level the first found, and never
/// below one call in ten seconds. Slower, a process that others crowd out needs tens of
/// seconds per answer to see that they left (at 0.1/s, two minutes to come back after the
/// other process finished).
const FLOOR_SHARE: f64 = 0.25;
const MIN_RATE: f64 = 0.1;
/// Responses to watch after a decrease before judging it.
const VERIFY_RESPONSES: u32 = 8;
/// A burst estimate from fewer successes than this is a guess: the level is cut by a step.
const WEAK_EVIDENCE: u64 = 16;
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
/// The relief cut at a throttle for contention: the rate the climb starts from is this
/// share of the rate throttled (CUBIC's and the AWS SDKs' 0.7), so the bucket refills and
/// the other clients' next calls find a token.
const RELIEF: f64 = 0.7;
/// A level found too high while approaching or holding it is lowered by this factor.
const LOWER: f64 = 0.85;
/// A probe throttled below this multiple of the held level found the others still there
/// (a bucket of a second or two lets a probe go that much higher before it runs dry).
const SAME_LEVEL: f64 = 2.0;
/// How often a call waiting for its slot looks whether the climb has raised the rate.
const CLIMB_CHECK: Duration = Duration::from_millis(250);
/// An idle gap that starts a new busy period (the service's bucket has refilled).
const IDLE: Duration = Duration::from_secs(2);

/// A call's turn, from [`RateLimiter::acquire`]: which of the limiter's spacings it was given
/// at. A turn given before a decrease is stale: the call would go at the old pace.
#[derive(Debug, Clone, Copy)]
pub struct Turn {
    generation: u64,
}

#[derive(Debug)]
pub struct RateLimiter {
    state: Mutex<State>,
    /// Wakes the calls waiting for their slots when slow start raises the rate: their slots
    /// were reserved at the old, slower spacing.
    raised: tokio::sync::Notify,
    /// The quota's schedule shared with the other handoff processes of the host, if any.
    host: Option<std::sync::Arc<HostQuota>>,
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
    /// The rate the slots waiting now were given out at (the climb glides past it).
    paced: Option<f64>,
    /// Counts changes of the spacing: a call that reserved its slot before one takes a new
    /// slot.
    generation: u64,
    /// The generation of the last decrease: a turn given before it is stale, and what it
    /// meets says nothing about the rate in force now.
    decreased_generation: u64,
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
    /// The decrease being verified.
    cut: Option<Cut>,
    /// When the rate was last decreased: a throttle of a call sent before then says nothing
    /// about the rate in force now (one decrease per round, as TCP does per window).
    decreased: Option<Instant>,
    /// The time-paced climb back after a decrease for contention.
    climb: Option<Climb>,
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
    /// What was in force before the first decrease of this run of decreases (the rate,
    /// slow start, the climb): restored when they turn out to have been for throttles that
    /// do not depend on the rate.
    peak: Option<(Option<f64>, bool, Option<Climb>)>,
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
    /// For a second, deeper cut made because throttles went on after the first: the share
    /// throttled after the first.
    deeper: Option<f64>,
    /// The first decrease of a busy period, to a level the bucket's burst measured.
    first_measured: bool,
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
            paced: rate,
            generation: 0,
            decreased_generation: 0,
            busy: (now, 0),
            last_response: None,
            calling: false,
            saturated: None,
            responses_since: 0,
            cut: None,
            decreased: None,
            climb: None,
            ambient: None,
            recent: VecDeque::with_capacity(RECENT),
            slow_start,
            slow_from: (now, SLOW_START),
            sending: (now, 0, SLOW_START),
            round_trip: None,
            fixed: false,
            peak: None,
            throttles: 0,
        };
        Self { state: Mutex::new(state), raised: tokio::sync::Notify::new(), host: None }
    }

    /// Also takes each call's turn from the schedule the host's handoff processes share for
    /// this quota (`call::host_quota`), at the rate in force here.
    pub fn shared_on_host(mut self, host: std::sync::Arc<HostQuota>) -> Self {
        self.host = Some(host);
        self
    }

    /// The host's shared schedule, if this limiter takes its turns from one.
    pub fn host(&self) -> Option<&HostQuota> {
        self.host.as_deref()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for this call's turn: this process's pacing, then the host's shared schedule.
    pub async fn acquire(&self) -> Turn {
        let turn = Turn { generation: self.acquire_here().await };
        let Some(host) = &self.host else { return turn };
        let Some(rate) = self.lock().rate else { return turn };
        // A schedule that cannot be read or written (a full disk, a file made read-only)
        // leaves this process to its own pacing, as across hosts.
        if let Ok(wait) = host.reserve(Duration::from_secs_f64(1.0 / rate))
            && !wait.is_zero()
        {
            tokio::time::sleep(wait).await;
        }
        turn
    }

    /// Whether the rate was decreased since `turn` was given: the call would go at the old
    /// pace, so it should take a new turn. (A turn is given when its slot comes; the call goes
    /// a moment later, and on a busy machine that moment can be a millisecond or two, long
    /// enough at slow start's pace for a throttle to cut the rate in between. Calls that went
    /// anyway at the old pace were throttled, counted against the new rate, and cut a 20/s
    /// quota's level, measured at 19/s, to half of it.)
    pub fn stale(&self, turn: Turn) -> bool {
        turn.generation < self.lock().decreased_generation
    }

    /// Waits for this process's own turn. A slot reserved before a decrease is given up for
    /// one at the new rate: otherwise the calls already waiting would go at the old pace.
    async fn acquire_here(&self) -> u64 {
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
                state.follow_climb(now);
                let Some(rate) = state.rate else { return state.generation };
                let slot = state.next.max(now);
                state.next = slot + Duration::from_secs_f64(1.0 / rate);
                (slot, state.generation)
            };
            // While the rate climbs by time, a slot reserved at the slower spacing is looked
            // at again now and then: at one call in four seconds, the calls waiting would
            // otherwise keep the floor's pace for a whole round of slots after the climb.
            loop {
                let now = Instant::now();
                if wait <= now {
                    return generation;
                }
                let climbing = self.lock().climb.is_some();
                let nap = if climbing { (wait - now).min(CLIMB_CHECK) } else { wait - now };
                tokio::select! {
                    () = tokio::time::sleep(nap) => {}
                    () = self.raised.notified() => {}
                }
                let mut state = self.lock();
                state.follow_climb(Instant::now());
                if state.generation != generation {
                    break;
                }
            }
        }
    }

    /// The service throttled a call sent at `sent` in `turn`.
    pub fn throttled(&self, sent: Instant, turn: Turn) {
        self.lock().respond(Instant::now(), sent, turn, true);
    }

    /// A call sent at `sent` in `turn` went through.
    pub fn succeeded(&self, sent: Instant, turn: Turn) {
        let generation = {
            let mut state = self.lock();
            let before = state.generation;
            state.respond(Instant::now(), sent, turn, false);
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
    fn respond(&mut self, now: Instant, sent: Instant, turn: Turn, throttled: bool) {
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
        #[cfg(test)]
        if std::env::var_os("LIMITER_TRACE_RESPONSES").is_some() {
            let me = std::ptr::from_ref(self);
            eprintln!(
                "  {me:p}: response at {now:?}, sent {sent:?}, throttled {throttled}, rate {:?}",
                self.rate
            );
        }
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
        // rate's doing" and let 4-8 of 200 calls be throttled.) Nor does one whose turn was
        // given before it, however late it went (`RateLimiter::stale`).
        if self.decreased.is_some_and(|at| sent <= at) || turn.generation < self.decreased_generation {
            return;
        }
        self.follow_climb(now);
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
        if self.cut.is_some() && !self.recent.iter().rev().take(3).all(|t| *t) {
            // Judge the last decrease first, unless the service clearly still refuses.
            return;
        }
        self.decrease(now);
    }

    fn decrease(&mut self, now: Instant) {
        if self.peak.is_none() {
            self.peak = Some((self.rate, self.slow_start, self.climb));
        }
        self.slow_start = false;
        let from = self.rate.unwrap_or_else(|| self.sending_rate(now));
        let first_measured = self.climb.is_none() && self.measure(now, from).is_some();
        let (level, hold) = self.next_level(now, from);
        // The relief cut goes below the level until the decrease is judged, so that the
        // bucket refills for the others and the verdict is clear.
        let floor = match self.climb {
            Some(climb) => climb.floor.min(from),
            None => (from * FLOOR_SHARE).min(level * 0.5).max(MIN_RATE).min(from),
        };
        // Unpaced before (slow start ended), `from` is only what went out lately: a measured
        // level may be above it.
        let top = if self.peak.is_some_and(|(rate, _, _)| rate.is_none()) { f64::INFINITY } else { from };
        let level = level.clamp(floor, top);
        let start = level.min(from * RELIEF).max(floor);
        // The share before, from too few answers, is taken as random throttles' usual 15%.
        let before = if self.recent.len() >= RECENT / 4 { self.share() } else { 0.15 };
        let cut = Cut {
            from: self.rate,
            at: now,
            before,
            responses: 0,
            throttled: 0,
            deeper: None,
            first_measured,
        };
        self.cut = Some(cut);
        self.decreased = Some(now);
        self.climb = Some(Climb { origin: now, since: now, start, level, hold, floor });
        self.saturated = Some((now, 0));
        self.responses_since = 0;
        self.pause(start, now);
    }

    /// The level to hold after a throttle at `from`, and for how long, from what the bucket
    /// measured and where the climb was.
    fn next_level(&self, now: Instant, from: f64) -> (f64, Duration) {
        let measured = self.measure(now, from);
        #[cfg(test)]
        if std::env::var_os("LIMITER_TRACE").is_some() {
            eprintln!(
                "  decrease from {from:.2}: measured {measured:?}, saturated {:?}, busy {}, phase {:?}",
                self.saturated.map(|(at, n)| (now.duration_since(at), n)),
                self.busy.1,
                self.climb.map(|c| c.phase(now))
            );
        }
        self.level_after(now, from, measured)
    }

    /// What the bucket says the service grants, where it says enough.
    fn measure(&self, now: Instant, from: f64) -> Option<f64> {
        // Calls went out at the rate since the last throttle (not held back by retry delays or
        // slow answers): only then do the successes since measure what the service grants.
        let went_out = self.saturated.is_some_and(|(at, _)| {
            self.responses_since as f64 >= 0.8 * from * now.duration_since(at).as_secs_f64()
        });
        match self.saturated {
            // Throttled all along since the last throttle: the bucket refilled at the granted
            // rate, and every success since took one of its tokens.
            Some((at, successes)) if successes >= 3 && went_out => {
                Some(successes as f64 / now.duration_since(at).as_secs_f64() * MARGIN)
            }
            Some(_) => None,
            // The first throttle, from a fresh bucket: a burst of one second's worth, then the
            // refill (within a climb the bucket was not fresh); from a handful
            // of successes that says little, and nothing when the callers were busy elsewhere
            // (retry delays, slow answers) rather than sending at the rate (slow start's rate
            // was below what it reached, so it counts as sending).
            None if self.busy.1 >= WEAK_EVIDENCE && self.climb.is_none() => {
                let elapsed = now.duration_since(self.busy.0).as_secs_f64();
                let sending = self.busy.1 as f64 >= 0.8 * from * elapsed;
                (sending || self.peak.is_some_and(|(_, slow_start, _)| slow_start))
                    .then(|| self.busy.1 as f64 / (elapsed + 1.0) * MARGIN)
            }
            None => None,
        }
    }

    fn level_after(&self, now: Instant, from: f64, measured: Option<f64>) -> (f64, Duration) {
        // Measured (twenty successes or more), the level is what the bucket said, a little
        // under the rate throttled; a guess is the relief cut itself, verified before it is
        // held (from a handful of successes the burst estimate says little: it assumes a
        // bucket of one second's worth, and AWS documents the rate, not the bucket).
        let paced = self.peak.is_some_and(|(rate, _, _)| rate.is_some());
        let fresh = match measured {
            Some(measured) if paced => measured.min(from * 0.95),
            Some(measured) => measured,
            None => from * RELIEF,
        };
        let Some(climb) = self.climb else { return (fresh, FIRST_HOLD) };
        match climb.phase(now) {
            // The others are still there: the same level, held longer before the next probe,
            // so that a steady neighbour meets fewer and fewer probes.
            Phase::Probe if from < SAME_LEVEL * climb.level => {
                (climb.level, (climb.hold * HOLD_GROWTH).min(LONGEST_HOLD))
            }
            // A probe that went far before it was throttled: the grant has grown, but not to
            // the limit in force.
            Phase::Probe => (fresh.max(climb.level), FIRST_HOLD),
            // Throttled on the way to the level, or holding it: the level is too high.
            Phase::Approach | Phase::Hold => {
                (measured.map_or(climb.level * LOWER, |m| m.min(climb.level * LOWER)), climb.hold)
            }
        }
    }

    /// Moves the rate along the climb, as time passes; a climb that reached the limit in
    /// force ends there.
    fn follow_climb(&mut self, now: Instant) {
        // While a decrease is verified the relief rate stands: it is what is being judged.
        let (Some(climb), None) = (self.climb, self.cut) else { return };
        let top = self.ceiling.map(|c| c * MARGIN);
        let rate = climb.rate(now);
        match top {
            // At the limit in force, long enough for a bucket the others still drain to run
            // dry (a probe reaches the limit before it does): the contention is over.
            Some(top) if rate >= top => {
                if climb.rate(now - CONFIRM) >= top {
                    self.climb = None;
                    self.peak = None;
                }
                self.glide(top, now);
            }
            _ => self.glide(rate, now),
        }
    }

    /// A step of the climb. Once the rate is clearly above the one the slots were given out
    /// at, they are given out again at the new spacing (`acquire` looks); smaller steps leave
    /// them (taking them again at every step would push every waiting call back).
    fn glide(&mut self, rate: f64, now: Instant) {
        if self.paced.is_some_and(|paced| rate >= paced * 1.25) {
            self.set_rate(Some(rate), now);
        } else {
            self.rate = Some(rate);
        }
    }

    /// The slowest rate a decrease goes to.
    fn floor(&self) -> f64 {
        self.climb.map_or(MIN_RATE, |climb| climb.floor)
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
        let waited = cut.responses >= 3 && now.duration_since(cut.at) >= VERIFY_TIME;
        // No throttle since the decrease is evidence only once it would be unlikely by chance
        // at the share throttled before it: eight clean answers in a row come a quarter of
        // the time under 15% random throttles, and each such wrong verdict let the next
        // chance throttle cut again. Under 5% odds: 19 answers at 15%, 58 at 5%.
        let p = cut.before.clamp(0.05, 0.5);
        let needed = (0.05f64.ln() / (1.0 - p).ln()).ceil().max(f64::from(VERIFY_RESPONSES)) as u32;
        // Crowded out (more than half refused at the floor), two clean answers in a row say
        // the others have gone: a quarter of the time by chance, and waiting for more at one
        // call in four seconds is what kept a crowded-out process waiting long after.
        let starved = cut.deeper.unwrap_or(cut.before) > AMBIENT_AT_MOST;
        let enough = match cut.throttled {
            0 if starved => cut.responses >= 2,
            // A level the first burst measured is a quota's signature: the SDKs' eight.
            0 if cut.first_measured => cut.responses >= VERIFY_RESPONSES,
            0 => cut.responses >= needed,
            _ => cut.responses >= VERIFY_RESPONSES,
        };
        if !(enough || waited) {
            return;
        }
        self.cut = None;
        let after = f64::from(cut.throttled) / f64::from(cut.responses);
        #[cfg(test)]
        if std::env::var_os("LIMITER_TRACE").is_some() {
            eprintln!("  judged at {:?}: {cut:?}", now.duration_since(cut.at));
        }
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
        // At a level the first burst measured, a throttle or two is the bucket still empty
        // from the burst (the measured rate against its refill, and jitter): contention unless
        // throttled about as often as before the cut. A deeper cut there held a 20/s quota at
        // two thirds of it.
        let measured_holds = cut.first_measured
            && cut.deeper.is_none()
            && !ambient_like
            && after < (cut.before * 0.5).clamp(0.25, AMBIENT_AT_MOST);
        if after > 0.0
            && !measured_holds
            && !ambient_like
            && (cut.deeper.is_none() || after > AMBIENT_AT_MOST)
        {
            // Throttles went on at the relief cut. Random throttles do, and so does contention
            // when the others leave less than the cut: the first throttles of a busy period
            // come from a full bucket, so the share before the cut says nothing of the share
            // at the rate cut from. A second, deeper cut tells them apart: contention's share
            // falls with the rate, a random one does not. And a share this high at any rate
            // is not a service's bad minute but others taking nearly the whole quota: keep
            // cutting (an outage is served by slowing down too).
            let rate = self.rate.unwrap_or(MIN_RATE);
            let deeper = (rate * RELIEF).max(self.floor().min(rate));
            self.cut = Some(Cut { at: now, responses: 0, throttled: 0, deeper: Some(after), ..cut });
            self.decreased = Some(now);
            if let Some(climb) = &mut self.climb {
                climb.start = deeper;
                climb.level = climb.level.min(deeper);
            }
            self.saturated = Some((now, 0));
            self.responses_since = 0;
            self.pause(deeper, now);
            return;
        }
        let first = cut.deeper.unwrap_or(cut.before);
        if after > 0.0 && !measured_holds {
            // Slower, and throttled about as often: not our rate's doing. Back to where the
            // decreases started, and throttles this common are the retry policy's business.
            self.ambient = Some(self.ambient.unwrap_or(0.0).max((after + first) / 2.0));
            self.saturated = None;
            let (peak, slow_start, climb) = self.peak.take().unwrap_or((cut.from, false, None));
            self.slow_start = slow_start;
            self.slow_from = (now, peak.unwrap_or(SLOW_START));
            self.climb = climb;
            self.set_rate(peak, now);
        } else {
            // The throttles fell when we slowed: contention (or a quota lower than the limit).
            // The climb starts from here. What was in force before the decreases is kept until the
            // climb ends: eight clean answers in a row also come by chance under 15% random
            // throttles (a quarter of the time), and a later verdict must be able to undo
            // every decrease of the run, not only the last.
            self.saturated = None;
            if let Some(climb) = &mut self.climb {
                climb.since = now;
                if starved {
                    // The others that took nearly everything have gone: probe at once.
                    climb.origin = now;
                    climb.hold = Duration::ZERO;
                }
            }
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
                self.set_rate(raised, now);
            }
        }
        // Past slow start the rate follows the climb, by time (`follow_climb`).
    }

    /// Cuts to `rate`, and everyone waits a full interval at it before trying again. When the
    /// rate did not change (a cut at the floor), the slots already given out stand, and the
    /// next one comes after them: resetting it to one interval from now let calls that held
    /// slots and calls that took new ones go together, three or four at once at the floor.
    fn pause(&mut self, rate: f64, now: Instant) {
        let generation = self.generation;
        self.set_rate(Some(rate), now);
        let after = now + Duration::from_secs_f64(1.0 / rate);
        self.next = if self.generation == generation { self.next.max(after) } else { after };
        // Turns given before this are stale (`RateLimiter::stale`).
        self.decreased_generation = self.generation;
    }

    fn set_rate(&mut self, rate: Option<f64>, now: Instant) {
        #[cfg(test)]
        if std::env::var_os("LIMITER_TRACE").is_some() && self.rate != rate {
            eprintln!(
                "  rate {:?} -> {:?} at {now:?} (cut {:?}, climb {:?}, ambient {:?}, share {:.2})",
                self.rate,
                rate,
                self.cut.map(|c| (c.from, c.before)),
                self.climb.map(|c| (c.level, c.hold)),
                self.ambient,
                self.share()
            );
        }
        if self.rate != rate || self.paced != rate {
            // Slots reserved at the old rate are taken again at the new one.
            self.generation += 1;
            self.paced = rate;
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
    }
}

mod climb;
#[cfg(test)]
mod tests;
