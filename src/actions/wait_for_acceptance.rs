//! `wait-for-acceptance`: waits for an accept task to end, through Partner Central Selling
//! ListEngagementByAcceptingInvitationTasks. The accept task is asynchronous, and cron users
//! want its final COMPLETE or FAILED.

use serde::Deserialize;

use crate::playbook::{DurationSpec, Text};

pub const SPEC: super::ActionSpec = super::ActionSpec {
    name: "wait-for-acceptance",
    service: Some(super::Service::PartnerCentralSelling),
    operation: "ListEngagementByAcceptingInvitationTasks",
    // The task as it ends: the same fields the accept that started it returns.
    output: super::accept_invitation::SPEC.output,
    quota: Some(super::QuotaGroup::PartnerCentralReads),
    secret_inputs: &[],
    schema: include_str!("../../schemas/actions/wait-for-acceptance.schema.json"),
    changes: false,
};

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Input {
    pub catalog: Text,
    pub task_id: Text,
    pub poll_interval: Option<DurationSpec>,
    pub timeout: Option<DurationSpec>,
}

#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Request {
    pub catalog: String,
    pub task_id: String,
    pub poll_interval: Option<DurationSpec>,
    pub timeout: Option<DurationSpec>,
}

const DEFAULT_POLL_INTERVAL: std::time::Duration = std::time::Duration::from_secs(2);
const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);
/// The most task ids ListEngagementByAcceptingInvitationTasks takes in one call.
const BATCH: usize = 10;

pub async fn call(request: Request, ctx: &super::ActionContext<'_>) -> crate::call::Outcome {
    use crate::call::{CallError, Outcome};
    let interval = request.poll_interval.map_or(DEFAULT_POLL_INTERVAL, |d| d.0);
    let deadline = tokio::time::Instant::now() + request.timeout.map_or(DEFAULT_TIMEOUT, |d| d.0);
    let Some(watcher) = ctx.watcher else {
        let error = CallError::client("InvalidInput", "wait-for-acceptance needs the engine's task watcher");
        return Outcome::Failed { error, output: None };
    };
    ctx.caller.note_attempt();
    let waited = tokio::select! {
        waited = watcher.wait(request.catalog, request.task_id.clone(), interval, deadline) => waited,
        () = ctx.caller.stopped() => Err(CallError::stopped()),
    };
    match waited {
        Ok(task) => match task["TaskStatus"].as_str() {
            Some("COMPLETE") => Outcome::Succeeded(task),
            Some("FAILED") => {
                let reason = task["ReasonCode"].as_str().unwrap_or("Unknown").to_string();
                let message = task["Message"].as_str().unwrap_or("the accept task failed").to_string();
                Outcome::Failed { error: CallError::client(&reason, message), output: Some(task) }
            }
            _ => {
                let message =
                    format!("task {} was still IN_PROGRESS when the wait timed out", request.task_id);
                Outcome::Failed { error: CallError::client("WaitTimeout", message), output: Some(task) }
            }
        },
        Err(error) => Outcome::Failed { error, output: None },
    }
}

/// Waits for many accept tasks at once: the waiting items of a step register their task ids,
/// and one poller asks about ten of them per ListEngagementByAcceptingInvitationTasks call,
/// instead of one call per task per interval.
pub struct TaskWatcher {
    state: std::sync::Mutex<WatchState>,
    partner: aws_sdk_partnercentralselling::Client,
    policy: crate::call::RetryPolicy,
    limiters: [std::sync::Arc<crate::call::RateLimiter>; 2],
    timeout: std::time::Duration,
}

#[derive(Default)]
struct WatchState {
    waiting: std::collections::VecDeque<Waiter>,
    polling: bool,
}

struct Waiter {
    catalog: String,
    task_id: String,
    interval: std::time::Duration,
    deadline: tokio::time::Instant,
    last: serde_json::Value,
    reply: tokio::sync::oneshot::Sender<Result<serde_json::Value, crate::call::CallError>>,
}

impl std::fmt::Debug for TaskWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskWatcher").field("policy", &self.policy).finish_non_exhaustive()
    }
}

impl TaskWatcher {
    pub fn new(
        partner: aws_sdk_partnercentralselling::Client,
        policy: crate::call::RetryPolicy,
        limiters: [std::sync::Arc<crate::call::RateLimiter>; 2],
        timeout: std::time::Duration,
    ) -> std::sync::Arc<Self> {
        std::sync::Arc::new(Self { state: Default::default(), partner, policy, limiters, timeout })
    }

    /// Resolves with the task's summary once it is COMPLETE or FAILED, or with the last one
    /// seen when `deadline` passes.
    pub async fn wait(
        self: &std::sync::Arc<Self>,
        catalog: String,
        task_id: String,
        interval: std::time::Duration,
        deadline: tokio::time::Instant,
    ) -> Result<serde_json::Value, crate::call::CallError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let start = {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            state.waiting.push_back(Waiter {
                catalog,
                task_id,
                interval,
                deadline,
                last: serde_json::Value::Null,
                reply,
            });
            !std::mem::replace(&mut state.polling, true)
        };
        if start {
            tokio::spawn(self.clone().poll());
        }
        answer
            .await
            .unwrap_or_else(|_| Err(crate::call::CallError::client("WaitAborted", "the wait was abandoned")))
    }

    async fn poll(self: std::sync::Arc<Self>) {
        loop {
            let interval = {
                let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
                match state.waiting.iter().map(|w| w.interval).min() {
                    Some(interval) => interval,
                    None => {
                        state.polling = false;
                        return;
                    }
                }
            };
            tokio::time::sleep(interval).await;
            let rounds = self.state.lock().unwrap_or_else(|e| e.into_inner()).waiting.len().div_ceil(BATCH);
            for _ in 0..rounds {
                let batch: Vec<Waiter> = {
                    let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
                    let Some(catalog) = state.waiting.front().map(|w| w.catalog.clone()) else { break };
                    let mut batch = Vec::new();
                    let mut rest = std::collections::VecDeque::new();
                    while let Some(waiter) = state.waiting.pop_front() {
                        if waiter.catalog == catalog && batch.len() < BATCH {
                            batch.push(waiter);
                        } else {
                            rest.push_back(waiter);
                        }
                    }
                    state.waiting = rest;
                    batch
                };
                if batch.is_empty() {
                    break;
                }
                self.check(batch).await;
            }
        }
    }

    /// One call for up to ten tasks; finished ones are answered, the others wait on.
    async fn check(&self, mut batch: Vec<Waiter>) {
        use crate::call::{CallError, Caller};
        let on_retry = |_: &crate::call::RetryNotice| {};
        let caller =
            Caller::new(&self.policy, [&self.limiters[0], &self.limiters[1]], self.timeout, &on_retry);
        let catalog = batch[0].catalog.clone();
        let ids: Vec<String> = batch.iter().map(|w| w.task_id.clone()).collect();
        let sent = caller
            .send(|| async {
                let output = self
                    .partner
                    .list_engagement_by_accepting_invitation_tasks()
                    .catalog(&catalog)
                    .set_task_identifier(Some(ids.clone()))
                    .max_results(100)
                    .send()
                    .await
                    .map_err(|e| CallError::from_sdk(&e))?;
                Ok(serde_json::Value::Array(output.task_summaries().iter().map(summary).collect()))
            })
            .await;
        let summaries = match sent {
            Ok(summaries) => summaries,
            Err(error) => {
                for waiter in batch {
                    let _ = waiter.reply.send(Err(error.clone()));
                }
                return;
            }
        };
        let now = tokio::time::Instant::now();
        let mut still_waiting = Vec::new();
        for mut waiter in batch.drain(..) {
            let found = summaries.as_array().and_then(|all| {
                all.iter().find(|s| {
                    let id = s["TaskId"].as_str().unwrap_or_default();
                    let arn = s["TaskArn"].as_str().unwrap_or_default();
                    id == waiter.task_id || arn == waiter.task_id
                })
            });
            match found {
                None => {
                    let message = format!("no accept task {} in catalog {}", waiter.task_id, waiter.catalog);
                    let _ = waiter.reply.send(Err(CallError::client("ResourceNotFoundException", message)));
                }
                Some(task) if task["TaskStatus"] != "IN_PROGRESS" => {
                    let _ = waiter.reply.send(Ok(task.clone()));
                }
                Some(task) if now + waiter.interval > waiter.deadline => {
                    let _ = waiter.reply.send(Ok(task.clone()));
                }
                Some(task) => {
                    waiter.last = task.clone();
                    still_waiting.push(waiter);
                }
            }
        }
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.waiting.extend(still_waiting);
    }
}
fn summary(
    s: &aws_sdk_partnercentralselling::types::ListEngagementByAcceptingInvitationTaskSummary,
) -> serde_json::Value {
    serde_json::json!({
        "TaskId": s.task_id(),
        "TaskArn": s.task_arn(),
        "StartTime": s.start_time().map(super::format_time),
        "TaskStatus": s.task_status().map(|t| t.as_str()),
        "Message": s.message(),
        "ReasonCode": s.reason_code().map(|r| r.as_str()),
        "OpportunityId": s.opportunity_id(),
        "EngagementInvitationId": s.engagement_invitation_id(),
        "ResourceSnapshotJobId": s.resource_snapshot_job_id(),
    })
}
