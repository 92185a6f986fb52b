//! `poll-jobs`: CodePipeline PollForThirdPartyJobs, where a job worker's job ids come from.

use serde::Deserialize;

use crate::playbook::{Number, Text};

pub const OUTPUT: &[&str] = &["jobs"];

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Input {
    pub action_type: ActionType,
    pub max_batch_size: Option<Number>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ActionType {
    pub category: Text,
    pub owner: Text,
    pub provider: Text,
    pub version: Text,
}
