//! `list-invitations`: Partner Central Selling ListEngagementInvitations, every page.
//! Where bulk acceptance gets its list.

use serde::Deserialize;

use crate::playbook::{Number, Text, TextList};

pub const SPEC: super::ActionSpec = super::ActionSpec {
    name: "list-invitations",
    service: Some(super::Service::PartnerCentralSelling),
    operation: "ListEngagementInvitations",
    output: &["EngagementInvitationSummaries"],
    quota: Some(super::QuotaGroup::PartnerCentralReads),
    secret_inputs: &[],
    schema: include_str!("../../schemas/actions/list-invitations.schema.json"),
    changes: false,
};

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Input {
    pub catalog: Text,
    /// RECEIVER when absent: a partner lists the invitations sent to it.
    pub participant_type: Option<Text>,
    pub status: Option<TextList<Text>>,
    pub payload_type: Option<TextList<Text>>,
    pub engagement_identifier: Option<TextList<Text>>,
    pub sender_aws_account_id: Option<TextList<Text>>,
    pub sort: Option<Sort>,
    pub page_size: Option<Number>,
    pub max_items: Option<Number>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Sort {
    pub sort_by: Text,
    pub sort_order: Text,
}

#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Request {
    pub catalog: String,
    pub participant_type: Option<String>,
    pub status: Option<Vec<String>>,
    pub payload_type: Option<Vec<String>>,
    pub engagement_identifier: Option<Vec<String>>,
    pub sender_aws_account_id: Option<Vec<String>>,
    pub sort: Option<SortRequest>,
    pub page_size: Option<i32>,
    pub max_items: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct SortRequest {
    pub sort_by: String,
    pub sort_order: String,
}

/// Invitations per request when the playbook does not say: the API's maximum, fewest calls.
const DEFAULT_PAGE_SIZE: i32 = 100;

pub async fn call(request: Request, ctx: &super::ActionContext<'_>) -> crate::call::Outcome {
    use aws_sdk_partnercentralselling::types::{
        EngagementInvitationPayloadType, InvitationStatus, OpportunityEngagementInvitationSort,
        OpportunityEngagementInvitationSortName, ParticipantType, SortOrder,
    };
    let sort = match &request.sort {
        Some(sort) => match OpportunityEngagementInvitationSort::builder()
            .sort_by(OpportunityEngagementInvitationSortName::from(sort.sort_by.as_str()))
            .sort_order(SortOrder::from(sort.sort_order.as_str()))
            .build()
        {
            Ok(sort) => Some(sort),
            Err(e) => return super::invalid(e.to_string()),
        },
        None => None,
    };
    let participant = ParticipantType::from(request.participant_type.as_deref().unwrap_or("RECEIVER"));
    let statuses =
        request.status.as_ref().map(|s| s.iter().map(|s| InvitationStatus::from(s.as_str())).collect());
    let payloads = request
        .payload_type
        .as_ref()
        .map(|p| p.iter().map(|p| EngagementInvitationPayloadType::from(p.as_str())).collect());
    let client = &ctx.clients.partner;
    let mut summaries = Vec::new();
    let mut next_token: Option<String> = None;
    loop {
        let token = next_token.clone();
        let page = ctx
            .caller
            .send(|| async {
                let output = client
                    .list_engagement_invitations()
                    .catalog(&request.catalog)
                    .participant_type(participant.clone())
                    .set_status(statuses.clone())
                    .set_payload_type(payloads.clone())
                    .set_engagement_identifier(request.engagement_identifier.clone())
                    .set_sender_aws_account_id(request.sender_aws_account_id.clone())
                    .set_sort(sort.clone())
                    .max_results(request.page_size.unwrap_or(DEFAULT_PAGE_SIZE))
                    .set_next_token(token.clone())
                    .send()
                    .await
                    .map_err(|e| crate::call::CallError::from_sdk(&e))?;
                let items: Vec<serde_json::Value> =
                    output.engagement_invitation_summaries().iter().map(summary).collect();
                Ok(serde_json::json!({"items": items, "next": output.next_token()}))
            })
            .await;
        let page = match page {
            Ok(page) => page,
            Err(error) => return crate::call::Outcome::Failed { error, output: None },
        };
        if let Some(items) = page["items"].as_array() {
            summaries.extend(items.iter().cloned());
        }
        if let Some(max) = request.max_items
            && summaries.len() >= max
        {
            summaries.truncate(max);
            break;
        }
        match page["next"].as_str() {
            Some(next) if !next.is_empty() => next_token = Some(next.to_string()),
            _ => break,
        }
    }
    crate::call::Outcome::Succeeded(serde_json::json!({"EngagementInvitationSummaries": summaries}))
}

fn summary(s: &aws_sdk_partnercentralselling::types::EngagementInvitationSummary) -> serde_json::Value {
    serde_json::json!({
        "Arn": s.arn(),
        "PayloadType": s.payload_type().map(|p| p.as_str()),
        "Id": s.id(),
        "EngagementId": s.engagement_id(),
        "EngagementTitle": s.engagement_title(),
        "Status": s.status().map(|s| s.as_str()),
        "InvitationDate": s.invitation_date().map(super::format_time),
        "ExpirationDate": s.expiration_date().map(super::format_time),
        "SenderAwsAccountId": s.sender_aws_account_id(),
        "SenderCompanyName": s.sender_company_name(),
        "Catalog": s.catalog(),
        "ParticipantType": s.participant_type().map(|p| p.as_str()),
    })
}
