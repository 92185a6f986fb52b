//! Partner Central Selling's engagement invitations and accept tasks, with the semantics of
//! the API reference: an accept starts an asynchronous task that ends COMPLETE (with an
//! OpportunityId) after a configurable delay, or FAILED with a ReasonCode when the invitation
//! had expired or was rejected. The same ClientToken with the same input returns the same
//! task; another token for an invitation already being accepted is a ConflictException.

use std::collections::{HashMap, VecDeque};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use regex::Regex;
use serde_json::{Value, json};

use super::ledger::Change;
use super::protocol::ApiError;
use super::validation::{Input, item_in, item_matching};

static CATALOG: LazyLock<Regex> = LazyLock::new(|| Regex::new("^[a-zA-Z]+$").expect("valid pattern"));
static INVITATION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new("^(arn:.*|engi-[0-9a-z]{13})$").expect("valid pattern"));
static ENGAGEMENT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new("^(arn:.*|eng-[0-9a-z]{14})$").expect("valid pattern"));
static ACCOUNT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^([0-9]{12}|\w{1,12})$").expect("valid pattern"));
static TASK: LazyLock<Regex> =
    LazyLock::new(|| Regex::new("^(arn:.*|task-[0-9a-z]{13})$").expect("valid pattern"));
static OPPORTUNITY: LazyLock<Regex> = LazyLock::new(|| Regex::new("^O[0-9]{1,19}$").expect("valid pattern"));
/// The model's pattern for RejectionReason (printable characters, 1-80 of them).
static REJECTION_REASON: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new("^[\\x{0020}-\\x{007E}\\x{00A0}-\\x{D7FF}\\x{E000}-\\x{FFFD}]+$").expect("valid pattern")
});
static CLIENT_TOKEN: LazyLock<Regex> = LazyLock::new(|| Regex::new("^.{1,255}$").expect("valid pattern"));
/// Tag keys and values share a character set; their lengths are checked apart (a counted
/// repetition of Unicode classes would make a needlessly large automaton).
static TAG_TEXT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$").expect("valid pattern"));

const STATUSES: &[&str] = &["ACCEPTED", "PENDING", "REJECTED", "EXPIRED"];
const PAYLOAD_TYPES: &[&str] = &["OpportunityInvitation", "LeadInvitation"];
const TASK_STATUSES: &[&str] = &["IN_PROGRESS", "COMPLETE", "FAILED"];
/// How many invitations a list answers when the request does not say.
const DEFAULT_PAGE_SIZE: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InvitationStatus {
    Pending,
    Accepted,
    Expired,
    Rejected,
}

impl InvitationStatus {
    pub fn name(self) -> &'static str {
        match self {
            InvitationStatus::Pending => "PENDING",
            InvitationStatus::Accepted => "ACCEPTED",
            InvitationStatus::Expired => "EXPIRED",
            InvitationStatus::Rejected => "REJECTED",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Pending, Self::Accepted, Self::Expired, Self::Rejected].into_iter().find(|s| s.name() == text)
    }
}

#[derive(Debug, Clone)]
pub struct Invitation {
    pub id: String,
    pub catalog: String,
    pub status: InvitationStatus,
    pub engagement_id: String,
    pub title: String,
    pub invited_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub sender_account: String,
    pub sender_company: String,
    pub payload_type: String,
    /// The account that received the invitation (the emulator's account).
    pub account: String,
    /// What GetEngagementInvitation answers as `Payload`: the customer, the project and its
    /// expected spend, the contacts (`fixtures::payload`).
    pub payload: Value,
    pub rejection_reason: Option<String>,
}

impl Invitation {
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:partnercentral:us-east-1:{}:catalog/{}/engagement-invitation/{}",
            self.account, self.catalog, self.id
        )
    }

    fn summary(&self) -> Value {
        json!({
            "Arn": self.arn(),
            "PayloadType": self.payload_type,
            "Id": self.id,
            "EngagementId": self.engagement_id,
            "EngagementTitle": self.title,
            "Status": self.status.name(),
            "InvitationDate": timestamp(self.invited_at),
            "ExpirationDate": timestamp(self.expires_at),
            "SenderAwsAccountId": self.sender_account,
            "SenderCompanyName": self.sender_company,
            "Receiver": {"Account": {"AwsAccountId": self.account}},
            "Catalog": self.catalog,
            "ParticipantType": "RECEIVER",
        })
    }
}

/// How an accept task ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Complete { opportunity_id: String, snapshot_job_id: String },
    Failed { reason: &'static str, message: String },
}

#[derive(Debug, Clone)]
pub struct Task {
    pub id: String,
    pub account: String,
    pub catalog: String,
    pub invitation_id: String,
    pub tags: Option<Value>,
    pub started_at: DateTime<Utc>,
    started: Instant,
    pub outcome: Outcome,
    /// Set once the delay has passed and the outcome shows.
    pub finished: bool,
}

impl Task {
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:partnercentral:us-east-1:{}:catalog/{}/engagement-by-accepting-invitation-task/{}",
            self.account, self.catalog, self.id
        )
    }

    pub fn status(&self) -> &'static str {
        match (&self.outcome, self.finished) {
            (_, false) => "IN_PROGRESS",
            (Outcome::Complete { .. }, true) => "COMPLETE",
            (Outcome::Failed { .. }, true) => "FAILED",
        }
    }

    fn view(&self) -> Value {
        let mut view = json!({
            "TaskId": self.id,
            "TaskArn": self.arn(),
            "StartTime": timestamp(self.started_at),
            "TaskStatus": self.status(),
            "EngagementInvitationId": self.invitation_id,
        });
        let object = view.as_object_mut().expect("a JSON object");
        match (&self.outcome, self.finished) {
            (_, false) => {}
            (Outcome::Complete { opportunity_id, snapshot_job_id }, true) => {
                object.insert("OpportunityId".into(), json!(opportunity_id));
                object.insert("ResourceSnapshotJobId".into(), json!(snapshot_job_id));
                object.insert("Message".into(), json!("The opportunity was created"));
            }
            (Outcome::Failed { reason, message }, true) => {
                object.insert("ReasonCode".into(), json!(reason));
                object.insert("Message".into(), json!(message));
            }
        }
        view
    }
}

/// Every invitation and accept task.
#[derive(Debug, Default)]
pub struct Engagements {
    invitations: Vec<Invitation>,
    by_id: HashMap<String, usize>,
    tasks: Vec<Task>,
    /// Task index by (account, client token), for idempotent retries.
    by_token: HashMap<(String, String), usize>,
    /// Task index by invitation id.
    by_invitation: HashMap<String, usize>,
    /// Tasks not yet finished, oldest first.
    running: VecDeque<usize>,
    pub task_delay: Duration,
}

/// Ids the world hands out, drawn from its seeded generator.
pub trait IdSource {
    fn task_id(&mut self) -> String;
    fn opportunity_id(&mut self) -> String;
    fn snapshot_job_id(&mut self) -> String;
}

fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl Engagements {
    pub fn new(task_delay: Duration) -> Self {
        Self { task_delay, ..Self::default() }
    }

    pub fn add(&mut self, invitation: Invitation) {
        self.by_id.insert(invitation.id.clone(), self.invitations.len());
        self.invitations.push(invitation);
    }

    pub fn invitations(&self) -> &[Invitation] {
        &self.invitations
    }

    pub fn tasks(&self) -> &[Task] {
        &self.tasks
    }

    /// Finishes the tasks whose delay has passed; an accepted invitation turns ACCEPTED.
    pub fn settle(&mut self, now: Instant, changes: &mut Vec<Change>) {
        while let Some(&index) = self.running.front() {
            let task = &mut self.tasks[index];
            if now.duration_since(task.started) < self.task_delay {
                break;
            }
            self.running.pop_front();
            task.finished = true;
            changes.push(Change::task_finished(&task.id, task.status()));
            if let Outcome::Complete { .. } = task.outcome
                && let Some(&i) = self.by_id.get(&task.invitation_id)
            {
                self.invitations[i].status = InvitationStatus::Accepted;
                changes.push(Change::invitation_accepted(&task.invitation_id));
            }
        }
    }

    fn invitation(&self, account: &str, catalog: &str, identifier: &str) -> Result<usize, ApiError> {
        let id = identifier.rsplit('/').next().unwrap_or(identifier);
        self.by_id
            .get(id)
            .copied()
            .filter(|&i| self.invitations[i].account == account && self.invitations[i].catalog == catalog)
            .ok_or_else(|| {
                ApiError::new(
                    404,
                    "ResourceNotFoundException",
                    format!("Engagement invitation {identifier} was not found in catalog {catalog}"),
                )
            })
    }

    pub fn list_invitations(&self, account: &str, body: &Value) -> Result<Value, ApiError> {
        let input = Input::new(body)?;
        let catalog = input.matching("Catalog", true, (1, usize::MAX), &CATALOG)?.unwrap_or_default();
        let participant = input.one_of("ParticipantType", true, &["SENDER", "RECEIVER"])?.unwrap_or_default();
        let statuses = input.list("Status", (1, 10), item_in(STATUSES))?;
        let payloads = input.list("PayloadType", (0, usize::MAX), item_in(PAYLOAD_TYPES))?;
        let engagements = input.list("EngagementIdentifier", (1, 10), item_matching(&ENGAGEMENT))?;
        let senders = input.list("SenderAwsAccountId", (1, 10), item_matching(&ACCOUNT))?;
        let descending = match input.structure("Sort", false)? {
            Some(sort) => {
                sort.one_of("SortBy", true, &["InvitationDate"])?;
                sort.one_of("SortOrder", true, &["ASCENDING", "DESCENDING"])? == Some("DESCENDING")
            }
            None => false,
        };
        let page = input.integer("MaxResults", false, 1, 100)?.map_or(DEFAULT_PAGE_SIZE, |n| n as usize);
        let start = parse_token(input.string("NextToken", false, 1, 2048)?)?;
        let mut matching: Vec<&Invitation> = self
            .invitations
            .iter()
            .filter(|i| i.account == account && i.catalog == catalog && participant == "RECEIVER")
            .filter(|i| statuses.as_ref().is_none_or(|s| s.contains(&i.status.name())))
            .filter(|i| payloads.as_ref().is_none_or(|p| p.contains(&i.payload_type.as_str())))
            .filter(|i| engagements.as_ref().is_none_or(|e| e.iter().any(|e| e.ends_with(&i.engagement_id))))
            .filter(|i| senders.as_ref().is_none_or(|s| s.contains(&i.sender_account.as_str())))
            .collect();
        matching.sort_by_key(|i| i.invited_at);
        if descending {
            matching.reverse();
        }
        let end = (start + page).min(matching.len());
        let summaries: Vec<Value> =
            matching.get(start..end).unwrap_or_default().iter().map(|i| i.summary()).collect();
        let mut answer = json!({"EngagementInvitationSummaries": summaries});
        if end < matching.len() {
            answer["NextToken"] = json!(format!("page-{end:08x}"));
        }
        Ok(answer)
    }

    pub fn get_invitation(&self, account: &str, body: &Value) -> Result<Value, ApiError> {
        let input = Input::new(body)?;
        let catalog = input.matching("Catalog", true, (1, usize::MAX), &CATALOG)?.unwrap_or_default();
        let identifier = input.matching("Identifier", true, (1, 255), &INVITATION)?.unwrap_or_default();
        let invitation = &self.invitations[self.invitation(account, catalog, identifier)?];
        let mut answer = invitation.summary();
        answer["InvitationMessage"] =
            json!(format!("{} invites you to {}", invitation.sender_company, invitation.title));
        answer["Payload"] = invitation.payload.clone();
        if let Some(reason) = &invitation.rejection_reason {
            answer["RejectionReason"] = json!(reason);
        }
        Ok(answer)
    }

    /// RejectEngagementInvitation: a PENDING invitation becomes REJECTED, with the reason.
    /// Any other status is a ConflictException naming it (the API documents Conflict).
    pub fn reject(&mut self, account: &str, body: &Value) -> Result<(Value, Vec<Change>), ApiError> {
        let input = Input::new(body)?;
        let catalog = input.matching("Catalog", true, (1, usize::MAX), &CATALOG)?.unwrap_or_default();
        let identifier = input.matching("Identifier", true, (1, 255), &INVITATION)?.unwrap_or_default();
        let reason =
            input.matching("RejectionReason", false, (1, 80), &REJECTION_REASON)?.map(str::to_string);
        let index = self.invitation(account, catalog, identifier)?;
        let being_accepted = self.by_invitation.contains_key(&self.invitations[index].id);
        let invitation = &mut self.invitations[index];
        if invitation.status != InvitationStatus::Pending || being_accepted {
            let status = if invitation.status == InvitationStatus::Pending {
                "being accepted"
            } else {
                invitation.status.name()
            };
            return Err(ApiError::new(
                409,
                "ConflictException",
                format!("Engagement invitation {} cannot be rejected: it is {status}", invitation.id),
            ));
        }
        invitation.status = InvitationStatus::Rejected;
        invitation.rejection_reason = reason.clone();
        Ok((json!({}), vec![Change::InvitationRejected { invitation: invitation.id.clone(), reason }]))
    }

    pub fn start_accept(
        &mut self,
        account: &str,
        body: &Value,
        now: (Instant, DateTime<Utc>),
        ids: &mut dyn IdSource,
    ) -> Result<(Value, Vec<Change>), ApiError> {
        let input = Input::new(body)?;
        let catalog = input.matching("Catalog", true, (1, usize::MAX), &CATALOG)?.unwrap_or_default();
        let token = input.matching("ClientToken", true, (1, 255), &CLIENT_TOKEN)?.unwrap_or_default();
        let identifier = input.matching("Identifier", true, (1, 255), &INVITATION)?.unwrap_or_default();
        let tags = input.raw("Tags").cloned();
        if let Some(list) = tags.as_ref() {
            let items = list.as_array().ok_or_else(|| ApiError::validation("Tags", "Tags must be a list"))?;
            if items.is_empty() || items.len() > 200 {
                return Err(ApiError::validation("Tags", "Member must have length between 1 and 200"));
            }
            for item in items {
                let tag = Input::new(item)?;
                tag.matching("Key", true, (1, 128), &TAG_TEXT)?;
                tag.matching("Value", true, (0, 256), &TAG_TEXT)?;
            }
        }
        let invitation_id = identifier.rsplit('/').next().unwrap_or(identifier).to_string();
        if let Some(&index) = self.by_token.get(&(account.to_string(), token.to_string())) {
            let task = &self.tasks[index];
            if task.invitation_id == invitation_id && task.catalog == catalog && task.tags == tags {
                return Ok((task.view(), Vec::new()));
            }
            return Err(ApiError::new(
                409,
                "ConflictException",
                "The client token was already used for a different request",
            ));
        }
        let index = self.invitation(account, catalog, identifier)?;
        if let Some(&existing) = self.by_invitation.get(&invitation_id) {
            let task = &self.tasks[existing];
            return Err(ApiError::new(
                409,
                "ConflictException",
                format!(
                    "Engagement invitation {invitation_id} is already being accepted by task {}",
                    task.id
                ),
            ));
        }
        let invitation = &self.invitations[index];
        let outcome = match invitation.status {
            InvitationStatus::Accepted => {
                return Err(ApiError::new(
                    409,
                    "ConflictException",
                    format!("Engagement invitation {invitation_id} has already been accepted"),
                ));
            }
            InvitationStatus::Pending => Outcome::Complete {
                opportunity_id: ids.opportunity_id(),
                snapshot_job_id: ids.snapshot_job_id(),
            },
            InvitationStatus::Expired => Outcome::Failed {
                reason: "InvitationValidationFailed",
                message: format!(
                    "Engagement invitation {invitation_id} expired on {}",
                    timestamp(invitation.expires_at)
                ),
            },
            InvitationStatus::Rejected => Outcome::Failed {
                reason: "EngagementInvitationConflict",
                message: format!("Engagement invitation {invitation_id} was rejected"),
            },
        };
        let task = Task {
            id: ids.task_id(),
            account: account.to_string(),
            catalog: catalog.to_string(),
            invitation_id: invitation_id.clone(),
            tags,
            started_at: now.1,
            started: now.0,
            outcome,
            finished: false,
        };
        let changes = vec![Change::task_started(&invitation_id, &task.id)];
        let view = task.view();
        let index = self.tasks.len();
        self.by_token.insert((account.to_string(), token.to_string()), index);
        self.by_invitation.insert(invitation_id, index);
        self.running.push_back(index);
        self.tasks.push(task);
        Ok((view, changes))
    }

    pub fn list_tasks(&self, account: &str, body: &Value) -> Result<Value, ApiError> {
        let input = Input::new(body)?;
        let catalog = input.matching("Catalog", true, (1, usize::MAX), &CATALOG)?.unwrap_or_default();
        let page = input.integer("MaxResults", false, 1, 1000)?.map_or(DEFAULT_PAGE_SIZE, |n| n as usize);
        let start = parse_token(input.string("NextToken", false, 1, 2048)?)?;
        let statuses = input.list("TaskStatus", (1, 3), item_in(TASK_STATUSES))?;
        let opportunities = input.list("OpportunityIdentifier", (1, 10), item_matching(&OPPORTUNITY))?;
        let invitations =
            input.list("EngagementInvitationIdentifier", (1, 10), item_matching(&INVITATION))?;
        let task_ids = input.list("TaskIdentifier", (1, 10), item_matching(&TASK))?;
        let descending = match input.structure("Sort", false)? {
            Some(sort) => {
                sort.one_of("SortBy", true, &["StartTime"])?;
                sort.one_of("SortOrder", true, &["ASCENDING", "DESCENDING"])? == Some("DESCENDING")
            }
            None => false,
        };
        let last = |s: &str| s.rsplit('/').next().unwrap_or(s).to_string();
        let mut matching: Vec<&Task> = self
            .tasks
            .iter()
            .filter(|t| t.account == account && t.catalog == catalog)
            .filter(|t| statuses.as_ref().is_none_or(|s| s.contains(&t.status())))
            .filter(|t| invitations.as_ref().is_none_or(|i| i.iter().any(|i| last(i) == t.invitation_id)))
            .filter(|t| task_ids.as_ref().is_none_or(|ids| ids.iter().any(|id| last(id) == t.id)))
            .filter(|t| {
                opportunities.as_ref().is_none_or(|o| match (&t.outcome, t.finished) {
                    (Outcome::Complete { opportunity_id, .. }, true) => o.contains(&opportunity_id.as_str()),
                    _ => false,
                })
            })
            .collect();
        if descending {
            matching.reverse();
        }
        let end = (start + page).min(matching.len());
        let summaries: Vec<Value> =
            matching.get(start..end).unwrap_or_default().iter().map(|t| t.view()).collect();
        let mut answer = json!({"TaskSummaries": summaries});
        if end < matching.len() {
            answer["NextToken"] = json!(format!("page-{end:08x}"));
        }
        Ok(answer)
    }
}

fn parse_token(token: Option<&str>) -> Result<usize, ApiError> {
    match token {
        None => Ok(0),
        Some(token) => {
            token.strip_prefix("page-").and_then(|hex| usize::from_str_radix(hex, 16).ok()).ok_or_else(|| {
                ApiError::validation("NextToken", format!("The pagination token {token} is not valid"))
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{ACCOUNT, CATALOG, CLIENT_TOKEN, ENGAGEMENT, INVITATION, OPPORTUNITY, TAG_TEXT, TASK};

    /// Every pattern compiles (they are built lazily, on the first request that needs one).
    #[test]
    fn every_pattern_compiles() {
        for pattern in
            [&CATALOG, &INVITATION, &ENGAGEMENT, &ACCOUNT, &TASK, &OPPORTUNITY, &CLIENT_TOKEN, &TAG_TEXT]
        {
            assert!(!pattern.as_str().is_empty());
        }
        assert!(TAG_TEXT.is_match("team:sales North-America"));
        assert!(!TAG_TEXT.is_match("bad#key"));
    }
}
