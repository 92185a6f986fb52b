//! CodePipeline artifacts and long-running jobs, end to end: the example workers run as a
//! user ships them against the emulator's S3 (the `s3s` protocol, SigV4 with session
//! tokens), with each job's own temporary credentials; the test reads the outputs back over
//! S3 with aws-sdk-s3 and checks them against the inputs they were made from.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use zip::write::SimpleFileOptions;

use crate::helpers::{EmulatorProcess, Output, Test, crate_dir};

const CLIENT_TOKEN: &str = "handoff-emulator-client-token";

/// Runs handoff in the test's directory and keeps the directory for the assertions.
fn run(test: &Test, args: &[&str]) -> Output {
    let output = test.command().args(args).output().expect("handoff runs");
    Output {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// An object of the emulator's bucket, read over S3 with the account's own keys.
fn read_object(url: &str, bucket: &str, key: &str) -> Option<Vec<u8>> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let credentials = aws_credential_types::Credentials::new(
            "AKIAHANDOFFEMULATOR1",
            "handoff-emulator-secret",
            None,
            None,
            "test",
        );
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .credentials_provider(credentials)
            .endpoint_url(url)
            .force_path_style(true)
            .build();
        let client = aws_sdk_s3::Client::from_conf(config);
        let object = client.get_object().bucket(bucket).key(key).send().await.ok()?;
        Some(object.body.collect().await.ok()?.into_bytes().to_vec())
    })
}

/// The files of a zip, by name.
fn unzip(bytes: &[u8]) -> BTreeMap<String, String> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a zip");
    let mut files = BTreeMap::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).unwrap();
        if entry.is_dir() {
            continue;
        }
        let mut text = String::new();
        entry.read_to_string(&mut text).unwrap();
        files.insert(entry.name().unwrap().into_owned(), text);
    }
    files
}

fn sha256(text: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

/// Every artifact credential the emulator handed out (all three parts of each).
fn credential_parts(emulator: &EmulatorProcess) -> Vec<String> {
    let credentials = emulator.get("credentials");
    let mut parts = Vec::new();
    for c in credentials.as_array().unwrap() {
        for key in ["accessKeyId", "secretAccessKey", "sessionToken"] {
            parts.push(c[key].as_str().unwrap().to_string());
        }
    }
    parts
}

/// Every file under `dir`, as bytes, for a search.
fn all_bytes(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return found };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(all_bytes(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            found.push((path.display().to_string(), bytes));
        }
    }
    found
}

/// The shipped example worker (examples/job-worker.yaml and its script, unchanged) works 50
/// jobs under throttling, 5xx and dropped connections, with the default retries, polling
/// as a worker (`--every`): every job Succeeded or Failed once as its configuration says,
/// each output in S3 holds what the script made from that job's own input, no upload came
/// before the job was acknowledged or without the job's KMS key, and none of the 150
/// credential parts shows in the output, the report or the journal.
#[test]
fn fifty_jobs_under_faults_download_deploy_upload_and_report_the_truth() {
    let emulator = EmulatorProcess::start(&[
        "--generate",
        "jobs=50,failing=20%",
        // No drop_after: a poll answer lost after it was applied strands its jobs Dispatched
        // (real CodePipeline's re-dispatch is not documented); the exec tests cover that case.
        "--faults",
        "throttle=0.1,error=0.05,drop=0.03",
        "--seed",
        "13",
    ]);
    let test = Test::new().aws_env(&emulator).env("PARTNER_CLIENT_TOKEN", CLIENT_TOKEN);
    let deployments = test.path().join("deployments");
    let playbook = crate_dir().join("examples/job-worker.yaml");
    let report = test.path().join("report.json");
    let output = run(
        &test,
        &[
            "run",
            &playbook.display().to_string(),
            "--endpoint-url",
            &emulator.url,
            "--var",
            &format!("deploy_root={}", deployments.display()),
            "--every",
            "1s",
            "--max-runs",
            "7",
            "--progress",
            "plain",
            "--report",
            &report.display().to_string(),
        ],
    );
    assert!(output.code == 0, "exit {}:\n{}", output.code, output.stderr);
    let summary = emulator.summary();
    assert_eq!(summary["jobs"], json!({"Succeeded": 40, "Failed": 10}), "{}\n{summary}", output.stderr);
    assert_eq!(summary["executions"], json!({"Succeeded": 40, "Failed": 10}), "{summary}");
    assert_eq!(summary["duplicates"]["jobs_moved_twice"], json!([]), "{summary}");
    for fault in ["throttle", "error", "drop"] {
        assert!(summary["faults"][fault].as_u64().unwrap_or(0) > 0, "no {fault} injected: {summary}");
    }

    let state = emulator.get("state");
    for job in state["jobs"].as_array().unwrap() {
        let id = job["id"].as_str().unwrap();
        let (bucket, key) =
            (job["output"]["bucket"].as_str().unwrap(), job["output"]["key"].as_str().unwrap());
        let written = read_object(&emulator.url, bucket, key);
        if job["configuration"]["Mode"] == "fail" {
            assert_eq!(job["status"], "Failed", "{job}");
            assert!(written.is_none(), "job {id} failed but uploaded");
            let message = job["result"]["failureDetails"]["message"].as_str().unwrap();
            assert!(message.contains("asks for Mode=fail"), "{message}");
            continue;
        }
        assert_eq!(job["status"], "Succeeded", "{job}");
        let input = read_object(
            &emulator.url,
            job["input"]["bucket"].as_str().unwrap(),
            job["input"]["key"].as_str().unwrap(),
        )
        .expect("the input is there");
        let input = unzip(&input);
        let output = unzip(&written.unwrap_or_else(|| panic!("job {id} has no output object")));
        let revision = job["input"]["revision"].as_str().unwrap();
        let deployment: Value = serde_json::from_str(&output["deployment.json"]).unwrap();
        assert_eq!(deployment["job"], id);
        assert_eq!(deployment["revision"], revision);
        assert_eq!(deployment["target"], job["configuration"]["Target"]);
        let manifest: Vec<String> =
            input.iter().map(|(name, text)| format!("{}  {name}", sha256(text))).collect();
        assert_eq!(output["manifest.txt"].lines().collect::<Vec<_>>(), manifest, "job {id}");
        assert_eq!(job["result"]["currentRevision"]["revision"], revision);
        let summary_text = job["result"]["executionDetails"]["summary"].as_str().unwrap();
        assert!(
            summary_text.starts_with(&format!(
                "deployed {} at {}",
                job["configuration"]["Target"].as_str().unwrap(),
                &revision[..12]
            )),
            "{summary_text}"
        );
    }

    // The ledger: every upload came from the job's own credentials after its acknowledgement,
    // under the job's KMS key when it has one.
    let ledger = emulator.get("ledger");
    let uploads: Vec<&Value> =
        ledger.as_array().unwrap().iter().filter(|e| e["change"] == "artifact_written").collect();
    assert!(uploads.len() >= 40, "{} uploads", uploads.len());
    for upload in &uploads {
        assert_eq!(upload["job_acknowledged"], true, "{upload}");
        let job = state["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["id"] == upload["job"])
            .expect("a job's upload");
        assert_eq!(upload["key"], job["output"]["key"], "{upload}");
        assert_eq!(upload["kms_key"], job["encryption_key"], "{upload}");
    }

    // The credentials: nowhere in what handoff printed, reported or journaled.
    let secrets = credential_parts(&emulator);
    assert_eq!(secrets.len(), 150);
    let mut places = vec![
        ("stdout".to_string(), output.stdout.into_bytes()),
        ("stderr".to_string(), output.stderr.into_bytes()),
    ];
    places.extend(all_bytes(test.path()));
    for (place, bytes) in &places {
        let text = String::from_utf8_lossy(bytes);
        for secret in &secrets {
            assert!(!text.contains(secret.as_str()), "an artifact credential is in {place}");
        }
    }
    // The runs' working directories are gone once the runs ended.
    let work = test.journal().parent().unwrap().join("work");
    let left: Vec<_> =
        std::fs::read_dir(&work).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
    assert!(left.is_empty(), "working directories left: {left:?}");
}

/// A zip made in the test, to stand for a hostile input artifact.
fn zip_of(build: impl FnOnce(&mut zip::ZipWriter<std::io::Cursor<Vec<u8>>>)) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    build(&mut writer);
    writer.finish().unwrap().into_inner()
}

fn entry(writer: &mut zip::ZipWriter<std::io::Cursor<Vec<u8>>>, name: &str, data: &[u8]) {
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    writer.start_file(name, options).unwrap();
    writer.write_all(data).unwrap();
}

const DOWNLOAD_ONLY: &str = r#"
version: 1
name: hostile-inputs
vars:
  jobs: { file: jobs.json }
secrets:
  token: { env: PARTNER_CLIENT_TOKEN }
steps:
  - id: details
    for-each: "{{ vars.jobs }}"
    get-job-details: { job-id: "{{ item }}", client-token: "{{ secrets.token }}" }
  - id: fetch
    for-each: "{{ steps.details.results | map(attribute='output.jobDetails') | list }}"
    on-failure: continue
    download-artifacts:
      job: "{{ item }}"
      max-bytes: 1048576
"#;

/// Hostile input artifacts: each a clear item error naming the job and what was wrong, and
/// nothing written outside the run's working directory; a good one beside them extracts.
#[test]
fn hostile_archives_are_refused_with_a_clear_error_and_nothing_lands_outside() {
    let outside = tempfile::tempdir().unwrap();
    let absolute = outside.path().join("absolute-evil.txt");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "parent",
            zip_of(|w| entry(w, "../../../escaped.txt", b"x")),
            "entry `../../../escaped.txt` would be written outside the directory (a `..` in its path)",
        ),
        ("absolute", zip_of(|w| entry(w, &absolute.display().to_string(), b"x")), "(an absolute path)"),
        (
            "symlink",
            zip_of(|w| {
                w.add_symlink("app/link", "../../../../..", SimpleFileOptions::default()).unwrap();
                entry(w, "app/file", b"x");
            }),
            "entry `app/link` is a symlink to `../../../../..`, outside the directory",
        ),
        (
            "bomb",
            zip_of(|w| entry(w, "zeros", &vec![0u8; 8 << 20])),
            "the archive holds more than 1 MiB once extracted (the limit)",
        ),
        ("corrupt", b"PK\x03\x04 this is not really a zip".to_vec(), "the archive is not a valid zip"),
        ("good", zip_of(|w| entry(w, "app/VERSION", b"1\n")), ""),
    ];
    let mut fixture = String::from("jobs:\n");
    let mut ids = Vec::new();
    let test = Test::new().env("PARTNER_CLIENT_TOKEN", CLIENT_TOKEN);
    let mut test = test;
    for (i, (name, bytes, _)) in cases.iter().enumerate() {
        let id = format!("00000000-0000-4000-8000-{i:012}");
        test = test.file(&format!("{name}.zip"), bytes);
        fixture.push_str(&format!("  - {{ id: {id}, input-archive: {name}.zip }}\n"));
        ids.push(id);
    }
    let test = test
        .file("fixtures.yaml", fixture)
        .file("jobs.json", json!(ids).to_string())
        .file("hostile.yaml", DOWNLOAD_ONLY);
    let emulator =
        EmulatorProcess::start(&["--fixtures", &test.path().join("fixtures.yaml").display().to_string()]);
    let test = test.aws_env(&emulator);
    let report = test.path().join("report.json");
    let started = Instant::now();
    let output = run(
        &test,
        &[
            "run",
            "hostile.yaml",
            "--endpoint-url",
            &emulator.url,
            "--progress",
            "plain",
            "--keep-workdirs",
            "--report",
            &report.display().to_string(),
        ],
    )
    .code(1);
    assert!(started.elapsed() < Duration::from_secs(60));
    let rows: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let fetch: Vec<&Value> = rows.as_array().unwrap().iter().filter(|r| r["step"] == "fetch").collect();
    assert_eq!(fetch.len(), cases.len(), "{rows}");
    for (row, (name, _, expected)) in fetch.iter().zip(&cases) {
        if expected.is_empty() {
            assert_eq!(row["status"], "succeeded", "{name}: {row}");
            continue;
        }
        assert_eq!(row["status"], "failed", "{name}: {row}");
        let error = row["error"].as_str().unwrap_or_default();
        assert!(error.contains(expected), "{name}: {error}");
        assert!(
            error.contains(&format!("job {}", ids[cases.iter().position(|c| c.0 == *name).unwrap()])),
            "{name}: {error}"
        );
        assert!(row["attempts"] == 1, "{name}: an archive error is not retried: {row}");
    }
    // Nothing outside the working directory: not beside the test's files, not at the
    // absolute path, and the good job's files are where they belong.
    assert!(!absolute.exists());
    let escaped: Vec<_> = all_bytes(test.path())
        .into_iter()
        .filter(|(p, _)| p.ends_with("escaped.txt") || p.ends_with("absolute-evil.txt"))
        .collect();
    assert!(escaped.is_empty(), "{:?}", escaped.iter().map(|e| &e.0).collect::<Vec<_>>());
    let work = test.journal().parent().unwrap().join("work");
    let files: Vec<String> = all_bytes(&work).into_iter().map(|(p, _)| p).collect();
    assert!(
        files.iter().any(|p| p.ends_with(&format!("{}/in/SourceArtifact/app/VERSION", ids[5]))),
        "{files:?}"
    );
    assert_eq!(files.len(), 1, "only the good job's file: {files:?}");
    let _ = output;
}

/// The example long-job worker, run as a worker: each job is started and reported in
/// progress with a continuation token, the continued jobs are polled and checked, and each
/// pipeline action execution ends Succeeded once, after three jobs.
#[test]
fn a_long_job_is_continued_across_polls_and_its_execution_succeeds_once() {
    let test = Test::new().env("PARTNER_CLIENT_TOKEN", CLIENT_TOKEN).file(
        "fixtures.yaml",
        "action-types:\n  - { category: Deploy, owner: ThirdParty, provider: AcmeMigrate, version: \"1\" }\njobs:\n  - { configuration: { Target: orders-db } }\n  - { configuration: { Target: billing-db } }\n",
    );
    let emulator =
        EmulatorProcess::start(&["--fixtures", &test.path().join("fixtures.yaml").display().to_string()]);
    let test = test.aws_env(&emulator);
    let playbook = crate_dir().join("examples/long-job-worker.yaml");
    let output = run(
        &test,
        &[
            "run",
            &playbook.display().to_string(),
            "--endpoint-url",
            &emulator.url,
            "--every",
            "1s",
            "--max-runs",
            "8",
            "--progress",
            "plain",
            // Work of 3-4 s (whole seconds of the clock): the first check, a poll later, finds
            // it running however the start fell within its second. With the example's 2 s, a
            // start late in a second was done by the first check (1 s and a bit later).
            "--var",
            "work_seconds=4",
        ],
    )
    .code(0);
    let summary = emulator.summary();
    assert_eq!(summary["executions"], json!({"Succeeded": 2}), "{}\n{summary}", output.stderr);
    let state = emulator.get("state");
    let jobs = state["jobs"].as_array().unwrap();
    let mut by_execution: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
    for job in jobs {
        by_execution.entry(job["execution"].as_str().unwrap()).or_default().push(job);
    }
    assert_eq!(by_execution.len(), 2);
    for (execution, chain) in by_execution {
        assert!(chain.len() >= 3, "{execution}: started, checked at least once, finished: {chain:?}");
        let (last, earlier) = chain.split_last().unwrap();
        assert_eq!(last["result"]["continuationToken"], Value::Null, "{last}");
        assert!(
            last["result"]["executionDetails"]["summary"].as_str().unwrap().starts_with("migrated "),
            "{last}"
        );
        let ticket = earlier[0]["result"]["continuationToken"].as_str().unwrap();
        for job in earlier {
            assert_eq!(job["status"], "Succeeded");
            assert_eq!(job["result"]["continuationToken"], ticket, "the same ticket is handed on");
        }
        for job in &chain[1..] {
            assert_eq!(job["continuation_token"], ticket, "each continued job carries the token");
        }
    }
}

const EXPIRING: &str = r#"
version: 1
name: slow-worker
vars:
  jobs: { file: jobs.json }
secrets:
  token: { env: PARTNER_CLIENT_TOKEN }
steps:
  - id: details
    for-each: "{{ vars.jobs }}"
    get-job-details: { job-id: "{{ item }}", client-token: "{{ secrets.token }}" }
  - id: wait
    exec: { command: [sleep, "2"] }
  - id: fetch
    for-each: "{{ steps.details.results | map(attribute='output.jobDetails') | list }}"
    download-artifacts: { job: "{{ item }}" }
"#;

/// Credentials that expired before the download: one clear error naming the job, the
/// object and the cause, after one attempt (no retry storm, no hang).
#[test]
fn expired_artifact_credentials_fail_the_item_at_once_with_the_job_named() {
    let id = "00000000-0000-4000-8000-000000000001";
    let test = Test::new()
        .env("PARTNER_CLIENT_TOKEN", CLIENT_TOKEN)
        .file("fixtures.yaml", format!("jobs:\n  - {{ id: {id} }}\n"))
        .file("jobs.json", json!([id]).to_string())
        .file("slow.yaml", EXPIRING);
    let emulator = EmulatorProcess::start(&[
        "--fixtures",
        &test.path().join("fixtures.yaml").display().to_string(),
        "--credential-lifetime",
        "1s",
    ]);
    let test = test.aws_env(&emulator);
    let report = test.path().join("report.json");
    let started = Instant::now();
    let output = run(
        &test,
        &[
            "run",
            "slow.yaml",
            "--endpoint-url",
            &emulator.url,
            "--progress",
            "plain",
            "--report",
            &report.display().to_string(),
        ],
    )
    .code(1);
    assert!(started.elapsed() < Duration::from_secs(30), "{:?}", started.elapsed());
    let rows: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let row = rows.as_array().unwrap().iter().find(|r| r["step"] == "fetch").unwrap();
    assert_eq!(row["attempts"], 1, "{row}");
    let error = row["error"].as_str().unwrap();
    let state = emulator.get("state");
    let key = state["jobs"][0]["input"]["key"].as_str().unwrap();
    assert_eq!(
        error,
        format!(
            "ExpiredToken (HTTP 400): job {id}: downloading SourceArtifact (s3://codepipeline-us-east-1-123456789012/{key}): \
             The provided token has expired. (the job's artifact credentials have expired: get the job's details again for fresh ones)"
        )
    );
    assert!(output.stderr.contains(&format!("job {id}: downloading SourceArtifact")), "{}", output.stderr);
}
