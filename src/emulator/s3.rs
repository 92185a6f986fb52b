//! The emulator's S3: the pipeline's artifact bucket on the emulator's own address, path
//! style (`aws --endpoint-url URL s3api get-object ...` works). The protocol (routing, XML,
//! SigV4 with session tokens, chunked uploads with trailing checksums) is the `s3s` crate's,
//! so the emulator agrees with S3 clients nobody here wrote; this file only decides what
//! each request may do (`artifacts::authorize`) and keeps the objects.
//! docs/decisions/0003-s3-in-the-emulator.md says why `s3s`.

use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use s3s::auth::{S3Auth, SecretKey};
use s3s::dto::{
    ETag, GetObjectInput, GetObjectOutput, HeadObjectInput, HeadObjectOutput, ListObjectsV2Input,
    ListObjectsV2Output, Object, PutObjectInput, PutObjectOutput, ServerSideEncryption, StreamingBlob,
};
use s3s::{S3, S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};

use super::artifacts::{self, Access, MAX_OBJECT, Refusal};
use super::ledger::Change;
use super::server::Shared;

/// Who signed a request.
enum Principal {
    /// The account's own keys: everything.
    Account(String),
    /// A job's artifact credentials: that job's objects only.
    Job(String),
}

/// The `s3s` service over the emulator's shared state.
pub fn service(shared: Arc<Shared>) -> s3s::service::S3Service {
    let mut builder = s3s::service::S3ServiceBuilder::new(ArtifactBucket { shared: shared.clone() });
    builder.set_auth(Keys { shared });
    builder.build()
}

/// Secret keys for SigV4: the account's, and every job's artifact credentials.
struct Keys {
    shared: Arc<Shared>,
}

#[async_trait::async_trait]
impl S3Auth for Keys {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        if let Some(credential) = self.shared.credentials.iter().find(|c| c.access_key_id == access_key) {
            return Ok(SecretKey::from(credential.secret_access_key.as_str()));
        }
        let world = self.shared.world();
        match world.jobs.by_access_key(access_key) {
            Some(job) => Ok(SecretKey::from(job.artifact_credentials.secret_access_key.as_str())),
            None => Err(s3_error!(
                InvalidAccessKeyId,
                "The AWS Access Key Id you provided does not exist in our records."
            )),
        }
    }
}

struct ArtifactBucket {
    shared: Arc<Shared>,
}

impl ArtifactBucket {
    fn principal<T>(&self, request: &S3Request<T>) -> S3Result<Principal> {
        let Some(credentials) = &request.credentials else {
            return Err(s3_error!(AccessDenied, "Anonymous access is not allowed"));
        };
        let key = credentials.access_key.as_str();
        if let Some(credential) = self.shared.credentials.iter().find(|c| c.access_key_id == key) {
            return Ok(Principal::Account(credential.account.clone()));
        }
        let world = self.shared.world();
        let job = world.jobs.by_access_key(key).ok_or_else(|| s3_error!(InvalidAccessKeyId))?;
        Ok(Principal::Job(job.id.clone()))
    }

    /// Refuses what the job's credentials may not do; the account may do anything.
    fn authorize<T>(
        &self,
        request: &S3Request<T>,
        access: Access,
        object: (&str, &str),
        kms_key: Option<&str>,
    ) -> S3Result<Principal> {
        let principal = self.principal(request)?;
        let Principal::Job(job_id) = &principal else { return Ok(principal) };
        let session = request.headers.get("x-amz-security-token").and_then(|v| v.to_str().ok());
        let world = self.shared.world();
        let lifetime = world.settings.credential_lifetime;
        let job = world.jobs.all().iter().find(|j| &j.id == job_id).ok_or_else(|| s3_error!(AccessDenied))?;
        match artifacts::authorize(job, access, object, session, kms_key, (Instant::now(), lifetime)) {
            Ok(()) => Ok(principal),
            Err(Refusal::Expired) => Err(s3_error!(ExpiredToken, "The provided token has expired.")),
            Err(Refusal::BadSessionToken) => {
                Err(s3_error!(InvalidToken, "The provided token is malformed or otherwise invalid."))
            }
            Err(Refusal::Denied(why)) => {
                Err(S3Error::with_message(S3ErrorCode::AccessDenied, format!("Access Denied: {why}")))
            }
        }
    }

    fn count(&self, operation: &'static str) {
        *self.shared.world().ledger.requests.entry(operation).or_default() += 1;
    }
}

#[async_trait::async_trait]
impl S3 for ArtifactBucket {
    async fn get_object(&self, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
        self.count("S3.GetObject");
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        self.authorize(&req, Access::Read, (&bucket, &key), None)?;
        let object = self.object(&bucket, &key)?;
        let output = GetObjectOutput {
            content_length: Some(object.data.len() as i64),
            e_tag: Some(ETag::Strong(object.etag.trim_matches('"').to_string())),
            last_modified: Some(object.last_modified.into()),
            server_side_encryption: object
                .kms_key
                .as_ref()
                .map(|_| ServerSideEncryption::from_static("aws:kms")),
            ssekms_key_id: object.kms_key.clone(),
            body: Some(StreamingBlob::from(s3s::Body::from(object.data))),
            ..GetObjectOutput::default()
        };
        Ok(S3Response::new(output))
    }

    async fn head_object(&self, req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
        self.count("S3.HeadObject");
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        self.authorize(&req, Access::Read, (&bucket, &key), None)?;
        let object = self.object(&bucket, &key)?;
        Ok(S3Response::new(HeadObjectOutput {
            content_length: Some(object.data.len() as i64),
            e_tag: Some(ETag::Strong(object.etag.trim_matches('"').to_string())),
            last_modified: Some(object.last_modified.into()),
            ..HeadObjectOutput::default()
        }))
    }

    async fn put_object(&self, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        self.count("S3.PutObject");
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        let sse = req.input.server_side_encryption.as_ref().map(|s| s.as_str().to_string());
        let kms_key = match sse.as_deref() {
            Some("aws:kms") => req.input.ssekms_key_id.clone(),
            _ => None,
        };
        let principal = self.authorize(&req, Access::Write, (&bucket, &key), kms_key.as_deref())?;
        let Some(mut body) = req.input.body else {
            return Err(s3_error!(MissingRequestBodyError, "Request Body is empty"));
        };
        let mut data = BytesMut::new();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| s3_error!(IncompleteBody, "The request body ended early: {e}"))?;
            if data.len() + chunk.len() > MAX_OBJECT {
                return Err(s3_error!(
                    EntityTooLarge,
                    "Your proposed upload exceeds the maximum allowed size"
                ));
            }
            data.extend_from_slice(&chunk);
        }
        let data: Bytes = data.freeze();
        let mut world = self.shared.world();
        if !world.artifacts.has_bucket(&bucket) {
            return Err(s3_error!(NoSuchBucket, "The specified bucket does not exist"));
        }
        let (job, status) = match &principal {
            Principal::Job(id) => {
                let status = world.jobs.all().iter().find(|j| &j.id == id).map(|j| j.status);
                (Some(id.clone()), status)
            }
            Principal::Account(_) => (None, None),
        };
        let bytes = data.len();
        world.artifacts.put(&bucket, &key, data, kms_key.clone(), job.clone());
        let etag = world.artifacts.get(&bucket, &key).map(|o| o.etag.clone()).unwrap_or_default();
        let account = match &principal {
            Principal::Account(account) => account.clone(),
            Principal::Job(_) => super::DEFAULT_ACCOUNT.to_string(),
        };
        let change = Change::ArtifactWritten {
            job,
            bucket: bucket.clone(),
            key: key.clone(),
            bytes,
            kms_key: kms_key.clone(),
            job_acknowledged: status.map(artifacts::acknowledged),
        };
        world.ledger.record((&account, None), "S3.PutObject", "", change);
        Ok(S3Response::new(PutObjectOutput {
            e_tag: Some(ETag::Strong(etag.trim_matches('"').to_string())),
            server_side_encryption: kms_key.as_ref().map(|_| ServerSideEncryption::from_static("aws:kms")),
            ssekms_key_id: kms_key,
            ..PutObjectOutput::default()
        }))
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        self.count("S3.ListObjectsV2");
        // Job credentials carry no s3:ListBucket, as CodePipeline's do not.
        if let Principal::Job(_) = self.principal(&req)? {
            return Err(s3_error!(AccessDenied, "Access Denied"));
        }
        let bucket = req.input.bucket.clone();
        let prefix = req.input.prefix.clone().unwrap_or_default();
        let world = self.shared.world();
        if !world.artifacts.has_bucket(&bucket) {
            return Err(s3_error!(NoSuchBucket, "The specified bucket does not exist"));
        }
        let contents: Vec<Object> = world
            .artifacts
            .list(&bucket, &prefix)
            .into_iter()
            .map(|(key, object)| Object {
                key: Some(key.to_string()),
                size: Some(object.data.len() as i64),
                e_tag: Some(ETag::Strong(object.etag.trim_matches('"').to_string())),
                last_modified: Some(object.last_modified.into()),
                ..Object::default()
            })
            .collect();
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(bucket),
            prefix: Some(prefix),
            key_count: Some(contents.len() as i32),
            is_truncated: Some(false),
            contents: Some(contents),
            ..ListObjectsV2Output::default()
        }))
    }
}

impl ArtifactBucket {
    fn object(&self, bucket: &str, key: &str) -> S3Result<artifacts::StoredObject> {
        let world = self.shared.world();
        if !world.artifacts.has_bucket(bucket) {
            return Err(s3_error!(NoSuchBucket, "The specified bucket does not exist"));
        }
        world
            .artifacts
            .get(bucket, key)
            .cloned()
            .ok_or_else(|| s3_error!(NoSuchKey, "The specified key does not exist."))
    }
}
