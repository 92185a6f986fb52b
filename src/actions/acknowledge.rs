//! `acknowledge`: CodePipeline AcknowledgeThirdPartyJob. A job worker claims a job it polled,
//! proving itself with the job's nonce and the partner action's client token.

use serde::Deserialize;

use crate::playbook::Text;

pub const SPEC: super::ActionSpec = super::ActionSpec {
    name: "acknowledge",
    service: Some(super::Service::CodePipeline),
    operation: "AcknowledgeThirdPartyJob",
    output: &["status"],
    quota: None,
    secret_inputs: &["client-token"],
    schema: include_str!("../../schemas/actions/acknowledge.schema.json"),
    changes: true,
};

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Input {
    pub job_id: Text,
    pub nonce: Text,
    /// A secret: the clientToken half of the partner action's clientId/clientToken pair.
    pub client_token: Text,
}

/// The input after rendering: what is sent.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Request {
    pub job_id: String,
    pub nonce: String,
    pub client_token: String,
}

pub async fn call(request: Request, ctx: &super::ActionContext<'_>) -> crate::call::Outcome {
    let client = &ctx.clients.codepipeline;
    let sent = ctx
        .caller
        .send(|| async {
            let output = client
                .acknowledge_third_party_job()
                .job_id(&request.job_id)
                .nonce(&request.nonce)
                .client_token(&request.client_token)
                .send()
                .await
                .map_err(|e| crate::call::CallError::from_sdk(&e))?;
            Ok(serde_json::json!({"status": output.status().map(|s| s.as_str())}))
        })
        .await;
    super::finish(sent)
}
