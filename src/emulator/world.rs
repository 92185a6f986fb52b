//! The emulator's whole state behind one lock: jobs, invitations, tasks, quotas and the
//! ledger. Each request holds the lock only while it is applied, never while it waits.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::Utc;
use rand::Rng;
use rand::rngs::StdRng;
use serde_json::{Value, json};

use super::artifacts::Artifacts;
use super::codepipeline::Jobs;
use super::fixtures::{alnum, new_credentials, uuid};
use super::ledger::{Change, Ledger};
use super::partnercentral::{Engagements, IdSource};
use super::protocol::{ApiError, Operation};
use super::quota::{Bucket, QuotaKind, QuotaSpec, Refusal};

/// How the summary names a client whose User-Agent carries no `app/NAME`.
pub const UNNAMED: &str = "unnamed";
/// How the summary names the emulator's own client (`--client writes=0.3/s`).
pub const EMULATOR_CLIENT: &str = "emulator-client";

#[derive(Debug)]
pub struct World {
    pub jobs: Jobs,
    /// The pipeline's artifact bucket (the S3 front serves it).
    pub artifacts: Artifacts,
    pub settings: JobSettings,
    pub engagements: Engagements,
    pub ledger: Ledger,
    pub quotas: QuotaSpec,
    buckets: HashMap<(String, QuotaKind), Bucket>,
    /// Ids of new tasks, opportunities and continuation jobs; seeded for repeatable runs.
    rng: StdRng,
}

/// How long CodePipeline's jobs and their credentials last.
#[derive(Debug, Clone, Copy)]
pub struct JobSettings {
    /// A job acknowledged this long ago and not finished is TimedOut (CodePipeline: 1 hour
    /// for a custom action unless the action type says otherwise).
    pub job_timeout: Duration,
    /// Artifact credentials expire this long after they are first handed out.
    pub credential_lifetime: Duration,
}

impl Default for JobSettings {
    fn default() -> Self {
        Self { job_timeout: Duration::from_secs(3600), credential_lifetime: Duration::from_secs(3600) }
    }
}

struct Ids<'a>(&'a mut StdRng);

impl IdSource for Ids<'_> {
    fn task_id(&mut self) -> String {
        format!("task-{}", alnum(self.0, 13))
    }

    fn opportunity_id(&mut self) -> String {
        format!("O{}", self.0.random_range(1_000_000u64..9_999_999_999))
    }

    fn snapshot_job_id(&mut self) -> String {
        format!("job-{}", alnum(self.0, 13))
    }
}

impl World {
    pub fn new(jobs: Jobs, engagements: Engagements, ledger: Ledger, quotas: QuotaSpec, rng: StdRng) -> Self {
        Self {
            jobs,
            artifacts: Artifacts::default(),
            settings: JobSettings::default(),
            engagements,
            ledger,
            quotas,
            buckets: HashMap::new(),
            rng,
        }
    }

    /// Moves time-driven state on: accept tasks finish, overdue jobs time out.
    fn settle(&mut self, now: Instant, changes: &mut Vec<Change>) {
        self.engagements.settle(now, changes);
        self.jobs.expire(now, self.settings.job_timeout, changes);
    }

    /// Applies one signed, fault-free request for `account` (from `client`, when it names
    /// itself).
    pub fn apply(
        &mut self,
        operation: Operation,
        (account, client): (&str, Option<&str>),
        body: &Value,
        request_id: &str,
    ) -> Result<Value, ApiError> {
        let now = Instant::now();
        let mut changes = Vec::new();
        self.settle(now, &mut changes);
        let result = self
            .quota(operation, (account, client.unwrap_or(UNNAMED)), now)
            .and_then(|()| self.dispatch(operation, account, body, now));
        let answer = match result {
            Ok((answer, applied)) => {
                changes.extend(applied);
                Ok(answer)
            }
            Err(error) => Err(error),
        };
        for change in changes {
            self.ledger.record((account, client), operation.name(), request_id, change);
        }
        answer
    }

    fn quota(&mut self, operation: Operation, who: (&str, &str), now: Instant) -> Result<(), ApiError> {
        let kind = match operation {
            // The write operations share one quota per account.
            Operation::StartEngagementByAcceptingInvitationTask | Operation::RejectEngagementInvitation => {
                QuotaKind::Accept
            }
            op if op.is_read() => QuotaKind::Reads,
            _ => return Ok(()),
        };
        self.take(kind, who, now)
    }

    /// One request of `client` against the account's `kind` quota: a token, or the refusal.
    fn take(
        &mut self,
        kind: QuotaKind,
        (account, client): (&str, &str),
        now: Instant,
    ) -> Result<(), ApiError> {
        let Some(quota) = self.quotas.get(kind) else {
            return Ok(());
        };
        let bucket =
            self.buckets.entry((account.to_string(), kind)).or_insert_with(|| Bucket::new(quota, now));
        let taken = bucket.take(now);
        let usage = self.ledger.quota_clients.entry(client.to_string()).or_default();
        usage.sent += 1;
        usage.refused += u64::from(taken.is_err());
        match taken {
            Ok(()) => Ok(()),
            Err(refusal) => {
                self.ledger.throttled_by_quota += 1;
                Err(match refusal {
                    Refusal::Rate => ApiError::throttling(),
                    // Not throttling: waiting seconds does not help, only the next day does.
                    Refusal::Daily => ApiError::new(
                        402,
                        "ServiceQuotaExceededException",
                        "The daily quota of this operation for this account is used up; it resets 24 hours after it started",
                    ),
                })
            }
        }
    }

    fn dispatch(
        &mut self,
        operation: Operation,
        account: &str,
        body: &Value,
        now: Instant,
    ) -> Result<(Value, Vec<Change>), ApiError> {
        let none = |answer: Value| (answer, Vec::new());
        match operation {
            Operation::PollForThirdPartyJobs => self.jobs.poll(body),
            Operation::GetThirdPartyJobDetails => self.jobs.details(body, now).map(none),
            Operation::AcknowledgeThirdPartyJob => self.jobs.acknowledge(body),
            Operation::PutThirdPartyJobSuccessResult => {
                let rng = &mut self.rng;
                self.jobs.put_success(body, || {
                    (uuid(rng), rng.random_range(100_000u64..999_999_999).to_string(), new_credentials(rng))
                })
            }
            Operation::PutThirdPartyJobFailureResult => self.jobs.put_failure(body),
            Operation::ListEngagementInvitations => {
                self.engagements.list_invitations(account, body).map(none)
            }
            Operation::GetEngagementInvitation => self.engagements.get_invitation(account, body).map(none),
            Operation::StartEngagementByAcceptingInvitationTask => {
                self.engagements.start_accept(account, body, (now, Utc::now()), &mut Ids(&mut self.rng))
            }
            Operation::ListEngagementByAcceptingInvitationTasks => {
                self.engagements.list_tasks(account, body).map(none)
            }
            Operation::RejectEngagementInvitation => self.engagements.reject(account, body),
        }
    }

    /// Jobs, invitations and tasks as they stand, for tests and the state endpoint.
    /// Client tokens and artifact credentials are left out.
    pub fn state(&mut self) -> Value {
        let mut changes = Vec::new();
        self.settle(Instant::now(), &mut changes);
        for change in changes {
            self.ledger.record(("", None), "settle", "", change);
        }
        let jobs: Vec<Value> = self
            .jobs
            .all()
            .iter()
            .map(|j| {
                json!({"id": j.id, "status": j.status.name(), "configuration": j.configuration,
                       "continuation_token": j.continuation_token, "result": j.result,
                       "execution": j.execution_id,
                       "input": {"bucket": j.input.bucket, "key": j.input.key, "revision": j.input.revision},
                       "output": {"bucket": j.output.bucket, "key": j.output.key},
                       "encryption_key": j.encryption_key})
            })
            .collect();
        let invitations: Vec<Value> = self
            .engagements
            .invitations()
            .iter()
            .map(|i| {
                json!({"id": i.id, "status": i.status.name(), "catalog": i.catalog,
                       "payload_type": i.payload_type, "invited_at": i.invited_at.to_rfc3339(),
                       "expires_at": i.expires_at.to_rfc3339(), "payload": i.payload,
                       "rejection_reason": i.rejection_reason})
            })
            .collect();
        let tasks: Vec<Value> = self
            .engagements
            .tasks()
            .iter()
            .map(|t| json!({"id": t.id, "invitation": t.invitation_id, "status": t.status()}))
            .collect();
        json!({"jobs": jobs, "invitations": invitations, "tasks": tasks})
    }

    /// The artifact credentials handed out with job details: the secrets tests search
    /// handoff's output and journal for.
    pub fn credentials(&self) -> Value {
        let credentials: Vec<Value> = self
            .jobs
            .all()
            .iter()
            .map(|j| {
                let c = &j.artifact_credentials;
                json!({"job": j.id, "accessKeyId": c.access_key_id, "secretAccessKey": c.secret_access_key,
                       "sessionToken": c.session_token})
            })
            .collect();
        Value::Array(credentials)
    }

    /// One request of the emulator's own real-like client (`--client`): it takes a token when
    /// the bucket has one and is refused otherwise, like any other client; it never retries.
    pub fn client_request(&mut self, kind: QuotaKind, account: &str) {
        let _ = self.take(kind, (account, EMULATOR_CLIENT), Instant::now());
    }

    /// Counts for the summary endpoint.
    pub fn summary(&mut self) -> Value {
        let state = self.state();
        let count = |list: &Value, key: &str| {
            let mut counts = serde_json::Map::new();
            for item in list.as_array().into_iter().flatten() {
                let status = item[key].as_str().unwrap_or_default().to_string();
                let n = counts.get(&status).and_then(Value::as_u64).unwrap_or(0);
                counts.insert(status, json!(n + 1));
            }
            Value::Object(counts)
        };
        let mut executions = serde_json::Map::new();
        for status in self.jobs.executions().into_values() {
            let n = executions.get(status).and_then(Value::as_u64).unwrap_or(0);
            executions.insert(status.to_string(), json!(n + 1));
        }
        let ledger = &self.ledger;
        json!({
            "requests": ledger.requests,
            "requests_total": ledger.requests.values().sum::<u64>(),
            "errors": ledger.errors,
            "throttled_by_quota": ledger.throttled_by_quota,
            "quota_clients": ledger.quota_clients,
            "faults": ledger.faults,
            "rejected_signatures": ledger.unsigned_or_bad_signature,
            "changes": ledger.entries().len(),
            "jobs": count(&state["jobs"], "status"),
            "executions": executions,
            "outputs": self.artifacts.written(),
            "invitations": count(&state["invitations"], "status"),
            "tasks": count(&state["tasks"], "status"),
            "duplicates": ledger.duplicates(),
        })
    }
}
