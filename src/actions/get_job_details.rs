//! `get-job-details`: CodePipeline GetThirdPartyJobDetails, where the nonce comes from.
//! Its output carries `artifactCredentials`, live AWS keys that are treated as secrets.

use serde::Deserialize;

use crate::playbook::Text;

pub const OUTPUT: &[&str] = &["jobDetails"];

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Input {
    pub job_id: Text,
    pub client_token: Text,
}
