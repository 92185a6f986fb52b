//! The actions a step can take: one file per action, each with its [`ActionSpec`] (name,
//! service, operation, output fields, embedded JSON Schema), its input type as written, its
//! request type as rendered, and its `call`. Most are one AWS operation; `exec` runs a program.
//!
//! This is the layer the engine drives: actions send through a [`crate::call::Caller`] and
//! answer an [`Outcome`]; they know nothing of steps, items or the journal. The action's name
//! is matched once, when a step is deserialized (the serde tag of [`Action`]); after that only
//! enum variants travel. To add an action: write its file (with `SPEC`) and its schema under
//! `schemas/actions/`, add one line to the `actions!` table below, and list it in
//! `schemas/playbook.schema.json` (a test says where if you forget).

use std::fmt;

use clap::ValueEnum;
use serde::Deserialize;

use crate::call::Outcome;

pub mod accept_invitation;
pub mod acknowledge;
pub mod download_artifacts;
pub mod exec;
pub mod get_invitation;
pub mod get_job_details;
mod job_artifacts;
pub mod list_invitations;
pub mod poll_jobs;
pub mod reject_invitation;
pub mod report_failure;
pub mod report_success;
pub mod upload_artifacts;
pub mod wait_for_acceptance;

/// What an action file declares about its action.
#[derive(Debug)]
pub struct ActionSpec {
    /// The key that names the action in a step.
    pub name: &'static str,
    /// The AWS service it calls; `None` for an action that is not an AWS call (`exec`).
    pub service: Option<Service>,
    /// The AWS API operation it calls, or what it does when it is not an AWS call.
    pub operation: &'static str,
    /// The top-level fields of its output, which templates read as `steps.<id>.output.<field>`.
    pub output: &'static [&'static str],
    /// The quota AWS documents for the action, shared with the other actions of its group;
    /// `None` where AWS documents none.
    pub quota: Option<QuotaGroup>,
    /// Input keys whose values (and everything beneath them) are secrets: never shown,
    /// journaled or reported, whatever they were rendered from. A key with `/` is a path
    /// into the input (`job/data/artifactCredentials`).
    pub secret_inputs: &'static [&'static str],
    /// Its input's JSON Schema (`schemas/actions/<name>.schema.json`), embedded.
    pub schema: &'static str,
    /// Whether it changes anything (a write, a program, a poll that dispatches jobs):
    /// `--review` sends only the actions that do not.
    pub changes: bool,
}

/// The table of actions: each line is a variant of [`Action`] and [`ActionKind`] and the
/// module that implements it (its `SPEC`, `Input`, `Request` and `call`). The order is the
/// order of `handoff schema`, `skeleton` and the docs.
macro_rules! actions {
    ($($variant:ident => $module:ident,)+) => {
        /// A step's action with its input, as written in the playbook (strings may be templates).
        #[derive(Debug, Clone, PartialEq, Deserialize)]
        #[serde(rename_all = "kebab-case")]
        pub enum Action {
            $($variant($module::Input),)+
        }

        impl Action {
            pub fn kind(&self) -> ActionKind {
                match self {
                    $(Action::$variant(_) => ActionKind::$variant,)+
                }
            }
        }

        /// An action without its input: what `handoff schema` and `handoff skeleton` take.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, ValueEnum)]
        #[value(rename_all = "kebab-case")]
        pub enum ActionKind {
            $($variant,)+
        }

        impl ActionKind {
            pub const ALL: &'static [ActionKind] = &[$(ActionKind::$variant,)+];

            pub fn spec(self) -> &'static ActionSpec {
                match self {
                    $(ActionKind::$variant => &$module::SPEC,)+
                }
            }

            /// Sends a rendered input (kebab-case keys, no templates left) and reports how
            /// it ended. Nothing is sent when the input does not fit the request type.
            pub async fn execute(self, input: serde_json::Value, ctx: &ActionContext<'_>) -> Outcome {
                match self {
                    $(ActionKind::$variant => match serde_json::from_value::<$module::Request>(input) {
                        Ok(request) => $module::call(request, ctx).await,
                        Err(e) => invalid(e.to_string()),
                    },)+
                }
            }
        }
    };
}

actions! {
    PollJobs => poll_jobs,
    GetJobDetails => get_job_details,
    Acknowledge => acknowledge,
    DownloadArtifacts => download_artifacts,
    Exec => exec,
    UploadArtifacts => upload_artifacts,
    ReportSuccess => report_success,
    ReportFailure => report_failure,
    ListInvitations => list_invitations,
    AcceptInvitation => accept_invitation,
    GetInvitation => get_invitation,
    RejectInvitation => reject_invitation,
    WaitForAcceptance => wait_for_acceptance,
}

/// A group of operations that share one quota per account, as AWS documents it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum QuotaGroup {
    /// Partner Central Selling's write operations (StartEngagementByAcceptingInvitationTask,
    /// RejectEngagementInvitation, CreateOpportunity, ...): 1 per second and 10,000 per
    /// rolling 24 hours, per account.
    PartnerCentralWrites,
    /// Partner Central Selling's read operations (List*, Get*): 10 per second and 100,000
    /// per rolling 24 hours, per account.
    PartnerCentralReads,
}

impl QuotaGroup {
    pub const ALL: [QuotaGroup; 2] = [QuotaGroup::PartnerCentralWrites, QuotaGroup::PartnerCentralReads];

    /// The key that names the group in `rate-limits`.
    pub fn name(self) -> &'static str {
        match self {
            QuotaGroup::PartnerCentralWrites => "partnercentral-selling-writes",
            QuotaGroup::PartnerCentralReads => "partnercentral-selling-reads",
        }
    }

    /// The documented quota: calls per second, and calls per rolling 24 hours.
    pub fn documented(self) -> (f64, u64) {
        match self {
            QuotaGroup::PartnerCentralWrites => (1.0, 10_000),
            QuotaGroup::PartnerCentralReads => (10.0, 100_000),
        }
    }
}

impl fmt::Display for QuotaGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The AWS service an action calls; also the key of `rate-limits` and `aws.endpoints`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    CodePipeline,
    PartnerCentralSelling,
    /// The pipeline's artifact bucket, reached with each job's own credentials.
    S3,
}

impl Service {
    pub const ALL: [Service; 3] = [Service::CodePipeline, Service::PartnerCentralSelling, Service::S3];

    /// The name used in playbooks and on the command line (`--endpoint codepipeline=URL`).
    pub fn name(self) -> &'static str {
        match self {
            Service::CodePipeline => "codepipeline",
            Service::PartnerCentralSelling => "partnercentral-selling",
            Service::S3 => "s3",
        }
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl ActionKind {
    /// The key that names this action in a step.
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    pub fn from_name(name: &str) -> Option<ActionKind> {
        ActionKind::ALL.iter().copied().find(|kind| kind.name() == name)
    }

    /// The AWS service the action calls; `None` when it is not an AWS call.
    pub fn service(self) -> Option<Service> {
        self.spec().service
    }

    /// The AWS API operation the action calls (or what it does, for `exec`).
    pub fn operation(self) -> &'static str {
        self.spec().operation
    }

    /// The top-level fields of the action's output, named as the API names them, which
    /// templates read as `steps.<id>.output.<field>`.
    pub fn output_fields(self) -> &'static [&'static str] {
        self.spec().output
    }

    /// Whether the action's `client-token` is the CodePipeline partner secret (as opposed to
    /// Partner Central's idempotency token, which is not secret).
    pub fn client_token_is_secret(self) -> bool {
        self.spec().secret_inputs.contains(&"client-token")
    }

    /// Replaces the values of the input's secret keys with the mask: what the journal,
    /// `--dry-run` and reports keep of an input.
    pub fn redact(self, input: &mut serde_json::Value) {
        for key in self.spec().secret_inputs {
            if let Some(value) = input.pointer_mut(&format!("/{key}")) {
                redact_all(value);
            }
        }
    }

    /// Whether handoff derives this action's idempotency token when the playbook gives none.
    pub fn derives_client_token(self) -> bool {
        self == ActionKind::AcceptInvitation
    }
}

impl fmt::Display for ActionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What an action needs to do its work for one item.
pub struct ActionContext<'a> {
    pub clients: &'a crate::aws::Clients,
    pub caller: &'a crate::call::Caller<'a>,
    /// Batches the task checks of a `wait-for-acceptance` step's items.
    pub watcher: Option<&'a std::sync::Arc<wait_for_acceptance::TaskWatcher>>,
    /// The run's secrets (and those learned from outputs), for what an action captures.
    pub masker: &'a crate::secrets::Masker,
    pub item: ItemScope<'a>,
}

/// Who the work is for: the run and item, as a program started for it sees them.
#[derive(Debug, Clone, Copy)]
pub struct ItemScope<'a> {
    pub run_id: &'a str,
    /// Stable for the item across the run's resumptions (`HANDOFF_ITEM_KEY`).
    pub key: &'a str,
    /// The playbook's folder: relative paths start there.
    pub dir: &'a std::path::Path,
    /// The run's working directory: each job's artifacts go in a folder of their own under it.
    pub workdir: &'a std::path::Path,
}

impl std::fmt::Debug for ActionContext<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActionContext").field("caller", self.caller).finish_non_exhaustive()
    }
}

fn redact_all(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Object(map) => map.values_mut().for_each(redact_all),
        Value::Array(items) => items.iter_mut().for_each(redact_all),
        Value::Null => {}
        other => *other = Value::String(crate::secrets::MASK.to_string()),
    }
}

/// A rendered input the request types refuse: nothing is sent.
fn invalid(message: String) -> crate::call::Outcome {
    crate::call::Outcome::Failed {
        error: crate::call::CallError::client("InvalidInput", message),
        output: None,
    }
}

fn finish(sent: Result<serde_json::Value, crate::call::CallError>) -> crate::call::Outcome {
    match sent {
        Ok(output) => crate::call::Outcome::Succeeded(output),
        Err(error) => crate::call::Outcome::Failed { error, output: None },
    }
}

/// A job result put again after an attempt whose answer was lost finds the job already
/// finished: that earlier attempt was applied, so the result stands.
fn finish_result(
    sent: Result<serde_json::Value, crate::call::CallError>,
    had_ambiguous: bool,
) -> crate::call::Outcome {
    match sent {
        Err(error) if had_ambiguous && error.code() == Some("InvalidJobStateException") => {
            crate::call::Outcome::Succeeded(serde_json::json!({}))
        }
        other => finish(other),
    }
}

/// An RFC 3339 timestamp or epoch seconds, as the AWS CLI accepts for `created`.
fn parse_time(text: &str) -> Result<aws_smithy_types::DateTime, crate::call::CallError> {
    use aws_smithy_types::date_time::Format;
    if let Ok(seconds) = text.parse::<i64>() {
        return Ok(aws_smithy_types::DateTime::from_secs(seconds));
    }
    aws_smithy_types::DateTime::from_str(text, Format::DateTime).map_err(|e| {
        crate::call::CallError::client("InvalidInput", format!("`{text}` is not a timestamp: {e}"))
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
        for &kind in ActionKind::ALL {
            assert_eq!(ActionKind::from_str(kind.name(), false), Ok(kind));
            assert_eq!(ActionKind::from_name(kind.name()), Some(kind));
        }
        assert_eq!(ActionKind::value_variants().len(), ActionKind::ALL.len());
    }
}
