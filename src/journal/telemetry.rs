//! What the HTML report draws that items and attempts do not hold: the pace the rate control
//! chose over time, and how long calls took. A [`Reporter`] fed by the engine's events
//! ([`Event::Pace`], [`Event::Attempt`]) writes them beside the run, bounded in size whatever
//! the run's length: a pace row at most once a second per step (once a minute past the first
//! hour), and one latency histogram per step and session. Rows are buffered and written in one
//! transaction every ten seconds and when the run ends.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::params;

use super::{Journal, JournalError};
use crate::events::{Event, Reporter};

/// Pace rows a step writes at one a second before it slows to one a minute.
const DENSE_ROWS: u32 = 3_600;

/// One decision of the rate control, as journaled.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Pace {
    pub step_id: String,
    pub session: u32,
    pub at: String,
    /// Calls per second allowed now; `None`: unlimited.
    pub per_second: Option<f64>,
    /// The limit the step started at; `None`: none known.
    pub limit_per_second: Option<f64>,
}

/// Call durations in logarithmic buckets, four to a doubling (each about 19% wide): bucket
/// `i` holds durations up to `2^(i/4)` milliseconds. A quantile read from it is within a
/// bucket's width of the true one, in a few hundred bytes whatever the number of calls.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Histogram {
    pub buckets: BTreeMap<u16, u64>,
    pub count: u64,
    pub failed: u64,
    pub sum_ms: f64,
}

impl Histogram {
    const PER_DOUBLING: f64 = 4.0;
    const LAST: u16 = 100; // 2^25 ms: nine hours

    pub fn bucket_of(ms: f64) -> u16 {
        if ms <= 1.0 {
            return 0;
        }
        ((ms.log2() * Self::PER_DOUBLING).ceil() as u16).min(Self::LAST)
    }

    /// The upper bound of bucket `i`, in milliseconds.
    pub fn upper_ms(bucket: u16) -> f64 {
        2f64.powf(f64::from(bucket) / Self::PER_DOUBLING)
    }

    pub fn record(&mut self, elapsed: Duration, failed: bool) {
        let ms = elapsed.as_secs_f64() * 1000.0;
        *self.buckets.entry(Self::bucket_of(ms)).or_default() += 1;
        self.count += 1;
        self.failed += u64::from(failed);
        self.sum_ms += ms;
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (bucket, n) in &other.buckets {
            *self.buckets.entry(*bucket).or_default() += n;
        }
        self.count += other.count;
        self.failed += other.failed;
        self.sum_ms += other.sum_ms;
    }

    /// The `q` quantile (0 < q <= 1), in milliseconds: the upper bound of its bucket.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let rank = (q * self.count as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (bucket, n) in &self.buckets {
            seen += n;
            if seen >= rank {
                return Some(Self::upper_ms(*bucket));
            }
        }
        self.buckets.keys().next_back().map(|b| Self::upper_ms(*b))
    }
}

#[derive(Debug, Default)]
struct StepState {
    action: String,
    histogram: Histogram,
    /// Calls recorded since the histogram was last written.
    unwritten: bool,
    last_row: Option<Instant>,
    rows: u32,
    /// The newest decision not written yet (it came less than the spacing after the last).
    pending: Option<(String, Option<f64>, Option<f64>)>,
}

type PaceRow = (String, Option<f64>, Option<f64>);

/// How often buffered rows are written while a run goes on. The rows ride on one transaction
/// per flush, not one per decision: a worker polling every 100 ms would otherwise add a
/// synced commit per step to every idle iteration.
const FLUSH_EVERY: Duration = Duration::from_secs(10);

#[derive(Debug)]
struct Buffered {
    steps: HashMap<String, StepState>,
    /// Pace rows not written yet, by step.
    rows: Vec<(String, PaceRow)>,
    last_flush: Instant,
}

/// The reporter that journals a run's paces and latencies.
pub struct Telemetry {
    journal: Arc<Journal>,
    run_id: String,
    session: u32,
    buffered: Mutex<Buffered>,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry").field("run_id", &self.run_id).field("session", &self.session).finish()
    }
}

impl Telemetry {
    pub fn new(journal: Arc<Journal>, run_id: &str, session: u32) -> Self {
        let buffered = Buffered { steps: HashMap::new(), rows: Vec::new(), last_flush: Instant::now() };
        Self { journal, run_id: run_id.to_owned(), session, buffered: Mutex::new(buffered) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Buffered> {
        self.buffered.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes the buffered rows and the histograms with new calls, in one transaction;
    /// `all` also writes the decisions held back by the spacing (the run or step is over).
    fn write_out(&self, buffered: &mut Buffered, all: bool) {
        buffered.last_flush = Instant::now();
        let mut rows = std::mem::take(&mut buffered.rows);
        let mut histograms = Vec::new();
        for (step, state) in &mut buffered.steps {
            if all && let Some(pace) = state.pending.take() {
                rows.push((step.clone(), pace));
            }
            if std::mem::take(&mut state.unwritten) {
                let text = serde_json::to_string(&state.histogram).unwrap_or_default();
                histograms.push((step.clone(), state.action.clone(), text));
            }
        }
        if rows.is_empty() && histograms.is_empty() {
            return;
        }
        // The report is a view: a journal that cannot take these rows loses points of a
        // chart, not the run (the items' own commits report their errors).
        let _ = self.journal.with(|c| {
            let tx = c.transaction()?;
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO paces (run_id, step_id, session, at, per_second, limit_per_second)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?;
                for (step, (at, per_second, limit)) in &rows {
                    insert.execute(params![self.run_id, step, self.session, at, per_second, limit])?;
                }
                let mut replace = tx.prepare_cached(
                    "INSERT OR REPLACE INTO latencies (run_id, step_id, session, action, histogram)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?;
                for (step, action, text) in &histograms {
                    replace.execute(params![self.run_id, step, self.session, action, text])?;
                }
            }
            tx.commit()
        });
    }
}

impl Buffered {
    /// The step's state; its name is copied only the first time (an `Attempt` per call is
    /// the hot path of a bulk run).
    fn step(&mut self, step: &str) -> &mut StepState {
        if !self.steps.contains_key(step) {
            self.steps.insert(step.to_owned(), StepState::default());
        }
        self.steps.get_mut(step).expect("just inserted")
    }
}

impl Reporter for Telemetry {
    fn report(&self, event: &Event) {
        if !matches!(
            event,
            Event::StepStarted { .. }
                | Event::Pace { .. }
                | Event::Attempt { .. }
                | Event::RunFinished { .. }
        ) {
            return;
        }
        let mut buffered = self.lock();
        match event {
            Event::StepStarted { step, action, .. } => {
                buffered.step(step).action = action.name().to_owned();
            }
            Event::Pace { step, per_second, limit_per_second } => {
                let state = buffered.step(step);
                let spacing = Duration::from_secs(if state.rows < DENSE_ROWS { 1 } else { 60 });
                let pace = (super::now(), *per_second, *limit_per_second);
                match state.last_row {
                    Some(last) if last.elapsed() < spacing => state.pending = Some(pace),
                    _ => {
                        // A decision held back before this one is older than the spacing:
                        // this one supersedes it, at its own time.
                        state.pending = None;
                        state.last_row = Some(Instant::now());
                        state.rows += 1;
                        buffered.rows.push((step.clone(), pace));
                    }
                }
            }
            Event::Attempt { step, action, elapsed, failure, .. } => {
                let state = buffered.step(step);
                if state.action.is_empty() {
                    state.action = action.name().to_owned();
                }
                state.histogram.record(*elapsed, failure.is_some());
                state.unwritten = true;
            }
            Event::RunFinished { .. } => self.write_out(&mut buffered, true),
            _ => {}
        }
        if buffered.last_flush.elapsed() >= FLUSH_EVERY {
            self.write_out(&mut buffered, false);
        }
    }

    fn finish(&self) {
        let mut buffered = self.lock();
        self.write_out(&mut buffered, true);
    }

    fn flush(&self) {
        let mut buffered = self.lock();
        self.write_out(&mut buffered, true);
    }
}

impl Journal {
    /// A run's paces, oldest first.
    pub fn paces(&self, run_id: &str) -> Result<Vec<Pace>, JournalError> {
        self.with(|c| {
            let mut statement = c.prepare(
                "SELECT step_id, session, at, per_second, limit_per_second FROM paces
                 WHERE run_id = ?1 ORDER BY at, rowid",
            )?;
            statement
                .query_map([run_id], |row| {
                    Ok(Pace {
                        step_id: row.get(0)?,
                        session: row.get(1)?,
                        at: row.get(2)?,
                        per_second: row.get(3)?,
                        limit_per_second: row.get(4)?,
                    })
                })?
                .collect()
        })
    }

    /// A run's call durations by action, every step and session merged.
    pub fn latencies(&self, run_id: &str) -> Result<BTreeMap<String, Histogram>, JournalError> {
        let rows: Vec<(String, String)> = self.with(|c| {
            let mut statement = c.prepare("SELECT action, histogram FROM latencies WHERE run_id = ?1")?;
            statement.query_map([run_id], |row| Ok((row.get(0)?, row.get(1)?)))?.collect()
        })?;
        let mut by_action: BTreeMap<String, Histogram> = BTreeMap::new();
        for (action, text) in rows {
            if let Ok(histogram) = serde_json::from_str::<Histogram>(&text) {
                by_action.entry(action).or_default().merge(&histogram);
            }
        }
        Ok(by_action)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_within_a_bucket() {
        let mut h = Histogram::default();
        for ms in 1..=1000u64 {
            h.record(Duration::from_millis(ms), ms > 990);
        }
        assert_eq!(h.count, 1000);
        assert_eq!(h.failed, 10);
        for (q, truth) in [(0.5, 500.0), (0.9, 900.0), (0.99, 990.0)] {
            let got = h.quantile_ms(q).unwrap();
            assert!(got >= truth && got <= truth * 1.19, "q{q}: {got} for {truth}");
        }
        assert_eq!(Histogram::default().quantile_ms(0.5), None);
    }

    #[test]
    fn paces_are_spaced_and_the_last_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Arc::new(Journal::open(&dir.path().join("j.sqlite")).unwrap());
        journal
            .begin_run(&super::super::NewRun {
                id: "r1",
                playbook: "p",
                path: "p.yaml",
                content_hash: "h",
                arguments: &[],
                started_at: "2026-12-04T00:00:00.000Z",
            })
            .unwrap();
        let telemetry = Telemetry::new(journal.clone(), "r1", 0);
        let pace =
            |rate: f64| Event::Pace { step: "s".into(), per_second: Some(rate), limit_per_second: Some(1.0) };
        for rate in [1.0, 0.9, 0.8, 0.7] {
            telemetry.report(&pace(rate));
        }
        telemetry.report(&Event::Attempt {
            step: "s".into(),
            action: crate::actions::ActionKind::AcceptInvitation,
            elapsed: Duration::from_millis(40),
            failure: None,
            bytes: None,
        });
        telemetry.finish();
        let rates: Vec<_> = journal.paces("r1").unwrap().iter().map(|p| p.per_second.unwrap()).collect();
        // The first at once, the others within the second: only the newest of them.
        assert_eq!(rates, [1.0, 0.7]);
        let latencies = journal.latencies("r1").unwrap();
        assert_eq!(latencies["accept-invitation"].count, 1);
        // Forgetting (or pruning) the run takes its telemetry with it.
        journal.forget_run("r1").unwrap();
        assert!(journal.paces("r1").unwrap().is_empty());
        assert!(journal.latencies("r1").unwrap().is_empty());
    }
}
