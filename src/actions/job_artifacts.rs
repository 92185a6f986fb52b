//! What `download-artifacts` and `upload-artifacts` share: reading a job's details (as
//! `get-job-details` outputs them) for its artifacts, its temporary credentials and its KMS
//! key; the job's working directory; and S3 errors told with the job and object they concern.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::call::CallError;

/// The parts of a job's details the artifact actions use.
#[derive(Debug, Clone)]
pub struct JobArtifacts {
    pub job_id: String,
    pub inputs: Vec<Artifact>,
    pub outputs: Vec<Artifact>,
    pub credentials: aws_credential_types::Credentials,
    /// The artifact store's KMS key: outputs are written with it (SSE-KMS).
    pub kms_key: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    pub name: String,
    pub bucket: String,
    pub key: String,
    pub revision: Option<String>,
}

impl Artifact {
    pub fn url(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Details {
    id: String,
    data: Data,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Data {
    #[serde(default)]
    input_artifacts: Vec<ArtifactShape>,
    #[serde(default)]
    output_artifacts: Vec<ArtifactShape>,
    artifact_credentials: Option<Credentials>,
    encryption_key: Option<EncryptionKey>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArtifactShape {
    name: String,
    revision: Option<String>,
    location: Location,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Location {
    s3_location: S3Location,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct S3Location {
    bucket_name: String,
    object_key: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Credentials {
    access_key_id: String,
    secret_access_key: String,
    session_token: String,
}

#[derive(Deserialize)]
struct EncryptionKey {
    id: String,
}

impl JobArtifacts {
    /// Reads `job` (a job's details: `{id, nonce, data}`, as `get-job-details` outputs them
    /// under `jobDetails`).
    pub fn from_details(job: &Value) -> Result<Self, CallError> {
        let details: Details = serde_path_to_error::deserialize(job).map_err(|e| {
            CallError::client(
                "InvalidInput",
                format!(
                    "`job` is not a job's details ({} at `{}`): pass `{{{{ item }}}}` where the item is get-job-details' `output.jobDetails`",
                    e.inner(),
                    e.path()
                ),
            )
        })?;
        let Some(credentials) = details.data.artifact_credentials else {
            return Err(CallError::client(
                "InvalidInput",
                format!("job {}: its details carry no artifactCredentials", details.id),
            ));
        };
        if [&credentials.access_key_id, &credentials.secret_access_key, &credentials.session_token]
            .iter()
            .any(|part| part.as_str() == crate::secrets::MASK)
        {
            // The journal keeps outputs masked, so details replayed by `--resume` have none.
            return Err(CallError::client(
                "CredentialsUnavailable",
                format!(
                    "job {}: its artifact credentials are not in this run (handoff never journals them); \
                     a resumed run must get the job's details again",
                    details.id
                ),
            ));
        }
        let artifact = |shape: ArtifactShape| Artifact {
            name: shape.name,
            bucket: shape.location.s3_location.bucket_name,
            key: shape.location.s3_location.object_key,
            revision: shape.revision,
        };
        Ok(JobArtifacts {
            inputs: details.data.input_artifacts.into_iter().map(artifact).collect(),
            outputs: details.data.output_artifacts.into_iter().map(artifact).collect(),
            credentials: aws_credential_types::Credentials::new(
                credentials.access_key_id,
                credentials.secret_access_key,
                Some(credentials.session_token),
                None,
                "the job's artifactCredentials",
            ),
            kms_key: details.data.encryption_key.map(|k| k.id),
            job_id: details.id,
        })
    }

    /// The job's working directory under the run's: `<run workdir>/<job id>`.
    pub fn workdir(&self, run_workdir: &Path) -> PathBuf {
        run_workdir.join(safe_name(&self.job_id))
    }
}

/// A name usable as one path component: job ids are UUIDs, but nothing from a service is
/// trusted to be one.
pub fn safe_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' })
        .collect();
    match cleaned.trim_matches('.') {
        "" => "_".to_string(),
        _ => cleaned,
    }
}

/// Says which job and object an S3 error concerns, and what the likely cause is.
pub fn s3_context(mut error: CallError, job: &str, verb: &str, artifact: &Artifact) -> CallError {
    let hint = match error.code() {
        Some("ExpiredToken") => {
            " (the job's artifact credentials have expired: get the job's details again for fresh ones)"
        }
        Some("InvalidToken") | Some("InvalidAccessKeyId") | Some("SignatureDoesNotMatch") => {
            " (the job's artifact credentials were refused)"
        }
        Some("AccessDenied") => " (the job's credentials do not reach this object)",
        _ => "",
    };
    error.message =
        format!("job {job}: {verb} {} ({}): {}{hint}", artifact.name, artifact.url(), error.message);
    error
}

/// Runs blocking file work (zip, unzip) off the async workers.
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, crate::archive::ArchiveError> + Send + 'static,
) -> Result<T, CallError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(CallError::client("ArchiveError", error.to_string())),
        Err(join) => Err(CallError::client("ArchiveError", format!("the archive work failed: {join}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn details(credentials: Value) -> Value {
        json!({"id": "job-1", "nonce": "7", "data": {
            "inputArtifacts": [{"name": "Src", "revision": "abc", "location": {"type": "S3", "s3Location": {"bucketName": "b", "objectKey": "p/Src/x"}}}],
            "outputArtifacts": [{"name": "Out", "location": {"type": "S3", "s3Location": {"bucketName": "b", "objectKey": "p/Out/y"}}}],
            "artifactCredentials": credentials,
            "encryptionKey": {"id": "arn:aws:kms:us-east-1:1:key/k", "type": "KMS"},
        }})
    }

    #[test]
    fn reads_a_jobs_details_and_refuses_masked_credentials() {
        let job = JobArtifacts::from_details(&details(
            json!({"accessKeyId": "ASIA1", "secretAccessKey": "s", "sessionToken": "t"}),
        ))
        .unwrap();
        assert_eq!(job.job_id, "job-1");
        assert_eq!(job.inputs[0].url(), "s3://b/p/Src/x");
        assert_eq!(job.outputs[0].name, "Out");
        assert_eq!(job.kms_key.as_deref(), Some("arn:aws:kms:us-east-1:1:key/k"));
        let masked = JobArtifacts::from_details(&details(
            json!({"accessKeyId": crate::secrets::MASK, "secretAccessKey": crate::secrets::MASK, "sessionToken": crate::secrets::MASK}),
        ))
        .unwrap_err();
        assert_eq!(masked.code(), Some("CredentialsUnavailable"));
        let wrong = JobArtifacts::from_details(&json!({"jobId": "x"})).unwrap_err();
        assert!(wrong.message.contains("`job` is not a job's details"), "{}", wrong.message);
    }

    #[test]
    fn names_from_a_service_stay_one_path_component() {
        assert_eq!(safe_name("0c6ab1b2-8f4e"), "0c6ab1b2-8f4e");
        assert_eq!(safe_name("../../etc"), ".._.._etc");
        assert_eq!(safe_name(".."), "_");
        assert_eq!(safe_name("a/b"), "a_b");
    }
}
