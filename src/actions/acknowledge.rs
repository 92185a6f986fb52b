//! `acknowledge`: CodePipeline AcknowledgeThirdPartyJob. A job worker claims a job it polled,
//! proving itself with the job's nonce and the partner action's client token.

use serde::Deserialize;

use crate::playbook::Text;

pub const OUTPUT: &[&str] = &["status"];

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Input {
    pub job_id: Text,
    pub nonce: Text,
    /// A secret: the clientToken half of the partner action's clientId/clientToken pair.
    pub client_token: Text,
}
