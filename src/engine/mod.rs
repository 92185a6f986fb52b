//! The engine: runs a playbook's steps in order against AWS.
//!
//! For each step it builds the template context (vars, secrets, env, run, earlier steps),
//! expands `for-each`, evaluates `when`, renders the action's input, checks it against the
//! action's schema (so nothing invalid is sent), and sends it through a [`Caller`] with the
//! step's retry policy, timeout and the service's rate limiter. Items of a `for-each` run
//! concurrently (a semaphore), stop starting when the failure budget is spent or the run is
//! cancelled, and always finish what is in flight.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use minijinja::context;
use serde_json::{Value, json};
use sha2::Sha256;
use tokio_util::sync::CancellationToken;

use crate::actions::ActionKind;
use crate::aws::Clients;
use crate::events::{Counts, Event, ItemStatus, Reporter};
use crate::journal::{JournaledOutcome, RunRecorder, StepRecord};
use crate::playbook::{ForEach, OnFailure, Playbook};
use crate::secrets::Masker;
use crate::template::Renderer;

mod dry_run;
mod for_each;
mod identity;
pub use identity::{derived_token, item_key, item_keys};
use identity::{item_label, token_from, token_hasher};
mod limits;
use for_each::resume_mismatch;
mod item;
#[cfg(test)]
mod properties;
mod results;
use results::{Items, StepResults};

use crate::call::RetryPolicy;
pub use dry_run::dry_run;
pub use limits::{HostShare, LimitSource, Limiters};

/// The item key of a step without `for-each`.
pub const SINGLE_KEY: &str = "-";

/// The timeout of one attempt when neither the step nor `defaults` sets one.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Everything one run needs besides the AWS clients.
#[derive(Debug)]
pub struct RunInput<'a> {
    pub playbook: &'a Playbook,
    /// The playbook as JSON, where each step's raw (templated) input is read from.
    pub document: &'a Value,
    /// A JSON object: templates read it in place (see [`crate::template::JsonData`]).
    pub vars: Arc<Value>,
    pub secrets: BTreeMap<String, String>,
    pub run_id: String,
    pub started_at: chrono::DateTime<chrono::Utc>,
    /// `--concurrency`: caps every `for-each`.
    pub concurrency: Option<usize>,
    /// The playbook's folder: where `exec` runs programs unless a step says otherwise.
    pub dir: std::path::PathBuf,
    /// The run's working directory (`<state>/work/<run id>`), where artifacts go.
    pub workdir: std::path::PathBuf,
}

/// How one item (or a step without `for-each`) ended, as reports and the journal see it.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemReport {
    pub index: Option<usize>,
    /// Identifies the item across resumptions: a hash of its value.
    pub key: String,
    pub label: String,
    /// `None`: never started.
    pub status: Option<ItemStatus>,
    pub attempts: u32,
    /// Attempts answered with throttling.
    pub throttled: u32,
    /// Attempts that retried a failed one.
    pub retries: u32,
    /// Masked.
    pub output: Output,
    pub error_code: Option<String>,
    /// Masked.
    pub error: Option<String>,
    /// Taken from the journal on `--resume`, not sent again.
    pub replayed: bool,
}

/// Where an item's output is kept. A journaled run keeps outputs in the journal only (a
/// bulk step of 100,000 items would otherwise hold every one in memory): reports and later
/// steps read them back when they need them. A run without a journal (`demo`, tests) has
/// nowhere else to keep them and holds them all.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    Held(Box<Value>),
    /// Committed to the run's journal, read back on demand.
    Journaled,
}

impl Output {
    /// The output when it is in memory.
    pub fn held(&self) -> Option<&Value> {
        match self {
            Output::Held(value) => Some(value),
            Output::Journaled => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct StepReport {
    pub id: String,
    pub action: ActionKind,
    /// `None`: the step did not run (an earlier step aborted the run, or it was stopped).
    pub status: Option<ItemStatus>,
    /// Shared with `steps.<id>.results`.
    pub items: Arc<Vec<ItemReport>>,
    pub counts: Counts,
    /// Items taken from the journal on `--resume`, not sent again.
    pub replayed: usize,
    pub elapsed: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RunReport {
    pub steps: Vec<StepReport>,
    pub counts: Counts,
    pub failed_steps: Vec<String>,
    pub stopped: bool,
    /// `--resume` refused to go on: the playbook or its vars changed the items of a step.
    pub refused: Option<String>,
}

impl RunReport {
    pub fn succeeded(&self) -> bool {
        self.failed_steps.is_empty() && !self.stopped && self.refused.is_none()
    }
}

/// What every item task shares.
pub struct Engine {
    pub clients: Clients,
    pub renderer: Renderer,
    pub masker: Masker,
    pub reporter: Arc<dyn Reporter>,
    /// Shared by a worker's iterations, so what adaptation learned carries over.
    pub limiters: Arc<Limiters>,
    pub cancel: CancellationToken,
    /// Where item outcomes are made durable; `None` runs without a journal (`demo`, tests).
    pub recorder: Option<Arc<RunRecorder>>,
    /// On `--resume`: what the journal holds, by step id and item key.
    pub replay: BTreeMap<String, BTreeMap<String, JournaledOutcome>>,
    /// `--review`: actions that change anything are rendered, checked and not sent.
    pub review: bool,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("limiters", &self.limiters).finish_non_exhaustive()
    }
}

/// One step, ready to run items.
#[derive(Debug)]
struct StepPlan {
    index: usize,
    id: String,
    kind: ActionKind,
    raw_input: Value,
    name: Option<String>,
    when: Option<String>,
    policy: RetryPolicy,
    timeout: Duration,
    /// Derived idempotency tokens are unique per playbook, run, step and item: the hash
    /// state after "playbook\nrun\nstep\n", hashed once per step.
    token_seed: Sha256,
    run_id: String,
    /// The playbook's folder.
    dir: std::path::PathBuf,
    workdir: std::path::PathBuf,
    /// Set when the service says a daily quota is used up: no new item of the step starts.
    exhausted: std::sync::atomic::AtomicBool,
    /// Items the rolling daily quota still allows this step to start (`u64::MAX`: no count).
    allowance: std::sync::atomic::AtomicU64,
    /// The pace last reported (f64 bits; `u64::MAX` unlimited), to report changes only.
    pace: std::sync::atomic::AtomicU64,
    /// The step's shared task watcher, for `wait-for-acceptance`.
    watcher: Option<Arc<crate::actions::wait_for_acceptance::TaskWatcher>>,
}

/// The retry policy of a step: the step's, over `defaults.retry`, over the built-in one. An
/// action that is not an AWS call (`exec`) retries only what `on` names: running a program
/// again is not harmless the way resending a request with the same token is.
fn step_policy(step: &crate::playbook::Step, playbook: &Playbook) -> RetryPolicy {
    let mut policy = RetryPolicy::resolve(&[step.retry.as_ref(), playbook.defaults.retry.as_ref()]);
    if step.action.kind().service().is_none() && policy.on.is_none() {
        policy.on = Some(Vec::new());
    }
    policy
}

/// The per-attempt timeout of a step: the step's, else `defaults.timeout` (for AWS calls),
/// else the built-in one (60s for an AWS call, 1h for a program).
fn step_timeout(step: &crate::playbook::Step, playbook: &Playbook) -> Duration {
    match step.action.kind().service() {
        Some(_) => step.timeout.or(playbook.defaults.timeout).map_or(DEFAULT_TIMEOUT, |t| t.0),
        None => step.timeout.map_or(crate::actions::exec::DEFAULT_TIMEOUT, |t| t.0),
    }
}

/// The template context shared by a step's items. `steps` holds what earlier steps left
/// (`output`, `status`, `error`, `results`), some of it read from the journal when reached.
pub fn base_context(
    input: &RunInput<'_>,
    secrets: &Value,
    steps: &BTreeMap<String, minijinja::Value>,
) -> minijinja::Value {
    let env: BTreeMap<String, String> = std::env::vars().collect();
    context! {
        vars => crate::template::JsonData::at(&input.vars, String::new()),
        secrets => minijinja::Value::from(minijinja::value::Serde(secrets)),
        env => minijinja::Value::from(minijinja::value::Serde(&env)),
        run => context! {
            id => input.run_id.clone(),
            started_at => input.started_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            playbook => input.playbook.name.clone(),
        },
        steps => minijinja::Value::from(steps.clone()),
    }
}

impl Engine {
    /// Runs every step in order and reports how each ended.
    pub async fn run(self: &Arc<Self>, input: &RunInput<'_>) -> RunReport {
        let started = Instant::now();
        let playbook = input.playbook;
        self.reporter.report(&Event::RunStarted {
            run_id: input.run_id.clone(),
            playbook: playbook.name.clone(),
            steps: playbook.steps.len(),
        });
        let secrets = serde_json::to_value(&input.secrets).unwrap_or_default();
        let mut steps_context: BTreeMap<String, minijinja::Value> = BTreeMap::new();
        let mut report = RunReport {
            steps: Vec::new(),
            counts: Counts::default(),
            failed_steps: Vec::new(),
            stopped: false,
            refused: None,
        };
        let mut halted = false;
        // While every earlier step came whole from the journal, a step's items must be the
        // ones the journal has: anything else means the playbook or its vars changed.
        let mut replayed_only = true;
        for (index, step) in playbook.steps.iter().enumerate() {
            if halted || self.cancel.is_cancelled() {
                report.stopped |= self.cancel.is_cancelled();
                report.steps.push(not_run(step));
                continue;
            }
            let plan = self.plan_step(index, step, input);
            let context = base_context(input, &secrets, &steps_context);
            let step_started = Instant::now();
            let (step_report, step_value) = match &step.for_each {
                None => self.run_single(&plan, context, step_started).await,
                Some(for_each) => {
                    match self
                        .run_for_each(&plan, step, for_each, input, context, replayed_only, step_started)
                        .await
                    {
                        Ok(ran) => ran,
                        Err(refusal) => {
                            report.refused = Some(refusal);
                            break;
                        }
                    }
                }
            };
            steps_context.insert(step.id.clone(), step_value);
            replayed_only &= step_report.replayed == step_report.items.len();
            if step_report.status == Some(ItemStatus::Failed) {
                match step.on_failure.unwrap_or_default() {
                    OnFailure::Abort => {
                        report.failed_steps.push(step.id.clone());
                        halted = true;
                    }
                    // Items that never ran (a spent failure budget) are not handled by anyone.
                    OnFailure::Ignore if step_report.counts.not_started == 0 => {}
                    OnFailure::Continue | OnFailure::Ignore => report.failed_steps.push(step.id.clone()),
                }
            }
            add_counts(&mut report.counts, &step_report.counts);
            report.steps.push(step_report);
        }
        report.stopped |= self.cancel.is_cancelled();
        self.reporter.report(&Event::RunFinished {
            run_id: input.run_id.clone(),
            counts: report.counts,
            failed_steps: report.failed_steps.clone(),
            elapsed: started.elapsed(),
            stopped: report.stopped,
        });
        report
    }

    /// Everything a step's items share: its input as written, policies, token seed, limits.
    fn plan_step(&self, index: usize, step: &crate::playbook::Step, input: &RunInput<'_>) -> Arc<StepPlan> {
        let playbook = input.playbook;
        let kind = step.action.kind();
        Arc::new(StepPlan {
            index,
            id: step.id.clone(),
            kind,
            raw_input: input
                .document
                .pointer(&format!("/steps/{index}/{}", kind.name()))
                .cloned()
                .unwrap_or_default(),
            name: step.name.as_ref().map(|n| n.0.clone()),
            when: step.when.as_ref().map(|w| w.0.clone()),
            policy: step_policy(step, playbook),
            timeout: step_timeout(step, playbook),
            token_seed: token_hasher(&format!("{}\n{}\n{}", playbook.name, input.run_id, step.id)),
            run_id: input.run_id.clone(),
            dir: input.dir.clone(),
            workdir: input.workdir.clone(),
            exhausted: Default::default(),
            allowance: std::sync::atomic::AtomicU64::new(u64::MAX),
            pace: std::sync::atomic::AtomicU64::new(0),
            watcher: (kind == ActionKind::WaitForAcceptance).then(|| {
                crate::actions::wait_for_acceptance::TaskWatcher::new(
                    self.clients.partner.clone(),
                    step_policy(step, playbook),
                    self.limiters.of(kind),
                    step_timeout(step, playbook),
                )
            }),
        })
    }

    /// A step without `for-each`: one call (or the journal's record of it, on resume).
    async fn run_single(
        self: &Arc<Self>,
        plan: &Arc<StepPlan>,
        context: minijinja::Value,
        started: Instant,
    ) -> (StepReport, minijinja::Value) {
        let replayed = self.replayed(&plan.id, SINGLE_KEY, None);
        self.reporter.report(&Event::StepStarted {
            step: plan.id.clone(),
            action: plan.kind,
            items: None,
            concurrency: 1,
            resumed: usize::from(replayed.is_some()),
            limit: self.limit_text(plan.kind),
        });
        self.report_pace(plan).await;
        let (report, unmasked) = match replayed {
            Some(replayed) => replayed,
            None => {
                let end = self.clone().run_item(plan.clone(), None, String::new(), context, None).await;
                self.record_item(end).await
            }
        };
        // One output: read back now if it went to the journal.
        let output = match (unmasked, &report.output) {
            (Some(unmasked), _) => unmasked,
            (None, Output::Held(value)) => (**value).clone(),
            (None, Output::Journaled) => self.journaled_output(&plan.id, None, SINGLE_KEY),
        };
        let value =
            json!({"output": output, "status": report.status.map(ItemStatus::name), "error": report.error});
        (
            self.finish_step(plan, vec![report], started),
            minijinja::Value::from(minijinja::value::Serde(&value)),
        )
    }

    /// A `for-each` step: its items, started as concurrency, the failure budget and the
    /// quotas allow. `Err`: on resume, the items are not the ones the journal has (the
    /// message says why); nothing was started.
    #[allow(clippy::too_many_arguments)] // reason: the step, its plan and the run's state it reads
    async fn run_for_each(
        self: &Arc<Self>,
        plan: &Arc<StepPlan>,
        step: &crate::playbook::Step,
        for_each: &ForEach,
        input: &RunInput<'_>,
        context: minijinja::Value,
        replayed_only: bool,
        started: Instant,
    ) -> Result<(StepReport, minijinja::Value), String> {
        let items = match for_each {
            ForEach::List(items) => Ok(Items::owned(items.clone())),
            ForEach::Template(template) => self.for_each_items(&template.0, &context),
        };
        let keys = items.as_ref().map(|items| item_keys(items.list())).unwrap_or_default();
        let mismatch = self
            .replay
            .get(&step.id)
            .filter(|_| replayed_only)
            .and_then(|journaled| resume_mismatch(&step.id, &keys, journaled));
        if let Some(message) = mismatch {
            return Err(message);
        }
        let items = match items {
            Ok(items) => items,
            Err(message) => return Ok(self.template_failed(plan, &message, started)),
        };
        let concurrency =
            step.concurrency.map_or(1, |c| c as usize).min(input.concurrency.unwrap_or(usize::MAX)).max(1);
        let resumed = self.replay.get(&step.id).map_or(0, |journaled| {
            keys.iter().filter(|k| journaled.get(*k).is_some_and(|i| i.done_status().is_some())).count()
        });
        self.reporter.report(&Event::StepStarted {
            step: step.id.clone(),
            action: plan.kind,
            items: Some(items.list().len()),
            concurrency,
            resumed,
            limit: self.limit_text(plan.kind),
        });
        self.report_pace(plan).await;
        let budget = match (step.max_failures, step.on_failure.unwrap_or_default()) {
            (Some(budget), _) => Some(budget.allowed(items.list().len())),
            (None, OnFailure::Abort) => Some(0),
            (None, OnFailure::Continue | OnFailure::Ignore) => None,
        };
        self.count_daily_quota(plan, items.list().len());
        // The loop that starts items runs as a task on the runtime's workers, not on the
        // thread that drives the run (`block_on`): each item's end frees a slot and wakes the
        // loop, and waking a worker's task is cheaper than waking that thread.
        let (reports, unmasked) = {
            let (engine, plan, items, context) = (self.clone(), plan.clone(), items.clone(), context.clone());
            tokio::spawn(
                async move { engine.run_items(&plan, &items, keys, concurrency, budget, &context).await },
            )
            .await
            // A panic in the loop goes on as this step's panic; the task is only ever
            // cancelled by the runtime shutting down, which drops this future too, so
            // there is no other error to see.
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
        };
        // The reports (masked outputs, or a note that the journal has them) serve both the
        // run's report and `steps.<id>.results`; only outputs that masking changed are kept
        // unmasked beside them.
        let step_report = self.finish_step(plan, reports, started);
        let results = StepResults {
            step: step.id.clone(),
            items,
            reports: step_report.items.clone(),
            unmasked,
            journal: self.recorder.clone(),
        };
        let value = context! {
            results => minijinja::Value::from_object(results),
            status => step_report.status.map(ItemStatus::name),
        };
        Ok((step_report, value))
    }

    /// A `for-each` whose template did not render a list: the step fails as one item.
    fn template_failed(
        &self,
        plan: &StepPlan,
        message: &str,
        started: Instant,
    ) -> (StepReport, minijinja::Value) {
        let message = self.masker.mask(message);
        let failed = ItemReport {
            index: None,
            key: "-".into(),
            label: String::new(),
            status: Some(ItemStatus::Failed),
            attempts: 0,
            throttled: 0,
            retries: 0,
            output: Output::Held(Box::default()),
            error_code: Some("TemplateError".into()),
            error: Some(message.clone()),
            replayed: false,
        };
        self.reporter.report(&Event::ItemFinished {
            step: plan.id.clone(),
            item: None,
            label: String::new(),
            status: ItemStatus::Failed,
            attempts: 0,
            error: Some(message.clone()),
        });
        let value = json!({"results": [], "status": "failed", "error": message});
        (
            self.finish_step(plan, vec![failed], started),
            minijinja::Value::from(minijinja::value::Serde(&value)),
        )
    }

    /// A `for-each` template's items. A template that names a list the run already holds
    /// (`{{ vars.ids }}`) shares it; anything else is a new list.
    fn for_each_items(&self, template: &str, context: &minijinja::Value) -> Result<Items, String> {
        Items::from_template(&self.renderer, template, context)
    }

    /// An item's output read back from the journal (masked, as recorded); null when it cannot
    /// be, which the journal's failure already reports.
    fn journaled_output(&self, step: &str, position: Option<usize>, key: &str) -> Value {
        self.recorder.as_ref().and_then(|r| r.output(step, position, key).ok().flatten()).unwrap_or_default()
    }

    fn finish_step(&self, plan: &StepPlan, items: Vec<ItemReport>, started: Instant) -> StepReport {
        let mut counts = Counts::default();
        for item in &items {
            match item.status {
                Some(ItemStatus::Succeeded) => counts.succeeded += 1,
                Some(ItemStatus::Failed) => counts.failed += 1,
                Some(ItemStatus::Skipped) => counts.skipped += 1,
                None => counts.not_started += 1,
            }
            counts.retries += item.retries as usize;
            counts.throttled += item.throttled as usize;
        }
        let status = if counts.failed > 0 || counts.not_started > 0 {
            ItemStatus::Failed
        } else if counts.succeeded == 0 && counts.skipped > 0 {
            ItemStatus::Skipped
        } else {
            ItemStatus::Succeeded
        };
        let elapsed = started.elapsed();
        if let Some(recorder) = &self.recorder
            && !recorder.step(&StepRecord {
                step_id: plan.id.clone(),
                position: plan.index,
                action: plan.kind.name().to_string(),
                status: status.name().to_string(),
                counts,
                elapsed_ms: elapsed.as_millis() as u64,
            })
        {
            self.cancel.cancel();
        }
        self.reporter.report(&Event::StepFinished {
            step: plan.id.clone(),
            action: plan.kind,
            status,
            counts,
            elapsed,
        });
        let replayed = items.iter().filter(|i| i.replayed).count();
        StepReport {
            id: plan.id.clone(),
            action: plan.kind,
            status: Some(status),
            items: Arc::new(items),
            counts,
            replayed,
            elapsed,
        }
    }

    /// Counts what the action's rolling 24-hour quota has left, from every run in the journal,
    /// and says so at the step's start when its items will not fit; the step then starts only
    /// as many as fit, and leaves the rest for `--resume`. Only against the documented quota:
    /// a playbook that states its own limit for the action or group has a raise, of unknown
    /// daily size, and the service's own ServiceQuotaExceededException stops it cleanly.
    fn count_daily_quota(&self, plan: &StepPlan, items: usize) {
        let LimitSource::Documented(group, _) = self.limiters.source(plan.kind) else { return };
        let Some(recorder) = &self.recorder else { return };
        let daily = group.documented().1;
        let actions: Vec<&str> =
            ActionKind::ALL.iter().filter(|k| k.spec().quota == Some(*group)).map(|k| k.name()).collect();
        let since = (chrono::Utc::now() - chrono::Duration::hours(24))
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let Ok(used) = recorder.calls_since(&actions, &since) else { return };
        let left = daily.saturating_sub(used);
        self.reporter.report(&Event::DailyQuota {
            step: plan.id.clone(),
            action: plan.kind,
            used,
            limit: daily,
        });
        plan.allowance.store(left, std::sync::atomic::Ordering::Relaxed);
        if items as u64 > left {
            self.reporter.report(&Event::QuotaExhausted {
                step: plan.id.clone(),
                message: format!(
                    "the rolling 24-hour quota of {group} has {left} of {daily} calls left ({used} made by runs in \
                     this journal), fewer than the step's {items} items: {left} start"
                ),
            });
        }
    }

    /// The step's starting limit and its source, for the step's first line.
    fn limit_text(&self, kind: ActionKind) -> Option<String> {
        kind.service().map(|_| {
            let source = self.limiters.source(kind).to_string();
            match self.limiters.shared_with(kind) {
                Some(0) | None => source,
                Some(1) => {
                    format!("{source}; shared with 1 other handoff process on this host: they take turns")
                }
                Some(n) => {
                    format!("{source}; shared with {n} other handoff processes on this host: they take turns")
                }
            }
        })
    }

    /// Tells the display the pace the limiters allow the step's action now, when it changed.
    async fn report_pace(&self, plan: &StepPlan) {
        let [action, service] = self.limiters.of(plan.kind);
        let (action, service) = (action.rate(), service.rate());
        let pace = match (action, service) {
            (Some(a), Some(s)) => Some(a.min(s)),
            (one, other) => one.or(other),
        };
        let bits = pace.map_or(u64::MAX, f64::to_bits);
        if plan.pace.swap(bits, std::sync::atomic::Ordering::Relaxed) != bits {
            self.reporter.report(&Event::Pace {
                step: plan.id.clone(),
                per_second: pace,
                limit_per_second: self.limiters.source(plan.kind).per_second(),
            });
        }
    }
}

/// A step after an aborting failure or a stop: not run, nothing counted.
fn not_run(step: &crate::playbook::Step) -> StepReport {
    StepReport {
        id: step.id.clone(),
        action: step.action.kind(),
        status: None,
        items: Default::default(),
        counts: Counts::default(),
        replayed: 0,
        elapsed: Duration::ZERO,
    }
}

fn add_counts(total: &mut Counts, step: &Counts) {
    total.succeeded += step.succeeded;
    total.failed += step.failed;
    total.skipped += step.skipped;
    total.not_started += step.not_started;
    total.retries += step.retries;
    total.throttled += step.throttled;
}

pub(super) fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}
