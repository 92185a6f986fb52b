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
