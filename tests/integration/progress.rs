//! What a run shows: the live display in a real pseudo-terminal (read back through a
//! terminal emulator, as a person would see the screen), plain lines without a terminal,
//! JSON events against their schema, and both report formats.

use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::{EmulatorProcess, Test, crate_dir};

const BULK: &str = r#"
version: 1
name: bulk
defaults:
  retry: { max-attempts: 8, initial-delay: 20ms, max-delay: 200ms }
rate-limits:
  accept-invitation: RATE
steps:
  - id: pending
    list-invitations: { catalog: AWS, status: [PENDING] }
  - id: accept
    name: "accept {{ item.Id }}"
    for-each: "{{ steps.pending.output.EngagementInvitationSummaries }}"
    concurrency: 4
    on-failure: continue
    accept-invitation: { catalog: AWS, identifier: "{{ item.Id }}" }
  - id: broken
    for-each: [engi-0000000000000]
    on-failure: continue
    accept-invitation: { catalog: AWS, identifier: "{{ item }}" }
"#;

fn bulk(rate: &str) -> Test {
    Test::new().file("bulk.yaml", BULK.replace("RATE", rate))
}

/// The screen of a terminal that handoff draws on, as text rows.
fn screen_text(parser: &Mutex<vt100::Parser>) -> String {
    let parser = parser.lock().unwrap();
    parser.screen().rows(0, 120).map(|row| row.trim_end().to_string()).collect::<Vec<_>>().join("\n")
}

/// `handoff run` in a real pseudo-terminal: mid-run the screen shows the bar of the running
/// step with its counts; at the end, a line per step and the summary table.
#[test]
fn on_a_terminal_the_display_shows_bars_mid_run_and_a_summary_at_the_end() {
    use portable_pty::{CommandBuilder, PtySize, native_pty_system};
    let emulator = EmulatorProcess::start(&[
        "--generate",
        "invitations=40",
        "--quota",
        "accept=20/s",
        "--faults",
        "throttle=0.05",
    ]);
    let test = bulk("20/s").aws_env(&emulator);
    let pty = native_pty_system()
        .openpty(PtySize { rows: 40, cols: 120, pixel_width: 0, pixel_height: 0 })
        .unwrap();
    let std_command = test.command();
    let mut command = CommandBuilder::new(std_command.get_program());
    command.cwd(test.path());
    for (key, value) in std_command.get_envs() {
        match value {
            Some(value) => command.env(key, value),
            None => command.env_remove(key),
        }
    }
    command.env("TERM", "xterm-256color");
    command.args(["--color", "never", "run", "bulk.yaml", "--endpoint-url", &emulator.url]);
    let mut child = pty.slave.spawn_command(command).unwrap();
    drop(pty.slave);
    let parser = Arc::new(Mutex::new(vt100::Parser::new(
        std::num::NonZero::new(40).unwrap(),
        std::num::NonZero::new(120).unwrap(),
        0,
    )));
    let mut reader = pty.master.try_clone_reader().unwrap();
    let feeding = parser.clone();
    let pump = std::thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        while let Ok(n) = reader.read(&mut buffer) {
            if n == 0 {
                break;
            }
            feeding.lock().unwrap().process(&buffer[..n]);
        }
    });

    // Mid-run: a quarter of the accepts done, the bar of `accept` on screen.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mid = loop {
        let screen = screen_text(&parser);
        let tasks =
            emulator.summary()["tasks"].as_object().map_or(0, |t| t.values().filter_map(Value::as_u64).sum());
        if tasks >= 10 && screen.contains("accept [") {
            break screen;
        }
        assert!(Instant::now() < deadline, "no bar after a minute:\n{screen}");
        std::thread::sleep(Duration::from_millis(50));
    };
    println!("mid-run screen:\n{mid}\n");
    assert!(mid.contains("✔ pending (list-invitations) 1 succeeded"), "{mid}");
    let bar = mid.lines().find(|l| l.starts_with("accept [")).unwrap();
    assert!(bar.contains("/40 ok "), "{bar}");
    for part in ["· failed ", "· skipped ", "· in flight ", "/s (limit 20.0/s)"] {
        assert!(bar.contains(part), "`{part}` missing from the bar: {bar}");
    }

    let status = child.wait().unwrap();
    drop(pty.master);
    let _ = pump.join();
    let end = screen_text(&parser);
    println!("final screen:\n{end}\n");
    assert_eq!(status.exit_code(), 1, "{end}");
    assert!(end.contains("✔ accept (accept-invitation) 40 succeeded, 0 failed"), "{end}");
    assert!(
        end.contains(
            "✘ step broken item 0 (engi-0000000000000) failed after 1 attempt: ResourceNotFoundException"
        ),
        "{end}"
    );
    assert!(end.contains("STEP     ACTION             STATUS     OK  FAILED"), "{end}");
    assert!(end.lines().any(|l| l.starts_with("accept   accept-invitation  succeeded  40")), "{end}");
    assert!(!end.contains("accept ["), "a bar was left behind:\n{end}");
}

/// Without a terminal: plain timestamped lines, not one escape byte, even with colour
/// forced and retries shown; the summary ends it.
#[test]
fn without_a_terminal_the_output_is_plain_lines_without_escape_codes() {
    let emulator = EmulatorProcess::start(&[
        "--generate",
        "invitations=30",
        "--quota",
        "off",
        "--faults",
        "throttle=0.2,error=0.1",
    ]);
    let output = bulk("200/s")
        .aws_env(&emulator)
        .args(["--color", "always", "run", "bulk.yaml", "--endpoint-url", &emulator.url, "-vv"])
        .run()
        .code(1);
    assert!(!output.stderr.contains('\u{1b}') && !output.stdout.contains('\u{1b}'), "{:?}", output.stderr);
    let timestamped = regex::Regex::new(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ ").unwrap();
    let (lines, table): (Vec<&str>, Vec<&str>) = output.stderr.lines().partition(|l| timestamped.is_match(l));
    assert!(lines.iter().any(|l| l.contains("retrying in") && l.contains("[HTTP ")), "{}", output.stderr);
    assert!(lines.iter().any(|l| l.contains("step accept: ") && l.contains("/30 done")), "{}", output.stderr);
    assert_eq!(table[0].split_whitespace().next(), Some("STEP"), "{}", output.stderr);
    let run_line = table.iter().find(|l| l.starts_with("run ")).expect("the run's line");
    assert!(run_line.contains(" failed (steps broken)"), "{run_line}");

    // --quiet: the failure and the summary, nothing else.
    let quiet = bulk("200/s")
        .aws_env(&emulator)
        .args(["run", "bulk.yaml", "--endpoint-url", &emulator.url, "--quiet"])
        .run()
        .code(1);
    let timestamped_lines: Vec<&str> = quiet.stderr.lines().filter(|l| timestamped.is_match(l)).collect();
    assert!(timestamped_lines.iter().all(|l| l.contains(" failed ")), "{}", quiet.stderr);
    assert!(quiet.stderr.contains("\nrun "), "{}", quiet.stderr);
}

/// `--progress json`: every line is an event that validates against the published schema,
/// in an order a tool can rely on.
#[test]
fn json_events_follow_their_schema() {
    let emulator = EmulatorProcess::start(&[
        "--generate",
        "invitations=12",
        "--quota",
        "off",
        "--faults",
        "throttle=0.2",
    ]);
    let output = bulk("100/s")
        .aws_env(&emulator)
        .args(["run", "bulk.yaml", "--endpoint-url", &emulator.url, "--progress", "json"])
        .run()
        .code(1);
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(crate_dir().join("schemas/events.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the events schema compiles");
    let events: Vec<Value> =
        output.stdout.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    for event in &events {
        let errors: Vec<String> = validator.iter_errors(event).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{event}: {errors:?}");
    }
    let kinds: Vec<&str> = events.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(kinds.first(), Some(&"run_started"));
    assert_eq!(kinds.last(), Some(&"run_finished"));
    for kind in ["step_started", "pace", "item_started", "retrying", "item_finished", "step_finished"] {
        assert!(kinds.contains(&kind), "no {kind} event: {kinds:?}");
    }
    let finished = events.last().unwrap();
    assert_eq!(finished["counts"]["succeeded"], 13);
    assert_eq!(finished["counts"]["failed"], 1);
    assert_eq!(
        kinds.iter().filter(|k| **k == "item_finished").count(),
        14,
        "one per item and one for the list call"
    );
    assert!(output.stderr.is_empty() || !output.stderr.contains("step "), "{}", output.stderr);
}

/// Both report formats: a row per item with its status, attempts, outputs and error.
#[test]
fn reports_have_a_row_per_item_in_json_and_csv() {
    let emulator = EmulatorProcess::start(&["--generate", "invitations=5", "--quota", "off"]);
    // The reports go outside the test's directory, which goes when the run ends.
    let reports = tempfile::tempdir().unwrap();
    let json_path = reports.path().join("out.json").display().to_string();
    bulk("100/s")
        .aws_env(&emulator)
        .args(["run", "bulk.yaml", "--endpoint-url", &emulator.url, "--report", &json_path])
        .run()
        .code(1);
    let dir = reports.path();
    let rows: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("out.json")).unwrap()).unwrap();
    assert_eq!(rows.len(), 1 + 5 + 1, "{rows:?}");
    let accepted: Vec<&Value> = rows.iter().filter(|r| r["step"] == "accept").collect();
    assert!(
        accepted.iter().all(|r| r["status"] == "succeeded" && r["output"]["TaskId"].is_string()),
        "{accepted:?}"
    );
    assert!(accepted.iter().all(|r| r["label"].as_str().unwrap().starts_with("accept engi-")));
    let broken = rows.iter().find(|r| r["step"] == "broken").unwrap();
    assert_eq!(
        (broken["status"].as_str(), broken["error_code"].as_str()),
        (Some("failed"), Some("ResourceNotFoundException"))
    );
    assert_eq!(broken["attempts"], 1);

    let emulator = EmulatorProcess::start(&["--generate", "invitations=5", "--quota", "off"]);
    let csv_path = reports.path().join("out.csv").display().to_string();
    bulk("100/s")
        .aws_env(&emulator)
        .args(["run", "bulk.yaml", "--endpoint-url", &emulator.url, "--report", &csv_path])
        .run()
        .code(1);
    let mut reader = csv::Reader::from_path(dir.join("out.csv")).unwrap();
    let headers = reader.headers().unwrap().clone();
    for column in
        ["step", "key", "status", "attempts", "output.TaskId", "output.TaskStatus", "error_code", "error"]
    {
        assert!(headers.iter().any(|h| h == column), "no {column} column: {headers:?}");
    }
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), 7);
    let column = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let accepts: Vec<&csv::StringRecord> =
        records.iter().filter(|r| &r[column("step")] == "accept").collect();
    assert_eq!(accepts.len(), 5);
    assert!(
        accepts
            .iter()
            .all(|r| r[column("output.TaskId")].starts_with("task-") && &r[column("status")] == "succeeded")
    );
    let broken = records.iter().find(|r| &r[column("step")] == "broken").unwrap();
    assert_eq!(&broken[column("error_code")], "ResourceNotFoundException");

    // Any other extension is refused before anything is sent.
    Test::new().args(["run", "x.yaml", "--report", "out.txt"]).run().code(2);
}
