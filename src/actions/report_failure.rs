//! `report-failure`: CodePipeline PutThirdPartyJobFailureResult, the other way a job ends.

use serde::Deserialize;

use crate::playbook::Text;

pub const OUTPUT: &[&str] = &[];

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Input {
    pub job_id: Text,
    pub client_token: Text,
    pub failure_details: FailureDetails,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct FailureDetails {
    /// One of the API's FailureType values (JobFailed, ConfigurationError, ...).
    #[serde(rename = "type")]
    pub kind: Text,
    pub message: Text,
    pub external_execution_id: Option<Text>,
}
