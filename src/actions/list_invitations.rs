//! `list-invitations`: Partner Central Selling ListEngagementInvitations, every page.
//! Where bulk acceptance gets its list.

use serde::Deserialize;

use crate::playbook::{Number, Text, TextList};

pub const OUTPUT: &[&str] = &["EngagementInvitationSummaries"];

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Input {
    pub catalog: Text,
    /// RECEIVER when absent: a partner lists the invitations sent to it.
    pub participant_type: Option<Text>,
    pub status: Option<TextList<Text>>,
    pub payload_type: Option<TextList<Text>>,
    pub engagement_identifier: Option<TextList<Text>>,
    pub sender_aws_account_id: Option<TextList<Text>>,
    pub sort: Option<Sort>,
    pub page_size: Option<Number>,
    pub max_items: Option<Number>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Sort {
    pub sort_by: Text,
    pub sort_order: Text,
}
