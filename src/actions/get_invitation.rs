//! `get-invitation`: Partner Central Selling GetEngagementInvitation, an invitation's full
//! content: the customer, the project and its expected spend (opportunities) or the
//! interaction it came from (leads), the AWS contacts, dates and status. What triage decides on.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::playbook::Text;

pub const SPEC: super::ActionSpec = super::ActionSpec {
    name: "get-invitation",
    service: Some(super::Service::PartnerCentralSelling),
    operation: "GetEngagementInvitation",
    output: &[
        "Arn",
        "PayloadType",
        "Id",
        "EngagementId",
        "EngagementTitle",
        "Status",
        "InvitationDate",
        "ExpirationDate",
        "SenderAwsAccountId",
        "SenderCompanyName",
        "Receiver",
        "Catalog",
        "RejectionReason",
        "Payload",
        "InvitationMessage",
        "EngagementDescription",
    ],
    quota: Some(super::QuotaGroup::PartnerCentralReads),
    secret_inputs: &[],
    schema: include_str!("../../schemas/actions/get-invitation.schema.json"),
    changes: false,
};

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Input {
    pub catalog: Text,
    pub identifier: Text,
}

#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Request {
    pub catalog: String,
    pub identifier: String,
}

pub async fn call(request: Request, ctx: &super::ActionContext<'_>) -> crate::call::Outcome {
    super::finish(fetch(&request.catalog, &request.identifier, ctx).await)
}

/// One GetEngagementInvitation, as the AWS CLI prints its answer; `reject-invitation` uses it
/// to learn why a rejection conflicted.
pub async fn fetch(
    catalog: &str,
    identifier: &str,
    ctx: &super::ActionContext<'_>,
) -> Result<Value, crate::call::CallError> {
    let client = &ctx.clients.partner;
    ctx.caller
        .send(|| async {
            let o = client
                .get_engagement_invitation()
                .catalog(catalog)
                .identifier(identifier)
                .send()
                .await
                .map_err(|e| crate::call::CallError::from_sdk(&e))?;
            Ok(json!({
                "Arn": o.arn(),
                "PayloadType": o.payload_type().map(|t| t.as_str()),
                "Id": o.id(),
                "EngagementId": o.engagement_id(),
                "EngagementTitle": o.engagement_title(),
                "Status": o.status().map(|s| s.as_str()),
                "InvitationDate": o.invitation_date().map(super::format_time),
                "ExpirationDate": o.expiration_date().map(super::format_time),
                "SenderAwsAccountId": o.sender_aws_account_id(),
                "SenderCompanyName": o.sender_company_name(),
                "Receiver": o.receiver().and_then(|r| r.as_account().ok()).map(|a| json!({"Account": {"AwsAccountId": a.aws_account_id(), "Alias": a.alias()}})),
                "Catalog": o.catalog(),
                "RejectionReason": o.rejection_reason(),
                "Payload": o.payload().map(payload),
                "InvitationMessage": o.invitation_message(),
                "EngagementDescription": o.engagement_description(),
            }))
        })
        .await
}

/// The invitation's payload with the API's member names.
fn payload(payload: &aws_sdk_partnercentralselling::types::Payload) -> Value {
    use aws_sdk_partnercentralselling::types::Payload;
    match payload {
        Payload::OpportunityInvitation(o) => json!({"OpportunityInvitation": {
            "SenderContacts": o.sender_contacts().iter().map(|c| json!({
                "Email": c.email(), "FirstName": c.first_name(), "LastName": c.last_name(),
                "BusinessTitle": c.business_title(), "Phone": c.phone(),
            })).collect::<Vec<_>>(),
            "ReceiverResponsibilities": o.receiver_responsibilities().iter().map(|r| r.as_str()).collect::<Vec<_>>(),
            "Customer": o.customer().map(|c| json!({
                "Industry": c.industry().as_str(), "CompanyName": c.company_name(),
                "WebsiteUrl": c.website_url(), "CountryCode": c.country_code().as_str(),
            })),
            "Project": o.project().map(|p| json!({
                "BusinessProblem": p.business_problem(), "Title": p.title(),
                "TargetCompletionDate": p.target_completion_date(),
                "ExpectedCustomerSpend": p.expected_customer_spend().iter().map(|s| json!({
                    "Amount": s.amount(), "CurrencyCode": s.currency_code().as_str(),
                    "Frequency": s.frequency().as_str(), "TargetCompany": s.target_company(),
                    "EstimationUrl": s.estimation_url(),
                })).collect::<Vec<_>>(),
            })),
        }}),
        Payload::LeadInvitation(l) => json!({"LeadInvitation": {
            "Customer": l.customer().map(|c| json!({
                "Industry": c.industry().map(|i| i.as_str()), "CompanyName": c.company_name(),
                "WebsiteUrl": c.website_url(), "CountryCode": c.country_code().as_str(),
                "AwsMaturity": c.aws_maturity(), "MarketSegment": c.market_segment().map(|m| m.as_str()),
            })),
            "Interaction": l.interaction().map(|i| json!({
                "SourceType": i.source_type(), "SourceId": i.source_id(), "SourceName": i.source_name(),
                "Usecase": i.usecase(), "ContactBusinessTitle": i.contact_business_title(),
            })),
        }}),
        _ => json!({}),
    }
}
