//! Conformance: the real AWS CLI (botocore, a client nobody here wrote) drives `handoff
//! emulator` through every operation, including the error cases, and we assert its output
//! and exit code. Where the CLI and the emulator disagree, the emulator is wrong.
//!
//! `scripts/test` installs the AWS CLI with pip; this test fails (it does not skip) when the
//! `aws` command is missing.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use crate::helpers::{EmulatorProcess, crate_dir};

/// The emulator with an AWS CLI configuration beside it.
struct CliEmulator {
    emulator: EmulatorProcess,
    url: String,
    _config_dir: tempfile::TempDir,
    aws_config: PathBuf,
}

impl CliEmulator {
    fn start(args: &[&str]) -> Self {
        let emulator = EmulatorProcess::start(args);
        // Client-side validation off, so the emulator's own checks are what answers.
        let config_dir = tempfile::tempdir().expect("temporary directory");
        let aws_config = config_dir.path().join("config");
        std::fs::write(&aws_config, "[default]\nparameter_validation = false\n").expect("aws config");
        Self { url: emulator.url.clone(), emulator, _config_dir: config_dir, aws_config }
    }

    /// Runs `aws --endpoint-url URL ARGS...` with the emulator's credentials.
    fn aws(&self, args: &[&str]) -> AwsOutput {
        self.aws_with(args, &[])
    }

    fn aws_with(&self, args: &[&str], env: &[(&str, &str)]) -> AwsOutput {
        let mut command = Command::new("aws");
        command
            .args(["--endpoint-url", &self.url, "--output", "json"])
            .args(args)
            .env("AWS_ACCESS_KEY_ID", "AKIAHANDOFFEMULATOR1")
            .env("AWS_SECRET_ACCESS_KEY", "handoff-emulator-secret")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_CONFIG_FILE", &self.aws_config)
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_MAX_ATTEMPTS", "1")
            .env("AWS_RETRY_MODE", "standard")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_SESSION_TOKEN");
        for (key, value) in env {
            command.env(key, value);
        }
        let output = command.output().expect("the aws command runs (scripts/test installs it)");
        AwsOutput {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    fn summary(&self) -> Value {
        self.emulator.summary()
    }
}

#[derive(Debug)]
struct AwsOutput {
    code: i32,
    stdout: String,
    stderr: String,
}

impl AwsOutput {
    fn ok(&self) -> Value {
        assert_eq!(self.code, 0, "stderr: {}", self.stderr);
        if self.stdout.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&self.stdout).expect("JSON")
        }
    }

    /// The CLI's error line, asserted exactly, with its exit code (255 for service errors).
    fn error(&self, code: &str, operation: &str, message: &str) {
        assert_eq!(self.code, 255, "stdout: {}\nstderr: {}", self.stdout, self.stderr);
        // With AWS_MAX_ATTEMPTS=1 the CLI says how many retries it made: none.
        let expected = format!(
            "An error occurred ({code}) when calling the {operation} operation (reached max retries: 0): {message}"
        );
        assert_eq!(self.stderr.trim(), expected);
    }
}

fn fixtures() -> String {
    crate_dir().join("tests/fixtures/emulator/conformance.yaml").display().to_string()
}

const JOB1: &str = "00000000-0000-4000-8000-000000000001";
const JOB2: &str = "00000000-0000-4000-8000-000000000002";
const TOKEN: &str = "conformance-client-token";
const ACTION: &str = "category=Deploy,owner=ThirdParty,provider=AcmeDeploy,version=1";

#[test]
fn codepipeline_job_worker_operations_and_errors() {
    let emulator = CliEmulator::start(&["--fixtures", &fixtures()]);
    let polled = emulator
        .aws(&[
            "codepipeline",
            "poll-for-third-party-jobs",
            "--action-type-id",
            ACTION,
            "--max-batch-size",
            "5",
        ])
        .ok();
    let ids: Vec<&str> =
        polled["jobs"].as_array().unwrap().iter().map(|j| j["jobId"].as_str().unwrap()).collect();
    assert_eq!(ids, [JOB1, JOB2]);
    assert_eq!(polled["jobs"][0]["clientId"], "11111111-2222-4333-8444-555555555555");

    emulator
        .aws(&[
            "codepipeline",
            "poll-for-third-party-jobs",
            "--action-type-id",
            "category=Build,owner=ThirdParty,provider=Nope,version=1",
        ])
        .error(
            "ActionTypeNotFoundException",
            "PollForThirdPartyJobs",
            "The action type Build/ThirdParty/Nope/1 was not found",
        );

    emulator
        .aws(&[
            "codepipeline",
            "get-third-party-job-details",
            "--job-id",
            JOB1,
            "--client-token",
            "wrong-token",
        ])
        .error(
            "InvalidClientTokenException",
            "GetThirdPartyJobDetails",
            "The client token was specified in an invalid format",
        );
    let details = emulator
        .aws(&["codepipeline", "get-third-party-job-details", "--job-id", JOB1, "--client-token", TOKEN])
        .ok();
    assert_eq!(details["jobDetails"]["id"], JOB1);
    assert_eq!(details["jobDetails"]["nonce"], "1001");
    assert_eq!(details["jobDetails"]["data"]["actionConfiguration"]["configuration"]["Mode"], "deploy");
    let credentials = &details["jobDetails"]["data"]["artifactCredentials"];
    assert!(credentials["accessKeyId"].as_str().unwrap().starts_with("ASIA"));
    assert_eq!(credentials["secretAccessKey"].as_str().unwrap().len(), 40);

    let ack = |job: &str, nonce: &str, token: &str| {
        emulator.aws(&[
            "codepipeline",
            "acknowledge-third-party-job",
            "--job-id",
            job,
            "--nonce",
            nonce,
            "--client-token",
            token,
        ])
    };
    ack(JOB1, "9999", TOKEN).error(
        "InvalidNonceException",
        "AcknowledgeThirdPartyJob",
        "The nonce was specified in an invalid format",
    );
    ack(JOB1, "1001", "wrong").error(
        "InvalidClientTokenException",
        "AcknowledgeThirdPartyJob",
        "The client token was specified in an invalid format",
    );
    ack("no-such-job", "1", TOKEN).error(
        "JobNotFoundException",
        "AcknowledgeThirdPartyJob",
        "The job no-such-job was not found",
    );
    // Client-side validation is off: the emulator itself refuses the empty nonce.
    ack(JOB1, "", TOKEN).error(
        "ValidationException",
        "AcknowledgeThirdPartyJob",
        "1 validation error detected: Value '' at 'nonce' failed to satisfy constraint: Member must have length greater than or equal to 1",
    );
    assert_eq!(ack(JOB1, "1001", TOKEN).ok(), serde_json::json!({"status": "InProgress"}));
    // Acknowledging again (a retry after a lost answer) changes nothing and still answers.
    assert_eq!(ack(JOB1, "1001", TOKEN).ok(), serde_json::json!({"status": "InProgress"}));

    let success = |job: &str| {
        emulator.aws(&[
            "codepipeline",
            "put-third-party-job-success-result",
            "--job-id",
            job,
            "--client-token",
            TOKEN,
            "--execution-details",
            "summary=done,externalExecutionId=x-1,percentComplete=100",
            "--current-revision",
            "revision=abc,changeIdentifier=1",
        ])
    };
    success(JOB2).error(
        "InvalidJobStateException",
        "PutThirdPartyJobSuccessResult",
        &format!("The job {JOB2} is Dispatched, not InProgress"),
    );
    assert_eq!(success(JOB1).ok(), Value::Null);
    success(JOB1).error(
        "InvalidJobStateException",
        "PutThirdPartyJobSuccessResult",
        &format!("The job {JOB1} is Succeeded, not InProgress"),
    );

    assert_eq!(ack(JOB2, "1002", TOKEN).ok()["status"], "InProgress");
    let failure = emulator.aws(&[
        "codepipeline",
        "put-third-party-job-failure-result",
        "--job-id",
        JOB2,
        "--client-token",
        TOKEN,
        "--failure-details",
        "type=JobFailed,message=boom",
    ]);
    assert_eq!(failure.ok(), Value::Null);
    emulator
        .aws(&["codepipeline", "put-third-party-job-failure-result", "--job-id", JOB2, "--client-token", TOKEN, "--failure-details", "type=Nope,message=boom"])
        .error(
            "ValidationException",
            "PutThirdPartyJobFailureResult",
            "1 validation error detected: Value 'Nope' at 'failureDetails.type' failed to satisfy constraint: Member must satisfy enum value set: [JobFailed, ConfigurationError, PermissionError, RevisionOutOfSync, RevisionUnavailable, SystemUnavailable]",
        );

    let summary = emulator.summary();
    assert_eq!(summary["jobs"], serde_json::json!({"Succeeded": 1, "Failed": 1}));
    assert_eq!(summary["duplicates"]["jobs_moved_twice"], serde_json::json!([]));
}

#[test]
fn partner_central_invitation_operations_and_errors() {
    let emulator =
        CliEmulator::start(&["--fixtures", &fixtures(), "--task-delay", "300ms", "--quota", "off"]);
    let list = |extra: &[&str]| {
        let mut args = vec![
            "partnercentral-selling",
            "list-engagement-invitations",
            "--catalog",
            "AWS",
            "--participant-type",
            "RECEIVER",
        ];
        args.extend_from_slice(extra);
        emulator.aws(&args).ok()
    };
    // The CLI follows NextToken by itself: two per page, five in all.
    let all = list(&["--page-size", "2"]);
    let ids: Vec<&str> = all["EngagementInvitationSummaries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["Id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "engi-0000000000001",
            "engi-0000000000002",
            "engi-0000000000003",
            "engi-0000000000004",
            "engi-0000000000005"
        ]
    );
    let pending = list(&["--status", "PENDING"]);
    assert_eq!(pending["EngagementInvitationSummaries"].as_array().unwrap().len(), 2);
    let newest_first = list(&["--sort", "SortOrder=DESCENDING,SortBy=InvitationDate", "--max-items", "1"]);
    assert_eq!(newest_first["EngagementInvitationSummaries"][0]["Id"], "engi-0000000000005");

    let got = emulator
        .aws(&[
            "partnercentral-selling",
            "get-engagement-invitation",
            "--catalog",
            "AWS",
            "--identifier",
            "engi-0000000000003",
        ])
        .ok();
    assert_eq!(got["Status"], "EXPIRED");
    assert_eq!(got["EngagementTitle"], "Third");
    emulator
        .aws(&[
            "partnercentral-selling",
            "get-engagement-invitation",
            "--catalog",
            "AWS",
            "--identifier",
            "engi-9999999999999",
        ])
        .error(
            "ResourceNotFoundException",
            "GetEngagementInvitation",
            "Engagement invitation engi-9999999999999 was not found in catalog AWS",
        );

    let accept = |id: &str, token: &str| {
        emulator.aws(&[
            "partnercentral-selling",
            "start-engagement-by-accepting-invitation-task",
            "--catalog",
            "AWS",
            "--identifier",
            id,
            "--client-token",
            token,
        ])
    };
    let started = accept("engi-0000000000001", "token-1").ok();
    assert_eq!(started["TaskStatus"], "IN_PROGRESS");
    assert_eq!(started["EngagementInvitationId"], "engi-0000000000001");
    let task = started["TaskId"].as_str().unwrap().to_string();
    assert!(task.starts_with("task-") && task.len() == 18, "{task}");
    // The same token and input: the same task, not a second one.
    assert_eq!(accept("engi-0000000000001", "token-1").ok()["TaskId"], task.as_str());
    accept("engi-0000000000001", "token-2").error(
        "ConflictException",
        "StartEngagementByAcceptingInvitationTask",
        &format!("Engagement invitation engi-0000000000001 is already being accepted by task {task}"),
    );
    accept("engi-0000000000004", "token-4").error(
        "ConflictException",
        "StartEngagementByAcceptingInvitationTask",
        "Engagement invitation engi-0000000000004 has already been accepted",
    );
    accept("engi-123", "token-x").error(
        "ValidationException",
        "StartEngagementByAcceptingInvitationTask",
        "1 validation error detected: Value 'engi-123' at 'Identifier' failed to satisfy constraint: Member must satisfy regular expression pattern: (arn:.*|engi-[0-9a-z]{13})",
    );
    let expired_task = accept("engi-0000000000003", "token-3").ok()["TaskId"].as_str().unwrap().to_string();

    std::thread::sleep(std::time::Duration::from_millis(400));
    let tasks = emulator
        .aws(&[
            "partnercentral-selling",
            "list-engagement-by-accepting-invitation-tasks",
            "--catalog",
            "AWS",
            "--task-identifier",
            &task,
            &expired_task,
        ])
        .ok();
    let summaries = tasks["TaskSummaries"].as_array().unwrap();
    assert_eq!(summaries.len(), 2);
    assert_eq!(summaries[0]["TaskStatus"], "COMPLETE");
    assert!(summaries[0]["OpportunityId"].as_str().unwrap().starts_with('O'));
    assert_eq!(summaries[1]["TaskStatus"], "FAILED");
    assert_eq!(summaries[1]["ReasonCode"], "InvitationValidationFailed");
    let accepted = list(&["--status", "ACCEPTED"]);
    assert_eq!(accepted["EngagementInvitationSummaries"].as_array().unwrap().len(), 2);

    let summary = emulator.summary();
    assert_eq!(summary["tasks"], serde_json::json!({"COMPLETE": 1, "FAILED": 1}));
    assert_eq!(summary["duplicates"]["invitations_with_several_tasks"], serde_json::json!([]));
}

#[test]
fn signatures_are_verified() {
    let emulator = CliEmulator::start(&[]);
    let poll = ["codepipeline", "poll-for-third-party-jobs", "--action-type-id", ACTION];
    emulator.aws_with(&poll, &[("AWS_SECRET_ACCESS_KEY", "not-the-secret")]).error(
        "InvalidSignatureException",
        "PollForThirdPartyJobs",
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
    );
    emulator.aws_with(&poll, &[("AWS_ACCESS_KEY_ID", "AKIAUNKNOWN000000000")]).error(
        "UnrecognizedClientException",
        "PollForThirdPartyJobs",
        "The security token included in the request is invalid.",
    );
    emulator.aws_with(&poll, &[("AWS_DEFAULT_REGION", "eu-west-1")]).error(
        "InvalidSignatureException",
        "PollForThirdPartyJobs",
        "Credential should be scoped to a valid region, not 'eu-west-1'. The emulator's region is 'us-east-1'.",
    );
    assert_eq!(emulator.aws(&poll).ok(), serde_json::json!({"jobs": []}));
    assert_eq!(emulator.summary()["rejected_signatures"], 3);
}

#[test]
fn the_accept_quota_throttles() {
    let emulator = CliEmulator::start(&["--fixtures", &fixtures(), "--quota", "accept=1/m"]);
    let accept = |id: &str| {
        emulator.aws(&[
            "partnercentral-selling",
            "start-engagement-by-accepting-invitation-task",
            "--catalog",
            "AWS",
            "--identifier",
            id,
        ])
    };
    assert_eq!(accept("engi-0000000000001").ok()["TaskStatus"], "IN_PROGRESS");
    accept("engi-0000000000002").error(
        "ThrottlingException",
        "StartEngagementByAcceptingInvitationTask",
        "Rate exceeded",
    );
    assert_eq!(emulator.summary()["throttled_by_quota"], 1);
}

/// A third signer (curl's) and a request no SDK would send: an unknown operation.
#[test]
fn unknown_operations_get_unknown_operation_exception() {
    let emulator = CliEmulator::start(&[]);
    let output = Command::new("curl")
        .args([
            "-s",
            "-i",
            "--aws-sigv4",
            "aws:amz:us-east-1:partnercentral-selling",
            "--user",
            "AKIAHANDOFFEMULATOR1:handoff-emulator-secret",
            "-H",
            "X-Amz-Target: AWSPartnerCentralSelling.DeleteEverything",
            "-H",
            "Content-Type: application/x-amz-json-1.0",
            "-d",
            "{}",
            &emulator.url,
        ])
        .output()
        .expect("curl runs");
    let text = String::from_utf8_lossy(&output.stdout).to_lowercase();
    assert!(text.starts_with("http/1.1 400"), "{text}");
    assert!(text.contains("x-amzn-errortype: unknownoperationexception"), "{text}");
    assert!(text.contains("x-amzn-requestid: "), "{text}");
}

/// The emulator's S3 agrees with botocore: the artifact credentials a details call hands
/// out read that job's input artifact (a zip of the job's own source) and write its output,
/// and are refused for another job's object and without their session token.
#[test]
fn artifact_credentials_reach_their_jobs_objects_and_no_others() {
    let emulator = CliEmulator::start(&["--fixtures", &fixtures()]);
    let details = |job: &str| {
        emulator
            .aws(&["codepipeline", "get-third-party-job-details", "--job-id", job, "--client-token", TOKEN])
            .ok()["jobDetails"]["data"]
            .clone()
    };
    let (data, other) = (details(JOB1), details(JOB2));
    let credentials = &data["artifactCredentials"];
    let env = [
        ("AWS_ACCESS_KEY_ID", credentials["accessKeyId"].as_str().unwrap()),
        ("AWS_SECRET_ACCESS_KEY", credentials["secretAccessKey"].as_str().unwrap()),
        ("AWS_SESSION_TOKEN", credentials["sessionToken"].as_str().unwrap()),
    ];
    let location = |data: &Value, which: &str| {
        let s3 = &data[which][0]["location"]["s3Location"];
        (s3["bucketName"].as_str().unwrap().to_string(), s3["objectKey"].as_str().unwrap().to_string())
    };
    let (bucket, key) = location(&data, "inputArtifacts");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("input.zip");
    let got = emulator
        .aws_with(
            &["s3api", "get-object", "--bucket", &bucket, "--key", &key, &file.display().to_string()],
            &env,
        )
        .ok();
    let bytes = std::fs::read(&file).unwrap();
    assert_eq!(got["ContentLength"], bytes.len());
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("the input artifact is a zip");
    let mut version = String::new();
    std::io::Read::read_to_string(&mut archive.by_name("app/VERSION").unwrap(), &mut version).unwrap();
    assert_eq!(version.trim(), data["inputArtifacts"][0]["revision"].as_str().unwrap());

    let (other_bucket, other_key) = location(&other, "inputArtifacts");
    emulator
        .aws_with(&["s3api", "get-object", "--bucket", &other_bucket, "--key", &other_key, "/dev/null"], &env)
        .error(
            "AccessDenied",
            "GetObject",
            &format!(
                "Access Denied: the credentials of job {JOB1} may not read s3://{other_bucket}/{other_key}"
            ),
        );
    emulator
        .aws_with(&["s3api", "get-object", "--bucket", &bucket, "--key", &key, "/dev/null"], &env[..2])
        .error("InvalidToken", "GetObject", "The provided token is malformed or otherwise invalid.");

    let (out_bucket, out_key) = location(&data, "outputArtifacts");
    let body = dir.path().join("output.zip");
    std::fs::write(&body, b"PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0").unwrap();
    let put = emulator
        .aws_with(
            &[
                "s3api",
                "put-object",
                "--bucket",
                &out_bucket,
                "--key",
                &out_key,
                "--body",
                &body.display().to_string(),
            ],
            &env,
        )
        .ok();
    assert!(put["ETag"].as_str().is_some_and(|e| e.len() == 34), "{put}");
    emulator
        .aws_with(
            &[
                "s3api",
                "put-object",
                "--bucket",
                &bucket,
                "--key",
                &key,
                "--body",
                &body.display().to_string(),
            ],
            &env,
        )
        .error(
            "AccessDenied",
            "PutObject",
            &format!("Access Denied: the credentials of job {JOB1} may not write s3://{bucket}/{key}"),
        );
    let summary = emulator.summary();
    assert_eq!(summary["outputs"][JOB1][0]["key"], out_key.as_str(), "{summary}");
}

/// Drops nulls, so the SDK path's output (every member, absent ones null) compares with the
/// CLI's (absent members left out).
fn without_nulls(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), without_nulls(v))).collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

/// GetEngagementInvitation and RejectEngagementInvitation through botocore, and the SDK path
/// (`get-invitation`) reading the same invitation: the same payload.
#[test]
fn invitation_details_and_rejection_agree_with_the_sdk_path() {
    // Quotas off: three writes within a second would meet the 1/s write quota first.
    let emulator = CliEmulator::start(&["--fixtures", &fixtures(), "--quota", "off"]);
    let got = emulator
        .aws(&[
            "partnercentral-selling",
            "get-engagement-invitation",
            "--catalog",
            "AWS",
            "--identifier",
            "engi-0000000000001",
        ])
        .ok();
    assert_eq!(got["Status"], "PENDING");
    assert!(got["Payload"]["OpportunityInvitation"]["Customer"]["CompanyName"].is_string(), "{got}");
    assert!(
        got["Payload"]["OpportunityInvitation"]["Project"]["ExpectedCustomerSpend"][0]["Amount"].is_string(),
        "{got}"
    );

    let test = crate::helpers::Test::new()
        .file("get.yaml", "version: 1\nname: get\nsteps:\n  - id: get\n    get-invitation: { catalog: AWS, identifier: engi-0000000000001 }\n")
        .aws_env(&emulator.emulator);
    let report = test.path().join("r.json");
    let output = test
        .command()
        .args(["run", "get.yaml", "--endpoint-url", &emulator.url, "--report"])
        .arg(&report)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let rows: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let sdk = &rows[0]["output"];
    for key in [
        "Payload",
        "Id",
        "Status",
        "InvitationDate",
        "ExpirationDate",
        "SenderCompanyName",
        "EngagementTitle",
        "Arn",
    ] {
        assert_eq!(without_nulls(&sdk[key]), got[key], "{key}");
    }

    emulator
        .aws(&[
            "partnercentral-selling",
            "reject-engagement-invitation",
            "--catalog",
            "AWS",
            "--identifier",
            "engi-0000000000001",
            "--rejection-reason",
            "Unable to support",
        ])
        .ok();
    let got = emulator
        .aws(&[
            "partnercentral-selling",
            "get-engagement-invitation",
            "--catalog",
            "AWS",
            "--identifier",
            "engi-0000000000001",
        ])
        .ok();
    assert_eq!(
        (got["Status"].as_str(), got["RejectionReason"].as_str()),
        (Some("REJECTED"), Some("Unable to support"))
    );
    emulator
        .aws(&[
            "partnercentral-selling",
            "reject-engagement-invitation",
            "--catalog",
            "AWS",
            "--identifier",
            "engi-0000000000004",
        ])
        .error(
            "ConflictException",
            "RejectEngagementInvitation",
            "Engagement invitation engi-0000000000004 cannot be rejected: it is ACCEPTED",
        );
    emulator
        .aws(&["partnercentral-selling", "reject-engagement-invitation", "--catalog", "AWS", "--identifier", "engi-0000000000002", "--rejection-reason", &"x".repeat(81)])
        .error("ValidationException", "RejectEngagementInvitation", &format!("1 validation error detected: Value '{}' at 'RejectionReason' failed to satisfy constraint: Member must have length less than or equal to 80", "x".repeat(81)));
}
