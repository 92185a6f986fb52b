//! `report-success`: CodePipeline PutThirdPartyJobSuccessResult. The job worker reports a
//! job done, optionally with the revision it built and a continuation token.

use serde::Deserialize;

use crate::playbook::{Number, Text};

pub const SPEC: super::ActionSpec = super::ActionSpec {
    name: "report-success",
    service: Some(super::Service::CodePipeline),
    operation: "PutThirdPartyJobSuccessResult",
    output: &[],
    quota: None,
    secret_inputs: &["client-token"],
    schema: include_str!("../../schemas/actions/report-success.schema.json"),
    changes: true,
};

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

#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Request {
    pub job_id: String,
    pub client_token: String,
    pub current_revision: Option<RevisionRequest>,
    pub continuation_token: Option<String>,
    pub execution_details: Option<DetailsRequest>,
}

#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RevisionRequest {
    pub revision: String,
    pub change_identifier: String,
    pub created: Option<String>,
    pub revision_summary: Option<String>,
}

#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct DetailsRequest {
    pub summary: Option<String>,
    pub external_execution_id: Option<String>,
    pub percent_complete: Option<i32>,
}

pub async fn call(request: Request, ctx: &super::ActionContext<'_>) -> crate::call::Outcome {
    use aws_sdk_codepipeline::types::{CurrentRevision, ExecutionDetails};
    let revision = match &request.current_revision {
        Some(r) => {
            let created = match r.created.as_deref().map(super::parse_time).transpose() {
                Ok(created) => created,
                Err(error) => return crate::call::Outcome::Failed { error, output: None },
            };
            let built = CurrentRevision::builder()
                .revision(&r.revision)
                .change_identifier(&r.change_identifier)
                .set_created(created)
                .set_revision_summary(r.revision_summary.clone())
                .build();
            match built {
                Ok(revision) => Some(revision),
                Err(e) => return super::invalid(e.to_string()),
            }
        }
        None => None,
    };
    let details = request.execution_details.as_ref().map(|d| {
        ExecutionDetails::builder()
            .set_summary(d.summary.clone())
            .set_external_execution_id(d.external_execution_id.clone())
            .set_percent_complete(d.percent_complete)
            .build()
    });
    let client = &ctx.clients.codepipeline;
    let sent = ctx
        .caller
        .send(|| async {
            client
                .put_third_party_job_success_result()
                .job_id(&request.job_id)
                .client_token(&request.client_token)
                .set_current_revision(revision.clone())
                .set_continuation_token(request.continuation_token.clone())
                .set_execution_details(details.clone())
                .send()
                .await
                .map_err(|e| crate::call::CallError::from_sdk(&e))?;
            Ok(serde_json::json!({}))
        })
        .await;
    super::finish_result(sent, ctx.caller.had_ambiguous_attempt())
}
