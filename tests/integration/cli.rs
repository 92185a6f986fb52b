//! The command line itself: help, version, completions, skeletons, JSON diagnostics.

use serde_json::Value;

use crate::helpers::{ACTIONS, Test};

#[test]
fn version_names_the_package_version() {
    Test::new().args(["--version"]).run().code(0).stdout(&format!("handoff {}\n", env!("CARGO_PKG_VERSION")));
}

#[test]
fn every_command_has_help_with_an_example() {
    for command in ["validate", "schema", "skeleton", "completions"] {
        let output = Test::new().args([command, "--help"]).run().code(0);
        assert!(output.stdout.contains("Examples:"), "{command} --help:\n{}", output.stdout);
    }
    let top = Test::new().args(["--help"]).run().code(0);
    for command in ["validate", "schema", "skeleton", "completions"] {
        assert!(top.stdout.contains(command), "{}", top.stdout);
    }
}

#[test]
fn usage_errors_exit_2() {
    let output = Test::new().args(["validate"]).run().code(2);
    assert!(output.stderr.contains("FILE"), "{}", output.stderr);
    Test::new().args(["skeleton", "acknowledge-job"]).run().code(2);
}

#[test]
fn completions_are_generated_for_bash() {
    let output = Test::new().args(["completions", "bash"]).run().code(0);
    assert!(output.stdout.contains("_handoff()"), "{}", output.stdout);
    assert!(output.stdout.contains("accept-invitation"));
}

/// A skeleton pasted under `steps:` breaks no schema rule; only its sample template
/// references (to steps and items the user has yet to write) are reported.
#[test]
fn every_skeleton_matches_its_schema() {
    for action in ACTIONS {
        let skeleton = Test::new().args(["skeleton", action]).run().code(0).stdout;
        assert!(skeleton.starts_with(&format!("# {action}: ")), "{skeleton}");
        let indented: String = skeleton.lines().map(|l| format!("  {l}\n")).collect();
        let playbook = format!("version: 1\nname: skeleton\nsteps:\n{indented}");
        let output =
            Test::new().file("p.yaml", playbook).args(["validate", "--format", "json", "p.yaml"]).run();
        let report: Value = serde_json::from_str(&output.stdout).expect("JSON diagnostics");
        let allowed = ["unknown-step", "item-outside-for-each", "unknown-secret", "unknown-var"];
        for diagnostic in report["diagnostics"].as_array().expect("diagnostics") {
            let code = diagnostic["code"].as_str().unwrap_or_default();
            assert!(allowed.contains(&code), "{action}: {diagnostic}\n{skeleton}");
        }
    }
}

#[test]
fn json_diagnostics_carry_position_path_and_hint() {
    let playbook = "version: 1\nname: j\nsteps:\n  - id: a\n    list-invitations:\n      catalgo: AWS\n";
    let output =
        Test::new().file("p.yaml", playbook).args(["validate", "--format", "json", "p.yaml"]).run().code(2);
    assert_eq!(output.stderr, "");
    let report: Value = serde_json::from_str(&output.stdout).expect("JSON");
    assert_eq!(report["version"], 1);
    assert_eq!(report["valid"], false);
    // The missing `catalog` is not reported apart: the unknown `catalgo` explains it.
    assert_eq!(
        report["files"][0],
        serde_json::json!({"file": "p.yaml", "valid": false, "errors": 1, "warnings": 0})
    );
    let unknown = &report["diagnostics"][0];
    assert_eq!(unknown["code"], "unknown-key");
    assert_eq!(unknown["line"], 6);
    assert_eq!(unknown["column"], 7);
    assert_eq!(unknown["pointer"], "/steps/0/list-invitations/catalgo");
    assert_eq!(unknown["path"], "steps[0].list-invitations.catalgo");
    assert_eq!(unknown["hint"], "did you mean `catalog`?");
}

#[test]
fn several_files_in_one_call_are_each_reported() {
    let good = "version: 1\nname: good\nsteps:\n  - id: a\n    list-invitations: {catalog: AWS}\n";
    let bad = "version: 1\nname: bad\nsteps:\n  - id: a\n    list-invitations: {catalog: 7}\n";
    let output = Test::new()
        .file("good.yaml", good)
        .file("bad.yaml", bad)
        .args(["validate", "good.yaml", "bad.yaml"])
        .run()
        .code(2);
    assert!(
        output.stderr.starts_with("bad.yaml:5:33: error: expected a string, found an integer\n"),
        "{}",
        output.stderr
    );
    assert!(output.stderr.ends_with("1 of 2 playbooks invalid: 1 error\n"), "{}", output.stderr);
}

#[test]
fn color_always_paints_and_never_does_not() {
    let bad = "version: 1\nname: bad\nsteps: []\n";
    let plain = Test::new().file("b.yaml", bad).args(["validate", "b.yaml"]).run();
    assert!(!plain.stderr.contains('\u{1b}'));
    let colored = Test::new().file("b.yaml", bad).args(["--color", "always", "validate", "b.yaml"]).run();
    assert!(colored.stderr.contains("\u{1b}["), "{}", colored.stderr);
}
