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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ValueEnum)]
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
