//! `accept-invitation`: Partner Central Selling StartEngagementByAcceptingInvitationTask.
//! Starts an asynchronous task that accepts the invitation and creates an opportunity.

use serde::Deserialize;

use crate::playbook::{Text, TextList};

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
    pub identifier: Text,
    /// When absent, a token stable for (playbook, step, item) is derived, so a retry after
    /// an ambiguous failure cannot start a second task.
    pub client_token: Option<Text>,
    pub tags: Option<TextList<Tag>>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Tag {
    pub key: Text,
    pub value: Text,
}
