//! CodePipeline's third-party jobs, with the semantics of the API reference: a job is
//! Queued until a job worker acknowledges it with the job's nonce and the action's client
//! token (InProgress), then Succeeded or Failed when a result is put. A success with a
//! continuation token queues a follow-up job that carries the token.

use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;

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
}

impl JobStatus {
    pub fn name(self) -> &'static str {
        match self {
            JobStatus::Queued => "Queued",
            JobStatus::Dispatched => "Dispatched",
            JobStatus::InProgress => "InProgress",
            JobStatus::Succeeded => "Succeeded",
            JobStatus::Failed => "Failed",
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
    pub artifact_credentials: (String, String, String),
    /// The result reported, kept for the state endpoint and tests.
    pub result: Option<Value>,
}

/// Every job, in the order they were queued.
#[derive(Debug, Default)]
pub struct Jobs {
    jobs: Vec<Job>,
    index: HashMap<String, usize>,
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
        for job in self.jobs.iter_mut().filter(|j| j.action_type == action_type) {
            if jobs.len() == max {
                break;
            }
            if job.status == JobStatus::Queued {
                job.status = JobStatus::Dispatched;
                changes.push(Change::job(&job.id, JobStatus::Queued, JobStatus::Dispatched));
                jobs.push(json!({"clientId": job.client_id, "jobId": job.id}));
            }
        }
        Ok((json!({"jobs": jobs}), changes))
    }

    pub fn details(&mut self, body: &Value) -> Result<Value, ApiError> {
        let input = Input::new(body)?;
        let id = input.string("jobId", true, 1, 512)?.unwrap_or_default();
        let token = input.string("clientToken", true, 1, 256)?.unwrap_or_default();
        let job = self.authorized(id, token)?;
        let (key, secret, session) = &job.artifact_credentials;
        let mut data = json!({
            "actionTypeId": job.action_type,
            "actionConfiguration": {"configuration": job.configuration},
            "pipelineContext": {
                "pipelineName": job.pipeline_name,
                "stage": {"name": "Deploy"},
                "action": {"name": job.action_type.provider, "actionExecutionId": format!("exec-{}", job.id)},
            },
            "inputArtifacts": [{
                "name": "SourceArtifact",
                "revision": format!("rev-{}", &job.id[..8]),
                "location": {"type": "S3", "s3Location": {
                    "bucketName": "codepipeline-artifacts", "objectKey": format!("{}/source.zip", job.pipeline_name)}},
            }],
            "outputArtifacts": [],
            "artifactCredentials": {"accessKeyId": key, "secretAccessKey": secret, "sessionToken": session},
        });
        if let (Some(token), Some(object)) = (&job.continuation_token, data.as_object_mut()) {
            object.insert("continuationToken".into(), json!(token));
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
            }
            // Acknowledging again (a retry whose first answer was lost) changes nothing.
            JobStatus::InProgress | JobStatus::Succeeded | JobStatus::Failed => {}
        }
        Ok((json!({"status": job.status.name()}), changes))
    }

    pub fn put_success(
        &mut self,
        body: &Value,
        new_job_id: impl FnOnce() -> (String, String),
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
            let (job_id, nonce) = new_job_id();
            next.id = job_id;
            next.nonce = nonce;
            next.status = JobStatus::Queued;
            next.continuation_token = Some(token.to_string());
            next.result = None;
            changes.push(Change::continuation(&job.id, &next.id));
            self.add(next);
        }
        Ok((json!({}), changes))
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
