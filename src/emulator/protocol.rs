//! The AWS JSON protocols as the two services speak them: `X-Amz-Target` names the
//! operation, the body is JSON, errors carry `__type` and a message, and every answer has an
//! `x-amzn-RequestId`. CodePipeline is JSON 1.1, Partner Central Selling JSON 1.0.

use serde_json::{Value, json};

use crate::actions::Service;

/// One operation the emulator answers, decoded from `X-Amz-Target`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    PollForThirdPartyJobs,
    GetThirdPartyJobDetails,
    AcknowledgeThirdPartyJob,
    PutThirdPartyJobSuccessResult,
    PutThirdPartyJobFailureResult,
    ListEngagementInvitations,
    GetEngagementInvitation,
    StartEngagementByAcceptingInvitationTask,
    ListEngagementByAcceptingInvitationTasks,
    RejectEngagementInvitation,
}

impl Operation {
    pub const ALL: [Operation; 10] = [
        Operation::PollForThirdPartyJobs,
        Operation::GetThirdPartyJobDetails,
        Operation::AcknowledgeThirdPartyJob,
        Operation::PutThirdPartyJobSuccessResult,
        Operation::PutThirdPartyJobFailureResult,
        Operation::ListEngagementInvitations,
        Operation::GetEngagementInvitation,
        Operation::StartEngagementByAcceptingInvitationTask,
        Operation::ListEngagementByAcceptingInvitationTasks,
        Operation::RejectEngagementInvitation,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Operation::PollForThirdPartyJobs => "PollForThirdPartyJobs",
            Operation::GetThirdPartyJobDetails => "GetThirdPartyJobDetails",
            Operation::AcknowledgeThirdPartyJob => "AcknowledgeThirdPartyJob",
            Operation::PutThirdPartyJobSuccessResult => "PutThirdPartyJobSuccessResult",
            Operation::PutThirdPartyJobFailureResult => "PutThirdPartyJobFailureResult",
            Operation::ListEngagementInvitations => "ListEngagementInvitations",
            Operation::GetEngagementInvitation => "GetEngagementInvitation",
            Operation::StartEngagementByAcceptingInvitationTask => "StartEngagementByAcceptingInvitationTask",
            Operation::ListEngagementByAcceptingInvitationTasks => "ListEngagementByAcceptingInvitationTasks",
            Operation::RejectEngagementInvitation => "RejectEngagementInvitation",
        }
    }

    pub fn service(self) -> Service {
        match self {
            Operation::PollForThirdPartyJobs
            | Operation::GetThirdPartyJobDetails
            | Operation::AcknowledgeThirdPartyJob
            | Operation::PutThirdPartyJobSuccessResult
            | Operation::PutThirdPartyJobFailureResult => Service::CodePipeline,
            _ => Service::PartnerCentralSelling,
        }
    }

    /// Whether the operation only reads (Partner Central's read quota applies to these).
    pub fn is_read(self) -> bool {
        matches!(
            self,
            Operation::ListEngagementInvitations
                | Operation::GetEngagementInvitation
                | Operation::ListEngagementByAcceptingInvitationTasks
        )
    }
}

/// The `X-Amz-Target` prefix of a service.
pub fn target_prefix(service: Service) -> &'static str {
    match service {
        Service::CodePipeline => "CodePipeline_20150709",
        Service::PartnerCentralSelling => "AWSPartnerCentralSelling",
        // S3 speaks REST, not a JSON protocol with targets (`s3.rs`).
        Service::S3 => "",
    }
}

/// The content type of a service's requests and answers.
pub fn content_type(service: Service) -> &'static str {
    match service {
        Service::CodePipeline => "application/x-amz-json-1.1",
        Service::PartnerCentralSelling => "application/x-amz-json-1.0",
        Service::S3 => "application/xml",
    }
}

/// The name a service signs requests with (the credential scope's service).
pub fn signing_name(service: Service) -> &'static str {
    match service {
        Service::CodePipeline => "codepipeline",
        Service::PartnerCentralSelling => "partnercentral-selling",
        Service::S3 => "s3",
    }
}

/// What a target header names: a known operation, or a service with an unknown operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Known(Operation),
    UnknownOperation(Service, String),
}

pub fn parse_target(target: &str) -> Option<Target> {
    let (prefix, name) = target.split_once('.')?;
    let service = [Service::CodePipeline, Service::PartnerCentralSelling]
        .into_iter()
        .find(|s| target_prefix(*s) == prefix)?;
    Some(
        Operation::ALL
            .into_iter()
            .find(|op| op.service() == service && op.name() == name)
            .map_or_else(|| Target::UnknownOperation(service, name.to_string()), Target::Known),
    )
}

/// An error answer in the service's own shape.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    /// Extra members of the error shape (Partner Central's `Reason` and `ErrorList`).
    pub fields: Vec<(&'static str, Value)>,
}

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), fields: Vec::new() }
    }

    pub fn validation(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        let mut error =
            Self::new(400, "ValidationException", format!("1 validation error detected: {message}"));
        error.fields.push(("Reason", json!("REQUEST_VALIDATION_FAILED")));
        error
            .fields
            .push(("ErrorList", json!([{"FieldName": field, "Message": message, "Code": "INVALID_VALUE"}])));
        error
    }

    pub fn throttling() -> Self {
        Self::new(400, "ThrottlingException", "Rate exceeded")
    }

    pub fn internal(service: Service) -> Self {
        match service {
            Service::CodePipeline => Self::new(500, "InternalFailure", "An internal error occurred"),
            Service::PartnerCentralSelling => {
                Self::new(500, "InternalServerException", "An internal error occurred")
            }
            Service::S3 => Self::new(500, "InternalError", "We encountered an internal error"),
        }
    }

    /// The JSON body of the error.
    pub fn body(&self) -> Value {
        let mut body = json!({"__type": self.code, "message": self.message, "Message": self.message});
        if let Some(object) = body.as_object_mut() {
            for (key, value) in &self.fields {
                object.insert((*key).to_string(), value.clone());
            }
        }
        body
    }
}

#[cfg(test)]
mod tests {
    use super::{Operation, Target, parse_target};
    use crate::actions::Service;

    #[test]
    fn targets_decode_to_operations() {
        assert_eq!(
            parse_target("CodePipeline_20150709.AcknowledgeThirdPartyJob"),
            Some(Target::Known(Operation::AcknowledgeThirdPartyJob))
        );
        assert_eq!(
            parse_target("AWSPartnerCentralSelling.DeleteEverything"),
            Some(Target::UnknownOperation(Service::PartnerCentralSelling, "DeleteEverything".into()))
        );
        assert_eq!(parse_target("DynamoDB_20120810.GetItem"), None);
        for op in Operation::ALL {
            let target = format!("{}.{}", super::target_prefix(op.service()), op.name());
            assert_eq!(parse_target(&target), Some(Target::Known(op)));
        }
    }
}
