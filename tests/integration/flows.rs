//! The complete flows a partner runs, against the emulator with faults on: a CodePipeline
//! job worker over 100 jobs, and the acceptance of every invitation across many pages.

use serde_json::json;

use crate::helpers::{EmulatorProcess, Test};

const FAULTS: &str = "throttle=0.2,error=0.05,drop=0.02,drop_after=0.02";

/// The job worker of `examples/job-worker.yaml` with retries enough for the fault rate here
/// (29% of requests fail; twelve attempts make a lost item a one-in-three-million event).
const JOB_WORKER: &str = r#"
version: 1
name: worker-100
secrets:
  client_token: { env: PARTNER_CLIENT_TOKEN }
defaults:
  retry: { max-attempts: 12, initial-delay: 10ms, max-delay: 200ms }
  timeout: 10s
rate-limits:
  codepipeline: 500/s
steps:
  - id: poll
    poll-jobs:
      action-type: { category: Deploy, owner: ThirdParty, provider: AcmeDeploy, version: "1" }
      max-batch-size: 100
  - id: details
    for-each: "{{ steps.poll.output.jobs }}"
    concurrency: 8
    get-job-details: { job-id: "{{ item.jobId }}", client-token: "{{ secrets.client_token }}" }
  - id: ack
    for-each: "{{ steps.details.results }}"
    concurrency: 8
    acknowledge:
      job-id: "{{ item.output.jobDetails.id }}"
      nonce: "{{ item.output.jobDetails.nonce }}"
      client-token: "{{ secrets.client_token }}"
  - id: succeed
    for-each: "{{ steps.ack.results }}"
    when: "{{ item.item.output.jobDetails.data.actionConfiguration.configuration.Mode != 'fail' }}"
    concurrency: 8
    report-success:
      job-id: "{{ item.item.output.jobDetails.id }}"
      client-token: "{{ secrets.client_token }}"
  - id: fail
    for-each: "{{ steps.ack.results }}"
    when: "{{ item.item.output.jobDetails.data.actionConfiguration.configuration.Mode == 'fail' }}"
    concurrency: 8
    report-failure:
      job-id: "{{ item.item.output.jobDetails.id }}"
      client-token: "{{ secrets.client_token }}"
      failure-details: { type: JobFailed, message: "the work failed" }
"#;

#[test]
fn the_job_worker_finishes_a_hundred_jobs_each_once_under_faults() {
    let emulator =
        EmulatorProcess::start(&["--generate", "jobs=100,failing=15%", "--faults", FAULTS, "--seed", "11"]);
    let output = Test::new()
        .file("worker.yaml", JOB_WORKER)
        .aws_env(&emulator)
        .env("PARTNER_CLIENT_TOKEN", "handoff-emulator-client-token")
        .args(["run", "worker.yaml", "--endpoint-url", emulator.url.as_str()])
        .run()
        .code(0);
    let summary = emulator.summary();
    assert_eq!(summary["jobs"], json!({"Succeeded": 85, "Failed": 15}), "{}\n{summary}", output.stderr);
    assert_eq!(summary["duplicates"]["jobs_moved_twice"], json!([]));
    // Every job was acknowledged exactly once.
    let ledger = emulator.get("ledger");
    let acknowledged = ledger.as_array().unwrap().iter().filter(|e| e["to"] == "InProgress").count();
    assert_eq!(acknowledged, 100);
    assert!(output.stderr.contains("step succeed finished"), "{}", output.stderr);
    assert!(output.stderr.contains("step fail finished"), "{}", output.stderr);
}

const ACCEPT_EVERYTHING: &str = r#"
version: 1
name: accept-everything
rate-limits:
  accept-invitation: 200/s
  partnercentral-selling: 400/s
defaults:
  retry: { max-attempts: 12, initial-delay: 10ms, max-delay: 200ms }
  timeout: 10s
steps:
  - id: all
    list-invitations: { catalog: AWS, page-size: 50 }
  - id: accept
    for-each: "{{ steps.all.output.EngagementInvitationSummaries }}"
    concurrency: 16
    on-failure: continue
    accept-invitation: { catalog: AWS, identifier: "{{ item.Id }}" }
  - id: wait
    for-each: "{{ steps.accept.results | selectattr('status', 'eq', 'succeeded') | list }}"
    concurrency: 100
    on-failure: continue
    wait-for-acceptance: { catalog: AWS, task-id: "{{ item.output.TaskId }}", poll-interval: 100ms }
"#;

/// 1,000 invitations over 20 pages: 750 PENDING, 100 EXPIRED, 100 ACCEPTED, 50 REJECTED.
#[test]
fn accepting_every_invitation_ends_each_one_the_way_its_status_says() {
    let emulator = EmulatorProcess::start(&[
        "--generate",
        "invitations=1000,expired=10%,accepted=10%,rejected=5%",
        "--quota",
        "accept=200/s",
        "--quota",
        "reads=400/s",
        "--task-delay",
        "200ms",
        "--faults",
        FAULTS,
        "--seed",
        "5",
    ]);
    let reports = tempfile::tempdir().unwrap();
    let report_path = reports.path().join("report.json");
    let output = Test::new()
        .file("accept.yaml", ACCEPT_EVERYTHING)
        .aws_env(&emulator)
        .args(["run", "accept.yaml", "--endpoint-url", emulator.url.as_str()])
        .args(["--report", &report_path.display().to_string()])
        .run()
        .code(1);
    let summary = emulator.summary();
    // Every task in the report ended COMPLETE or FAILED, a failed one with its ReasonCode.
    let rows: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(&report_path).unwrap()).expect("a JSON report");
    let waits: Vec<&serde_json::Value> = rows.iter().filter(|r| r["step"] == "wait").collect();
    assert_eq!(waits.len(), 900);
    for row in &waits {
        match row["output"]["TaskStatus"].as_str() {
            Some("COMPLETE") => assert_eq!(row["status"], "succeeded", "{row}"),
            Some("FAILED") => {
                assert_eq!(row["status"], "failed", "{row}");
                let reason = row["output"]["ReasonCode"].as_str().unwrap_or_default();
                assert!(!reason.is_empty() && row["error_code"] == reason, "{row}");
            }
            other => panic!("a task ended {other:?}: {row}"),
        }
    }
    let skipped = rows.iter().filter(|r| r["step"] == "accept" && r["status"] == "skipped").count();
    assert_eq!(skipped, 100);
    // PENDING ones accepted once; the fixtures' ACCEPTED ones were skipped, not touched.
    assert_eq!(summary["invitations"]["ACCEPTED"], 850, "{}\n{summary}", output.stderr);
    assert_eq!(summary["tasks"], json!({"COMPLETE": 750, "FAILED": 150}), "{summary}");
    assert_eq!(summary["duplicates"]["invitations_with_several_tasks"], json!([]));
    assert!(summary["requests"]["ListEngagementInvitations"].as_u64().unwrap() >= 20, "{summary}");
    // Accepting an already accepted invitation is skipped; expired and rejected ones fail in
    // the wait, with the task's ReasonCode.
    assert!(output.stderr.contains("step accept finished"), "{}", output.stderr);
    let accept_line = output.stderr.lines().find(|l| l.contains("step accept finished")).unwrap();
    assert!(accept_line.contains("900 succeeded, 0 failed, 100 skipped"), "{accept_line}");
    let wait_line = output.stderr.lines().find(|l| l.contains("step wait finished")).unwrap();
    assert!(wait_line.contains("750 succeeded, 150 failed, 0 skipped"), "{wait_line}");
    assert!(output.stderr.contains("failed after"), "{}", output.stderr);
    assert!(output.stderr.contains("InvitationValidationFailed"), "{}", output.stderr);
    assert!(output.stderr.contains("EngagementInvitationConflict"), "{}", output.stderr);
}
