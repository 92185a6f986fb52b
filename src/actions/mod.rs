//! The AWS actions a step can take: one file per action, each with its input type, and
//! one JSON Schema per action under `schemas/actions/`.
//!
//! The action's name is matched once, here, when a step is deserialized (the serde tag of
//! [`Action`]); after that only enum variants travel. To add an action: write its file and
//! its schema, add a variant to [`Action`] and [`ActionKind`], and list it in
//! `schemas/playbook.schema.json`.

use std::fmt;

use clap::ValueEnum;
use serde::Deserialize;

pub mod accept_invitation;
pub mod acknowledge;
pub mod get_job_details;
pub mod list_invitations;
pub mod poll_jobs;
pub mod report_failure;
pub mod report_success;
pub mod wait_for_acceptance;

/// A step's action with its input, as written in the playbook (strings may be templates).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Acknowledge(acknowledge::Input),
    ReportSuccess(report_success::Input),
    ReportFailure(report_failure::Input),
    PollJobs(poll_jobs::Input),
    GetJobDetails(get_job_details::Input),
    AcceptInvitation(accept_invitation::Input),
    ListInvitations(list_invitations::Input),
    WaitForAcceptance(wait_for_acceptance::Input),
}

impl Action {
    pub fn kind(&self) -> ActionKind {
        match self {
            Action::Acknowledge(_) => ActionKind::Acknowledge,
            Action::ReportSuccess(_) => ActionKind::ReportSuccess,
            Action::ReportFailure(_) => ActionKind::ReportFailure,
            Action::PollJobs(_) => ActionKind::PollJobs,
            Action::GetJobDetails(_) => ActionKind::GetJobDetails,
            Action::AcceptInvitation(_) => ActionKind::AcceptInvitation,
            Action::ListInvitations(_) => ActionKind::ListInvitations,
            Action::WaitForAcceptance(_) => ActionKind::WaitForAcceptance,
        }
    }
}

/// The AWS service an action calls; also the key of `rate-limits` and `aws.endpoints`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    CodePipeline,
    PartnerCentralSelling,
}

impl Service {
    /// The name used in playbooks and on the command line (`--endpoint codepipeline=URL`).
    pub fn name(self) -> &'static str {
        match self {
            Service::CodePipeline => "codepipeline",
            Service::PartnerCentralSelling => "partnercentral-selling",
        }
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An action without its input: what `handoff schema` and `handoff skeleton` take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, ValueEnum)]
#[value(rename_all = "kebab-case")]
pub enum ActionKind {
    Acknowledge,
    ReportSuccess,
    ReportFailure,
    PollJobs,
    GetJobDetails,
    AcceptInvitation,
    ListInvitations,
    WaitForAcceptance,
}

impl ActionKind {
    pub const ALL: [ActionKind; 8] = [
        ActionKind::PollJobs,
        ActionKind::GetJobDetails,
        ActionKind::Acknowledge,
        ActionKind::ReportSuccess,
        ActionKind::ReportFailure,
        ActionKind::ListInvitations,
        ActionKind::AcceptInvitation,
        ActionKind::WaitForAcceptance,
    ];

    /// The key that names this action in a step.
    pub fn name(self) -> &'static str {
        match self {
            ActionKind::Acknowledge => "acknowledge",
            ActionKind::ReportSuccess => "report-success",
            ActionKind::ReportFailure => "report-failure",
            ActionKind::PollJobs => "poll-jobs",
            ActionKind::GetJobDetails => "get-job-details",
            ActionKind::AcceptInvitation => "accept-invitation",
            ActionKind::ListInvitations => "list-invitations",
            ActionKind::WaitForAcceptance => "wait-for-acceptance",
        }
    }

    pub fn from_name(name: &str) -> Option<ActionKind> {
        ActionKind::ALL.into_iter().find(|kind| kind.name() == name)
    }

    pub fn service(self) -> Service {
        match self {
            ActionKind::Acknowledge
            | ActionKind::ReportSuccess
            | ActionKind::ReportFailure
            | ActionKind::PollJobs
            | ActionKind::GetJobDetails => Service::CodePipeline,
            ActionKind::AcceptInvitation | ActionKind::ListInvitations | ActionKind::WaitForAcceptance => {
                Service::PartnerCentralSelling
            }
        }
    }

    /// The AWS API operation the action calls.
    pub fn operation(self) -> &'static str {
        match self {
            ActionKind::Acknowledge => "AcknowledgeThirdPartyJob",
            ActionKind::ReportSuccess => "PutThirdPartyJobSuccessResult",
            ActionKind::ReportFailure => "PutThirdPartyJobFailureResult",
            ActionKind::PollJobs => "PollForThirdPartyJobs",
            ActionKind::GetJobDetails => "GetThirdPartyJobDetails",
            ActionKind::AcceptInvitation => "StartEngagementByAcceptingInvitationTask",
            ActionKind::ListInvitations => "ListEngagementInvitations",
            ActionKind::WaitForAcceptance => "ListEngagementByAcceptingInvitationTasks",
        }
    }

    /// The top-level fields of the action's output, named as the API names them, which
    /// templates read as `steps.<id>.output.<field>`.
    pub fn output_fields(self) -> &'static [&'static str] {
        match self {
            ActionKind::Acknowledge => acknowledge::OUTPUT,
            ActionKind::ReportSuccess => report_success::OUTPUT,
            ActionKind::ReportFailure => report_failure::OUTPUT,
            ActionKind::PollJobs => poll_jobs::OUTPUT,
            ActionKind::GetJobDetails => get_job_details::OUTPUT,
            ActionKind::AcceptInvitation => accept_invitation::OUTPUT,
            ActionKind::ListInvitations => list_invitations::OUTPUT,
            ActionKind::WaitForAcceptance => wait_for_acceptance::OUTPUT,
        }
    }

    /// Whether the action's `client-token` is the CodePipeline partner secret (as opposed to
    /// Partner Central's idempotency token, which is not secret).
    pub fn client_token_is_secret(self) -> bool {
        self.service() == Service::CodePipeline && self != ActionKind::PollJobs
    }
}

impl fmt::Display for ActionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What an action needs to send its requests.
pub struct ActionContext<'a> {
    pub clients: &'a crate::aws::Clients,
    pub caller: &'a crate::engine::Caller<'a>,
    /// Batches the task checks of a `wait-for-acceptance` step's items.
    pub watcher: Option<&'a std::sync::Arc<wait_for_acceptance::TaskWatcher>>,
}

impl std::fmt::Debug for ActionContext<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActionContext").field("caller", self.caller).finish_non_exhaustive()
    }
}

impl ActionKind {
    /// Sends a rendered input (kebab-case keys, no templates left) and reports how it ended.
    pub async fn execute(self, input: serde_json::Value, ctx: &ActionContext<'_>) -> crate::engine::Outcome {
        /// Reads the rendered input into the action's request type, then sends it.
        macro_rules! send {
            ($action:ident) => {
                match serde_json::from_value::<$action::Request>(input) {
                    Ok(request) => $action::call(request, ctx).await,
                    Err(e) => invalid(e.to_string()),
                }
            };
        }
        match self {
            ActionKind::Acknowledge => send!(acknowledge),
            ActionKind::ReportSuccess => send!(report_success),
            ActionKind::ReportFailure => send!(report_failure),
            ActionKind::PollJobs => send!(poll_jobs),
            ActionKind::GetJobDetails => send!(get_job_details),
            ActionKind::AcceptInvitation => send!(accept_invitation),
            ActionKind::ListInvitations => send!(list_invitations),
            ActionKind::WaitForAcceptance => send!(wait_for_acceptance),
        }
    }

    /// Whether handoff derives this action's idempotency token when the playbook gives none.
    pub fn derives_client_token(self) -> bool {
        self == ActionKind::AcceptInvitation
    }
}

/// A rendered input the request types refuse: nothing is sent.
fn invalid(message: String) -> crate::engine::Outcome {
    crate::engine::Outcome::Failed {
        error: crate::engine::CallError::client("InvalidInput", message),
        output: None,
    }
}

fn finish(sent: Result<serde_json::Value, crate::engine::CallError>) -> crate::engine::Outcome {
    match sent {
        Ok(output) => crate::engine::Outcome::Succeeded(output),
        Err(error) => crate::engine::Outcome::Failed { error, output: None },
    }
}

/// A job result put again after an attempt whose answer was lost finds the job already
/// finished: that earlier attempt was applied, so the result stands.
fn finish_result(
    sent: Result<serde_json::Value, crate::engine::CallError>,
    had_ambiguous: bool,
) -> crate::engine::Outcome {
    match sent {
        Err(error) if had_ambiguous && error.code() == Some("InvalidJobStateException") => {
            crate::engine::Outcome::Succeeded(serde_json::json!({}))
        }
        other => finish(other),
    }
}

/// An RFC 3339 timestamp or epoch seconds, as the AWS CLI accepts for `created`.
fn parse_time(text: &str) -> Result<aws_smithy_types::DateTime, crate::engine::CallError> {
    use aws_smithy_types::date_time::Format;
    if let Ok(seconds) = text.parse::<i64>() {
        return Ok(aws_smithy_types::DateTime::from_secs(seconds));
    }
    aws_smithy_types::DateTime::from_str(text, Format::DateTime).map_err(|e| {
        crate::engine::CallError::client("InvalidInput", format!("`{text}` is not a timestamp: {e}"))
    })
}

/// Timestamps in outputs, as ISO 8601 strings the way the AWS CLI prints them.
fn format_time(time: &aws_smithy_types::DateTime) -> String {
    time.fmt(aws_smithy_types::date_time::Format::DateTime).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::ActionKind;
    use clap::ValueEnum;

    #[test]
    fn names_agree_with_clap_and_back() {
        for kind in ActionKind::ALL {
            assert_eq!(ActionKind::from_str(kind.name(), false), Ok(kind));
            assert_eq!(ActionKind::from_name(kind.name()), Some(kind));
        }
        assert_eq!(ActionKind::value_variants().len(), ActionKind::ALL.len());
    }
}
