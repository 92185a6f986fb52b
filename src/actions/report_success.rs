//! `report-success`: CodePipeline PutThirdPartyJobSuccessResult. The job worker reports a
//! job done, optionally with the revision it built and a continuation token.

use serde::Deserialize;

use crate::playbook::{Number, Text};

pub const OUTPUT: &[&str] = &[];

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Input {
    pub job_id: Text,
    pub client_token: Text,
    pub current_revision: Option<CurrentRevision>,
    pub continuation_token: Option<Text>,
    pub execution_details: Option<ExecutionDetails>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct CurrentRevision {
    pub revision: Text,
    pub change_identifier: Text,
    pub created: Option<Text>,
    pub revision_summary: Option<Text>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ExecutionDetails {
    pub summary: Option<Text>,
    pub external_execution_id: Option<Text>,
    pub percent_complete: Option<Number>,
}
