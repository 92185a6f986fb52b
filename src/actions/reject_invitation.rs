//! `reject-invitation`: Partner Central Selling RejectEngagementInvitation, with the reason
//! AWS uses to route the opportunity elsewhere. A write: it shares the account's write quota
//! with `accept-invitation`. Safe to retry: rejecting an invitation already rejected is
//! `skipped`; rejecting one that was accepted (or expired) is a clear failure.

use serde::Deserialize;
use serde_json::json;

use crate::call::{CallError, Outcome};
use crate::playbook::Text;

pub const SPEC: super::ActionSpec = super::ActionSpec {
    name: "reject-invitation",
    service: Some(super::Service::PartnerCentralSelling),
    operation: "RejectEngagementInvitation",
    output: &[],
    quota: Some(super::QuotaGroup::PartnerCentralWrites),
    secret_inputs: &[],
    schema: include_str!("../../schemas/actions/reject-invitation.schema.json"),
    changes: true,
};

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Input {
    pub catalog: Text,
    pub identifier: Text,
    pub rejection_reason: Option<Text>,
}

#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Request {
    pub catalog: String,
    pub identifier: String,
    pub rejection_reason: Option<String>,
}

pub async fn call(request: Request, ctx: &super::ActionContext<'_>) -> Outcome {
    let client = &ctx.clients.partner;
    let sent = ctx
        .caller
        .send(|| async {
            client
                .reject_engagement_invitation()
                .catalog(&request.catalog)
                .identifier(&request.identifier)
                .set_rejection_reason(request.rejection_reason.clone())
                .send()
                .await
                .map_err(|e| CallError::from_sdk(&e))?;
            Ok(json!({}))
        })
        .await;
    match sent {
        // The invitation is not PENDING: find out what it is before deciding.
        Err(conflict) if conflict.code() == Some("ConflictException") => {
            match super::get_invitation::fetch(&request.catalog, &request.identifier, ctx).await {
                Ok(invitation) => match invitation["Status"].as_str() {
                    Some("REJECTED") => Outcome::Skipped {
                        output: Some(json!({"RejectionReason": invitation["RejectionReason"]})),
                        reason: format!("invitation {} is already rejected", request.identifier),
                    },
                    Some(status) => Outcome::Failed {
                        error: CallError {
                            message: format!(
                                "invitation {} is {status}: only a PENDING invitation can be rejected",
                                request.identifier
                            ),
                            ..conflict
                        },
                        output: None,
                    },
                    None => Outcome::Failed { error: conflict, output: None },
                },
                Err(_) => Outcome::Failed { error: conflict, output: None },
            }
        }
        other => super::finish(other),
    }
}
