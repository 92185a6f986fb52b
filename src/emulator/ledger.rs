//! The ledger: every change the emulator applied, in order, and the counters behind the
//! summary endpoint. Tests read it to prove that nothing was done twice and nothing lost.
//! It never holds a client token or artifact credentials.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;

use serde::Serialize;
use serde_json::{Value, json};

use super::codepipeline::JobStatus;

/// One applied change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    Job {
        job: String,
        from: String,
        to: String,
    },
    ContinuationQueued {
        job: String,
        next: String,
    },
    TaskStarted {
        invitation: String,
        task: String,
    },
    TaskFinished {
        task: String,
        status: String,
    },
    InvitationAccepted {
        invitation: String,
    },
    InvitationRejected {
        invitation: String,
        reason: Option<String>,
    },
    /// An object written to the artifact bucket, by a job's credentials (`job`) or the
    /// account's; `job_acknowledged` says whether that job had been acknowledged.
    ArtifactWritten {
        job: Option<String>,
        bucket: String,
        key: String,
        bytes: usize,
        kms_key: Option<String>,
        job_acknowledged: Option<bool>,
    },
}

impl Change {
    pub fn job(job: &str, from: JobStatus, to: JobStatus) -> Self {
        Change::Job { job: job.into(), from: from.name().into(), to: to.name().into() }
    }

    pub fn continuation(job: &str, next: &str) -> Self {
        Change::ContinuationQueued { job: job.into(), next: next.into() }
    }

    pub fn task_started(invitation: &str, task: &str) -> Self {
        Change::TaskStarted { invitation: invitation.into(), task: task.into() }
    }

    pub fn task_finished(task: &str, status: &str) -> Self {
        Change::TaskFinished { task: task.into(), status: status.into() }
    }

    pub fn invitation_accepted(invitation: &str) -> Self {
        Change::InvitationAccepted { invitation: invitation.into() }
    }
}

/// A change with its sequence number, time, account and the operation that made it.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub seq: u64,
    pub at: String,
    pub account: String,
    /// The client's application id (`app/NAME` in its User-Agent, set with the standard
    /// AWS_SDK_UA_APP_ID), so a test with several workers can tell who did what.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    pub operation: &'static str,
    pub request_id: String,
    #[serde(flatten)]
    pub change: Change,
}

/// One client's requests against the quotas.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct QuotaUse {
    pub sent: u64,
    pub refused: u64,
}

/// The ledger and the request counters.
#[derive(Debug, Default)]
pub struct Ledger {
    entries: Vec<Entry>,
    /// Every entry is also appended here as a JSON line, when `--ledger FILE` is given.
    file: Option<std::fs::File>,
    pub requests: BTreeMap<&'static str, u64>,
    pub errors: BTreeMap<String, u64>,
    pub throttled_by_quota: u64,
    /// Per client of a quota (its `app/NAME`, `unnamed`, or the emulator's own `--client`):
    /// requests that counted against a quota, and how many of them it refused.
    pub quota_clients: BTreeMap<String, QuotaUse>,
    pub faults: BTreeMap<&'static str, u64>,
    pub unsigned_or_bad_signature: u64,
}

impl Ledger {
    pub fn with_file(file: Option<std::fs::File>) -> Self {
        Self { file, ..Self::default() }
    }

    pub fn record(
        &mut self,
        (account, client): (&str, Option<&str>),
        operation: &'static str,
        request_id: &str,
        change: Change,
    ) {
        let entry = Entry {
            seq: self.entries.len() as u64 + 1,
            at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            account: account.to_string(),
            client: client.map(str::to_string),
            operation,
            request_id: request_id.to_string(),
            change,
        };
        if let Some(file) = &mut self.file {
            // The ledger file is a convenience; a full disk must not stop the emulator.
            let mut line = serde_json::to_vec(&entry).unwrap_or_default();
            line.push(b'\n');
            let _ = file.write_all(&line);
        }
        self.entries.push(entry);
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Changes that must happen at most once but happened more often.
    pub fn duplicates(&self) -> Value {
        let mut tasks_per_invitation: HashMap<&str, u64> = HashMap::new();
        let mut moves: HashMap<(&str, &str, &str), u64> = HashMap::new();
        let mut finals_per_job: HashMap<&str, u64> = HashMap::new();
        for entry in &self.entries {
            match &entry.change {
                Change::TaskStarted { invitation, .. } => {
                    *tasks_per_invitation.entry(invitation).or_default() += 1
                }
                Change::Job { job, from, to } => {
                    *moves.entry((job, from, to)).or_default() += 1;
                    if to == "Succeeded" || to == "Failed" {
                        *finals_per_job.entry(job).or_default() += 1;
                    }
                }
                _ => {}
            }
        }
        let mut invitations: Vec<&str> =
            tasks_per_invitation.into_iter().filter(|(_, n)| *n > 1).map(|(i, _)| i).collect();
        invitations.sort();
        let mut jobs: Vec<&str> = moves
            .into_iter()
            .filter(|(_, n)| *n > 1)
            .map(|((job, _, _), _)| job)
            .chain(finals_per_job.into_iter().filter(|(_, n)| *n > 1).map(|(job, _)| job))
            .collect();
        jobs.sort();
        jobs.dedup();
        json!({"invitations_with_several_tasks": invitations, "jobs_moved_twice": jobs})
    }
}
