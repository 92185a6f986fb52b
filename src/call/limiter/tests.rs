//! The limiter against a simulated service, under paused (fake) time: a token-bucket quota
//! (a burst of one second's worth unless said), another client's steady share of it or a
//! real-like neighbour that asks for tokens evenly and never retries, other limiters competing
//! for the same bucket, and throttles at random that do not depend on anyone's rate. Each test is one condition of the rate control
//! issue, run the way the engine runs items: `concurrency` workers, the default retry policy,
//! a few milliseconds of latency. The goals are the benchmark's; these tests check the shape
//! (converges, recovers, never below what the service grants) without a wall clock.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;

use super::RateLimiter;
use crate::call::RetryPolicy;

/// What the simulated service does.
#[derive(Debug, Clone, Copy, Default)]
struct Conditions {
    /// The quota, calls per second (its bucket holds one second's worth).
    quota: Option<f64>,
    /// Another client's steady use of the same quota, calls per second.
    background: f64,
    /// The share of calls throttled at random, whatever the rate.
    ambient: f64,
    /// Each way's latency, microseconds, drawn evenly from this range; `None` is 1-4 ms,
    /// like a loopback server under some load.
    latency: Option<(u64, u64)>,
    /// The bucket's size in tokens; `None` is one second's worth (at least one).
    burst: Option<f64>,
    /// Another client that asks for a token evenly, takes one when there is one, and never
    /// retries (the partner's CRM integration).
    neighbour: Option<Neighbour>,
    /// How long a call waits between its turn and its send, microseconds, drawn evenly from
    /// this range: a busy machine's scheduling. `None` sends at once.
    dispatch: Option<(u64, u64)>,
}

#[derive(Debug, Clone, Copy)]
struct Neighbour {
    per_second: f64,
    /// It stops after this many seconds.
    until: Option<f64>,
}

struct Service {
    conditions: Conditions,
    tokens: f64,
    at: Instant,
    rng: StdRng,
    /// The neighbour's requests and refusals.
    neighbour: (usize, usize),
}

impl Service {
    fn new(conditions: Conditions, seed: u64) -> Self {
        let tokens = conditions.quota.map_or(0.0, |_| conditions.capacity());
        Self { conditions, tokens, at: Instant::now(), rng: StdRng::seed_from_u64(seed), neighbour: (0, 0) }
    }

    /// Whether a call arriving now goes through.
    fn call(&mut self, now: Instant) -> bool {
        if self.rng.random_bool(self.conditions.ambient) {
            return false;
        }
        self.take(now)
    }

    /// A token from the quota's bucket, if it has one.
    fn take(&mut self, now: Instant) -> bool {
        let Some(quota) = self.conditions.quota else { return true };
        let refill = (quota - self.conditions.background).max(0.0);
        self.tokens = (self.tokens + now.duration_since(self.at).as_secs_f64() * refill)
            .min(self.conditions.capacity());
        self.at = now;
        if self.tokens < 1.0 {
            return false;
        }
        self.tokens -= 1.0;
        true
    }

    /// The neighbour's request: refused when the bucket is empty, and not retried.
    fn neighbour_call(&mut self, now: Instant) {
        self.neighbour.0 += 1;
        if !self.take(now) {
            self.neighbour.1 += 1;
            if std::env::var_os("LIMITER_TRACE").is_some() {
                eprintln!("  neighbour refused at {now:?}");
            }
        }
    }
}

impl Conditions {
    fn capacity(&self) -> f64 {
        self.burst.or(self.quota).unwrap_or(0.0).max(1.0)
    }
}

#[derive(Debug, Default)]
struct Run {
    seconds: f64,
    requests: usize,
    throttled: usize,
    failed: usize,
}

impl Run {
    fn throttled_share(&self) -> f64 {
        self.throttled as f64 / self.requests.max(1) as f64
    }
}

/// `items` calls through `limiter` with `concurrency` workers, each retried by the default
/// policy (six attempts, 200 ms doubling, full jitter), as the engine does.
async fn simulate(limiter: RateLimiter, conditions: Conditions, items: usize, concurrency: usize) -> Run {
    simulate_seeded(limiter, conditions, items, concurrency, 7).await
}

/// A run builds its limiters before its first step; the first call may come much later.
#[tokio::test(start_paused = true)]
async fn the_estimate_counts_from_the_first_call_not_from_the_limiters_birth() {
    let limiter = RateLimiter::new(Some(100.0));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let run = simulate(limiter, quota(20.0), 200, 8).await;
    report("Q=20/s, limit 100/s, first call 2 s after start", &run, 10.0);
    assert!(run.seconds <= 10.5, "{run:?}");
    assert!(run.throttled_share() <= 0.02, "{run:?}");
}

/// Seeds every condition runs with: the service's random throttles and the retry jitter.
const SEEDS: [u64; 6] = [4, 1, 2, 3, 7, 5];

async fn simulate_seeded(
    limiter: RateLimiter,
    conditions: Conditions,
    items: usize,
    concurrency: usize,
    seed: u64,
) -> Run {
    let party = Party { limiter: Arc::new(limiter), items, concurrency, after: Duration::ZERO };
    simulate_many(vec![party], conditions, seed).await.0.remove(0)
}

/// One client of the simulated service: its own limiter, items and workers, starting `after`
/// the others (another handoff process on the same account).
struct Party {
    limiter: Arc<RateLimiter>,
    items: usize,
    concurrency: usize,
    after: Duration,
}

/// Every party's run (its seconds from its own start) against one service, and the
/// neighbour's requests and refusals.
async fn simulate_many(parties: Vec<Party>, conditions: Conditions, seed: u64) -> (Vec<Run>, (usize, usize)) {
    let service = Arc::new(Mutex::new(Service::new(conditions, seed)));
    let neighbour = conditions.neighbour.map(|neighbour| {
        let service = service.clone();
        tokio::spawn(async move {
            let start = Instant::now();
            for k in 0u32.. {
                let at = start + Duration::from_secs_f64(f64::from(k) / neighbour.per_second);
                if neighbour.until.is_some_and(|until| at.duration_since(start).as_secs_f64() >= until) {
                    return;
                }
                tokio::time::sleep_until(at).await;
                service.lock().unwrap().neighbour_call(Instant::now());
            }
        })
    });
    let runs: Vec<_> = parties
        .into_iter()
        .enumerate()
        .map(|(n, party)| {
            let service = service.clone();
            tokio::spawn(async move {
                tokio::time::sleep(party.after).await;
                run_party(party, service, seed * 10 + n as u64, conditions).await
            })
        })
        .collect();
    let mut done = Vec::new();
    for run in runs {
        done.push(run.await.unwrap());
    }
    if let Some(neighbour) = neighbour {
        neighbour.abort();
    }
    let counts = service.lock().unwrap().neighbour;
    (done, counts)
}

async fn run_party(party: Party, service: Arc<Mutex<Service>>, seed: u64, conditions: Conditions) -> Run {
    let Party { limiter, items, concurrency, .. } = party;
    let next = Arc::new(AtomicUsize::new(0));
    let totals = Arc::new(Mutex::new(Run::default()));
    let started = Instant::now();
    let mut workers = Vec::new();
    for worker in 0..concurrency {
        let (limiter, service, next, totals) =
            (limiter.clone(), service.clone(), next.clone(), totals.clone());
        workers.push(tokio::spawn(async move {
            let policy = RetryPolicy::default();
            let mut rng = StdRng::seed_from_u64(seed * 1000 + worker as u64);
            let (fastest, slowest) = conditions.latency.unwrap_or((1000, 4000));
            while next.fetch_add(1, Ordering::Relaxed) < items {
                let mut attempt = 0;
                loop {
                    attempt += 1;
                    // As `Caller` does: a turn given before a decrease is taken again.
                    let turn = loop {
                        let turn = limiter.acquire().await;
                        if let Some((fastest, slowest)) = conditions.dispatch {
                            tokio::time::sleep(Duration::from_micros(rng.random_range(fastest..slowest)))
                                .await;
                        }
                        if !limiter.stale(turn) {
                            break turn;
                        }
                    };
                    let sent = Instant::now();
                    tokio::time::sleep(Duration::from_micros(rng.random_range(fastest..slowest))).await;
                    let ok = service.lock().unwrap().call(Instant::now());
                    tokio::time::sleep(Duration::from_micros(rng.random_range(fastest..slowest))).await;
                    let give_up = {
                        let mut totals = totals.lock().unwrap();
                        totals.requests += 1;
                        if ok {
                            limiter.succeeded(sent, turn);
                            break;
                        }
                        totals.throttled += 1;
                        limiter.throttled(sent, turn);
                        totals.failed += usize::from(attempt >= policy.max_attempts);
                        attempt >= policy.max_attempts
                    };
                    if give_up {
                        break;
                    }
                    tokio::time::sleep(policy.delay(attempt, &mut rng)).await;
                }
            }
        }));
    }
    for worker in workers {
        worker.await.unwrap();
    }
    let mut run = std::mem::take(&mut *totals.lock().unwrap());
    run.seconds = started.elapsed().as_secs_f64();
    run
}

fn quota(q: f64) -> Conditions {
    Conditions { quota: Some(q), ..Conditions::default() }
}

fn report(name: &str, run: &Run, ideal: f64) {
    eprintln!(
        "{name}: {:.2}s ({:.3} x ideal), {} requests, {:.1}% throttled, {} failed",
        run.seconds,
        run.seconds / ideal,
        run.requests,
        run.throttled_share() * 100.0,
        run.failed
    );
}

/// 200 calls at concurrency 8 against a quota of 20/s: within 5% of N/Q, at most 2% throttled.
async fn finds_twenty_per_second(limit: Option<f64>) {
    for seed in SEEDS {
        let run = simulate_seeded(RateLimiter::new(limit), quota(20.0), 200, 8, seed).await;
        report(&format!("Q=20/s, limit {limit:?}, seed {seed}"), &run, 10.0);
        assert!(run.seconds <= 10.5, "seed {seed}: {run:?}");
        assert!(run.throttled_share() <= 0.02, "seed {seed}: {run:?}");
        assert_eq!(run.failed, 0);
    }
}

#[tokio::test(start_paused = true)]
async fn told_five_times_the_quota_it_finds_the_quota() {
    finds_twenty_per_second(Some(100.0)).await;
}

#[tokio::test(start_paused = true)]
async fn with_no_limit_at_all_it_finds_the_quota() {
    finds_twenty_per_second(None).await;
}

/// Slow start doubles faster when answers come back faster: on a 0.2-1 ms round trip (the
/// emulator on loopback) it must still find a 20/s quota with a throttle or two.
#[tokio::test(start_paused = true)]
async fn with_no_limit_on_a_fast_link_it_still_finds_the_quota() {
    let fast = Conditions { quota: Some(20.0), ..FAST };
    for seed in SEEDS {
        let run = simulate_seeded(RateLimiter::new(None), fast, 200, 8, seed).await;
        report(&format!("Q=20/s, no limit, fast link, seed {seed}"), &run, 10.0);
        assert!(run.seconds <= 10.5, "seed {seed}: {run:?}");
        assert!(run.throttled_share() <= 0.02, "seed {seed}: {run:?}");
        assert_eq!(run.failed, 0);
    }
}

/// The emulator on a busy two-core machine: a call can wait a millisecond or more between its
/// turn and its send. At slow start's pace (900/s) that is long enough for a throttle to cut the
/// rate in between. Calls that then went at the old pace were throttled, counted against the
/// new rate, and cut the level the first burst measured (19/s) twice more, to half the quota,
/// for nine seconds: 1.11 x N/Q and 5% throttled on the emulator (0.96 x and 2.9% here, in
/// four seeds of six). A turn given before a decrease is taken again, and what such a call
/// meets is not held against the new rate: 0.935 x and 1-1.5%.
#[tokio::test(start_paused = true)]
async fn a_call_held_up_after_its_turn_does_not_go_at_the_old_pace() {
    let busy = Conditions { quota: Some(20.0), dispatch: Some((0, 4000)), ..FAST };
    for seed in SEEDS {
        let run = simulate_seeded(RateLimiter::new(None), busy, 200, 8, seed).await;
        report(&format!("Q=20/s, no limit, fast link, held up after the turn, seed {seed}"), &run, 10.0);
        assert!(run.seconds <= 0.95 * 10.0, "seed {seed}: {run:?}");
        assert!(run.throttled_share() <= 0.02, "seed {seed}: {run:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn told_the_exact_quota_it_holds_it() {
    finds_twenty_per_second(Some(20.0)).await;
}

/// Throttles that do not depend on the rate: the limiter must not slow down for them. The
/// yardstick is the same limit held fixed, with retries alone dealing with the throttles.
#[tokio::test(start_paused = true)]
async fn random_throttles_do_not_slow_it_down() {
    let ambient = Conditions { ambient: 0.15, ..Conditions::default() };
    for (limit, seed) in [Some(100.0), None].into_iter().flat_map(|l| SEEDS.map(|s| (l, s))) {
        let fixed = RateLimiter::fixed(limit.map(|l| l * super::MARGIN));
        let baseline = simulate_seeded(fixed, ambient, 200, 8, seed).await;
        let run = simulate_seeded(RateLimiter::new(limit), ambient, 200, 8, seed).await;
        report(&format!("15% random, limit {limit:?}, seed {seed}"), &run, baseline.seconds);
        // With no limit at all the fixed yardstick sends unpaced from the first call, which
        // no careful client does: the limiter slow-starts (a quarter of a second to 1,000/s)
        // and spends a verification window on each run of throttles before it knows they are
        // random. There the goal is the issue's own: within 1.5x boto3 standard's measured
        // 3.5 s for the same 200 calls.
        let goal = if limit.is_none() { 1.5 * 3.5 } else { 1.5 * baseline.seconds };
        assert!(run.seconds <= goal, "{limit:?} seed {seed}: {run:?} vs {baseline:?}");
        assert_eq!(run.failed, 0, "{limit:?}");
    }
}

/// The documented 1/s, of which another client uses 0.3/s: it finds the 0.7/s left.
#[tokio::test(start_paused = true)]
async fn a_shared_quota_is_found_without_a_retry_storm() {
    let shared = Conditions { quota: Some(1.0), background: 0.3, ..Conditions::default() };
    for seed in SEEDS {
        let run = simulate_seeded(RateLimiter::new(Some(1.0)), shared, 60, 8, seed).await;
        report(&format!("1/s shared with 0.3/s, seed {seed}"), &run, 60.0 / 0.7);
        // 1.059 x since the climb after a decrease is paced by time: each probe above the
        // 0.68/s held costs a throttle and an interval's pause (1.040 x before, whose climb
        // by responses never probed again within the run). The benchmark's goal is 1.05 x.
        assert!(run.seconds <= 1.06 * 60.0 / 0.7, "seed {seed}: {run:?}");
        assert!(run.throttled_share() <= 0.05, "seed {seed}: {run:?}");
        assert_eq!(run.failed, 0);
    }
}

#[tokio::test(start_paused = true)]
async fn the_real_quota_is_never_exceeded() {
    let run = simulate(RateLimiter::new(Some(1.0)), quota(1.0), 30, 8).await;
    report("1/s, limit 1/s", &run, 30.0);
    assert!(run.seconds <= 1.05 * 30.0, "{run:?}");
    assert_eq!(run.throttled, 0, "{run:?}");
}

#[tokio::test(start_paused = true)]
async fn calls_are_spaced_at_the_limit() {
    let limiter = RateLimiter::new(Some(4.0));
    let start = Instant::now();
    for _ in 0..9 {
        limiter.acquire().await;
    }
    // Nine calls at 4/s (less the 3% margin): the first at once, the ninth about 2.06 s later.
    let elapsed = start.elapsed();
    assert!(elapsed >= Duration::from_millis(2050) && elapsed <= Duration::from_millis(2100), "{elapsed:?}");
}

/// The 1,000-invitation flow's shape: 20% random throttles, a generous limit, 16 callers who
/// spend much of their time in retry delays. What comes through since a throttle then measures
/// how busy the callers were, not what the service grants: the rate must not follow it down.
#[tokio::test(start_paused = true)]
async fn callers_busy_elsewhere_do_not_drag_the_rate_down() {
    let ambient = Conditions { ambient: 0.2, ..Conditions::default() };
    for seed in SEEDS {
        let fixed =
            simulate_seeded(RateLimiter::fixed(Some(200.0 * super::MARGIN)), ambient, 1000, 16, seed).await;
        let run = simulate_seeded(RateLimiter::new(Some(200.0)), ambient, 1000, 16, seed).await;
        report(&format!("20% random, limit 200/s, 16 callers, seed {seed}"), &run, fixed.seconds);
        assert!(run.seconds <= 1.5 * fixed.seconds, "seed {seed}: {run:?} vs {fixed:?}");
    }
}

/// Slow start with no quota anywhere, and the same calls unpaced, under `conditions`:
/// (slow start's run, the unpaced run). Slow start never meets a throttle there.
async fn slow_start_against_unpaced(
    name: &str,
    conditions: Conditions,
    items: usize,
    concurrency: usize,
) -> (Run, Run) {
    let unpaced = simulate(RateLimiter::fixed(None), conditions, items, concurrency).await;
    let run = simulate(RateLimiter::new(None), conditions, items, concurrency).await;
    report(&format!("no quota, {name}, slow start"), &run, unpaced.seconds);
    assert_eq!(run.throttled, 0);
    (run, unpaced)
}

/// No quota anywhere (`rate-limits: { accept-invitation: unlimited }` against a service that
/// takes everything): slow start must reach full speed in a fraction of a second. It used to
/// send at its starting 50/s for over a second: the slots reserved at 50/s were kept, and the
/// rate it may reach was capped by the average since the first call. Then it stopped pacing
/// only once a whole 50 ms window had measured more than 1,000/s: 0.35 s here, 0.31 s now
/// that it stops when the next doubling passes 1,000/s with calls keeping up.
#[tokio::test(start_paused = true)]
async fn with_no_quota_slow_start_reaches_full_speed_quickly() {
    let (run, unpaced) =
        slow_start_against_unpaced("1000 calls at concurrency 64", Conditions::default(), 1000, 64).await;
    assert!(run.seconds <= unpaced.seconds + 0.25, "{run:?} against {unpaced:?} unpaced");
}

/// The same on a 0.2-1 ms round trip, where slow start doubles every 10 ms, not every 50, and
/// paces at one call per round trip from the first answer: 0.13 s against 0.03 s unpaced
/// (0.16 s without that floor, 0.25 s when it doubled every 50 ms whatever the latency).
#[tokio::test(start_paused = true)]
async fn on_a_fast_link_slow_start_is_shorter() {
    let (run, unpaced) =
        slow_start_against_unpaced("fast link, 1000 calls at concurrency 64", FAST, 1000, 64).await;
    assert!(run.seconds <= unpaced.seconds + 0.15, "{run:?} against {unpaced:?} unpaced");
}

/// One call at a time (concurrency 1, or a step of single calls): slow start never paces
/// slower than one call per round trip, so a caller that waits for each answer anyway is
/// never held back. Starting at 50/s and doubling from there, with each raise spacing the
/// next call from the answer that raised it, 200 calls on this link took 1.29x as long as
/// unpaced.
#[tokio::test(start_paused = true)]
async fn slow_start_never_holds_back_a_caller_that_waits_for_each_answer() {
    let (run, unpaced) = slow_start_against_unpaced("fast link, 200 calls one at a time", FAST, 200, 1).await;
    assert!(run.seconds <= unpaced.seconds * 1.1, "{run:?} against {unpaced:?} unpaced");
}

/// A 0.2-1 ms round trip: the emulator on loopback.
const FAST: Conditions = Conditions {
    quota: None,
    background: 0.0,
    ambient: 0.0,
    latency: Some((100, 500)),
    burst: None,
    neighbour: None,
    dispatch: None,
};

/// The documented 1/s in a bucket of two tokens, shared with a client that asks for 0.3/s
/// evenly and never retries (the partner's CRM integration, which nothing of handoff's can
/// see): handoff settles at the 0.7/s left and leaves the neighbour its share.
///
/// The goal for the neighbour is at most 10% refused; this limiter leaves it 11.5%
/// (3 of 26) in every seed, all before handoff's first throttle: calls paced evenly at 97%
/// of the refill win nearly every race for a token, so handoff hears of the neighbour only
/// after it has been refused a few times (docs/retries.md, "What is not reached").
#[tokio::test(start_paused = true)]
async fn a_neighbour_that_does_not_retry_keeps_its_share() {
    let shared = Conditions {
        quota: Some(1.0),
        burst: Some(2.0),
        neighbour: Some(Neighbour { per_second: 0.3, until: None }),
        ..Conditions::default()
    };
    for seed in SEEDS {
        let (runs, (sent, refused)) =
            simulate_many(vec![party(Some(1.0), 60, Duration::ZERO)], shared, seed).await;
        let run = &runs[0];
        report(&format!("1/s (bucket 2) beside a 0.3/s neighbour, seed {seed}"), run, 60.0 / 0.7);
        eprintln!("  neighbour: {refused} of {sent} refused");
        assert!(run.seconds <= 1.1 * 60.0 / 0.7, "seed {seed}: {run:?}");
        assert!(run.throttled_share() <= 0.05, "seed {seed}: {run:?}");
        assert!(refused as f64 <= 0.12 * sent as f64, "seed {seed}: neighbour refused {refused} of {sent}");
    }
}

/// A neighbour at 0.5/s for the first 20 s, then gone: handoff takes the whole quota back
/// within ten seconds of its stop, at 1/s.
#[tokio::test(start_paused = true)]
async fn the_rate_comes_back_within_seconds_when_the_neighbour_stops() {
    let shared = Conditions {
        quota: Some(1.0),
        burst: Some(2.0),
        neighbour: Some(Neighbour { per_second: 0.5, until: Some(20.0) }),
        ..Conditions::default()
    };
    for seed in SEEDS {
        let limiter = Arc::new(RateLimiter::new(Some(1.0)));
        let (sampler, seen) = sample_rate(&limiter);
        let (runs, (sent, refused)) = simulate_many(vec![shared_party(limiter, 60)], shared, seed).await;
        sampler.abort();
        let run = &runs[0];
        report(&format!("1/s (bucket 2), neighbour 0.5/s for 20 s, seed {seed}"), run, 70.0);
        let seen = seen.lock().unwrap();
        let back = seen.iter().find(|(second, rate)| *second > 20 && *rate >= 0.9).map(|(s, _)| *s);
        eprintln!("  neighbour: {refused} of {sent} refused; at 0.9/s again {back:?} s in");
        assert!(run.seconds <= 1.1 * 70.0, "seed {seed}: {run:?}");
        assert!(back.is_some_and(|second| second <= 30), "seed {seed}: {seen:?}");
    }
}

/// Two handoff processes on one account, each its own limiter (two hosts), 30 calls each,
/// started together: both done within 1.15 x 60 s on a bucket of two tokens, 1.3 x on one
/// (64 s and 72 s in every seed), where the old limiter took 313 s on the emulator. On one
/// token the one that loses the first race is crowded out while the other runs (at 0.97/s
/// the other leaves it almost no token): it holds at a floor of a quarter of the quota
/// instead of sliding to one call in ten seconds (159 s), and takes the quota back within
/// seconds once the other is done. Each is throttled on 12% of its calls on two tokens,
/// 23% on one: the 5% is not reached.
#[tokio::test(start_paused = true)]
async fn two_limiters_on_one_quota_share_it() {
    for (burst, goal) in [(2.0, 1.15 * 60.0), (1.0, 1.3 * 60.0)] {
        let shared = Conditions { quota: Some(1.0), burst: Some(burst), ..Conditions::default() };
        for seed in SEEDS {
            let (runs, _) = simulate_many(two_processes(30, Duration::from_millis(3)), shared, seed).await;
            for (n, run) in runs.iter().enumerate() {
                report(&format!("two on 1/s (bucket {burst}), #{n}, seed {seed}"), run, 60.0);
                assert!(run.seconds <= goal, "bucket {burst} seed {seed} #{n}: {run:?}");
                let most = if burst > 1.0 { 0.15 } else { 0.3 };
                assert!(run.throttled_share() <= most, "bucket {burst} seed {seed} #{n}: {run:?}");
            }
        }
    }
}

/// The same two processes started 20-900 ms apart, as processes on two hosts or two cron
/// entries do, not 3 ms: which of them is refused first, and how often after, follows the
/// phase of their calls. Both done within 1.10-1.23 x 60 s (the 1.15 x holds only for
/// starts close together) and 3-10 of a process's calls throttled (9-25%). On the emulator on
/// 2026-12-04, with and without the stale-turn fix alike, 1.28 x and 9.1% / 18.9%, where
/// 08b47f7 had measured 1.13 x and 11.8% each.
#[tokio::test(start_paused = true)]
async fn two_limiters_started_apart() {
    let shared = Conditions { quota: Some(1.0), burst: Some(2.0), ..Conditions::default() };
    for ms in [20, 100, 200, 500, 900] {
        let (runs, _) = simulate_many(two_processes(30, Duration::from_millis(ms)), shared, 4).await;
        for (n, run) in runs.iter().enumerate() {
            report(&format!("two on 1/s (bucket 2), started {ms} ms apart, #{n}"), run, 60.0);
            let start = if n == 1 { ms as f64 / 1000.0 } else { 0.0 };
            assert!(start + run.seconds <= 1.3 * 60.0, "{ms} ms #{n}: {run:?}");
            assert!(run.throttled_share() <= 0.3, "{ms} ms #{n}: {run:?}");
            assert_eq!(run.failed, 0, "{ms} ms #{n}: {run:?}");
        }
    }
}

/// The same two processes over a longer run, 150 calls each: what a fleet meets for hours,
/// not only at its start. Both done within 1.15 x the 300 s the quota allows, nothing fails;
/// but the steady state is not the 5% the issue asks for: 6.2-9.6% throttled, the second done
/// up to 51 s after the first (docs/retries.md, "What is not reached": refusals in an evenly
/// paced token bucket land on the slower client, not in proportion to rate).
#[tokio::test(start_paused = true)]
async fn two_limiters_over_a_long_run() {
    let shared = Conditions { quota: Some(1.0), burst: Some(2.0), ..Conditions::default() };
    for seed in SEEDS {
        let (runs, _) = simulate_many(two_processes(150, Duration::from_millis(3)), shared, seed).await;
        for (n, run) in runs.iter().enumerate() {
            report(&format!("two on 1/s (bucket 2), 150 calls each, #{n}, seed {seed}"), run, 300.0);
            assert!(run.seconds <= 1.15 * 300.0, "seed {seed} #{n}: {run:?}");
            assert!(run.throttled_share() <= 0.12, "seed {seed} #{n}: {run:?}");
            assert_eq!(run.failed, 0, "seed {seed} #{n}: {run:?}");
        }
    }
}

/// The limiter's rate once a second (second, calls per second), until the task is aborted.
#[allow(clippy::type_complexity)]
fn sample_rate(limiter: &Arc<RateLimiter>) -> (tokio::task::JoinHandle<()>, Arc<Mutex<Vec<(u32, f64)>>>) {
    let (watch, seen) = (limiter.clone(), Arc::new(Mutex::new(Vec::new())));
    let sampler = {
        let seen = seen.clone();
        tokio::spawn(async move {
            for second in 1.. {
                tokio::time::sleep(Duration::from_secs(1)).await;
                seen.lock().unwrap().push((second, watch.rate().unwrap_or(f64::INFINITY)));
            }
        })
    };
    (sampler, seen)
}

fn party(limit: Option<f64>, items: usize, after: Duration) -> Party {
    Party { limiter: Arc::new(RateLimiter::new(limit)), items, concurrency: 8, after }
}

/// Two handoff processes on two hosts at the documented 1/s, `items` calls each, the second
/// starting `apart` after the first.
fn two_processes(items: usize, apart: Duration) -> Vec<Party> {
    vec![party(Some(1.0), items, Duration::ZERO), party(Some(1.0), items, apart)]
}

fn shared_party(limiter: Arc<RateLimiter>, items: usize) -> Party {
    Party { limiter, items, concurrency: 8, after: Duration::ZERO }
}

/// Three handoff processes on two tokens of 1/s, 20 calls each, the third joining ten seconds
/// after the others: the quota is used (60 calls, 60 s at best; 57-65 s in every seed) and
/// none of them starves. Throttled on a quarter to a third of their calls, one item of 60
/// runs out of its six attempts in two seeds of six: the default retry policy counts
/// throttled attempts, as `max-attempts` says (it fails, and `--resume` sends it again).
#[tokio::test(start_paused = true)]
async fn three_limiters_one_joining_late_all_finish() {
    let shared = Conditions { quota: Some(1.0), burst: Some(2.0), ..Conditions::default() };
    for seed in SEEDS {
        let parties = vec![
            party(Some(1.0), 20, Duration::ZERO),
            party(Some(1.0), 20, Duration::from_millis(3)),
            party(Some(1.0), 20, Duration::from_secs(10)),
        ];
        let (runs, _) = simulate_many(parties, shared, seed).await;
        for (n, run) in runs.iter().enumerate() {
            report(&format!("three on 1/s (bucket 2), #{n}, seed {seed}"), run, 20.0);
            let start = if n == 2 { 10.0 } else { 0.0 };
            assert!(start + run.seconds <= 1.1 * 60.0, "seed {seed} #{n}: {run:?}");
            assert!(run.failed <= 1, "seed {seed} #{n}: {run:?}");
        }
    }
}

/// Another handoff process (another host) joins for 15 calls and leaves: the first is back at
/// 0.9/s within seconds of its last call (15 s in every seed: the first was throttled only
/// when the other took a token, and then held its level for ten seconds before probing).
/// The one that joined is crowded out while the first runs at the quota (15 calls in 55 s,
/// 37.5% of its calls throttled).
#[tokio::test(start_paused = true)]
async fn a_competitor_that_joins_and_leaves_gives_the_rate_back() {
    let shared = Conditions { quota: Some(1.0), burst: Some(2.0), ..Conditions::default() };
    for seed in SEEDS {
        let first = Arc::new(RateLimiter::new(Some(1.0)));
        let (sampler, seen) = sample_rate(&first);
        let parties = vec![shared_party(first, 80), party(Some(1.0), 15, Duration::from_secs(10))];
        let (runs, _) = simulate_many(parties, shared, seed).await;
        sampler.abort();
        report(&format!("1/s (bucket 2), joined for 15 calls at 10 s, seed {seed}"), &runs[0], 95.0);
        report(&format!("  the one that joined, seed {seed}"), &runs[1], 15.0);
        let left = 10.0 + runs[1].seconds;
        let seen = seen.lock().unwrap();
        let back =
            seen.iter().find(|(second, rate)| f64::from(*second) > left && *rate >= 0.9).map(|(s, _)| *s);
        eprintln!("  the other left at {left:.1} s; the first at 0.9/s again {back:?} s in");
        assert!(back.is_some_and(|second| f64::from(second) <= left + 16.0), "seed {seed}: {seen:?}");
        assert!(runs[0].seconds <= 1.15 * 95.0, "seed {seed}: {:?}", runs[0]);
    }
}
