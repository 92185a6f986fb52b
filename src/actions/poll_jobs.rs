//! `poll-jobs`: CodePipeline PollForThirdPartyJobs, where a job worker's job ids come from.

use serde::Deserialize;

use crate::playbook::{Number, Text};

pub const SPEC: super::ActionSpec = super::ActionSpec {
    name: "poll-jobs",
    service: Some(super::Service::CodePipeline),
    operation: "PollForThirdPartyJobs",
    output: &["jobs"],
    quota: None,
    secret_inputs: &[],
    schema: include_str!("../../schemas/actions/poll-jobs.schema.json"),
    changes: true,
};

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

#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Request {
    pub action_type: ActionTypeRequest,
    pub max_batch_size: Option<i32>,
}

#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ActionTypeRequest {
    pub category: String,
    pub owner: String,
    pub provider: String,
    pub version: String,
}

pub async fn call(request: Request, ctx: &super::ActionContext<'_>) -> crate::call::Outcome {
    use aws_sdk_codepipeline::types::{ActionCategory, ActionOwner, ActionTypeId};
    let action_type = ActionTypeId::builder()
        .category(ActionCategory::from(request.action_type.category.as_str()))
        .owner(ActionOwner::from(request.action_type.owner.as_str()))
        .provider(&request.action_type.provider)
        .version(&request.action_type.version)
        .build();
    let action_type = match action_type {
        Ok(action_type) => action_type,
        Err(e) => return super::invalid(e.to_string()),
    };
    let client = &ctx.clients.codepipeline;
    let sent = ctx
        .caller
        .send(|| async {
            let output = client
                .poll_for_third_party_jobs()
                .action_type_id(action_type.clone())
                .set_max_batch_size(request.max_batch_size)
                .send()
                .await
                .map_err(|e| crate::call::CallError::from_sdk(&e))?;
            let jobs: Vec<serde_json::Value> = output
                .jobs()
                .iter()
                .map(|job| serde_json::json!({"clientId": job.client_id(), "jobId": job.job_id()}))
                .collect();
            Ok(serde_json::json!({"jobs": jobs}))
        })
        .await;
    super::finish(sent)
}
