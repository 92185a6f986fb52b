//! A `for-each` step's items: started in order, at most `concurrency` at once, until the
//! failure budget is spent, a quota is used up or the run is stopped; on `--resume`, items the
//! journal has as done are taken from it instead of run again.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use minijinja::context;
use serde_json::Value;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use super::results::Items;
use super::{Engine, ItemReport, Output, StepPlan, item_label};
use crate::events::{Event, ItemStatus};
use crate::journal::JournaledOutcome;

/// Why `--resume` cannot go on with a step: its items are not the ones the journal has.
pub(super) fn resume_mismatch(
    step: &str,
    keys: &[String],
    journaled: &BTreeMap<String, JournaledOutcome>,
) -> Option<String> {
    let now: std::collections::BTreeSet<&String> = keys.iter().collect();
    let added = now.iter().filter(|k| !journaled.contains_key(**k)).count();
    let missing = journaled.keys().filter(|k| !now.contains(k)).count();
    // Items the first run never reached are not in the journal; only keys the journal has
    // that are gone now prove the items changed.
    (missing > 0).then(|| {
        format!(
            "cannot resume: the items of step `{step}` changed since the run started ({missing} journaled items are \
             gone, {added} are new); the playbook or its vars were edited. Start a new run instead"
        )
    })
}

/// An item task's result: its position, report, and unmasked output if masking changed it.
type Done = (usize, ItemReport, Option<Value>);

/// Items started and not yet committed (calling, or done and waiting for their commit), at
/// most, per slot of concurrency (and never fewer than [`LEAST_BACKLOG`]): a journal that
/// stalls holds up the step's calls only once this many wait. 100,000 accepts at
/// concurrency 64: 4 per slot ran as fast as 16 (10.6-12.4 s against 11.8-13.1 s), and an
/// unbounded wait would let a hung disk fill memory.
const BACKLOG_PER_SLOT: usize = 4;
const LEAST_BACKLOG: usize = 64;

/// A running item's place among the `concurrency` calls in flight. It is given back when the
/// item's calls are done, before its outcome is committed: `concurrency` bounds the calls a
/// service sees, and a commit waiting on the disk (an fsync can take 100 ms) then stops no
/// call. Failures are counted here too, so `max-failures` is judged as soon as a call fails,
/// not after its commit.
#[derive(Debug)]
pub(super) struct Slot {
    _permit: OwnedSemaphorePermit,
    failures: Arc<AtomicU64>,
}

impl Slot {
    pub(super) fn release(self, status: ItemStatus) {
        if status == ItemStatus::Failed {
            self.failures.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Engine {
    /// Runs a `for-each`'s items, at most `concurrency` at once, until the failure budget is
    /// spent or the run is cancelled. Reports come back in item order (items that never
    /// started say so), with the unmasked outputs that masking changed, by position.
    pub(super) async fn run_items(
        self: &Arc<Self>,
        plan: &Arc<StepPlan>,
        items: &Items,
        keys: Vec<String>,
        concurrency: usize,
        budget: Option<u64>,
        context: &minijinja::Value,
    ) -> (Vec<ItemReport>, BTreeMap<usize, Value>) {
        let list = items.list();
        let semaphore = Arc::new(Semaphore::new(concurrency));
        let backlog = Arc::new(Semaphore::new((concurrency * BACKLOG_PER_SLOT).max(LEAST_BACKLOG)));
        let failures = Arc::new(AtomicU64::new(0));
        let mut tasks = JoinSet::new();
        // One report per item from the start, filled in as items finish: a bulk step holds one
        // vector of reports, never a second one built from the first. What lives as long as
        // the step (keys, labels) is allocated here in one go, not one by one among each
        // call's short-lived buffers, where it would pin their pages (peak RSS at 100,000
        // items was twice the live data that way).
        let mut reports: Vec<ItemReport> = keys
            .into_iter()
            .zip(list)
            .enumerate()
            .map(|(index, (key, item))| ItemReport {
                index: Some(index),
                key,
                label: item_label(item),
                status: None,
                attempts: 0,
                throttled: 0,
                retries: 0,
                // Until the item ends; one that never starts is told so below. Nothing per
                // item is allocated here that the item's own report replaces (at 100,000
                // items a boxed `null` and a "not started" each were 5 MB of peak RSS).
                output: Output::Journaled,
                error_code: None,
                error: None,
                replayed: false,
            })
            .collect();
        let mut unmasked = BTreeMap::new();
        let mut record = |reports: &mut Vec<ItemReport>, (index, report, secret): Done| {
            if let Some(secret) = secret {
                unmasked.insert(index, secret);
            }
            let kept = &mut reports[index];
            let ItemReport { label, key, .. } = std::mem::replace(kept, report);
            // Keep the step's own allocations unless the item's differ (a step `name`).
            if kept.label == label {
                kept.label = label;
            }
            kept.key = key;
        };
        for index in 0..list.len() {
            let key = reports[index].key.clone();
            if let Some((report, _)) = self.replayed(&plan.id, &key, Some(index)) {
                reports[index] = report;
                continue;
            }
            let permits = tokio::select! {
                permits = async {
                    let unrecorded = backlog.clone().acquire_owned().await.ok()?;
                    Some((semaphore.clone().acquire_owned().await.ok()?, unrecorded))
                } => permits,
                () = self.cancel.cancelled() => None,
            };
            while let Some(done) = tasks.try_join_next() {
                if let Ok(done) = done {
                    record(&mut reports, done);
                }
            }
            let Some((permit, unrecorded)) = permits else { break };
            if self.cancel.is_cancelled()
                || budget.is_some_and(|allowed| failures.load(Ordering::Relaxed) > allowed)
                || plan.exhausted.load(std::sync::atomic::Ordering::Relaxed)
            {
                break;
            }
            // The rolling daily quota's count: what does not fit is left for `--resume`.
            let allowance = &plan.allowance;
            match allowance.load(std::sync::atomic::Ordering::Relaxed) {
                0 => break,
                u64::MAX => {}
                _ => {
                    allowance.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
            self.reporter.report(&Event::ItemStarted { step: plan.id.clone(), item: index });
            let item_context =
                context! { item => items.template_value(index), index => index, ..context.clone() };
            let (engine, plan, label) = (self.clone(), plan.clone(), reports[index].label.clone());
            let slot = Slot { _permit: permit, failures: failures.clone() };
            tasks.spawn(async move {
                // Held until the outcome is committed (the slot is given back earlier).
                let _unrecorded = unrecorded;
                // Boxed: an item's future (the SDK's call stack) is tens of kilobytes, and a
                // task moves its future several times (spawn, stage changes); moving a pointer
                // instead saves a large share of each call's instructions (docs/benchmarks.md).
                let end = Box::pin(engine.clone().run_item(
                    plan,
                    Some((index, key)),
                    label,
                    item_context,
                    Some(slot),
                ))
                .await;
                // The call's future is dropped by now: waiting for the commit holds only the row.
                let (mut report, output) = engine.record_item(end).await;
                report.index = Some(index);
                (index, report, output)
            });
        }
        while let Some(done) = tasks.join_next().await {
            if let Ok(done) = done {
                record(&mut reports, done);
            }
        }
        for report in reports.iter_mut().filter(|r| r.status.is_none()) {
            report.output = Output::Held(Box::default());
            report.error = Some("not started".into());
        }
        (reports, unmasked)
    }

    /// On `--resume`, an item the journal has as done: its report and output, not sent again.
    /// Its output is the journal's (masked), read back when asked for, like any journaled one.
    pub(super) fn replayed(
        &self,
        step: &str,
        key: &str,
        index: Option<usize>,
    ) -> Option<(ItemReport, Option<Value>)> {
        let journaled = self.replay.get(step)?.get(key)?;
        let status = journaled.done_status()?;
        let report = ItemReport {
            index,
            key: key.to_string(),
            label: journaled.label.clone(),
            status: Some(status),
            attempts: journaled.attempts,
            throttled: journaled.throttled,
            retries: 0,
            output: Output::Journaled,
            error_code: journaled.error_code.clone(),
            error: journaled.error.clone(),
            replayed: true,
        };
        Some((report, None))
    }
}
