//! `accept-invitation`: Partner Central Selling StartEngagementByAcceptingInvitationTask.
//! Starts an asynchronous task that accepts the invitation and creates an opportunity.

use serde::Deserialize;

use crate::playbook::{Text, TextList};

pub const SPEC: super::ActionSpec = super::ActionSpec {
    name: "accept-invitation",
    service: Some(super::Service::PartnerCentralSelling),
    operation: "StartEngagementByAcceptingInvitationTask",
    output: &[
        "TaskId",
        "TaskArn",
        "TaskStatus",
        "StartTime",
        "Message",
        "ReasonCode",
        "OpportunityId",
        "EngagementInvitationId",
        "ResourceSnapshotJobId",
    ],
    quota: Some(super::QuotaGroup::PartnerCentralWrites),
    secret_inputs: &[],
    schema: include_str!("../../schemas/actions/accept-invitation.schema.json"),
    changes: true,
};

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Input {
    pub catalog: Text,
    pub identifier: Text,
    /// When absent, a token stable for (playbook, step, item) is derived, so a retry after
    /// an ambiguous failure cannot start a second task.
    pub client_token: Option<Text>,
    pub tags: Option<TextList<Tag>>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Tag {
    pub key: Text,
    pub value: Text,
}

#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Request {
    pub catalog: String,
    pub identifier: String,
    /// Always present: the engine derives one when the playbook gives none.
    pub client_token: String,
    pub tags: Option<Vec<TagRequest>>,
}

#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct TagRequest {
    pub key: String,
    pub value: String,
}

pub async fn call(request: Request, ctx: &super::ActionContext<'_>) -> crate::call::Outcome {
    use aws_sdk_partnercentralselling::types::Tag;
    let mut tags = Vec::new();
    for tag in request.tags.iter().flatten() {
        match Tag::builder().key(&tag.key).value(&tag.value).build() {
            Ok(tag) => tags.push(tag),
            Err(e) => return super::invalid(e.to_string()),
        }
    }
    let tags = (!tags.is_empty()).then_some(tags);
    let client = &ctx.clients.partner;
    let sent = ctx
        .caller
        .send(|| async {
            let output = client
                .start_engagement_by_accepting_invitation_task()
                .catalog(&request.catalog)
                .identifier(&request.identifier)
                .client_token(&request.client_token)
                .set_tags(tags.clone())
                .send()
                .await
                .map_err(|e| crate::call::CallError::from_sdk(&e))?;
            Ok(serde_json::json!({
                "TaskId": output.task_id(),
                "TaskArn": output.task_arn(),
                "TaskStatus": output.task_status().map(|s| s.as_str()),
                "StartTime": output.start_time().map(super::format_time),
                "Message": output.message(),
                "ReasonCode": output.reason_code().map(|r| r.as_str()),
                "OpportunityId": output.opportunity_id(),
                "EngagementInvitationId": output.engagement_invitation_id(),
                "ResourceSnapshotJobId": output.resource_snapshot_job_id(),
            }))
        })
        .await;
    match sent {
        // The invitation is already accepted (or being accepted, by another token): nothing to do.
        Err(error) if error.code() == Some("ConflictException") => {
            crate::call::Outcome::Skipped { output: None, reason: error.message.clone() }
        }
        other => super::finish(other),
    }
}
