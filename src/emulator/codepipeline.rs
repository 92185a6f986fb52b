//! CodePipeline's third-party jobs, with the semantics of the API reference: a job is
//! Queued until a job worker acknowledges it with the job's nonce and the action's client
//! token (InProgress), then Succeeded or Failed when a result is put. A success with a
//! continuation token queues a follow-up job that carries the token, for the same action
//! execution; a job left InProgress past the job timeout is TimedOut. Each job names its
//! input and output artifacts in the pipeline's bucket and carries temporary credentials
//! that reach exactly those objects (`artifacts.rs` enforces them).

use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::ledger::Change;
use super::protocol::ApiError;
use super::validation::Input;

static PROVIDER: LazyLock<Regex> = LazyLock::new(|| Regex::new("^[0-9A-Za-z_-]+$").expect("valid pattern"));

pub const CATEGORIES: &[&str] = &["Source", "Build", "Deploy", "Test", "Invoke", "Approval", "Compute"];
pub const OWNERS: &[&str] = &["AWS", "ThirdParty", "Custom"];
const FAILURE_TYPES: &[&str] = &[
    "JobFailed",
    "ConfigurationError",
    "PermissionError",
    "RevisionOutOfSync",
    "RevisionUnavailable",
    "SystemUnavailable",
];

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ActionTypeId {
    pub category: String,
    pub owner: String,
    pub provider: String,
    pub version: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum JobStatus {
    Queued,
    Dispatched,
    InProgress,
    Succeeded,
    Failed,
    TimedOut,
}

impl JobStatus {
    pub fn name(self) -> &'static str {
        match self {
            JobStatus::Queued => "Queued",
            JobStatus::Dispatched => "Dispatched",
            JobStatus::InProgress => "InProgress",
            JobStatus::Succeeded => "Succeeded",
            JobStatus::Failed => "Failed",
            JobStatus::TimedOut => "TimedOut",
        }
    }
}

/// One third-party job and everything its details carry.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: String,
    pub client_id: String,
    /// The partner action's secret; compared, never logged or written to the ledger.
    pub client_token: String,
    pub nonce: String,
    pub action_type: ActionTypeId,
    pub status: JobStatus,
    pub configuration: BTreeMap<String, String>,
    pub pipeline_name: String,
    pub continuation_token: Option<String>,
    /// The action execution the job belongs to: a continuation job shares its first job's.
    pub execution_id: String,
    pub input: ArtifactLocation,
    pub output: ArtifactLocation,
    /// The artifact store's KMS key (`encryptionKey`); outputs must be written with it.
    pub encryption_key: Option<String>,
    pub artifact_credentials: ArtifactCredentials,
    /// When the job was acknowledged: the job timeout counts from here.
    pub acknowledged_at: Option<Instant>,
    /// When a generated job arrives (`--generate ...,arrive=DURATION`): polls do not see it
    /// before.
    pub arrives_at: Option<Instant>,
    /// The result reported, kept for the state endpoint and tests.
    pub result: Option<Value>,
}

/// An artifact's object in the pipeline's bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactLocation {
    pub name: String,
    pub bucket: String,
    pub key: String,
    /// The source revision an input artifact was built from.
    pub revision: Option<String>,
}

/// The job's temporary credentials (access key, secret, session token). They expire a set
/// time after they are first handed out; never logged or written to the ledger.
#[derive(Debug, Clone)]
pub struct ArtifactCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    pub issued: Option<Instant>,
}

/// Every job, in the order they were queued.
#[derive(Debug, Default)]
pub struct Jobs {
    jobs: Vec<Job>,
    index: HashMap<String, usize>,
    /// Artifact access key -> job, for the S3 front.
    by_key: HashMap<String, usize>,
    pub action_types: Vec<ActionTypeId>,
}

/// What an applied request changed, for the ledger.
pub type Applied = (Value, Vec<Change>);

impl Jobs {
    pub fn add(&mut self, job: Job) {
        if !self.action_types.contains(&job.action_type) {
            self.action_types.push(job.action_type.clone());
        }
        self.index.insert(job.id.clone(), self.jobs.len());
        self.by_key.insert(job.artifact_credentials.access_key_id.clone(), self.jobs.len());
        self.jobs.push(job);
    }

    pub fn all(&self) -> &[Job] {
        &self.jobs
    }

    fn job_mut(&mut self, id: &str) -> Result<&mut Job, ApiError> {
        let index = *self.index.get(id).ok_or_else(|| {
            ApiError::new(400, "JobNotFoundException", format!("The job {id} was not found"))
        })?;
        Ok(&mut self.jobs[index])
    }

    /// Looks up a job and checks the client token, as every call but polling does.
    fn authorized(&mut self, id: &str, client_token: &str) -> Result<&mut Job, ApiError> {
        let job = self.job_mut(id)?;
        if job.client_token != client_token {
            return Err(ApiError::new(
                400,
                "InvalidClientTokenException",
                "The client token was specified in an invalid format",
            ));
        }
        Ok(job)
    }

    pub fn poll(&mut self, body: &Value) -> Result<Applied, ApiError> {
        let input = Input::new(body)?;
        let action = input.structure("actionTypeId", true)?.expect("required");
        let action_type = ActionTypeId {
            category: action.one_of("category", true, CATEGORIES)?.unwrap_or_default().into(),
            owner: action.one_of("owner", true, OWNERS)?.unwrap_or_default().into(),
            provider: action.matching("provider", true, (1, 35), &PROVIDER)?.unwrap_or_default().into(),
            version: action.matching("version", true, (1, 9), &PROVIDER)?.unwrap_or_default().into(),
        };
        let max = input.integer("maxBatchSize", false, 1, i64::from(i32::MAX))?.unwrap_or(1) as usize;
        if !self.action_types.contains(&action_type) {
            return Err(ApiError::new(
                400,
                "ActionTypeNotFoundException",
                format!(
                    "The action type {}/{}/{}/{} was not found",
                    action_type.category, action_type.owner, action_type.provider, action_type.version
                ),
            ));
        }
        let mut jobs = Vec::new();
        let mut changes = Vec::new();
        let now = Instant::now();
        for job in self.jobs.iter_mut().filter(|j| j.action_type == action_type) {
            if jobs.len() == max {
                break;
            }
            if job.status == JobStatus::Queued && job.arrives_at.is_none_or(|at| at <= now) {
                job.status = JobStatus::Dispatched;
                changes.push(Change::job(&job.id, JobStatus::Queued, JobStatus::Dispatched));
                jobs.push(json!({"clientId": job.client_id, "jobId": job.id}));
            }
        }
        Ok((json!({"jobs": jobs}), changes))
    }

    pub fn details(&mut self, body: &Value, now: Instant) -> Result<Value, ApiError> {
        let input = Input::new(body)?;
        let id = input.string("jobId", true, 1, 512)?.unwrap_or_default();
        let token = input.string("clientToken", true, 1, 256)?.unwrap_or_default();
        let job = self.authorized(id, token)?;
        let credentials = &mut job.artifact_credentials;
        credentials.issued.get_or_insert(now);
        let artifact = |a: &ArtifactLocation| {
            let mut artifact = json!({
                "name": a.name,
                "location": {"type": "S3", "s3Location": {"bucketName": a.bucket, "objectKey": a.key}},
            });
            if let Some(revision) = &a.revision {
                artifact["revision"] = json!(revision);
            }
            artifact
        };
        let mut data = json!({
            "actionTypeId": job.action_type,
            "actionConfiguration": {"configuration": job.configuration},
            "pipelineContext": {
                "pipelineName": job.pipeline_name,
                "stage": {"name": "Deploy"},
                "action": {"name": job.action_type.provider, "actionExecutionId": job.execution_id},
            },
            "inputArtifacts": [artifact(&job.input)],
            "outputArtifacts": [artifact(&job.output)],
            "artifactCredentials": {
                "accessKeyId": credentials.access_key_id,
                "secretAccessKey": credentials.secret_access_key,
                "sessionToken": credentials.session_token,
            },
        });
        if let Some(token) = &job.continuation_token {
            data["continuationToken"] = json!(token);
        }
        if let Some(key) = &job.encryption_key {
            data["encryptionKey"] = json!({"id": key, "type": "KMS"});
        }
        Ok(json!({"jobDetails": {"id": job.id, "nonce": job.nonce, "data": data}}))
    }

    pub fn acknowledge(&mut self, body: &Value) -> Result<Applied, ApiError> {
        let input = Input::new(body)?;
        let id = input.string("jobId", true, 1, 512)?.unwrap_or_default();
        let nonce = input.string("nonce", true, 1, 50)?.unwrap_or_default();
        let token = input.string("clientToken", true, 1, 256)?.unwrap_or_default();
        let job = self.authorized(id, token)?;
        if job.nonce != nonce {
            return Err(ApiError::new(
                400,
                "InvalidNonceException",
                "The nonce was specified in an invalid format",
            ));
        }
        let mut changes = Vec::new();
        match job.status {
            JobStatus::Queued | JobStatus::Dispatched => {
                changes.push(Change::job(&job.id, job.status, JobStatus::InProgress));
                job.status = JobStatus::InProgress;
                job.acknowledged_at = Some(Instant::now());
            }
            // Acknowledging again (a retry whose first answer was lost) changes nothing.
            JobStatus::InProgress | JobStatus::Succeeded | JobStatus::Failed | JobStatus::TimedOut => {}
        }
        Ok((json!({"status": job.status.name()}), changes))
    }

    pub fn put_success(
        &mut self,
        body: &Value,
        new_job: impl FnOnce() -> (String, String, ArtifactCredentials),
    ) -> Result<Applied, ApiError> {
        let input = Input::new(body)?;
        let id = input.string("jobId", true, 1, 512)?.unwrap_or_default();
        let token = input.string("clientToken", true, 1, 256)?.unwrap_or_default();
        if let Some(revision) = input.structure("currentRevision", false)? {
            revision.string("revision", true, 1, 1500)?;
            revision.string("changeIdentifier", true, 1, 100)?;
            revision.string("revisionSummary", false, 1, 2048)?;
        }
        let continuation = input.string("continuationToken", false, 1, 2048)?;
        if let Some(details) = input.structure("executionDetails", false)? {
            details.string("summary", false, 1, 2048)?;
            details.string("externalExecutionId", false, 1, 1500)?;
            details.integer("percentComplete", false, 0, 100)?;
        }
        let job = self.authorized(id, token)?;
        let mut changes = Vec::new();
        finish(job, JobStatus::Succeeded, body, &mut changes)?;
        if let Some(token) = continuation {
            let mut next = job.clone();
            let (job_id, nonce, credentials) = new_job();
            next.id = job_id;
            next.nonce = nonce;
            next.status = JobStatus::Queued;
            next.continuation_token = Some(token.to_string());
            next.artifact_credentials = credentials;
            next.acknowledged_at = None;
            next.result = None;
            changes.push(Change::continuation(&job.id, &next.id));
            self.add(next);
        }
        Ok((json!({}), changes))
    }

    /// Times out the jobs left InProgress longer than `timeout` since they were acknowledged:
    /// CodePipeline then fails the action execution, and results put later are refused.
    pub fn expire(&mut self, now: Instant, timeout: Duration, changes: &mut Vec<Change>) {
        for job in &mut self.jobs {
            if job.status == JobStatus::InProgress
                && job.acknowledged_at.is_some_and(|at| now.duration_since(at) >= timeout)
            {
                changes.push(Change::job(&job.id, job.status, JobStatus::TimedOut));
                job.status = JobStatus::TimedOut;
            }
        }
    }

    /// The job whose artifact credentials have this access key.
    pub fn by_access_key(&self, access_key: &str) -> Option<&Job> {
        self.by_key.get(access_key).map(|&i| &self.jobs[i])
    }

    /// Each action execution's status: its latest job's, except that a success that handed
    /// on a continuation token leaves the execution InProgress.
    pub fn executions(&self) -> BTreeMap<&str, &'static str> {
        let mut executions = BTreeMap::new();
        for job in &self.jobs {
            let continued = job.status == JobStatus::Succeeded
                && job.result.as_ref().is_some_and(|r| r.get("continuationToken").is_some());
            let status = match job.status {
                JobStatus::Succeeded if !continued => "Succeeded",
                JobStatus::Failed => "Failed",
                JobStatus::TimedOut => "TimedOut",
                _ => "InProgress",
            };
            executions.insert(job.execution_id.as_str(), status);
        }
        executions
    }

    pub fn put_failure(&mut self, body: &Value) -> Result<Applied, ApiError> {
        let input = Input::new(body)?;
        let id = input.string("jobId", true, 1, 512)?.unwrap_or_default();
        let token = input.string("clientToken", true, 1, 256)?.unwrap_or_default();
        let details = input.structure("failureDetails", true)?.expect("required");
        details.one_of("type", true, FAILURE_TYPES)?;
        details.string("message", true, 1, 5000)?;
        details.string("externalExecutionId", false, 1, 1500)?;
        let job = self.authorized(id, token)?;
        let mut changes = Vec::new();
        finish(job, JobStatus::Failed, body, &mut changes)?;
        Ok((json!({}), changes))
    }
}

/// Moves an acknowledged job to its final state; anything else is InvalidJobStateException.
fn finish(job: &mut Job, to: JobStatus, body: &Value, changes: &mut Vec<Change>) -> Result<(), ApiError> {
    if job.status != JobStatus::InProgress {
        return Err(ApiError::new(
            400,
            "InvalidJobStateException",
            format!("The job {} is {}, not InProgress", job.id, job.status.name()),
        ));
    }
    changes.push(Change::job(&job.id, job.status, to));
    job.status = to;
    let mut result = body.clone();
    if let Some(object) = result.as_object_mut() {
        object.remove("clientToken");
    }
    job.result = Some(result);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::fixtures::{DEFAULT_CLIENT_TOKEN, Fixtures, Generate, new_credentials};
    use rand::SeedableRng;

    fn jobs(n: usize) -> Jobs {
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let mut fixtures = Fixtures::default();
        fixtures.generate(Generate { jobs: n, ..Generate::default() }, &mut rng);
        let (built, _) = fixtures.build("123456789012", "bucket", &mut rng).unwrap();
        let mut jobs = Jobs::default();
        built.into_iter().for_each(|b| jobs.add(b.job));
        jobs
    }

    fn ack(jobs: &mut Jobs, index: usize) -> String {
        let job = &jobs.all()[index];
        let (id, nonce) = (job.id.clone(), job.nonce.clone());
        jobs.acknowledge(&json!({"jobId": id, "nonce": nonce, "clientToken": DEFAULT_CLIENT_TOKEN})).unwrap();
        id
    }

    #[test]
    fn a_job_left_in_progress_past_the_timeout_times_out_and_refuses_results() {
        let mut jobs = jobs(2);
        let id = ack(&mut jobs, 0);
        let mut changes = Vec::new();
        jobs.expire(Instant::now(), Duration::from_secs(3600), &mut changes);
        assert!(changes.is_empty(), "not yet");
        jobs.expire(Instant::now() + Duration::from_secs(3601), Duration::from_secs(3600), &mut changes);
        assert_eq!(changes, [Change::job(&id, JobStatus::InProgress, JobStatus::TimedOut)]);
        assert_eq!(jobs.all()[1].status, JobStatus::Queued, "a queued job has no timeout running");
        let late =
            jobs.put_success(&json!({"jobId": id, "clientToken": DEFAULT_CLIENT_TOKEN}), || unreachable!());
        assert_eq!(late.unwrap_err().code, "InvalidJobStateException");
        assert!(jobs.executions().values().any(|s| *s == "TimedOut"));
    }

    #[test]
    fn a_continuation_keeps_the_execution_in_progress_until_a_success_without_a_token() {
        let mut jobs = jobs(1);
        let id = ack(&mut jobs, 0);
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        let body = json!({"jobId": id, "clientToken": DEFAULT_CLIENT_TOKEN, "continuationToken": "ticket-1"});
        jobs.put_success(&body, || ("next".into(), "42".into(), new_credentials(&mut rng))).unwrap();
        assert_eq!(jobs.executions().into_values().collect::<Vec<_>>(), ["InProgress"]);
        let next = &jobs.all()[1];
        assert_eq!((next.continuation_token.as_deref(), next.status), (Some("ticket-1"), JobStatus::Queued));
        assert_eq!(next.execution_id, jobs.all()[0].execution_id);
        assert_ne!(next.artifact_credentials.access_key_id, jobs.all()[0].artifact_credentials.access_key_id);
        ack(&mut jobs, 1);
        jobs.put_success(&json!({"jobId": "next", "clientToken": DEFAULT_CLIENT_TOKEN}), || unreachable!())
            .unwrap();
        assert_eq!(jobs.executions().into_values().collect::<Vec<_>>(), ["Succeeded"]);
    }
}
