//! `report-failure`: CodePipeline PutThirdPartyJobFailureResult, the other way a job ends.

use serde::Deserialize;

use crate::playbook::Text;

pub const SPEC: super::ActionSpec = super::ActionSpec {
    name: "report-failure",
    service: Some(super::Service::CodePipeline),
    operation: "PutThirdPartyJobFailureResult",
    output: &[],
    quota: None,
    secret_inputs: &["client-token"],
    schema: include_str!("../../schemas/actions/report-failure.schema.json"),
    changes: true,
};

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

#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Request {
    pub job_id: String,
    pub client_token: String,
    pub failure_details: FailureRequest,
}

#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct FailureRequest {
    #[serde(rename = "type")]
    pub kind: String,
    pub message: String,
    pub external_execution_id: Option<String>,
}

pub async fn call(request: Request, ctx: &super::ActionContext<'_>) -> crate::call::Outcome {
    use aws_sdk_codepipeline::types::{FailureDetails, FailureType};
    let details = FailureDetails::builder()
        .r#type(FailureType::from(request.failure_details.kind.as_str()))
        .message(&request.failure_details.message)
        .set_external_execution_id(request.failure_details.external_execution_id.clone())
        .build();
    let details = match details {
        Ok(details) => details,
        Err(e) => return super::invalid(e.to_string()),
    };
    let client = &ctx.clients.codepipeline;
    let sent = ctx
        .caller
        .send(|| async {
            client
                .put_third_party_job_failure_result()
                .job_id(&request.job_id)
                .client_token(&request.client_token)
                .failure_details(details.clone())
                .send()
                .await
                .map_err(|e| crate::call::CallError::from_sdk(&e))?;
            Ok(serde_json::json!({}))
        })
        .await;
    super::finish_result(sent, ctx.caller.had_ambiguous_attempt())
}
