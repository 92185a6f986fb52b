//! `exec` and worker mode (`run --every`), end to end: the built binary runs real child
//! processes (the scripts in `tests/fixtures/exec/`), real signals reach them, and the
//! emulator is the witness of what CodePipeline was told.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{EmulatorProcess, Output, Test, crate_dir, journal_json};

const CLIENT_TOKEN: &str = "exec-test-client-token-5d1e";

/// A fixture script's absolute path.
fn script(name: &str) -> String {
    crate_dir().join("tests/fixtures/exec").join(name).display().to_string()
}

/// Jobs for `--fixtures`: every fifth configured to fail; and the same jobs as a var.
fn jobs_fixture(n: usize) -> (String, Value) {
    let mut yaml =
        format!("client: {{ id: 11111111-2222-4333-8444-555555555555, token: {CLIENT_TOKEN} }}\njobs:\n");
    let mut vars = Vec::new();
    for i in 0..n {
        let id = format!("00000000-0000-4000-8000-{i:012}");
        let mode = if i % 5 == 4 { "fail" } else { "deploy" };
        yaml.push_str(&format!(
            "  - {{ id: {id}, nonce: \"{}\", configuration: {{ Mode: {mode} }} }}\n",
            7000 + i
        ));
        vars.push(json!({"id": id, "mode": mode}));
    }
    (yaml, Value::Array(vars))
}

/// Files in `dir` whose names start with `prefix`.
fn marks(dir: &Path, prefix: &str) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
                .count()
        })
        .unwrap_or(0)
}

fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |text| text.lines().count())
}

/// Whether a process is gone: no such pid, or a zombie nobody has reaped yet.
fn gone(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())) {
        Err(_) => true,
        Ok(stat) => stat.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

/// Runs handoff in the test's directory, keeping the directory (and what the programs left
/// there) for the assertions.
fn run(test: &Test, args: &[&str]) -> Output {
    let output = test.command().args(args).output().expect("handoff runs");
    Output {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn signal(child: &Child, name: &str) {
    let status = std::process::Command::new("kill").args([name, &child.id().to_string()]).status();
    assert!(status.is_ok_and(|s| s.success()), "kill {name}");
}

/// Waits for a child to exit, at most `limit`; its exit code.
fn wait_exit(child: &mut Child, limit: Duration) -> i32 {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("child status") {
            return status.code().unwrap_or(-1);
        }
        assert!(Instant::now() < deadline, "still running after {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The job worker of examples/job-worker.yaml, with job ids from a var (so a poll answer the
/// faults drop cannot strand jobs), the test's script as the work, and no retry settings:
/// the defaults a new user gets.
const FIFTY: &str = r#"
version: 1
name: fifty-exec
vars:
  jobs: { file: jobs.json }
secrets:
  token: { env: PARTNER_CLIENT_TOKEN }
steps:
  - id: details
    for-each: "{{ vars.jobs }}"
    concurrency: 8
    get-job-details: { job-id: "{{ item.id }}", client-token: "{{ secrets.token }}" }
  - id: ack
    for-each: "{{ steps.details.results | selectattr('status', 'eq', 'succeeded') | map(attribute='output.jobDetails') | list }}"
    concurrency: 8
    on-failure: continue
    acknowledge: { job-id: "{{ item.id }}", nonce: "{{ item.nonce }}", client-token: "{{ secrets.token }}" }
  - id: work
    for-each: "{{ steps.ack.results | selectattr('status', 'eq', 'succeeded') | map(attribute='item') | list }}"
    concurrency: 8
    on-failure: ignore
    exec:
      command: [SCRIPT]
      env:
        JOB_ID: "{{ item.id }}"
        MODE: "{{ item.data.actionConfiguration.configuration.Mode }}"
        MARKS: MARKS_DIR
      output: json
  - id: succeed
    for-each: "{{ steps.work.results | selectattr('status', 'eq', 'succeeded') | list }}"
    concurrency: 8
    report-success:
      job-id: "{{ item.item.id }}"
      client-token: "{{ secrets.token }}"
      execution-details: { summary: "deployed {{ item.output.stdout.deployed }}", percent-complete: 100 }
  - id: fail
    for-each: "{{ steps.work.results | selectattr('status', 'eq', 'failed') | list }}"
    concurrency: 8
    report-failure:
      job-id: "{{ item.item.id }}"
      client-token: "{{ secrets.token }}"
      failure-details: { type: JobFailed, message: "{{ item.error }}" }
"#;

/// 50 jobs under throttling, 5xx and dropped connections, with default retries: each job's
/// script ran once, and each job ended Succeeded or Failed exactly once, as its script said;
/// a failed job's message is the script's stderr.
#[test]
fn fifty_jobs_under_faults_run_their_script_and_report_what_it_decided() {
    let (fixture, jobs) = jobs_fixture(50);
    let test = Test::new().file("fixtures.yaml", &fixture).file("jobs.json", jobs.to_string());
    let marks_dir = test.path().join("marks");
    let playbook =
        FIFTY.replace("SCRIPT", &script("work.sh")).replace("MARKS_DIR", &marks_dir.display().to_string());
    let test = test.file("fifty.yaml", playbook).env("PARTNER_CLIENT_TOKEN", CLIENT_TOKEN);
    let emulator = EmulatorProcess::start(&[
        "--fixtures",
        &test.path().join("fixtures.yaml").display().to_string(),
        "--faults",
        "throttle=0.1,error=0.05,drop=0.02,drop_after=0.02",
        "--seed",
        "11",
    ]);
    let test = test.aws_env(&emulator);
    let output =
        run(&test, &["run", "fifty.yaml", "--endpoint-url", &emulator.url, "--progress", "plain"]).code(0);
    let summary = emulator.summary();
    assert_eq!(summary["jobs"], json!({"Succeeded": 40, "Failed": 10}), "{}\n{summary}", output.stderr);
    assert_eq!(summary["duplicates"]["jobs_moved_twice"], json!([]), "{summary}");
    for fault in ["throttle", "error", "drop"] {
        assert!(summary["faults"][fault].as_u64().unwrap_or(0) > 0, "no {fault} injected: {summary}");
    }
    let state = emulator.get("state");
    for (i, job) in jobs.as_array().unwrap().iter().enumerate() {
        let id = job["id"].as_str().unwrap();
        assert_eq!(marks(&marks_dir, &format!("{id}.")), 1, "job {id}'s script runs");
        let emulated = state["jobs"].as_array().unwrap().iter().find(|j| j["id"] == id).unwrap();
        if i % 5 == 4 {
            assert_eq!(emulated["status"], "Failed", "{emulated}");
            let message = emulated["result"]["failureDetails"]["message"].as_str().unwrap();
            assert_eq!(
                message,
                format!(
                    "exit-code:3: the program exited with code 3: job {id}: refused by its configuration (Mode=fail)"
                )
            );
        } else {
            assert_eq!(emulated["status"], "Succeeded", "{emulated}");
            assert_eq!(emulated["result"]["executionDetails"]["summary"], format!("deployed {id}"));
        }
    }
    assert!(!output.stderr.contains(CLIENT_TOKEN));
}

/// A program that outlives its timeout is ended with its whole process group, a grandchild
/// that ignores SIGTERM included; the item fails with class `timeout`, not retried.
#[test]
fn a_timeout_ends_the_whole_process_group_and_fails_the_item_with_class_timeout() {
    let test = Test::new();
    let marks_dir = test.path().join("marks");
    std::fs::create_dir_all(&marks_dir).unwrap();
    let playbook = format!(
        r#"
version: 1
name: timeout
steps:
  - id: stuck
    exec:
      command: [{script}]
      env: {{ MARKS: {marks} }}
      timeout: 1s
      grace-period: 1s
"#,
        script = script("forks.sh"),
        marks = marks_dir.display()
    );
    let started = Instant::now();
    let test = test.file("timeout.yaml", playbook);
    let output = run(&test, &["run", "timeout.yaml", "--progress", "plain"]);
    let output = output.code(1);
    assert!(started.elapsed() < Duration::from_secs(20), "took {:?}", started.elapsed());
    assert!(
        output.stderr.contains("step stuck failed after 1 attempt: timeout error: `"),
        "{}",
        output.stderr
    );
    let child = std::fs::read_to_string(marks_dir.join("child.pid"))
        .unwrap_or_else(|e| panic!("the script did not start ({e}):\n{}", output.stderr));
    let grandchild = std::fs::read_to_string(marks_dir.join("grandchild.pid")).expect("it forked");
    assert!(gone(&child), "the script {child} is still running");
    assert!(gone(&grandchild), "its grandchild {grandchild} is still running");
}

/// SIGTERM while programs run: each gets SIGTERM, handoff exits 143 within the grace period,
/// the journal holds the finished items only, and `--resume` runs the unfinished ones once
/// and no finished one again.
#[test]
fn sigterm_stops_running_programs_and_resume_runs_only_the_unfinished() {
    let test = Test::new();
    let marks_dir = test.path().join("marks");
    let playbook = format!(
        r#"
version: 1
name: drain
steps:
  - id: work
    for-each: [fast-a, fast-b, slow-c, slow-d, slow-e, slow-f]
    concurrency: 3
    exec:
      command: [{script}]
      env: {{ NAME: "{{{{ item }}}}", MARKS: {marks} }}
"#,
        script = script("slow.sh"),
        marks = marks_dir.display()
    );
    let test = test.file("drain.yaml", playbook);
    let mut child = test
        .command()
        .args(["run", "drain.yaml", "--progress", "plain"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("handoff starts");
    let deadline = Instant::now() + Duration::from_secs(30);
    while marks(&marks_dir, "slow-") < 3 {
        assert!(Instant::now() < deadline, "three slow programs never ran at once");
        std::thread::sleep(Duration::from_millis(20));
    }
    let signalled = Instant::now();
    signal(&child, "-TERM");
    assert_eq!(wait_exit(&mut child, Duration::from_secs(15)), 143);
    assert!(signalled.elapsed() < Duration::from_secs(10), "the drain took {:?}", signalled.elapsed());
    let running: Vec<&str> = ["slow-c", "slow-d", "slow-e"]
        .into_iter()
        .filter(|n| marks_dir.join(format!("{n}.started")).exists())
        .collect();
    assert_eq!(running.len(), 3);
    for name in &running {
        assert_eq!(lines(&marks_dir.join(format!("{name}.term"))), 1, "{name} got SIGTERM");
    }
    assert!(!marks_dir.join("slow-f.started").exists(), "slow-f started after the signal");

    let runs = test.command().args(["runs", "--format", "json"]).output().unwrap();
    let runs: Value = serde_json::from_slice(&runs.stdout).unwrap();
    let run_id = runs[0]["id"].as_str().unwrap().to_string();
    assert_eq!(runs[0]["status"], "stopped");
    assert_eq!(runs[0]["succeeded"], 2, "{runs}");

    // Programs stopped by the signal are not journaled: `--resume` runs them as new.
    assert_eq!(journaled_items(&test, &run_id).0.len(), 2);

    std::fs::write(marks_dir.join("go"), "").unwrap();
    test.command()
        .args(["run", "drain.yaml", "--resume", &run_id])
        .output()
        .map(|o| assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr)))
        .unwrap();
    for name in ["fast-a", "fast-b"] {
        assert_eq!(lines(&marks_dir.join(format!("{name}.started"))), 1, "{name} ran again");
    }
    for name in ["slow-c", "slow-d", "slow-e", "slow-f"] {
        assert_eq!(lines(&marks_dir.join(format!("{name}.done"))), 1, "{name} finished once");
    }
    let succeeded: Vec<(String, String)> = ["fast-a", "fast-b", "slow-c", "slow-d", "slow-e", "slow-f"]
        .into_iter()
        .map(|name| (name.to_string(), "succeeded".to_string()))
        .collect();
    assert_eq!(journaled_items(&test, &run_id).0, succeeded);
}

/// A run's journaled items as (label, status), sorted, and how many attempts it recorded.
fn journaled_items(test: &Test, run_id: &str) -> (Vec<(String, String)>, usize) {
    let detail = journal_json(test, &["show", run_id]);
    let mut rows: Vec<(String, String)> = detail["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| (i["label"].as_str().unwrap().to_string(), i["status"].as_str().unwrap().to_string()))
        .collect();
    rows.sort();
    (rows, detail["attempts"].as_array().map_or(0, Vec::len))
}

/// Items that failed are journaled as failed; `--resume` runs them again, and their new rows
/// replace the old ones: one row per item, with the attempts of both sessions.
#[test]
fn resume_replaces_the_rows_of_items_that_failed() {
    let test = Test::new();
    let ready = test.path().join("ready");
    std::fs::create_dir_all(&ready).unwrap();
    for name in ["a", "c"] {
        std::fs::write(ready.join(name), "").unwrap();
    }
    let playbook = format!(
        r#"
version: 1
name: later
steps:
  - id: work
    for-each: [a, b, c, d]
    on-failure: continue
    retry: {{ max-attempts: 1 }}
    exec:
      command: [test, -e, "{ready}/{{{{ item }}}}"]
"#,
        ready = ready.display()
    );
    let test = test.file("later.yaml", playbook);
    let first = test.command().args(["run", "later.yaml", "--progress", "plain"]).output().unwrap();
    assert_eq!(first.status.code(), Some(1), "{}", String::from_utf8_lossy(&first.stderr));
    let run_id = journal_json(&test, &["runs"])[0]["id"].as_str().unwrap().to_string();
    let rows = |statuses: [&str; 4]| -> Vec<(String, String)> {
        ["a", "b", "c", "d"].into_iter().zip(statuses).map(|(n, s)| (n.to_string(), s.to_string())).collect()
    };
    assert_eq!(journaled_items(&test, &run_id).0, rows(["succeeded", "failed", "succeeded", "failed"]));

    for name in ["b", "d"] {
        std::fs::write(ready.join(name), "").unwrap();
    }
    let resumed = test.command().args(["run", "later.yaml", "--resume", &run_id]).output().unwrap();
    assert_eq!(resumed.status.code(), Some(0), "{}", String::from_utf8_lossy(&resumed.stderr));
    let (after, attempts) = journaled_items(&test, &run_id);
    assert_eq!(after, rows(["succeeded"; 4]));
    // `runs` counts the journal's rows as they are: none left over from the first session.
    let runs = journal_json(&test, &["runs"]);
    assert_eq!((&runs[0]["succeeded"], &runs[0]["failed"]), (&json!(4), &json!(0)), "{runs}");
    // b's and d's failed attempts stay on record beside the rows that replaced theirs.
    assert!(attempts >= 2, "{attempts}");
}

/// Values that a shell would run, passed through `command:` and through `env:`, reach the
/// program as the text they are and run nothing.
#[test]
fn item_values_never_reach_a_shell_through_command_or_env() {
    let test = Test::new();
    let pwned = test.path().join("pwned");
    let hostile = [
        format!("x\"; touch {}; echo \"", pwned.display()),
        format!("$(touch {})", pwned.display()),
        format!("`touch {}`", pwned.display()),
        format!("; touch {} #", pwned.display()),
    ];
    let playbook = format!(
        r#"
version: 1
name: inject
vars:
  values: {values}
steps:
  - id: argv
    for-each: "{{{{ vars.values }}}}"
    exec:
      command: [printf, "%s", "{{{{ item }}}}"]
  - id: env
    for-each: "{{{{ vars.values }}}}"
    exec:
      command: [sh, -c, 'printf "%s" "$VALUE"']
      env: {{ VALUE: "{{{{ item }}}}" }}
"#,
        values = serde_json::to_string(&hostile).unwrap()
    );
    let test = test.file("inject.yaml", playbook);
    let report = test.path().join("report.json");
    let output = run(&test, &["run", "inject.yaml", "--report", &report.display().to_string()]).code(0);
    assert!(!pwned.exists(), "a value ran as a command\n{}", output.stderr);
    let rows: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let printed: BTreeMap<(String, u64), String> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            let key = (row["step"].as_str().unwrap().to_string(), row["index"].as_u64().unwrap());
            (key, row["output"]["stdout"].as_str().unwrap().to_string())
        })
        .collect();
    for step in ["argv", "env"] {
        for (i, value) in hostile.iter().enumerate() {
            assert_eq!(printed[&(step.to_string(), i as u64)], *value, "{step} {i}");
        }
    }
}

/// A secret passed in `env:` and printed by the program (stdout, stderr, a failure) shows in
/// no output channel and in no file handoff writes.
#[test]
fn a_secret_passed_in_env_and_echoed_shows_nowhere() {
    const SECRET: &str = "s3cr3t-deploy-key-81c4";
    let playbook = r#"
version: 1
name: leak
secrets:
  key: { env: DEPLOY_KEY }
steps:
  - id: echo
    for-each: [one, two]
    on-failure: continue
    exec:
      command: [sh, -c, 'echo "key=$KEY"; echo "stderr key=$KEY" >&2; [ "$1" = one ] || exit 4', sh, "{{ item }}"]
      env: { KEY: "{{ secrets.key }}" }
      stdin: "{{ secrets.key }}"
"#;
    let test = Test::new().file("leak.yaml", playbook).env("DEPLOY_KEY", SECRET);
    let json_report = test.path().join("report.json");
    let csv_report = test.path().join("report.csv");
    let mut outputs = Vec::new();
    for progress in ["plain", "json"] {
        let output = test
            .command()
            .args(["run", "leak.yaml", "--progress", progress, "-vv", "--report"])
            .arg(if progress == "plain" { &json_report } else { &csv_report })
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1), "{}", String::from_utf8_lossy(&output.stderr));
        outputs.push(output.stdout);
        outputs.push(output.stderr);
    }
    let dry = test.command().args(["run", "leak.yaml", "--dry-run"]).output().unwrap();
    outputs.push(dry.stdout);
    let runs: Value =
        serde_json::from_slice(&test.command().args(["runs", "--format", "json"]).output().unwrap().stdout)
            .unwrap();
    let run_id = runs[0]["id"].as_str().unwrap();
    let show = test.command().args(["show", run_id, "-v", "--format", "json"]).output().unwrap();
    assert!(String::from_utf8_lossy(&show.stdout).contains("key=********"), "the output is kept, masked");
    outputs.push(show.stdout);
    for output in &outputs {
        assert!(!String::from_utf8_lossy(output).contains(SECRET), "{}", String::from_utf8_lossy(output));
    }
    let state = test.journal().parent().unwrap().to_path_buf();
    for file in [json_report, csv_report]
        .into_iter()
        .chain(std::fs::read_dir(state).unwrap().map(|e| e.unwrap().path()))
    {
        let bytes = std::fs::read(&file).unwrap();
        assert!(!String::from_utf8_lossy(&bytes).contains(SECRET), "{} holds the secret", file.display());
    }
}

/// The worker playbook of the three-worker test: small polls, so jobs spread over workers
/// and iterations.
const WORKER: &str = r#"
version: 1
name: worker
secrets:
  token: { env: PARTNER_CLIENT_TOKEN }
steps:
  - id: poll
    poll-jobs:
      action-type: { category: Deploy, owner: ThirdParty, provider: AcmeDeploy, version: "1" }
      max-batch-size: 4
  - id: details
    for-each: "{{ steps.poll.output.jobs }}"
    concurrency: 4
    get-job-details: { job-id: "{{ item.jobId }}", client-token: "{{ secrets.token }}" }
  - id: ack
    for-each: "{{ steps.details.results | selectattr('status', 'eq', 'succeeded') | map(attribute='output.jobDetails') | list }}"
    concurrency: 4
    on-failure: continue
    acknowledge: { job-id: "{{ item.id }}", nonce: "{{ item.nonce }}", client-token: "{{ secrets.token }}" }
  - id: work
    for-each: "{{ steps.ack.results | selectattr('status', 'eq', 'succeeded') | map(attribute='item') | list }}"
    concurrency: 4
    on-failure: ignore
    exec:
      command: [SCRIPT]
      env:
        JOB_ID: "{{ item.id }}"
        MODE: "{{ item.data.actionConfiguration.configuration.Mode }}"
        WORKER: "{{ env.WORKER }}"
        MARKS: MARKS_DIR
      output: json
  - id: succeed
    for-each: "{{ steps.work.results | selectattr('status', 'eq', 'succeeded') | list }}"
    concurrency: 4
    report-success:
      job-id: "{{ item.item.id }}"
      client-token: "{{ secrets.token }}"
      execution-details: { summary: "deployed by worker {{ env.WORKER }}", percent-complete: 100 }
  - id: fail
    for-each: "{{ steps.work.results | selectattr('status', 'eq', 'failed') | list }}"
    concurrency: 4
    report-failure:
      job-id: "{{ item.item.id }}"
      client-token: "{{ secrets.token }}"
      failure-details: { type: JobFailed, message: "{{ item.error }}" }
"#;

/// Three workers (`--every 1s`, each with its own journal, as replicas have) on one queue
/// of 60 jobs: every job is acknowledged once and completed once, by the worker that
/// acknowledged it, whose script did the work; all three stop cleanly on SIGTERM.
#[test]
fn three_workers_share_sixty_jobs_and_each_job_is_done_once_by_the_worker_that_claimed_it() {
    let emulator =
        EmulatorProcess::start(&["--generate", "jobs=60,invitations=0,failing=10%", "--seed", "5"]);
    let test = Test::new();
    let marks_dir = test.path().join("marks");
    let playbook =
        WORKER.replace("SCRIPT", &script("work.sh")).replace("MARKS_DIR", &marks_dir.display().to_string());
    let test = test.file("worker.yaml", playbook).aws_env(&emulator);
    let mut workers: Vec<Child> = (1..=3)
        .map(|n| {
            test.command()
                .args([
                    "run",
                    "worker.yaml",
                    "--endpoint-url",
                    &emulator.url,
                    "--every",
                    "1s",
                    "--progress",
                    "plain",
                ])
                .arg("--state")
                .arg(test.path().join(format!("state-{n}/journal.sqlite")))
                .env("PARTNER_CLIENT_TOKEN", "handoff-emulator-client-token")
                .env("AWS_SDK_UA_APP_ID", format!("worker-{n}"))
                .env("WORKER", n.to_string())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("a worker starts")
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let jobs = emulator.summary()["jobs"].clone();
        let done = ["Succeeded", "Failed"].iter().map(|s| jobs[s].as_u64().unwrap_or(0)).sum::<u64>();
        if done == 60 {
            break;
        }
        for worker in &mut workers {
            assert!(worker.try_wait().unwrap().is_none(), "a worker stopped on its own: {jobs}");
        }
        assert!(Instant::now() < deadline, "not every job was done in two minutes: {jobs}");
        std::thread::sleep(Duration::from_millis(100));
    }
    for worker in &workers {
        signal(worker, "-TERM");
    }
    for worker in &mut workers {
        assert_eq!(wait_exit(worker, Duration::from_secs(15)), 143);
    }

    let ledger = emulator.get("ledger");
    let mut acknowledged: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut completed: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for entry in ledger.as_array().unwrap() {
        let (Some(job), Some(to)) = (entry["job"].as_str(), entry["to"].as_str()) else { continue };
        let client = entry["client"].as_str().unwrap_or("none").to_string();
        match to {
            "InProgress" => acknowledged.entry(job.to_string()).or_default().push(client),
            "Succeeded" | "Failed" => completed.entry(job.to_string()).or_default().push(client),
            _ => {}
        }
    }
    assert_eq!(acknowledged.len(), 60);
    assert_eq!(completed.len(), 60);
    let mut by_worker: BTreeMap<String, usize> = BTreeMap::new();
    for (job, acks) in &acknowledged {
        assert_eq!(acks.len(), 1, "{job} acknowledged {acks:?}");
        assert_eq!(completed[job], *acks, "{job} completed by another worker than the one that claimed it");
        *by_worker.entry(acks[0].clone()).or_default() += 1;
    }
    assert!(by_worker.keys().all(|k| k.starts_with("worker-")), "{by_worker:?}");
    // Each worker's script did the work of exactly the jobs its worker claimed.
    let mut worked: BTreeSet<(String, String)> = BTreeSet::new();
    for n in 1..=3 {
        let log = std::fs::read_to_string(marks_dir.join(format!("log-{n}"))).unwrap_or_default();
        for line in log.lines() {
            let (worker, job) = line.split_once(' ').unwrap();
            assert!(worked.insert((job.to_string(), format!("worker-{worker}"))), "{job} worked twice");
        }
    }
    let claimed: BTreeSet<(String, String)> =
        acknowledged.iter().map(|(job, acks)| (job.clone(), acks[0].clone())).collect();
    assert_eq!(worked, claimed);
}

/// An idle worker is quiet: one line when it starts, one when it goes idle, no journaled run
/// for an iteration that found nothing (unless asked), and `--max-runs` ends it.
#[test]
fn an_idle_worker_is_quiet_and_keeps_no_empty_runs() {
    let emulator = EmulatorProcess::start(&["--generate", "jobs=0,invitations=0"]);
    let test = Test::new();
    let playbook = WORKER
        .replace("SCRIPT", &script("work.sh"))
        .replace("MARKS_DIR", &test.path().join("marks").display().to_string());
    let test = test
        .file("worker.yaml", playbook)
        .env("PARTNER_CLIENT_TOKEN", "handoff-emulator-client-token")
        .aws_env(&emulator);
    let worker = |extra: &[&str]| {
        let output = test
            .command()
            .args([
                "run",
                "worker.yaml",
                "--endpoint-url",
                &emulator.url,
                "--every",
                "100ms",
                "--max-runs",
                "5",
            ])
            .args(["--progress", "plain"])
            .args(extra)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stderr).unwrap()
    };
    let runs = || -> Value {
        serde_json::from_slice(&test.command().args(["runs", "--format", "json"]).output().unwrap().stdout)
            .unwrap()
    };
    let stderr = worker(&[]);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(
        lines[0].ends_with("worker: running worker every 100ms, at most 5 times, until SIGINT or SIGTERM")
    );
    assert!(lines[1].ends_with("worker: nothing to do; polling every 100ms"), "{stderr}");
    assert_eq!(emulator.summary()["requests"]["PollForThirdPartyJobs"], 5);
    assert_eq!(runs(), json!([]));
    worker(&["--keep-idle-runs"]);
    assert_eq!(runs().as_array().map(Vec::len), Some(5));
}

/// `concurrency` bounds the programs running at once, and items do run side by side. Each
/// program marks itself running, counts the marks, and leaves a moment later; an item gives
/// its slot back only after its program has exited (then its outcome is committed).
#[test]
fn concurrency_bounds_the_programs_running_at_once() {
    let test = Test::new().file(
        "bounded.yaml",
        r#"
version: 1
name: bounded
vars:
  items: [a, b, c, d, e, f, g, h, i, j, k, l]
steps:
  - id: work
    for-each: "{{ vars.items }}"
    concurrency: 3
    exec:
      shell: |
        mkdir -p running && touch "running/$ITEM"
        ls running | wc -l >> seen
        sleep 0.3
        rm "running/$ITEM"
      env: { ITEM: "{{ item }}" }
"#,
    );
    let output = run(&test, &["run", "bounded.yaml"]).code(0);
    let seen: Vec<usize> = std::fs::read_to_string(test.path().join("seen"))
        .unwrap()
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect();
    assert_eq!(seen.len(), 12, "{}", output.stderr);
    let most = seen.iter().copied().max().unwrap();
    assert!(most <= 3, "{most} programs ran at once at concurrency 3: {seen:?}");
    assert!(most >= 2, "the items never ran side by side: {seen:?}");
}

/// Once `max-failures` is spent no new item starts, and the report says so for each item
/// that never ran: status `not_done`, error "not started", no output. The items that ran
/// keep what they did.
#[test]
fn items_stopped_by_max_failures_are_reported_as_not_started() {
    let test = Test::new().file(
        "budget.yaml",
        r#"
version: 1
name: budget
vars:
  items: [a, b, c, d, e, f]
steps:
  - id: work
    for-each: "{{ vars.items }}"
    max-failures: 1
    on-failure: continue
    exec:
      shell: 'echo "$ITEM" >> ran; exit 3'
      env: { ITEM: "{{ item }}" }
"#,
    );
    let output = run(&test, &["run", "budget.yaml", "--report", "report.json"]).code(1);
    let ran = std::fs::read_to_string(test.path().join("ran")).unwrap();
    assert_eq!(ran.lines().collect::<Vec<_>>(), ["a", "b"], "{}", output.stderr);
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(test.path().join("report.json")).unwrap())
            .expect("the report is JSON");
    let rows = report.as_array().or_else(|| report["rows"].as_array()).expect("report rows");
    assert_eq!(rows.len(), 6, "{report}");
    for (i, row) in rows.iter().enumerate() {
        if i < 2 {
            assert_eq!(row["status"], "failed", "{row}");
            assert_eq!(row["output"]["exit_code"], 3, "{row}");
        } else {
            assert_eq!(row["status"], "not_done", "{row}");
            assert_eq!(row["error"], "not started", "{row}");
            assert_eq!(row["output"], Value::Null, "{row}");
        }
    }
}
