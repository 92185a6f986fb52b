//! `download-artifacts`: fetches a CodePipeline job's input artifacts from the pipeline's S3
//! bucket with the job's own temporary credentials (never the playbook's profile) and
//! extracts each zip into the job's working directory: `<workdir>/in/<artifact name>/`.
//! It also makes an empty `<workdir>/out/<name>/` for each output artifact, where the work
//! writes what `upload-artifacts` sends back. Extraction is `archive::extract`'s: hostile
//! entries are refused, size and entry count are capped, nothing is world-readable.

use std::collections::BTreeSet;

use serde::Deserialize;
use serde_json::{Map, Value, json};
use tokio::io::AsyncReadExt;

use super::job_artifacts::{self, Artifact, JobArtifacts};
use crate::archive::{self, Limits};
use crate::call::{CallError, ErrorClass, Outcome};
use crate::playbook::Text;

pub const SPEC: super::ActionSpec = super::ActionSpec {
    name: "download-artifacts",
    service: Some(super::Service::S3),
    operation: "GetObject of each input artifact, with the job's credentials, then unzip",
    output: &["jobId", "workdir", "input", "output", "inputs", "outputs"],
    quota: None,
    secret_inputs: &["job/data/artifactCredentials"],
    schema: include_str!("../../schemas/actions/download-artifacts.schema.json"),
    changes: true,
};

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Input {
    /// The job's details (get-job-details' `output.jobDetails`), usually `{{ item }}`.
    pub job: Value,
    /// Only these input artifacts (by name); all by default.
    pub artifacts: Option<Vec<Text>>,
    /// Keep each zip as it is (`<workdir>/in/<name>.zip`) instead of extracting it.
    pub extract: Option<bool>,
    /// Caps on what one archive may hold once extracted (1 GiB and 100,000 entries).
    pub max_bytes: Option<crate::playbook::Number>,
    pub max_entries: Option<crate::playbook::Number>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Request {
    pub job: Value,
    pub artifacts: Option<Vec<String>>,
    #[serde(default = "yes")]
    pub extract: bool,
    pub max_bytes: Option<u64>,
    pub max_entries: Option<usize>,
}

fn yes() -> bool {
    true
}

pub async fn call(request: Request, ctx: &super::ActionContext<'_>) -> Outcome {
    match download(request, ctx).await {
        Ok(output) => Outcome::Succeeded(output),
        Err(error) => Outcome::Failed { error, output: None },
    }
}

async fn download(request: Request, ctx: &super::ActionContext<'_>) -> Result<Value, CallError> {
    let job = JobArtifacts::from_details(&request.job)?;
    let wanted: Option<BTreeSet<&str>> =
        request.artifacts.as_ref().map(|names| names.iter().map(String::as_str).collect());
    if let Some(wanted) = &wanted
        && let Some(missing) = wanted.iter().find(|name| !job.inputs.iter().any(|a| a.name == **name))
    {
        let names: Vec<&str> = job.inputs.iter().map(|a| a.name.as_str()).collect();
        return Err(CallError::client(
            "InvalidInput",
            format!("job {} has no input artifact `{missing}` (it has: {})", job.job_id, names.join(", ")),
        ));
    }
    let workdir = job.workdir(ctx.item.workdir);
    let client = ctx.clients.s3_for_job(job.credentials.clone());
    let defaults = Limits::default();
    let limits = Limits {
        bytes: request.max_bytes.unwrap_or(defaults.bytes),
        entries: request.max_entries.unwrap_or(defaults.entries),
    };
    let mut inputs = Map::new();
    for artifact in job.inputs.iter().filter(|a| wanted.as_ref().is_none_or(|w| w.contains(a.name.as_str())))
    {
        let name = job_artifacts::safe_name(&artifact.name);
        let zip_path = workdir.join("in").join(format!("{name}.zip"));
        let dir = workdir.join("in").join(&name);
        {
            let parent = workdir.join("in");
            job_artifacts::blocking(move || archive::create_private_dir(&parent)).await?;
        }
        let bytes = ctx
            .caller
            .send(|| fetch(&client, artifact, &zip_path, limits.bytes))
            .await
            .map_err(|e| job_artifacts::s3_context(e, &job.job_id, "downloading", artifact))?;
        let mut entry = json!({
            "revision": artifact.revision,
            "bucket": artifact.bucket,
            "key": artifact.key,
            "size": bytes,
        });
        if request.extract {
            let (source, target) = (zip_path.clone(), dir.clone());
            let extracted = job_artifacts::blocking(move || {
                // A retried item (or a resumed run) starts from a clean directory.
                let _ = std::fs::remove_dir_all(&target);
                let file = std::fs::File::open(&source)
                    .map_err(|e| archive::ArchiveError::Io { path: source.clone(), source: e })?;
                let result = archive::extract(std::io::BufReader::new(file), &target, limits);
                let _ = std::fs::remove_file(&source);
                result
            })
            .await
            .map_err(|mut e| {
                e.message = format!(
                    "job {}: input artifact {} ({}): {}",
                    job.job_id,
                    artifact.name,
                    artifact.url(),
                    e.message
                );
                e
            })?;
            entry["path"] = json!(dir);
            entry["files"] = json!(extracted.files);
            entry["bytes"] = json!(extracted.bytes);
        } else {
            entry["path"] = json!(zip_path);
        }
        inputs.insert(artifact.name.clone(), entry);
    }
    let mut outputs = Map::new();
    for artifact in &job.outputs {
        let dir = workdir.join("out").join(job_artifacts::safe_name(&artifact.name));
        let made = dir.clone();
        job_artifacts::blocking(move || archive::create_private_dir(&made)).await?;
        outputs.insert(artifact.name.clone(), json!(dir));
    }
    let first = |map: &Map<String, Value>, pick: fn(&Value) -> Value| {
        map.values().next().map(pick).unwrap_or(Value::Null)
    };
    Ok(json!({
        "jobId": job.job_id,
        "workdir": workdir,
        "input": first(&inputs, |v| v["path"].clone()),
        "output": first(&outputs, Value::clone),
        "inputs": inputs,
        "outputs": outputs,
    }))
}

/// One GetObject, streamed to `path`; at most `limit` bytes are accepted.
async fn fetch(
    client: &aws_sdk_s3::Client,
    artifact: &Artifact,
    path: &std::path::Path,
    limit: u64,
) -> Result<Value, CallError> {
    let output = client
        .get_object()
        .bucket(&artifact.bucket)
        .key(&artifact.key)
        .send()
        .await
        .map_err(|e| CallError::from_sdk(&e))?;
    let io = |e: std::io::Error| CallError::client("ArchiveError", format!("{}: {e}", path.display()));
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .await
        .map_err(io)?;
    let mut body = output.body.into_async_read().take(limit + 1);
    let copied = tokio::io::copy(&mut body, &mut file)
        .await
        .map_err(|e| CallError::new(ErrorClass::Connection, format!("the download broke off: {e}")))?;
    if copied > limit {
        return Err(CallError::client(
            "ArchiveError",
            format!("the artifact is larger than {limit} bytes (the limit); nothing of it is kept"),
        ));
    }
    file.sync_all().await.map_err(io)?;
    Ok(json!(copied))
}
