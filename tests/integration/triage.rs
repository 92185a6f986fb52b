//! Deciding on invitations by their content, end to end: the shipped triage example (with its
//! rules file) reads 300 invitations of mixed types, statuses and dates under faults, accepts
//! and rejects exactly what the rules say, once each, and its report says why; `--review`
//! sends no write; the errors a person can make are caught where they can be.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::helpers::{EmulatorProcess, Output, Test, crate_dir};

fn run(test: &Test, args: &[&str]) -> Output {
    let output = test.command().args(args).output().expect("handoff runs");
    Output {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The example playbook with its rules beside it, the lead age lowered so the generated
/// invitations hold old leads, and the quotas raised to the emulator's (the tuned case).
fn triage_test(emulator: &EmulatorProcess) -> Test {
    let playbook = std::fs::read_to_string(crate_dir().join("examples/triage-invitations.yaml")).unwrap();
    let playbook = playbook.replacen(
        "steps:\n",
        "rate-limits:\n  partnercentral-selling-writes: 50/s\n  partnercentral-selling-reads: 100/s\n\nsteps:\n",
        1,
    );
    let rules = std::fs::read_to_string(crate_dir().join("examples/rules/triage.yaml")).unwrap();
    let rules = rules.replace("leads_older_than_days: 30", "leads_older_than_days: 20");
    Test::new().file("triage.yaml", playbook).file("rules/triage.yaml", rules).aws_env(emulator)
}

/// What the rules decide for an invitation of the emulator's state.
fn decision(invitation: &Value) -> &'static str {
    let now = chrono::Utc::now();
    let date = |key: &str| chrono::DateTime::parse_from_rfc3339(invitation[key].as_str().unwrap()).unwrap();
    if invitation["payload_type"] == "OpportunityInvitation" {
        let o = &invitation["payload"]["OpportunityInvitation"];
        let industry = o["Customer"]["Industry"].as_str().unwrap();
        let country = o["Customer"]["CountryCode"].as_str().unwrap();
        let spend: f64 =
            o["Project"]["ExpectedCustomerSpend"][0]["Amount"].as_str().unwrap().parse().unwrap();
        let wanted = ["Software and Internet", "Financial Services", "Healthcare", "Retail"]
            .contains(&industry)
            && ["US", "DE", "GB", "FR"].contains(&country)
            && spend >= 2000.0
            && date("expires_at") > now;
        if wanted { "accept" } else { "leave" }
    } else if (now - date("invited_at").with_timezone(&chrono::Utc)).num_seconds() as f64 / 86_400.0 > 20.0 {
        "reject"
    } else {
        "leave"
    }
}

#[test]
fn three_hundred_invitations_are_triaged_by_the_rules_exactly_once_under_faults() {
    let emulator = EmulatorProcess::start(&[
        "--generate",
        "invitations=300,expired=10%,accepted=10%,rejected=10%",
        "--faults",
        "throttle=0.05,error=0.05,drop=0.02,drop_after=0.03",
        "--quota",
        "writes=50/s",
        "--quota",
        "reads=100/s",
        "--task-delay",
        "10ms",
        "--seed",
        "17",
    ]);
    let before = emulator.get("state")["invitations"].as_array().unwrap().clone();
    let expected: BTreeMap<String, &'static str> = before
        .iter()
        .filter(|i| i["status"] == "PENDING")
        .map(|i| (i["id"].as_str().unwrap().to_string(), decision(i)))
        .collect();
    let count = |what: &str| expected.values().filter(|d| **d == what).count();
    assert!(count("accept") >= 10 && count("reject") >= 10 && count("leave") >= 10, "{expected:?}");

    let test = triage_test(&emulator);
    let report = test.path().join("decisions.json");
    let review = run(
        &test,
        &[
            "run",
            "triage.yaml",
            "--endpoint-url",
            &emulator.url,
            "--review",
            "--report",
            &report.display().to_string(),
        ],
    );
    assert_eq!(review.code, 0, "{}", review.stderr);
    let summary = emulator.summary();
    assert!(
        summary["requests"].get("StartEngagementByAcceptingInvitationTask").is_none(),
        "review sent a write"
    );
    assert!(summary["requests"].get("RejectEngagementInvitation").is_none(), "review sent a write");
    let rows: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let would: Vec<&Value> = rows
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["error"].as_str().is_some_and(|e| e.starts_with("review: would send")))
        .collect();
    assert_eq!(would.len(), count("accept") + count("reject"), "{rows}");

    let output = run(
        &test,
        &[
            "run",
            "triage.yaml",
            "--endpoint-url",
            &emulator.url,
            "--progress",
            "plain",
            "--report",
            &report.display().to_string(),
        ],
    );
    assert_eq!(output.code, 0, "{}", output.stderr);
    let after: BTreeMap<String, Value> = emulator.get("state")["invitations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["id"].as_str().unwrap().to_string(), i.clone()))
        .collect();
    for invitation in &before {
        let id = invitation["id"].as_str().unwrap();
        let now = &after[id];
        match expected.get(id) {
            None => assert_eq!(now["status"], invitation["status"], "{id} was not pending: untouched"),
            Some(&"accept") => assert_eq!(now["status"], "ACCEPTED", "{id}"),
            Some(&"reject") => {
                assert_eq!(now["status"], "REJECTED", "{id}");
                assert_eq!(now["rejection_reason"], "Unable to support", "{id}");
            }
            Some(_) => assert_eq!(now["status"], "PENDING", "{id} is left for a person"),
        }
    }
    let summary = emulator.summary();
    assert_eq!(summary["duplicates"]["invitations_with_several_tasks"], serde_json::json!([]), "{summary}");
    let ledger = emulator.get("ledger");
    let rejections: Vec<&str> = ledger
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["change"] == "invitation_rejected")
        .map(|e| e["invitation"].as_str().unwrap())
        .collect();
    assert_eq!(rejections.len(), count("reject"), "each rejection applied once");
    assert!(summary["faults"]["drop_after"].as_u64().unwrap_or(0) > 0, "{summary}");

    // The report: each pending invitation once, in the step of its type, with what decided.
    let rows: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    for (id, decision) in &expected {
        let mine: Vec<&Value> = rows
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| {
                (r["step"] == "accept" || r["step"] == "reject")
                    && r["label"].as_str().unwrap().starts_with(id.as_str())
            })
            .collect();
        assert_eq!(mine.len(), 1, "{id}: {mine:?}");
        let row = mine[0];
        let label = row["label"].as_str().unwrap();
        match *decision {
            "accept" => {
                assert_eq!(
                    (row["step"].as_str(), row["status"].as_str()),
                    (Some("accept"), Some("succeeded")),
                    "{row}"
                );
                assert!(label.contains("USD/month") && label.contains("expires in"), "{label}");
            }
            "reject" => {
                assert_eq!(row["step"], "reject", "{row}");
                assert!(["succeeded", "skipped"].contains(&row["status"].as_str().unwrap()), "{row}");
                assert!(label.contains("days ago"), "{label}");
            }
            _ => assert_eq!(row["status"], "skipped", "{row}"),
        }
    }
}

#[test]
fn rejecting_an_accepted_invitation_and_an_over_long_reason_are_clear_errors() {
    let test = Test::new().file(
        "fixtures.yaml",
        "invitations:\n  - { id: engi-0000000000001, status: ACCEPTED }\n  - { id: engi-0000000000002, status: REJECTED }\n",
    );
    let emulator =
        EmulatorProcess::start(&["--fixtures", &test.path().join("fixtures.yaml").display().to_string()]);
    let playbook = "version: 1\nname: reject\nsteps:\n  - id: reject\n    for-each: [engi-0000000000001, engi-0000000000002]\n    on-failure: continue\n    reject-invitation: { catalog: AWS, identifier: \"{{ item }}\", rejection-reason: Other }\n";
    let test = test.file("p.yaml", playbook).aws_env(&emulator);
    let output = run(&test, &["run", "p.yaml", "--endpoint-url", &emulator.url, "--progress", "plain"]);
    assert_eq!(output.code, 1, "{}", output.stderr);
    assert!(
        // Two requests: the rejection, then the read that says why it conflicted.
        output.stderr.contains("failed after 2 attempts: ConflictException (HTTP 409): invitation engi-0000000000001 is ACCEPTED: only a PENDING invitation can be rejected"),
        "{}",
        output.stderr
    );
    assert!(
        output.stderr.contains("1 succeeded, 1 failed, 1 skipped")
            || output.stderr.contains("0 succeeded, 1 failed, 1 skipped"),
        "{}",
        output.stderr
    );

    let long = format!(
        "version: 1\nname: reject\nsteps:\n  - id: reject\n    reject-invitation:\n      catalog: AWS\n      identifier: engi-0000000000003\n      rejection-reason: {}\n",
        "x".repeat(81)
    );
    let invalid = Test::new().file("long.yaml", long).args(["validate", "long.yaml"]).run().code(2);
    assert!(
        invalid.stderr.contains("long.yaml:8:25: error:") && invalid.stderr.contains("rejection-reason"),
        "{}",
        invalid.stderr
    );
}
