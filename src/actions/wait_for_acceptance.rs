//! `wait-for-acceptance`: waits for an accept task to end, through Partner Central Selling
//! ListEngagementByAcceptingInvitationTasks. The accept task is asynchronous, and cron users
//! want its final COMPLETE or FAILED.

use serde::Deserialize;

use crate::playbook::{DurationSpec, Text};

pub const OUTPUT: &[&str] = &[
    "TaskId",
    "TaskArn",
    "TaskStatus",
    "StartTime",
    "Message",
    "ReasonCode",
    "OpportunityId",
    "EngagementInvitationId",
    "ResourceSnapshotJobId",
];

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

pub async fn call(request: Request, ctx: &super::ActionContext<'_>) -> crate::engine::Outcome {
    use crate::engine::{CallError, Outcome};
    let interval = request.poll_interval.map_or(DEFAULT_POLL_INTERVAL, |d| d.0);
    let deadline = tokio::time::Instant::now() + request.timeout.map_or(DEFAULT_TIMEOUT, |d| d.0);
    let client = &ctx.clients.partner;
    loop {
        let sent = ctx
            .caller
            .send(|| async {
                let output = client
                    .list_engagement_by_accepting_invitation_tasks()
                    .catalog(&request.catalog)
                    .task_identifier(&request.task_id)
                    .send()
                    .await
                    .map_err(|e| CallError::from_sdk(&e))?;
                Ok(output.task_summaries().first().map(summary).unwrap_or_default())
            })
            .await;
        let task = match sent {
            Ok(task) => task,
            Err(error) => return Outcome::Failed { error, output: None },
        };
        match task["TaskStatus"].as_str() {
            Some("COMPLETE") => return Outcome::Succeeded(task),
            Some("FAILED") => {
                let reason = task["ReasonCode"].as_str().unwrap_or("Unknown").to_string();
                let message = task["Message"].as_str().unwrap_or("the accept task failed").to_string();
                return Outcome::Failed { error: CallError::client(&reason, message), output: Some(task) };
            }
            None => {
                let message = format!("no accept task {} in catalog {}", request.task_id, request.catalog);
                return Outcome::Failed {
                    error: CallError::client("ResourceNotFoundException", message),
                    output: None,
                };
            }
            Some(_) => {}
        }
        if tokio::time::Instant::now() + interval > deadline {
            let message = format!("task {} was still IN_PROGRESS when the wait timed out", request.task_id);
            return Outcome::Failed { error: CallError::client("WaitTimeout", message), output: Some(task) };
        }
        tokio::time::sleep(interval).await;
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
