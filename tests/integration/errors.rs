//! Errors a person can act on: each failure a new user meets (no credentials, a missing or
//! expired profile, nothing listening, a name that does not resolve, an answer that is not
//! the service's, a service error with a usual cause, the wrong region) says what is wrong
//! and what to do in its first line, and no SDK `Debug` structure reaches the terminal, the
//! report or `handoff show`.

use std::io::{Read, Write};
use std::net::TcpListener;

use crate::helpers::{EmulatorProcess, Output, Test};

/// What the SDK's `Debug` output looks like; none of it may reach a person.
const DEBUG_MARKERS: &[&str] =
    &["ServiceError {", "DispatchFailure(", "SdkBody", "ConnectorError", "ProviderError(", "Response {"];

fn assert_no_debug(place: &str, text: &str) {
    for marker in DEBUG_MARKERS {
        assert!(!text.contains(marker), "{place} holds `{marker}`:\n{text}");
    }
}

const LIST: &str = "version: 1\nname: errs\ndefaults:\n  retry: { max-attempts: 2, initial-delay: 10ms }\nsteps:\n  - id: pending\n    list-invitations: { catalog: AWS }\n";

/// No credentials anywhere: the AWS CLI's "Unable to locate credentials", with what was tried.
#[test]
fn no_credentials_say_what_was_tried_and_the_fix() {
    let output =
        Test::new().file("p.yaml", LIST).env("AWS_REGION", "us-east-1").args(["run", "p.yaml"]).run().code(4);
    let lines: Vec<&str> = output.stderr.lines().collect();
    assert_eq!(lines[0], "handoff: error: no AWS credentials were found", "{}", output.stderr);
    assert!(
        lines[1].starts_with("  tried: the environment (no AWS_ACCESS_KEY_ID), profile `default` (not in "),
        "{}",
        lines[1]
    );
    assert!(lines[1].ends_with("instance metadata (disabled by AWS_EC2_METADATA_DISABLED)"), "{}", lines[1]);
    assert_eq!(
        lines[2],
        "  fix: run `aws configure`, set AWS_PROFILE to a configured profile, or sign in with `aws sso login --profile NAME`"
    );
    assert_no_debug("stderr", &output.stderr);
}

#[test]
fn a_missing_profile_and_an_expired_sso_session_name_themselves() {
    let test = Test::new().file("p.yaml", LIST).file(
        "aws-config",
        "[profile sso-user]\nsso_session = corp\nsso_account_id = 123456789012\nsso_role_name = Admin\nregion = us-east-1\n[sso-session corp]\nsso_start_url = https://example.awsapps.com/start\nsso_region = us-east-1\n",
    );
    let config = test.path().join("aws-config").display().to_string();
    let home = test.path().join("home").display().to_string();
    let run = |profile: &str| -> Output {
        let output = test
            .command()
            .args(["run", "p.yaml", "--profile", profile])
            .env("AWS_CONFIG_FILE", &config)
            .env("HOME", &home)
            .output()
            .unwrap();
        Output {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    };
    let missing = run("partner").code(4);
    assert_eq!(missing.stderr.lines().next(), Some("handoff: error: AWS profile `partner` is not defined"));
    assert!(missing.stderr.contains("  fix: check the name (`aws configure list-profiles`), or create it: `aws configure --profile partner`"));
    let sso = run("sso-user").code(4);
    assert_eq!(
        sso.stderr.lines().next(),
        Some("handoff: error: the SSO session of AWS profile `sso-user` has expired or was never started"),
        "{}",
        sso.stderr
    );
    assert!(sso.stderr.contains("  fix: `aws sso login --profile sso-user`"), "{}", sso.stderr);
    assert_no_debug("stderr", &(missing.stderr + &sso.stderr));
}

/// Runs LIST against `url` with working credentials; the failure line, the report and
/// `handoff show` are checked for Debug output by the caller.
fn run_against(url: &str) -> (Output, String, String) {
    let test = Test::new()
        .file("p.yaml", LIST)
        .env("AWS_ACCESS_KEY_ID", "AKIAHANDOFFEMULATOR1")
        .env("AWS_SECRET_ACCESS_KEY", "handoff-emulator-secret")
        .env("AWS_REGION", "us-east-1");
    let report = test.path().join("report.json");
    let output = test
        .command()
        .args(["run", "p.yaml", "--endpoint-url", url, "--progress", "plain", "-v", "--report"])
        .arg(&report)
        .output()
        .unwrap();
    let output = Output {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    let run_id = output
        .stderr
        .split("handoff: run ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .unwrap_or_default()
        .to_string();
    let show = test.command().args(["show", &run_id, "-v"]).output().unwrap();
    let show = String::from_utf8_lossy(&show.stdout).into_owned() + &String::from_utf8_lossy(&show.stderr);
    (output, std::fs::read_to_string(&report).unwrap_or_default(), show)
}

fn failure_line(output: &Output) -> String {
    let line = output
        .stderr
        .lines()
        .find(|l| l.contains("step pending failed after"))
        .unwrap_or_else(|| panic!("{}", output.stderr));
    line.split_once("Z ").map_or(line, |(_, rest)| rest).to_string()
}

#[test]
fn nothing_listening_says_the_url_and_what_to_check() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}");
    let (output, report, show) = run_against(&url);
    assert_eq!(output.code, 1, "{}", output.stderr);
    assert_eq!(
        failure_line(&output),
        format!(
            "step pending failed after 2 attempts: connection error: could not reach the endpoint URL {url}: connection refused (is the server running there? check --endpoint-url)"
        )
    );
    for (place, text) in
        [("stderr", &output.stderr), ("stdout", &output.stdout), ("report", &report), ("show", &show)]
    {
        assert_no_debug(place, text);
    }
    assert!(show.contains("connection refused"), "{show}");
}

#[test]
fn a_name_that_does_not_resolve_says_so() {
    let (output, report, _) = run_against("http://no-such-host.invalid");
    let line = failure_line(&output);
    assert!(
        line.starts_with("step pending failed after 2 attempts: connection error: could not reach the endpoint URL http://no-such-host.invalid: "),
        "{line}"
    );
    // Where the machine has no resolver at all, the lookup times out instead.
    assert!(line.contains("the host name does not resolve") || line.contains("no answer in time"), "{line}");
    assert!(line.ends_with(")"), "{line}");
    assert_no_debug("stderr", &output.stderr);
    assert_no_debug("report", &report);
}

/// A server that is not the service: an HTML 404 for every request.
fn not_aws() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            let mut buffer = [0u8; 65536];
            let _ = stream.read(&mut buffer);
            let body = "<html><body><h1>404 Not Found</h1></body></html>";
            let _ = write!(
                stream,
                "HTTP/1.1 404 Not Found\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

#[test]
fn an_answer_that_is_not_the_services_names_the_operation_status_and_body() {
    let url = not_aws();
    let (output, report, show) = run_against(&url);
    assert_eq!(
        failure_line(&output),
        format!(
            "step pending failed after 1 attempt: client error: the answer to ListEngagementInvitations from {url} could not be read: HTTP 404, body begins `<html><body><h1>404 Not Found</h1></body></html>` (is --endpoint-url an endpoint of this AWS service?)"
        )
    );
    for (place, text) in [("stderr", &output.stderr), ("report", &report), ("show", &show)] {
        assert_no_debug(place, text);
    }
}

#[test]
fn service_errors_keep_their_code_and_gain_a_hint() {
    let emulator = EmulatorProcess::start(&["--generate", "jobs=1"]);
    let state = emulator.get("state");
    let id = state["jobs"][0]["id"].as_str().unwrap().to_string();
    let playbook = format!(
        "version: 1\nname: nonce\nsteps:\n  - id: ack\n    acknowledge: {{ job-id: {id}, nonce: \"1\", client-token: \"{{{{ env.TOKEN }}}}\" }}\n"
    );
    let output = Test::new()
        .file("p.yaml", playbook)
        .aws_env(&emulator)
        .env("TOKEN", "handoff-emulator-client-token")
        .args(["run", "p.yaml", "--endpoint-url", &emulator.url, "--progress", "plain"])
        .run()
        .code(1);
    assert!(
        output.stderr.contains("step ack failed after 1 attempt: InvalidNonceException (HTTP 400): The nonce was specified in an invalid format (the job was acknowledged elsewhere, or the nonce is stale: get the job's details again for its current nonce)"),
        "{}",
        output.stderr
    );
}

#[test]
fn partner_central_outside_us_east_1_is_a_warning_then_a_clear_error() {
    let playbook = "version: 1\nname: region\naws:\n  region: eu-west-1\nsteps:\n  - id: pending\n    list-invitations: { catalog: AWS }\n";
    let test = Test::new().file("p.yaml", playbook);
    let validated = test.command().args(["validate", "p.yaml"]).output().unwrap();
    let stderr =
        String::from_utf8_lossy(&validated.stderr).into_owned() + &String::from_utf8_lossy(&validated.stdout);
    assert!(
        stderr.contains("p.yaml:4:11: warning: Partner Central Selling is served only in us-east-1, and this playbook calls it with region `eu-west-1`"),
        "{stderr}"
    );
    let ran = test
        .env("AWS_ACCESS_KEY_ID", "AKIAHANDOFFEMULATOR1")
        .env("AWS_SECRET_ACCESS_KEY", "handoff-emulator-secret")
        .args(["run", "p.yaml"])
        .run()
        .code(4);
    assert_eq!(
        ran.stderr.lines().find(|l| l.starts_with("handoff: error:")),
        Some(
            "handoff: error: Partner Central Selling is served only in us-east-1 (partnercentral-selling.us-east-1.api.aws), but the region is `eu-west-1`"
        )
    );
}
