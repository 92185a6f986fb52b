//! The run journal, resume, the lock and signals (SPEC section 4), end to end: the built
//! binary, a real SQLite file, real signals, and the emulator as the witness of what AWS
//! would have applied.

use std::io::{BufRead, BufReader};
use std::process::Child;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{EmulatorProcess, Output, Test, journal_json};

const BULK: &str = r#"
version: 1
name: bulk
defaults:
  retry: { max-attempts: 12, initial-delay: 20ms, max-delay: 500ms }
  timeout: 5s
rate-limits:
  accept-invitation: RATE
steps:
  - id: pending
    list-invitations: { catalog: AWS, status: [PENDING] }
  - id: accept
    for-each: "{{ steps.pending.output.EngagementInvitationSummaries }}"
    concurrency: 8
    accept-invitation: { catalog: AWS, identifier: "{{ item.Id }}" }
"#;

fn bulk_test(rate: &str) -> Test {
    Test::new().file("bulk.yaml", BULK.replace("RATE", rate))
}

fn run_args(emulator: &EmulatorProcess, extra: &[&str]) -> Vec<String> {
    let mut args = vec!["run".to_string(), "bulk.yaml".into(), "--endpoint-url".into(), emulator.url.clone()];
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// Accept tasks the emulator started: one per applied accept (the invitation itself turns
/// ACCEPTED only when its task completes).
fn accepted(emulator: &EmulatorProcess) -> u64 {
    let summary = emulator.summary();
    summary["tasks"].as_object().map_or(0, |tasks| tasks.values().filter_map(Value::as_u64).sum())
}

/// Waits (at most a minute) until the emulator has accepted `n` invitations.
fn wait_for_accepted(emulator: &EmulatorProcess, n: u64, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while accepted(emulator) < n {
        assert!(child.try_wait().expect("child status").is_none(), "the run ended before {n} accepts");
        assert!(Instant::now() < deadline, "fewer than {n} accepts after a minute");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `handoff <args>` with the test's journal, as JSON.
fn only_run_id(test: &Test) -> String {
    let runs = journal_json(test, &["runs"]);
    assert_eq!(runs.as_array().map(Vec::len), Some(1), "{runs}");
    runs[0]["id"].as_str().expect("run id").to_string()
}

fn item_statuses(detail: &Value, step: &str) -> std::collections::BTreeMap<String, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for item in detail["items"].as_array().expect("items") {
        if item["step_id"] == step {
            *counts.entry(item["status"].as_str().unwrap_or("?").to_string()).or_default() += 1;
        }
    }
    counts
}

fn spawn(test: &Test, args: &[String]) -> Child {
    test.command()
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("handoff starts")
}

fn resume(test: &Test, emulator: &EmulatorProcess, run_id: &str) -> Output {
    let output =
        test.command().args(run_args(emulator, &["--resume", run_id])).output().expect("handoff runs");
    Output {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// kill -9 halfway through 300 accepts under faults (some applied with their answer lost),
/// then `--resume`: every invitation accepted exactly once, none lost, all succeeded.
#[test]
fn a_run_killed_halfway_resumes_and_accepts_every_invitation_exactly_once() {
    let emulator = EmulatorProcess::start(&[
        "--generate",
        "invitations=300",
        "--quota",
        "accept=100/s",
        "--task-delay",
        "50ms",
        "--faults",
        "throttle=0.05,error=0.03,drop=0.02,drop_after=0.03",
        "--seed",
        "9",
    ]);
    let test = bulk_test("100/s").aws_env(&emulator);
    let mut child = spawn(&test, &run_args(&emulator, &[]));
    wait_for_accepted(&emulator, 150, &mut child);
    child.kill().expect("kill -9");
    child.wait().expect("reaped");
    let before = accepted(&emulator);
    assert!(before < 300, "the run finished before it was killed");

    let run_id = only_run_id(&test);
    // Nobody holds the lock of a killed run: it shows as interrupted.
    assert_eq!(journal_json(&test, &["runs"])[0]["status"], "interrupted");
    let journaled = item_statuses(&journal_json(&test, &["show", &run_id]), "accept");
    assert!(journaled.get("succeeded").copied().unwrap_or(0) as u64 <= before, "{journaled:?}");

    let output = resume(&test, &emulator, &run_id).code(0);
    assert!(output.stderr.contains("done before"), "{}", output.stderr);
    std::thread::sleep(Duration::from_millis(300));
    let summary = emulator.summary();
    assert_eq!(summary["invitations"], json!({"ACCEPTED": 300}), "{}\n{summary}", output.stderr);
    assert_eq!(
        summary["tasks"]["IN_PROGRESS"].as_u64().unwrap_or(0)
            + summary["tasks"]["COMPLETE"].as_u64().unwrap_or(0),
        300
    );
    assert_eq!(summary["duplicates"]["invitations_with_several_tasks"], json!([]), "{summary}");
    assert!(summary["faults"]["drop_after"].as_u64().unwrap_or(0) > 0, "{summary}");
}

/// SIGTERM halfway: the calls in flight finish, the journal records them, exit 143; every
/// item the journal calls succeeded is one the emulator applied, and a resume completes.
#[test]
fn sigterm_drains_exits_143_and_the_run_resumes() {
    let emulator = EmulatorProcess::start(&[
        "--generate",
        "invitations=300",
        "--quota",
        "accept=50/s",
        "--task-delay",
        "50ms",
    ]);
    let test = bulk_test("50/s").aws_env(&emulator);
    let mut child = spawn(&test, &run_args(&emulator, &[]));
    wait_for_accepted(&emulator, 100, &mut child);
    let signalled = Instant::now();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(status.success());
    let output = child.wait_with_output().expect("the run ends");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(143), "{stderr}");
    // Within the in-flight timeout (5 s per attempt), not after the other 200 items.
    assert!(signalled.elapsed() < Duration::from_secs(5), "took {:?}", signalled.elapsed());
    assert!(stderr.contains("SIGTERM: stopping"), "{stderr}");

    let run_id = only_run_id(&test);
    let detail = journal_json(&test, &["show", &run_id]);
    assert_eq!(detail["run"]["status"], "stopped");
    assert_eq!(detail["run"]["exit_code"], 143);
    let journaled = item_statuses(&detail, "accept");
    // Drained: what the emulator applied is exactly what the journal calls succeeded.
    assert_eq!(journaled.get("succeeded").copied().unwrap_or(0) as u64, accepted(&emulator), "{journaled:?}");
    assert_eq!(journaled.get("failed"), None, "{journaled:?}");

    resume(&test, &emulator, &run_id).code(0);
    assert_eq!(accepted(&emulator), 300);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(emulator.summary()["invitations"], json!({"ACCEPTED": 300}));
    let detail = journal_json(&test, &["show", &run_id]);
    assert_eq!(item_statuses(&detail, "accept"), [("succeeded".to_string(), 300)].into());
    assert_eq!(detail["run"]["status"], "succeeded");
    assert_eq!(detail["run"]["resumes"], 1);
    assert_eq!(emulator.summary()["duplicates"]["invitations_with_several_tasks"], json!([]));
    // Every item's last attempt is listed in the session that finished it, whether the
    // journal has a row for it or (done at the first try) the item's row stands for it.
    let attempts = detail["attempts"].as_array().expect("attempts");
    for item in detail["items"].as_array().expect("items") {
        let last = attempts.iter().find(|a| {
            a["item_key"] == item["key"]
                && a["session"] == item["session"]
                && a["attempt"] == item["attempts"]
        });
        assert_eq!(last.map(|a| &a["outcome"]), Some(&json!("succeeded")), "{item}");
    }
    let sessions: std::collections::BTreeSet<u64> =
        attempts.iter().filter_map(|a| a["session"].as_u64()).collect();
    assert_eq!(sessions, [0, 1].into(), "the first run and its resumption");
}

/// The second of two concurrent runs of one playbook exits 3 at once, naming the first.
#[test]
fn a_second_concurrent_run_exits_3_naming_the_holder() {
    let emulator = EmulatorProcess::start(&[
        "--generate",
        "invitations=60",
        "--quota",
        "accept=20/s",
        "--task-delay",
        "50ms",
    ]);
    let test = bulk_test("20/s").aws_env(&emulator);
    let mut first =
        test.command().args(run_args(&emulator, &[])).stderr(std::process::Stdio::piped()).spawn().unwrap();
    // Wait for the first run to say it started: it holds the lock by then.
    let mut lines = BufReader::new(first.stderr.take().unwrap()).lines();
    let started =
        lines.by_ref().map_while(Result::ok).find(|line| line.contains("started")).expect("first run starts");
    let run_id = started.split_whitespace().nth(2).expect("run id").to_string();

    let began = Instant::now();
    let second = test.command().args(run_args(&emulator, &[])).output().unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(3), "{stderr}");
    assert!(began.elapsed() < Duration::from_secs(5));
    assert!(
        stderr.contains(&format!(
            "another run of playbook `bulk` is in progress: run {run_id} (pid {} on ",
            first.id()
        )),
        "{stderr}"
    );
    first.kill().unwrap();
    first.wait().unwrap();
    // A lock whose holder died is free again.
    let third = test.command().args(run_args(&emulator, &["--resume", &run_id])).output().unwrap();
    assert_eq!(third.status.code(), Some(0), "{}", String::from_utf8_lossy(&third.stderr));
}

/// A resume whose playbook now yields other items is refused before anything is sent.
#[test]
fn a_resume_with_changed_items_is_refused() {
    let emulator = EmulatorProcess::start(&["--generate", "invitations=2", "--quota", "off"]);
    let playbook = |ids: &str| {
        format!(
            "version: 1\nname: listed\nsteps:\n  - id: accept\n    for-each: [{ids}]\n    on-failure: continue\n    \
             accept-invitation: {{ catalog: AWS, identifier: \"{{{{ item }}}}\" }}\n"
        )
    };
    // The first id is not in the emulator: that item fails, so the run can be resumed.
    let test = Test::new()
        .file("listed.yaml", playbook("engi-0000000000000, engi-0000000000001"))
        .aws_env(&emulator);
    let args = ["run", "listed.yaml", "--endpoint-url", &emulator.url];
    let first = test.command().args(args).output().unwrap();
    assert_eq!(first.status.code(), Some(1), "{}", String::from_utf8_lossy(&first.stderr));
    let run_id = only_run_id(&test);
    let requests = emulator.summary()["requests"].clone();

    std::fs::write(test.path().join("listed.yaml"), playbook("engi-0000000000002, engi-0000000000003"))
        .unwrap();
    let refused = test.command().args(args).args(["--resume", &run_id]).output().unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("cannot resume: the items of step `accept` changed"), "{stderr}");
    assert_eq!(emulator.summary()["requests"], requests, "a refused resume sent something");
}

/// The journal's bytes (and its WAL) hold none of the secrets: the CodePipeline client
/// token, and the artifact credentials that job details carry.
#[test]
fn the_journal_holds_no_secret() {
    let emulator = EmulatorProcess::start(&["--generate", "jobs=3"]);
    let token = handoff::emulator::DEFAULT_CLIENT_TOKEN;
    let playbook = r#"
version: 1
name: worker
secrets:
  token: { file: token.txt }
steps:
  - id: poll
    poll-jobs:
      action-type: { category: Deploy, owner: ThirdParty, provider: AcmeDeploy, version: "1" }
      max-batch-size: 10
  - id: details
    for-each: "{{ steps.poll.output.jobs }}"
    get-job-details: { job-id: "{{ item.jobId }}", client-token: "{{ secrets.token }}" }
  - id: ack
    name: "ack {{ item.output.jobDetails.data.artifactCredentials.accessKeyId }}"
    for-each: "{{ steps.details.results }}"
    acknowledge:
      job-id: "{{ item.output.jobDetails.id }}"
      nonce: "{{ item.output.jobDetails.nonce }}"
      client-token: "{{ secrets.token }}"
"#;
    let test = Test::new().file("worker.yaml", playbook).file("token.txt", token).aws_env(&emulator);
    let output =
        test.command().args(["run", "worker.yaml", "--endpoint-url", &emulator.url]).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let run_id = only_run_id(&test);
    let detail = journal_json(&test, &["show", &run_id]);
    assert_eq!(item_statuses(&detail, "ack"), [("succeeded".to_string(), 3)].into(), "{detail}");

    let credentials = emulator.get("credentials");
    let mut secrets = vec![token.to_string()];
    for job in credentials.as_array().expect("the emulator lists the credentials it handed out") {
        for field in ["accessKeyId", "secretAccessKey", "sessionToken"] {
            secrets.push(job[field].as_str().expect("a credential").to_string());
        }
    }
    assert_eq!(secrets.len(), 10);
    let mut bytes = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let mut path = test.journal().into_os_string();
        path.push(suffix);
        bytes.extend(std::fs::read(&path).unwrap_or_default());
    }
    assert!(bytes.len() > 4096, "the journal is empty");
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains("********"), "the masked values are not where expected");
    for secret in &secrets {
        assert!(!text.contains(secret.as_str()), "the journal holds a secret: {secret}");
    }
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(test.journal()).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

/// A daily quota that runs out stops the step cleanly: no failed items, the rest left for
/// `--resume`, exit 1; nothing is hammered against the exhausted quota.
#[test]
fn a_used_up_daily_quota_stops_the_step_and_leaves_the_rest_for_resume() {
    let emulator = EmulatorProcess::start(&["--generate", "invitations=30", "--quota", "accept=100/s,20"]);
    let test = bulk_test("100/s").aws_env(&emulator);
    let output = test.command().args(run_args(&emulator, &[])).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("ServiceQuotaExceededException"), "{stderr}");
    assert!(stderr.contains("the rest are left for --resume"), "{stderr}");
    assert_eq!(accepted(&emulator), 20);
    let summary = emulator.summary();
    // At most the items in flight when the first refusal came were refused; none retried.
    let refused = summary["throttled_by_quota"].as_u64().unwrap();
    assert!((1..=8).contains(&refused), "{summary}");
    let run_id = only_run_id(&test);
    let detail = journal_json(&test, &["show", &run_id]);
    assert_eq!(item_statuses(&detail, "accept"), [("succeeded".to_string(), 20)].into(), "{detail}");
    let accept =
        detail["steps"].as_array().unwrap().iter().find(|s| s["step_id"] == "accept").unwrap().clone();
    assert_eq!((accept["failed"].as_u64(), accept["not_done"].as_u64()), (Some(0), Some(10)), "{accept}");
}

/// A second signal exits at once, without waiting for calls in flight (each takes 4 s here);
/// the journal is still consistent: it opens, shows the run, and a resume completes with
/// every invitation accepted exactly once.
#[test]
fn a_second_signal_exits_at_once_and_the_journal_stays_consistent() {
    let emulator = EmulatorProcess::start(&[
        "--generate",
        "invitations=40",
        "--quota",
        "off",
        "--task-delay",
        "50ms",
        "--faults",
        "latency=4s",
    ]);
    let test = bulk_test("50/s").aws_env(&emulator);
    let child = spawn(&test, &run_args(&emulator, &[]));
    // Wait until accepts are in flight: the list (4 s) answered, and the first accepts went
    // out right after it; each takes 4 s (the step's timeout is 5 s).
    let deadline = Instant::now() + Duration::from_secs(60);
    while emulator.summary()["requests"]["ListEngagementInvitations"].as_u64().unwrap_or(0) == 0 {
        assert!(Instant::now() < deadline, "the list was not answered");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(500));
    let kill = |child: &Child| {
        let status =
            std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
        assert!(status.success());
    };
    kill(&child);
    std::thread::sleep(Duration::from_millis(300));
    let second = Instant::now();
    kill(&child);
    let output = child.wait_with_output().expect("the run ends");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(143), "{stderr}");
    // Not drained: the calls in flight had about 3 s to go, and no summary was printed.
    assert!(second.elapsed() < Duration::from_secs(2), "{stderr}");
    assert!(stderr.contains("SIGTERM: stopping") && !stderr.contains("STEP "), "{stderr}");

    let run_id = only_run_id(&test);
    let detail = journal_json(&test, &["show", &run_id]);
    assert_eq!(detail["run"]["status"], "interrupted", "the run was cut off, not finished: {detail}");
    assert_eq!(item_statuses(&detail, "accept").get("succeeded"), None, "{detail}");
    resume(&test, &emulator, &run_id).code(0);
    assert_eq!(accepted(&emulator), 40);
    assert_eq!(emulator.summary()["duplicates"]["invitations_with_several_tasks"], json!([]));
}

/// The rolling 24-hour quota of Partner Central's writes (10,000, documented) is counted from
/// every run in the journal: a run whose items will not fit says so at its start, starts only
/// what fits, and leaves the rest for `--resume`, instead of running into the service's wall.
#[test]
fn a_run_that_does_not_fit_the_rolling_daily_quota_starts_only_what_fits() {
    use handoff::events::ItemStatus;
    use handoff::journal::{ItemRecord, Journal, NewRun};
    let emulator = EmulatorProcess::start(&["--generate", "invitations=8", "--task-delay", "50ms"]);
    // No rate-limits: the documented quota, 1/s and 10,000 a day, is in force.
    let playbook = r#"
version: 1
name: bulk-default
steps:
  - id: pending
    list-invitations: { catalog: AWS, status: [PENDING] }
  - id: accept
    for-each: "{{ steps.pending.output.EngagementInvitationSummaries }}"
    concurrency: 4
    accept-invitation: { catalog: AWS, identifier: "{{ item.Id }}" }
"#;
    let test = Test::new().file("bulk.yaml", playbook).aws_env(&emulator);
    std::fs::create_dir_all(test.journal().parent().unwrap()).unwrap();
    let journal = Journal::open(&test.journal()).expect("journal");
    let an_hour_ago = (chrono::Utc::now() - chrono::Duration::hours(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let earlier = NewRun {
        id: "20261122T230000Z-0001",
        playbook: "crm-sync",
        path: "crm-sync.yaml",
        content_hash: "0",
        arguments: &[],
        started_at: &an_hour_ago,
    };
    journal.begin_run(&earlier).unwrap();
    let items: Vec<ItemRecord> = (0..9_995)
        .map(|i| ItemRecord {
            step_id: "accept".into(),
            action: "accept-invitation".into(),
            key: format!("k{i}"),
            position: Some(i),
            replaces: None,
            label: String::new(),
            status: ItemStatus::Succeeded,
            attempts: 1,
            throttled: 0,
            input: Value::Null,
            output: Value::Null,
            error_code: None,
            error: None,
            started_at: an_hour_ago.clone(),
            finished_at: an_hour_ago.clone(),
        })
        .collect();
    let rows: Vec<(&ItemRecord, &[handoff::journal::AttemptRecord])> =
        items.iter().map(|i| (i, &[][..])).collect();
    journal.record_items(earlier.id, 0, &rows).unwrap();
    drop(journal);

    let output = test.command().args(run_args(&emulator, &["--progress", "plain"])).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "step accept: the rolling 24-hour quota of partnercentral-selling-writes has 5 of 10000 calls left \
             (9995 made by runs in this journal), fewer than the step's 8 items: 5 start; no more items start, \
             the rest are left for --resume"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("limit 1/s, shared by partnercentral-selling-writes: the quota AWS documents"),
        "{stderr}"
    );
    assert_eq!(accepted(&emulator), 5);
    assert_eq!(
        emulator.summary()["throttled_by_quota"],
        0,
        "paced at the documented 1/s from the first call"
    );
}

/// A later step reads every result of a bulk step. With a journal, outputs are not kept in
/// memory: `steps.accept.results` reads each one back from the journal when a template
/// reaches it (the scale benchmark shows the memory; this shows the values are all there, in
/// item order, and the report, also written from the journal, agrees).
#[test]
fn a_later_step_reads_a_bulk_steps_results_back_from_the_journal() {
    let emulator = EmulatorProcess::start(&["--generate", "invitations=400", "--quota", "off"]);
    let playbook = r#"
version: 1
name: spill
rate-limits: { accept-invitation: unlimited }
steps:
  - id: pending
    list-invitations: { catalog: AWS, status: [PENDING] }
  - id: accept
    for-each: "{{ steps.pending.output.EngagementInvitationSummaries }}"
    concurrency: 16
    accept-invitation: { catalog: AWS, identifier: "{{ item.Id }}" }
  - id: tally
    exec:
      command:
        - echo
        - "{{ steps.accept.results | selectattr('status', 'eq', 'succeeded') | length }}"
        - "{{ steps.accept.results | map(attribute='output.TaskId') | join(',') }}"
        - "{{ steps.accept.results[-1].item.Id }}={{ steps.accept.results[-1].output.TaskId }}"
"#;
    let test = Test::new().aws_env(&emulator).file("spill.yaml", playbook);
    let out = test
        .command()
        .args([
            "run",
            "spill.yaml",
            "--endpoint-url",
            &emulator.url,
            "--report",
            "report.json",
            "--progress",
            "none",
        ])
        .output()
        .expect("handoff runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value =
        serde_json::from_slice(&std::fs::read(test.path().join("report.json")).expect("report"))
            .expect("JSON");
    let rows = report.as_array().expect("rows");
    let accepts: Vec<&Value> = rows.iter().filter(|r| r["step"] == "accept").collect();
    assert_eq!(accepts.len(), 400);
    let tasks: Vec<&str> =
        accepts.iter().map(|r| r["output"]["TaskId"].as_str().expect("a TaskId")).collect();
    let unique: std::collections::BTreeSet<&&str> = tasks.iter().collect();
    assert_eq!(unique.len(), 400, "every accept has its own task");
    // What the exec step was given, read back from the journal item by item.
    let tally = rows.iter().find(|r| r["step"] == "tally").expect("the tally row");
    let stdout = tally["output"]["stdout"].as_str().expect("stdout").trim().to_string();
    let words: Vec<&str> = stdout.split(' ').collect();
    assert_eq!(words[0], "400", "{stdout}");
    assert_eq!(words[1], tasks.join(","), "results come back in item order");
    let last = accepts.last().expect("a last accept");
    let detail = journal_json(&test, &["show", &only_run_id(&test)]);
    let last_id = detail["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|i| i["step_id"] == "accept" && i["key"] == last["key"])
        .map(|i| i["input"]["identifier"].clone())
        .expect("the last accept in the journal");
    assert_eq!(words[2], format!("{}={}", last_id.as_str().unwrap_or("?"), tasks[399]));
}

/// `handoff prune`, as an operator runs it: a named run goes with everything recorded of it,
/// a failed one is kept by age but can be named, too short a retention and an unknown run
/// are clear errors, and nothing else is touched.
#[test]
fn prune_removes_named_and_old_runs_and_refuses_what_would_break_the_quota_count() {
    let ok = "version: 1\nname: ok\nsteps:\n  - id: a\n    exec: { command: [\"true\"] }\n";
    let bad = "version: 1\nname: bad\nsteps:\n  - id: a\n    exec: { command: [\"false\"] }\n";
    let test = Test::new().file("ok.yaml", ok).file("bad.yaml", bad);
    let run = |args: &[&str]| {
        let output = test.command().args(args).output().expect("handoff runs");
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    assert_eq!(run(&["run", "ok.yaml"]).0, 0);
    assert_eq!(run(&["run", "ok.yaml"]).0, 0);
    assert_eq!(run(&["run", "bad.yaml"]).0, 1);
    let ids = run_ids(&test);
    assert_eq!(ids.len(), 3);

    // Everything is younger than a day: by age nothing goes.
    let (code, stdout, _) = run(&["prune", "--older-than", "30d"]);
    assert_eq!((code, stdout.lines().next()), (0, Some("removed 0 runs (0 items)")));
    let (code, _, stderr) = run(&["prune", "--older-than", "1h"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("less than 24h") && stderr.contains("rolling daily quota"), "{stderr}");
    let (code, _, stderr) = run(&["prune", "no-such-run"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("no run `no-such-run` in the journal"), "{stderr}");

    // Named: the failed run (resumable) and one of the succeeded ones go; a dry run first.
    let (failed, succeeded) = (ids[0].as_str(), ids[1].as_str());
    let (code, stdout, _) = run(&["prune", failed, succeeded, "--dry-run"]);
    assert_eq!(code, 0);
    assert!(stdout.starts_with("would remove 2 runs"), "{stdout}");
    assert_eq!(journal_json(&test, &["runs"]).as_array().unwrap().len(), 3, "a dry run removes nothing");
    let pruned = journal_json(&test, &["prune", failed, succeeded]);
    assert_eq!(pruned["removed"].as_array().unwrap().len(), 2, "{pruned}");
    let left = run_ids(&test);
    assert_eq!(left, [ids[2].clone()]);
    let (code, _, stderr) = run(&["show", failed]);
    assert!(code != 0 && stderr.contains("no run"), "gone with its items: {stderr}");
}

/// A worker prunes as it goes: the runs that succeeded longer ago than `--keep-runs-for`
/// (7 days unless said) are gone after its first iteration; a failed one as old stays.
#[test]
fn a_worker_prunes_runs_older_than_its_retention() {
    let ok = "version: 1\nname: ok\nsteps:\n  - id: a\n    exec: { command: [\"true\"] }\n";
    let bad = "version: 1\nname: bad\nsteps:\n  - id: a\n    exec: { command: [\"false\"] }\n";
    let test = Test::new().file("ok.yaml", ok).file("bad.yaml", bad);
    for (playbook, code) in [("ok.yaml", 0), ("ok.yaml", 0), ("bad.yaml", 1)] {
        assert_eq!(test.command().args(["run", playbook]).output().unwrap().status.code(), Some(code));
    }
    let ids = run_ids(&test);
    // The failed run and the older succeeded one ended eight days ago.
    let old = "2020-01-01T00:00:00.000Z";
    let db = rusqlite::Connection::open(test.journal()).unwrap();
    db.execute("UPDATE runs SET ended_at = ?1 WHERE id IN (?2, ?3)", rusqlite::params![old, ids[0], ids[2]])
        .unwrap();
    drop(db);
    let output =
        test.command().args(["run", "ok.yaml", "--every", "1s", "--max-runs", "1"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("worker: pruned 1 run that succeeded more than 7days ago"), "{stderr}");
    let left = run_ids(&test);
    assert_eq!(left.len(), 3, "the worker's own run, the recent one and the failed one: {left:?}");
    assert!(left.contains(&ids[0]) && left.contains(&ids[1]) && !left.contains(&ids[2]), "{left:?} {ids:?}");
}

/// The ids of the runs in the test's journal, newest first.
fn run_ids(test: &Test) -> Vec<String> {
    journal_json(test, &["runs"])
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}
