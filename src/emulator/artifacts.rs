//! The pipeline's artifact bucket and who may touch what in it, as IAM would decide for the
//! temporary credentials CodePipeline hands a job worker: a job's credentials read that
//! job's input artifacts and write its output artifacts, nothing else, until they expire;
//! an output must be written with the artifact store's KMS key when the job names one (the
//! bucket policy CodePipeline creates denies unencrypted uploads). The account's own keys
//! reach everything, as an administrator's would.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use serde_json::{Value, json};
use sha2::Digest;

use super::codepipeline::{Job, JobStatus};

/// The largest object the emulator keeps (artifacts are zips of a deployment's sources).
pub const MAX_OBJECT: usize = 64 * 1024 * 1024;

/// One stored object.
#[derive(Debug, Clone)]
pub struct StoredObject {
    pub data: Bytes,
    /// The MD5 of the data, quoted, as S3 answers for a single-part upload.
    pub etag: String,
    /// The KMS key it was written with (SSE-KMS), if any.
    pub kms_key: Option<String>,
    /// The job whose credentials wrote it; `None` for the emulator's own inputs.
    pub written_by: Option<String>,
    pub last_modified: SystemTime,
}

/// Every object, by bucket and key.
#[derive(Debug, Default)]
pub struct Artifacts {
    buckets: std::collections::BTreeSet<String>,
    objects: BTreeMap<(String, String), StoredObject>,
}

impl Artifacts {
    pub fn create_bucket(&mut self, bucket: &str) {
        self.buckets.insert(bucket.to_string());
    }

    pub fn put(&mut self, bucket: &str, key: &str, data: Bytes, kms_key: Option<String>, by: Option<String>) {
        self.buckets.insert(bucket.to_string());
        let etag = format!("\"{}\"", hex::encode(md5(&data)));
        let object = StoredObject { data, etag, kms_key, written_by: by, last_modified: SystemTime::now() };
        self.objects.insert((bucket.to_string(), key.to_string()), object);
    }

    pub fn get(&self, bucket: &str, key: &str) -> Option<&StoredObject> {
        self.objects.get(&(bucket.to_string(), key.to_string()))
    }

    pub fn has_bucket(&self, bucket: &str) -> bool {
        self.buckets.contains(bucket)
    }

    /// Keys under `prefix` in `bucket`, in order.
    pub fn list(&self, bucket: &str, prefix: &str) -> Vec<(&str, &StoredObject)> {
        self.objects
            .iter()
            .filter(|((b, k), _)| b == bucket && k.starts_with(prefix))
            .map(|((_, k), o)| (k.as_str(), o))
            .collect()
    }

    /// Per job, the objects its credentials wrote: `/_handoff/summary`'s `outputs`.
    pub fn written(&self) -> Value {
        let mut by_job: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
        for ((bucket, key), object) in &self.objects {
            if let Some(job) = &object.written_by {
                by_job.entry(job).or_default().push(json!({
                    "bucket": bucket, "key": key, "bytes": object.data.len(), "kms_key": object.kms_key,
                }));
            }
        }
        json!(by_job)
    }
}

/// What a request wants to do with an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// Why a job's credentials were refused, as S3 names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// 400 ExpiredToken.
    Expired,
    /// 403 InvalidToken: the session token is missing or is not this key's.
    BadSessionToken,
    /// 403 AccessDenied: not this job's object, or an upload without the job's KMS key.
    Denied(String),
}

/// Whether `job`'s credentials, used with `session_token`, may do `access` on `bucket/key`
/// at `now`; `kms_key` is the key a write asks for.
pub fn authorize(
    job: &Job,
    access: Access,
    (bucket, key): (&str, &str),
    session_token: Option<&str>,
    kms_key: Option<&str>,
    (now, lifetime): (Instant, Duration),
) -> Result<(), Refusal> {
    let credentials = &job.artifact_credentials;
    if credentials.issued.is_some_and(|issued| now.duration_since(issued) >= lifetime) {
        return Err(Refusal::Expired);
    }
    if session_token != Some(credentials.session_token.as_str()) {
        return Err(Refusal::BadSessionToken);
    }
    let (allowed, what) = match access {
        Access::Read => (&job.input, "read"),
        Access::Write => (&job.output, "write"),
    };
    if allowed.bucket != bucket || allowed.key != key {
        return Err(Refusal::Denied(format!(
            "the credentials of job {} may not {what} s3://{bucket}/{key}",
            job.id
        )));
    }
    if access == Access::Write
        && let Some(required) = &job.encryption_key
        && kms_key != Some(required.as_str())
    {
        return Err(Refusal::Denied(format!(
            "the artifact bucket requires uploads encrypted with the job's KMS key ({required}); \
             this one asked for {}",
            kms_key.unwrap_or("none")
        )));
    }
    Ok(())
}

/// Whether a job in `status` has been acknowledged (for the ledger's upload entries).
pub fn acknowledged(status: JobStatus) -> bool {
    !matches!(status, JobStatus::Queued | JobStatus::Dispatched)
}

/// The input artifact the emulator makes for a job: a zip of a tiny application whose
/// content is the job's own (its pipeline, target and revision), so a test can tell from an
/// output which input it was made from.
pub fn input_archive(job: &Job) -> Vec<u8> {
    let revision = job.input.revision.clone().unwrap_or_default();
    let config = json!({
        "pipeline": job.pipeline_name,
        "target": job.configuration.get("Target"),
        "mode": job.configuration.get("Mode"),
        "revision": revision,
    });
    let files: [(&str, String); 3] = [
        ("README.md", format!("# {}\n\nSource revision {revision}.\n", job.pipeline_name)),
        ("app/config.json", format!("{config:#}\n")),
        ("app/VERSION", format!("{revision}\n")),
    ];
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().unix_permissions(0o644);
    for (name, text) in files {
        // Writing to memory cannot fail short of allocation failure.
        writer.start_file(name, options).expect("zip entry in memory");
        writer.write_all(text.as_bytes()).expect("zip entry in memory");
    }
    writer.finish().expect("zip in memory").into_inner()
}

fn md5(data: &[u8]) -> [u8; 16] {
    // S3's ETag is the MD5 of a single-part object; SHA-256 cut to 16 bytes would do for an
    // emulator, but clients compare ETags with Content-MD5 they computed.
    let digest = md5::Md5::digest(data);
    digest.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::fixtures::{Fixtures, Generate};
    use rand::SeedableRng;

    fn job() -> Job {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let mut fixtures = Fixtures::default();
        fixtures.generate(Generate { jobs: 2, ..Generate::default() }, &mut rng);
        let (mut jobs, _) = fixtures.build("123456789012", "bucket", &mut rng).unwrap();
        jobs.pop().unwrap().job
    }

    #[test]
    fn job_credentials_reach_only_the_jobs_objects_until_they_expire() {
        let mut job = job();
        let now = Instant::now();
        let life = (now, Duration::from_secs(60));
        let token = job.artifact_credentials.session_token.clone();
        let input = (job.input.bucket.clone(), job.input.key.clone());
        let output = (job.output.bucket.clone(), job.output.key.clone());
        let kms = job.encryption_key.clone();
        let read = |job: &Job, at, token: Option<&str>| {
            authorize(job, Access::Read, (&input.0, &input.1), token, None, at)
        };
        assert_eq!(read(&job, life, Some(&token)), Ok(()));
        assert_eq!(read(&job, life, None), Err(Refusal::BadSessionToken));
        assert!(matches!(
            authorize(&job, Access::Write, (&input.0, &input.1), Some(&token), kms.as_deref(), life),
            Err(Refusal::Denied(_))
        ));
        assert_eq!(
            authorize(&job, Access::Write, (&output.0, &output.1), Some(&token), kms.as_deref(), life),
            Ok(())
        );
        assert!(matches!(
            authorize(&job, Access::Write, (&output.0, &output.1), Some(&token), Some("other"), life),
            Err(Refusal::Denied(_))
        ));
        job.artifact_credentials.issued = Some(now);
        assert_eq!(
            read(&job, (now + Duration::from_secs(61), Duration::from_secs(60)), Some(&token)),
            Err(Refusal::Expired)
        );
    }

    #[test]
    fn generated_inputs_are_zips_that_name_their_job() {
        let job = job();
        let bytes = input_archive(&job);
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        let mut version = String::new();
        std::io::Read::read_to_string(&mut archive.by_name("app/VERSION").unwrap(), &mut version).unwrap();
        assert_eq!(version.trim(), job.input.revision.unwrap());
    }
}
