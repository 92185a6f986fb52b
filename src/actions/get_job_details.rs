//! `get-job-details`: CodePipeline GetThirdPartyJobDetails, where the nonce comes from.
//! Its output carries `artifactCredentials`, live AWS keys that are treated as secrets.

use serde::Deserialize;

use crate::playbook::Text;

pub const SPEC: super::ActionSpec = super::ActionSpec {
    name: "get-job-details",
    service: Some(super::Service::CodePipeline),
    operation: "GetThirdPartyJobDetails",
    output: &["jobDetails"],
    quota: None,
    secret_inputs: &["client-token"],
    schema: include_str!("../../schemas/actions/get-job-details.schema.json"),
    changes: false,
};

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Input {
    pub job_id: Text,
    pub client_token: Text,
}

#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Request {
    pub job_id: String,
    pub client_token: String,
}

pub async fn call(request: Request, ctx: &super::ActionContext<'_>) -> crate::call::Outcome {
    let client = &ctx.clients.codepipeline;
    let sent = ctx
        .caller
        .send(|| async {
            let output = client
                .get_third_party_job_details()
                .job_id(&request.job_id)
                .client_token(&request.client_token)
                .send()
                .await
                .map_err(|e| crate::call::CallError::from_sdk(&e))?;
            Ok(serde_json::json!({"jobDetails": output.job_details().map(details)}))
        })
        .await;
    super::finish(sent)
}

/// The job details as the AWS CLI prints them.
fn details(details: &aws_sdk_codepipeline::types::ThirdPartyJobDetails) -> serde_json::Value {
    use serde_json::json;
    let artifact = |a: &aws_sdk_codepipeline::types::Artifact| {
        json!({
            "name": a.name(),
            "revision": a.revision(),
            "location": a.location().map(|l| json!({
                "type": l.r#type().map(|t| t.as_str()),
                "s3Location": l.s3_location().map(|s| json!({"bucketName": s.bucket_name(), "objectKey": s.object_key()})),
            })),
        })
    };
    let data = details.data().map(|d| {
        json!({
            "actionTypeId": d.action_type_id().map(|t| json!({
                "category": t.category().as_str(), "owner": t.owner().as_str(),
                "provider": t.provider(), "version": t.version(),
            })),
            "actionConfiguration": d.action_configuration().map(|c| json!({"configuration": c.configuration()})),
            "pipelineContext": d.pipeline_context().map(|p| json!({
                "pipelineName": p.pipeline_name(),
                "stage": p.stage().map(|s| json!({"name": s.name()})),
                "action": p.action().map(|a| json!({"name": a.name(), "actionExecutionId": a.action_execution_id()})),
                "pipelineArn": p.pipeline_arn(),
                "pipelineExecutionId": p.pipeline_execution_id(),
            })),
            "inputArtifacts": d.input_artifacts().iter().map(artifact).collect::<Vec<_>>(),
            "outputArtifacts": d.output_artifacts().iter().map(artifact).collect::<Vec<_>>(),
            "artifactCredentials": d.artifact_credentials().map(|c| json!({
                "accessKeyId": c.access_key_id(), "secretAccessKey": c.secret_access_key(), "sessionToken": c.session_token(),
            })),
            "continuationToken": d.continuation_token(),
            "encryptionKey": d.encryption_key().map(|k| json!({"id": k.id(), "type": k.r#type().as_str()})),
        })
    });
    json!({"id": details.id(), "nonce": details.nonce(), "data": data})
}
