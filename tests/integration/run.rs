//! `handoff run` end to end: the built binary, the real AWS SDK clients, SigV4, and the
//! emulator in its own process. The emulator's ledger is the witness of what was applied.

use serde_json::{Value, json};

use crate::helpers::{EmulatorProcess, Output, Test};

/// The client token of the fixtures' partner action: a secret that must never be printed.
const CLIENT_TOKEN: &str = "sekrit-client-token-7f3a9c";

fn jobs_fixture(n: usize) -> (String, Value) {
    let mut yaml =
        format!("client: {{ id: 11111111-2222-4333-8444-555555555555, token: {CLIENT_TOKEN} }}\njobs:\n");
    let mut vars = Vec::new();
    for i in 0..n {
        let id = format!("00000000-0000-4000-8000-{i:012}");
        let nonce = format!("{}", 5000 + i);
        let mode = if i % 5 == 4 { "fail" } else { "deploy" };
        yaml.push_str(&format!(
            "  - {{ id: {id}, nonce: \"{nonce}\", configuration: {{ Mode: {mode} }} }}\n"
        ));
        vars.push(json!({"id": id, "nonce": nonce}));
    }
    (yaml, Value::Array(vars))
}

fn run(test: Test, emulator: &EmulatorProcess, playbook: &str, extra: &[&str]) -> Output {
    let mut args =
        vec!["run".to_string(), playbook.to_string(), "--endpoint-url".into(), emulator.url.clone()];
    args.extend(extra.iter().map(|s| s.to_string()));
    test.aws_env(emulator).args(args).run()
}

fn assert_no_secret(output: &Output, secrets: &[&str]) {
    for secret in secrets {
        assert!(!output.stdout.contains(secret), "a secret reached stdout:\n{}", output.stdout);
        assert!(!output.stderr.contains(secret), "a secret reached stderr:\n{}", output.stderr);
    }
}

const JOB_WORKER: &str = r#"
version: 1
name: worker
secrets:
  token: { file: token.txt }
steps:
  - id: poll
    poll-jobs:
      action-type: { category: Deploy, owner: ThirdParty, provider: AcmeDeploy, version: "1" }
      max-batch-size: 100
  - id: details
    for-each: "{{ steps.poll.output.jobs }}"
    concurrency: 4
    get-job-details: { job-id: "{{ item.jobId }}", client-token: "{{ secrets.token }}" }
  - id: ack
    # The artifact credentials are read here only to prove they are masked in names.
    name: "ack {{ item.output.jobDetails.id }} with {{ item.output.jobDetails.data.artifactCredentials.secretAccessKey }}"
    for-each: "{{ steps.details.results }}"
    concurrency: 4
    acknowledge:
      job-id: "{{ item.output.jobDetails.id }}"
      nonce: "{{ item.output.jobDetails.nonce }}"
      client-token: "{{ secrets.token }}"
  - id: succeed
    for-each: "{{ steps.ack.results }}"
    when: "{{ item.item.output.jobDetails.data.actionConfiguration.configuration.Mode != 'fail' }}"
    concurrency: 4
    report-success:
      job-id: "{{ item.item.output.jobDetails.id }}"
      client-token: "{{ secrets.token }}"
      execution-details: { summary: "done by {{ run.id }}", percent-complete: "{{ 100 }}" }
  - id: fail
    for-each: "{{ steps.ack.results }}"
    when: "{{ item.item.output.jobDetails.data.actionConfiguration.configuration.Mode == 'fail' }}"
    report-failure:
      job-id: "{{ item.item.output.jobDetails.id }}"
      client-token: "{{ secrets.token }}"
      failure-details: { type: JobFailed, message: "Mode=fail" }
"#;

#[test]
fn the_codepipeline_actions_work_a_job_worker_through() {
    let (fixture, _) = jobs_fixture(10);
    let test = Test::new()
        .file("fixtures.yaml", &fixture)
        .file("worker.yaml", JOB_WORKER)
        .file("token.txt", CLIENT_TOKEN);
    let emulator =
        EmulatorProcess::start(&["--fixtures", &test.path().join("fixtures.yaml").display().to_string()]);
    let output = run(test, &emulator, "worker.yaml", &["-v"]).code(0);
    let summary = emulator.summary();
    assert_eq!(summary["jobs"], json!({"Succeeded": 8, "Failed": 2}), "{}", output.stderr);
    assert_eq!(summary["duplicates"]["jobs_moved_twice"], json!([]));
    assert!(output.stderr.contains("step fail finished"), "{}", output.stderr);
    // The artifact credentials the emulator handed out never show, even in a step's name.
    let state = emulator.get("ledger");
    assert!(state.as_array().is_some());
    assert!(output.stderr.contains("with ********"), "{}", output.stderr);
    assert_no_secret(&output, &[CLIENT_TOKEN]);
}

const ACCEPT_ALL: &str = r#"
version: 1
name: accept-all
vars:
  catalog: AWS
steps:
  - id: pending
    list-invitations: { catalog: "{{ vars.catalog }}", status: [PENDING], page-size: 7 }
  - id: accept
    for-each: "{{ steps.pending.output.EngagementInvitationSummaries }}"
    concurrency: 8
    on-failure: continue
    accept-invitation:
      catalog: "{{ vars.catalog }}"
      identifier: "{{ item.Id }}"
      tags: [{ key: source, value: handoff }]
  - id: wait
    for-each: "{{ steps.accept.results | selectattr('status', 'eq', 'succeeded') | list }}"
    concurrency: 8
    wait-for-acceptance:
      catalog: "{{ vars.catalog }}"
      task-id: "{{ item.output.TaskId }}"
      poll-interval: 100ms
"#;

#[test]
fn the_partner_central_actions_accept_every_pending_invitation() {
    let emulator = EmulatorProcess::start(&[
        "--generate",
        "invitations=30,expired=10%",
        "--quota",
        "off",
        "--task-delay",
        "200ms",
    ]);
    let output = run(Test::new().file("accept.yaml", ACCEPT_ALL), &emulator, "accept.yaml", &[]).code(0);
    let summary = emulator.summary();
    assert_eq!(summary["invitations"], json!({"ACCEPTED": 27, "EXPIRED": 3}), "{}", output.stderr);
    assert_eq!(summary["tasks"], json!({"COMPLETE": 27}));
    // Five pages of seven: the list read every page.
    assert_eq!(summary["requests"]["ListEngagementInvitations"], 4);
    assert!(output.stderr.contains("step wait finished"), "{}", output.stderr);
}

/// 500 accepts while the emulator throttles 20% of requests, fails 5%, and drops 4% of
/// connections (half of them after applying the request): every invitation is accepted
/// exactly once, and the run succeeds.
#[test]
fn bulk_acceptance_under_faults_accepts_every_invitation_exactly_once() {
    let emulator = EmulatorProcess::start(&[
        "--generate",
        "invitations=500",
        "--quota",
        "off",
        "--task-delay",
        "100ms",
        "--faults",
        "throttle=0.2,error=0.05,drop=0.02,drop_after=0.02",
        "--seed",
        "42",
    ]);
    let playbook = r#"
version: 1
name: bulk
defaults:
  retry: { max-attempts: 12, initial-delay: 20ms, max-delay: 500ms }
  timeout: 10s
# The emulator's quota is off here: the limit says what the account allows, and adaptation
# never drops below half of it however many throttled answers the faults make up.
rate-limits:
  accept-invitation: 200/s
steps:
  - id: pending
    list-invitations: { catalog: AWS, status: [PENDING] }
  - id: accept
    for-each: "{{ steps.pending.output.EngagementInvitationSummaries }}"
    concurrency: 16
    accept-invitation: { catalog: AWS, identifier: "{{ item.Id }}" }
"#;
    let output = run(Test::new().file("bulk.yaml", playbook), &emulator, "bulk.yaml", &[]).code(0);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let summary = emulator.summary();
    assert_eq!(summary["invitations"], json!({"ACCEPTED": 500}), "{}\n{summary}", output.stderr);
    assert_eq!(summary["tasks"], json!({"COMPLETE": 500}));
    assert_eq!(summary["duplicates"]["invitations_with_several_tasks"], json!([]));
    let faults = &summary["faults"];
    for fault in ["throttle", "error", "drop", "drop_after"] {
        assert!(faults[fault].as_u64().unwrap_or(0) > 0, "no {fault} was injected: {summary}");
    }
    assert!(output.stderr.contains("step accept finished"), "{}", output.stderr);
}

/// 50 jobs, ids and nonces given as vars: acknowledge, then report success, under the same
/// faults. Each job ends Succeeded exactly once, although some results were applied and
/// their answers lost.
#[test]
fn fifty_jobs_acknowledged_and_reported_under_faults_succeed_exactly_once() {
    let (fixture, jobs) = jobs_fixture(50);
    let playbook = r#"
version: 1
name: fifty
rate-limits:
  codepipeline: 200/s
vars:
  jobs: { file: jobs.json }
secrets:
  token: { env: PARTNER_CLIENT_TOKEN }
defaults:
  retry: { max-attempts: 12, initial-delay: 20ms, max-delay: 500ms }
  timeout: 10s
steps:
  - id: ack
    for-each: "{{ vars.jobs }}"
    concurrency: 8
    acknowledge: { job-id: "{{ item.id }}", nonce: "{{ item.nonce }}", client-token: "{{ secrets.token }}" }
  - id: done
    for-each: "{{ steps.ack.results }}"
    concurrency: 8
    report-success:
      job-id: "{{ item.item.id }}"
      client-token: "{{ secrets.token }}"
      current-revision: { revision: "r-{{ index }}", change-identifier: "{{ index }}", created: "2026-11-22T10:00:00Z" }
"#;
    let test = Test::new()
        .file("fixtures.yaml", &fixture)
        .file("jobs.json", jobs.to_string())
        .file("fifty.yaml", playbook)
        .env("PARTNER_CLIENT_TOKEN", CLIENT_TOKEN);
    let emulator = EmulatorProcess::start(&[
        "--fixtures",
        &test.path().join("fixtures.yaml").display().to_string(),
        "--faults",
        "throttle=0.2,error=0.05,drop=0.02,drop_after=0.02",
        "--seed",
        "7",
    ]);
    let output = run(test, &emulator, "fifty.yaml", &[]).code(0);
    let summary = emulator.summary();
    assert_eq!(summary["jobs"], json!({"Succeeded": 50}), "{}\n{summary}", output.stderr);
    assert_eq!(summary["duplicates"]["jobs_moved_twice"], json!([]));
    assert!(summary["faults"]["drop_after"].as_u64().unwrap_or(0) > 0, "{summary}");
    assert_no_secret(&output, &[CLIENT_TOKEN]);
}

#[test]
fn a_dry_run_sends_nothing_and_shows_every_call_with_secrets_masked() {
    let emulator = EmulatorProcess::start(&["--generate", "invitations=3"]);
    let playbook = r#"
version: 1
name: dry
vars:
  ids: [engi-0000000000001, engi-0000000000002]
secrets:
  token: { env: PARTNER_CLIENT_TOKEN }
steps:
  - id: accept
    for-each: "{{ vars.ids }}"
    accept-invitation: { catalog: AWS, identifier: "{{ item }}" }
  - id: ack
    acknowledge: { job-id: job-1, nonce: "1", client-token: "{{ secrets.token }}" }
  - id: wait
    for-each: "{{ steps.accept.results }}"
    wait-for-acceptance: { catalog: AWS, task-id: "{{ item.output.TaskId }}" }
"#;
    let test = Test::new().file("dry.yaml", playbook).env("PARTNER_CLIENT_TOKEN", CLIENT_TOKEN);
    let output = run(test, &emulator, "dry.yaml", &["--dry-run"]).code(0);
    assert_eq!(emulator.summary()["requests_total"], 0);
    assert!(output.stdout.contains("nothing is sent"), "{}", output.stdout);
    assert!(output.stdout.contains(
        "step accept (accept-invitation -> partnercentral-selling StartEngagementByAcceptingInvitationTask)"
    ));
    assert!(
        output
            .stdout
            .contains(r#"[1] {"catalog":"AWS","identifier":"engi-0000000000002","client-token":"handoff-"#),
        "{}",
        output.stdout
    );
    assert!(output.stdout.contains(r#""client-token":"********""#), "{}", output.stdout);
    assert!(output.stdout.contains("known only at run time"), "{}", output.stdout);
    assert!(output.stdout.contains("retry: up to 6 attempts"), "{}", output.stdout);
    assert_no_secret(&output, &[CLIENT_TOKEN]);
}

#[test]
fn a_dry_run_read_by_a_reader_that_stops_early_ends_quietly() {
    // 5,000 planned calls: far more than a pipe holds, so handoff writes into a closed pipe.
    let ids: String = (0..5000).map(|i| format!("engi-{i:013}\n")).collect();
    let playbook = "version: 1\nname: big\nvars:\n  ids: { file: ids.csv }\nsteps:\n  - id: accept\n    for-each: \"{{ vars.ids }}\"\n    accept-invitation: { catalog: AWS, identifier: \"{{ item.id }}\" }\n";
    let test = Test::new().file("ids.csv", format!("id\n{ids}")).file("big.yaml", playbook);
    let mut child = test
        .command()
        .args(["run", "big.yaml", "--dry-run"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut first)
        .unwrap();
    assert!(first.starts_with("dry run of big"), "{first}");
    // The reader is gone (like `| head -1`).
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn errors_that_retrying_cannot_fix_fail_at_once_and_exit_1() {
    let emulator = EmulatorProcess::start(&["--quota", "off"]);
    let playbook = r#"
version: 1
name: missing
steps:
  - id: accept
    accept-invitation: { catalog: AWS, identifier: engi-9999999999999 }
"#;
    let output = run(Test::new().file("p.yaml", playbook), &emulator, "p.yaml", &[]).code(1);
    assert!(
        output.stderr.contains("failed after 1 attempt: ResourceNotFoundException (HTTP 404): Engagement invitation engi-9999999999999 was not found"),
        "{}",
        output.stderr
    );
    assert_eq!(emulator.summary()["requests"]["StartEngagementByAcceptingInvitationTask"], 1);
}

#[test]
fn server_errors_are_retried_until_attempts_run_out() {
    let emulator = EmulatorProcess::start(&["--quota", "off", "--faults", "error=1"]);
    let playbook = r#"
version: 1
name: broken
steps:
  - id: list
    retry: { max-attempts: 3, initial-delay: 10ms }
    list-invitations: { catalog: AWS }
"#;
    let output = run(Test::new().file("p.yaml", playbook), &emulator, "p.yaml", &[]).code(1);
    assert!(
        output.stderr.contains("failed after 3 attempts: InternalServerException (HTTP 500)"),
        "{}",
        output.stderr
    );
    assert_eq!(emulator.summary()["requests"]["ListEngagementInvitations"], 3);
}

#[test]
fn throttled_calls_are_retried_and_succeed() {
    let emulator = EmulatorProcess::start(&[
        "--generate",
        "invitations=20",
        "--quota",
        "off",
        "--faults",
        "throttle=0.5",
        "--seed",
        "3",
    ]);
    let playbook = r#"
version: 1
name: throttled
defaults:
  retry: { max-attempts: 20, initial-delay: 10ms, max-delay: 100ms }
rate-limits:
  partnercentral-selling: 100/s
steps:
  - id: list
    list-invitations: { catalog: AWS }
  - id: get
    for-each: "{{ steps.list.output.EngagementInvitationSummaries }}"
    concurrency: 4
    accept-invitation: { catalog: AWS, identifier: "{{ item.Id }}" }
"#;
    let output = run(Test::new().file("p.yaml", playbook), &emulator, "p.yaml", &[]).code(0);
    let summary = emulator.summary();
    assert!(summary["faults"]["throttle"].as_u64().unwrap() > 5, "{summary}");
    assert!(output.stderr.contains("throttled)"), "{}", output.stderr);
}

#[test]
fn an_invalid_playbook_exits_2_and_sends_nothing() {
    let emulator = EmulatorProcess::start(&[]);
    let playbook =
        "version: 1\nname: bad\nsteps:\n  - id: a\n    list-invitations: {catalog: \"{{ vars.nope }}\"}\n";
    let output = run(Test::new().file("p.yaml", playbook), &emulator, "p.yaml", &[]).code(2);
    assert!(output.stderr.contains("p.yaml:5:33: error: unknown var `nope`"), "{}", output.stderr);
    assert_eq!(emulator.summary()["requests_total"], 0);
}

#[test]
fn a_rendered_value_that_breaks_the_api_constraints_is_not_sent() {
    let emulator = EmulatorProcess::start(&["--quota", "off"]);
    let playbook = r#"
version: 1
name: rendered
vars:
  ids: [engi-0000000000001, not-an-invitation]
steps:
  - id: accept
    for-each: "{{ vars.ids }}"
    on-failure: continue
    accept-invitation: { catalog: AWS, identifier: "{{ item }}" }
"#;
    let output = run(Test::new().file("p.yaml", playbook), &emulator, "p.yaml", &[]).code(1);
    assert!(
        output.stderr.contains(
            "InvalidInput: steps[0].accept-invitation.identifier: `not-an-invitation` does not match"
        ),
        "{}",
        output.stderr
    );
    assert!(output.stderr.contains("(nothing was sent)"), "{}", output.stderr);
    // The first one went out (and found nothing); the invalid one never did.
    assert_eq!(emulator.summary()["requests"]["StartEngagementByAcceptingInvitationTask"], 1);
}

#[test]
fn missing_aws_configuration_exits_4_with_the_fix() {
    let playbook = "version: 1\nname: cfg\nsteps:\n  - id: a\n    list-invitations: {catalog: AWS}\n";
    let no_region = Test::new().file("p.yaml", playbook).args(["run", "p.yaml"]).run().code(4);
    assert_eq!(
        no_region.stderr,
        "handoff: error: no AWS region is configured: set `aws.region` in the playbook, pass --region, or set AWS_REGION\n"
    );
    let no_credentials =
        Test::new().file("p.yaml", playbook).args(["run", "p.yaml", "--region", "us-east-1"]).run().code(4);
    assert!(
        no_credentials.stderr.starts_with("handoff: error: no AWS credentials were found\n  tried: "),
        "{}",
        no_credentials.stderr
    );
}

#[test]
fn var_overrides_must_name_a_declared_var() {
    let playbook = "version: 1\nname: v\nvars:\n  catalog: AWS\nsteps:\n  - id: a\n    list-invitations: {catalog: \"{{ vars.catalog }}\"}\n";
    let output = Test::new()
        .file("p.yaml", playbook)
        .args(["run", "p.yaml", "--var", "catalgo=x", "--dry-run"])
        .run()
        .code(2);
    assert_eq!(
        output.stderr,
        "handoff: error: --var catalgo: no var `catalgo` is declared in the playbook (it declares catalog)\n"
    );
    let output = Test::new()
        .file("p.yaml", playbook)
        .args(["run", "p.yaml", "--var", "catalog=Sandbox", "--dry-run"])
        .run()
        .code(0);
    assert!(output.stdout.contains(r#"{"catalog":"Sandbox"}"#), "{}", output.stdout);
}

#[test]
fn the_demo_runs_every_playbook_and_reports_what_happened() {
    let output = Test::new().args(["demo"]).run().code(0);
    assert!(
        output.stdout.contains("invitations: 8 accepted, 0 still pending, 2 expired"),
        "{}",
        output.stdout
    );
    // 4 deploy jobs succeed and 2 fail; each of the 2 migrations takes several jobs (started,
    // still running, done: how many depends on the clock) and ends as one successful action
    // execution.
    assert!(
        output.stdout.contains("2 Failed, 0 left InProgress; action executions: 6 Succeeded, 2 Failed"),
        "{}",
        output.stdout
    );
    assert!(
        output.stdout.contains("artifacts: 6 inputs downloaded, 4 output artifacts uploaded"),
        "{}",
        output.stdout
    );
    assert!(output.stdout.contains("Succeeded migrated orders-db"), "{}", output.stdout);
    assert!(
        output
            .stdout
            .contains(r#"nothing done twice: {"invitations_with_several_tasks":[],"jobs_moved_twice":[]}"#)
    );
    assert!(output.stdout.contains("--profile partner"), "{}", output.stdout);
}
