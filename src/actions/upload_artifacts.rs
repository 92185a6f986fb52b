//! `upload-artifacts`: zips a directory for each of a CodePipeline job's output artifacts
//! and puts it where the job's details say (`outputArtifacts[].location.s3Location`), with
//! the job's own temporary credentials, encrypted with the job's KMS key (SSE-KMS) when the
//! details name one and with the bucket's default encryption otherwise. By default each
//! artifact comes from `<workdir>/out/<name>/`, the directory `download-artifacts` made.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::job_artifacts::{self, Artifact, JobArtifacts};
use crate::archive;
use crate::call::{CallError, Outcome};
use crate::playbook::Text;

pub const SPEC: super::ActionSpec = super::ActionSpec {
    name: "upload-artifacts",
    service: Some(super::Service::S3),
    operation: "zip, then PutObject of each output artifact, with the job's credentials",
    output: &["jobId", "artifacts"],
    quota: None,
    secret_inputs: &["job/data/artifactCredentials"],
    schema: include_str!("../../schemas/actions/upload-artifacts.schema.json"),
    changes: true,
};

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Input {
    /// The job's details (get-job-details' `output.jobDetails`).
    pub job: Value,
    /// The directory of each output artifact, by name; `<workdir>/out/<name>` by default.
    pub from: Option<BTreeMap<String, Text>>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Request {
    pub job: Value,
    #[serde(default)]
    pub from: BTreeMap<String, String>,
}

pub async fn call(request: Request, ctx: &super::ActionContext<'_>) -> Outcome {
    match upload(request, ctx).await {
        Ok(output) => Outcome::Succeeded(output),
        Err(error) => Outcome::Failed { error, output: None },
    }
}

async fn upload(request: Request, ctx: &super::ActionContext<'_>) -> Result<Value, CallError> {
    let job = JobArtifacts::from_details(&request.job)?;
    if let Some(unknown) = request.from.keys().find(|name| !job.outputs.iter().any(|a| &a.name == *name)) {
        let names: Vec<&str> = job.outputs.iter().map(|a| a.name.as_str()).collect();
        return Err(CallError::client(
            "InvalidInput",
            format!("job {} has no output artifact `{unknown}` (it has: {})", job.job_id, names.join(", ")),
        ));
    }
    if job.outputs.is_empty() {
        return Err(CallError::client(
            "InvalidInput",
            format!(
                "job {} has no output artifacts: its action declares none, so there is nothing to upload",
                job.job_id
            ),
        ));
    }
    let workdir = job.workdir(ctx.item.workdir);
    let client = ctx.clients.s3_for_job(job.credentials.clone());
    let mut uploaded = Map::new();
    for artifact in &job.outputs {
        let name = job_artifacts::safe_name(&artifact.name);
        let source = match request.from.get(&artifact.name) {
            Some(dir) => ctx.item.dir.join(dir),
            None => workdir.join("out").join(&name),
        };
        if !source.is_dir() {
            return Err(CallError::client(
                "NothingToUpload",
                format!(
                    "job {}: output artifact {}: {} is not a directory (the work writes its output there)",
                    job.job_id,
                    artifact.name,
                    source.display()
                ),
            ));
        }
        let zip_path = workdir.join(format!(".{name}.upload.zip"));
        let (from, to) = (source.clone(), zip_path.clone());
        let contents = job_artifacts::blocking(move || {
            if let Some(parent) = to.parent() {
                archive::create_private_dir(parent)?;
            }
            let file = std::fs::File::create(&to)
                .map_err(|e| archive::ArchiveError::Io { path: to.clone(), source: e })?;
            archive::create(&from, std::io::BufWriter::new(file))
        })
        .await?;
        let sent = ctx
            .caller
            .send(|| put(&client, artifact, &zip_path, job.kms_key.as_deref()))
            .await
            .map_err(|e| job_artifacts::s3_context(e, &job.job_id, "uploading", artifact));
        let _ = tokio::fs::remove_file(&zip_path).await;
        let size = sent?;
        uploaded.insert(
            artifact.name.clone(),
            json!({
                "bucket": artifact.bucket,
                "key": artifact.key,
                "from": source,
                "files": contents.files,
                "bytes": contents.bytes,
                "size": size,
                "encryption": match &job.kms_key {
                    Some(_) => "aws:kms (the job's key)",
                    None => "the bucket's default",
                },
            }),
        );
    }
    Ok(json!({"jobId": job.job_id, "artifacts": uploaded}))
}

/// One PutObject of the zip at `path`. Putting the same object again is harmless, so a
/// retry after a lost answer is safe.
async fn put(
    client: &aws_sdk_s3::Client,
    artifact: &Artifact,
    path: &PathBuf,
    kms_key: Option<&str>,
) -> Result<Value, CallError> {
    let body = aws_sdk_s3::primitives::ByteStream::from_path(path)
        .await
        .map_err(|e| CallError::client("ArchiveError", format!("{}: {e}", path.display())))?;
    let size = body.size_hint().0;
    let mut put = client.put_object().bucket(&artifact.bucket).key(&artifact.key).body(body);
    if let Some(key) = kms_key {
        put = put.server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::AwsKms).ssekms_key_id(key);
    }
    put.send().await.map_err(|e| CallError::from_sdk(&e))?;
    Ok(json!(size))
}
