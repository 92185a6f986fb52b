//! What the report shows, gathered from the journal: the run, its steps on a time line, the
//! calls per quota group in time buckets, the paces the rate control chose, latencies and
//! failures. Everything here is bounded whatever the run's size (at most [`MAX_BUCKETS`]
//! buckets a group); the items themselves are streamed by the page, not held here.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::actions::ActionKind;
use crate::journal::{FailureGroup, Histogram, Journal, JournalError, JournaledStep, RunLock, RunSummary};

/// A rate chart's columns at most: finer than a page is wide is noise.
pub const MAX_BUCKETS: usize = 240;

#[derive(Debug)]
pub struct Model {
    pub run: RunSummary,
    /// Seconds from the run's start to the last thing it recorded.
    pub span: f64,
    pub steps: Vec<StepSpan>,
    pub groups: Vec<GroupSeries>,
    pub latencies: BTreeMap<String, Histogram>,
    pub failures: Vec<FailureGroup>,
}

/// A decision of the rate control: seconds from the run's start, the rate in force and the
/// limit (calls per second; `None`: unlimited, or none known).
pub type PacePoint = (f64, Option<f64>, Option<f64>);

#[derive(Debug)]
pub struct StepSpan {
    pub step: JournaledStep,
    /// Seconds from the run's start.
    pub start: f64,
    pub end: f64,
}

/// The calls of one quota group (or of one action that has no documented group) over time.
#[derive(Debug, Default)]
pub struct GroupSeries {
    pub name: String,
    pub steps: Vec<String>,
    /// Seconds a bucket spans.
    pub bucket: f64,
    /// Attempts sent (answered one way or another) in each bucket.
    pub sent: Vec<u32>,
    pub throttled: Vec<u32>,
    pub paces: Vec<PacePoint>,
}

impl GroupSeries {
    pub fn total_sent(&self) -> u64 {
        self.sent.iter().map(|n| u64::from(*n)).sum()
    }

    pub fn total_throttled(&self) -> u64 {
        self.throttled.iter().map(|n| u64::from(*n)).sum()
    }
}

fn parse(at: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(at).ok().map(|t| t.with_timezone(&Utc))
}

/// The quota group a step's calls count against, if they are AWS calls.
fn group_of(action: &str) -> Option<String> {
    let action = ActionKind::from_name(action)?;
    action.service()?;
    Some(action.spec().quota.map_or(action.name(), |group| group.name()).to_owned())
}

impl Model {
    pub fn gather(journal: &Journal, run_id: &str) -> Result<Self, JournalError> {
        let mut run = journal.summary(run_id)?;
        // A run recorded as running whose lock nobody holds died without finishing.
        if run.status == "running" && !RunLock::is_held(&RunLock::path_for(journal.path(), &run.playbook)) {
            run.status = "interrupted".into();
        }
        let start = parse(&run.started_at).unwrap_or_else(Utc::now);
        let since =
            |at: &str| parse(at).map_or(0.0, |t| (t - start).num_milliseconds().max(0) as f64 / 1000.0);

        let steps: Vec<StepSpan> = journal
            .steps(run_id)?
            .into_iter()
            .map(|step| {
                let end = since(&step.finished_at);
                StepSpan { start: (end - step.elapsed_ms as f64 / 1000.0).max(0.0), end, step }
            })
            .collect();
        let group_by_step: BTreeMap<&str, String> =
            steps.iter().filter_map(|s| Some((s.step.step_id.as_str(), group_of(&s.step.action)?))).collect();

        // Attempts by group, as (seconds, throttled): a few bytes each, bucketed below once
        // the run's span is known.
        let mut attempts: BTreeMap<String, Vec<(f32, bool)>> = BTreeMap::new();
        let mut span = run.ended_at.as_deref().map_or(0.0, since);
        journal.for_each_attempt(run_id, |step, at, outcome| {
            let Some(group) = group_by_step.get(step) else { return };
            let t = since(at);
            span = f64::max(span, t);
            attempts.entry(group.clone()).or_default().push((t as f32, outcome == "throttling"));
        })?;
        for step in &steps {
            span = span.max(step.end);
        }
        let mut paces: BTreeMap<String, Vec<PacePoint>> = BTreeMap::new();
        for pace in journal.paces(run_id)? {
            let Some(group) = group_by_step.get(pace.step_id.as_str()) else { continue };
            let t = since(&pace.at);
            span = span.max(t);
            paces.entry(group.clone()).or_default().push((t, pace.per_second, pace.limit_per_second));
        }
        let span = span.max(1.0);

        let bucket = bucket_width(span);
        let mut groups: Vec<GroupSeries> = Vec::new();
        for (step, group) in &group_by_step {
            let series = match groups.iter_mut().find(|g| &g.name == group) {
                Some(series) => series,
                None => {
                    let count = (span / bucket).ceil() as usize;
                    groups.push(GroupSeries {
                        name: group.clone(),
                        bucket,
                        sent: vec![0; count],
                        throttled: vec![0; count],
                        paces: paces.remove(group).unwrap_or_default(),
                        ..GroupSeries::default()
                    });
                    groups.last_mut().expect("just pushed")
                }
            };
            series.steps.push((*step).to_owned());
            for (t, throttled) in attempts.remove(group).unwrap_or_default() {
                let i = ((f64::from(t) / bucket) as usize).min(series.sent.len().saturating_sub(1));
                if let Some(sent) = series.sent.get_mut(i) {
                    *sent += 1;
                    series.throttled[i] += u32::from(throttled);
                }
            }
        }
        // Steps in playbook order, groups in the order their first step ran.
        groups.sort_by_key(|g| steps.iter().position(|s| g.steps.contains(&s.step.step_id)));

        Ok(Model {
            latencies: journal.latencies(run_id)?,
            failures: journal.failure_groups(run_id)?,
            run,
            span,
            steps,
            groups,
        })
    }
}

/// A bucket width for a run of `span` seconds: whole seconds, round ones, at most
/// [`MAX_BUCKETS`] buckets.
pub fn bucket_width(span: f64) -> f64 {
    const ROUND: [f64; 12] = [1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0];
    let needed = span / MAX_BUCKETS as f64;
    ROUND.iter().copied().find(|w| *w >= needed).unwrap_or_else(|| (needed / 3600.0).ceil() * 3600.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_round_and_few() {
        assert_eq!(bucket_width(60.0), 1.0);
        assert_eq!(bucket_width(240.0), 1.0);
        assert_eq!(bucket_width(241.0), 2.0);
        assert_eq!(bucket_width(100_000.0), 600.0);
        assert!(100_000.0 / bucket_width(100_000.0) <= MAX_BUCKETS as f64);
        assert!(1e7 / bucket_width(1e7) <= MAX_BUCKETS as f64);
    }

    #[test]
    fn groups_are_the_documented_quota_groups() {
        assert_eq!(group_of("accept-invitation").as_deref(), Some("partnercentral-selling-writes"));
        assert_eq!(group_of("reject-invitation").as_deref(), Some("partnercentral-selling-writes"));
        assert_eq!(group_of("acknowledge").as_deref(), Some("acknowledge"));
        assert_eq!(group_of("exec"), None);
        assert_eq!(group_of("no-such-action"), None);
    }
}
