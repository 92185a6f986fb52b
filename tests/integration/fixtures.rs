//! The playbook corpus under `tests/fixtures/`: every invalid playbook is checked against
//! its full expected diagnostics (`NAME.stderr` beside `NAME.yaml`), every valid one passes.
//!
//! After an intended change to the messages, `HANDOFF_BLESS=1 cargo test fixtures` rewrites
//! the expected files; review the diff before committing it.

use std::path::Path;

use pretty_assertions::assert_eq;

use crate::helpers::{Test, crate_dir};

fn playbooks(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("fixture directory")
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            name.ends_with(".yaml").then_some(name)
        })
        .collect();
    names.sort();
    names
}

#[test]
fn every_invalid_playbook_gets_its_exact_diagnostics() {
    let dir = crate_dir().join("tests/fixtures/invalid");
    let names = playbooks(&dir);
    assert!(names.len() >= 40, "the corpus shrank to {} playbooks", names.len());
    let bless = std::env::var_os("HANDOFF_BLESS").is_some();
    let mut mismatches = Vec::new();
    for name in &names {
        let output = Test::new().current_dir(&dir).args(["validate", name.as_str()]).run();
        assert_eq!(output.code, 2, "{name} must be invalid; stderr:\n{}", output.stderr);
        assert!(output.stderr.contains(": error: "), "{name} reported no error");
        let expected_path = dir.join(name.replace(".yaml", ".stderr"));
        if bless {
            std::fs::write(&expected_path, &output.stderr).expect("write expected diagnostics");
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path)
            .unwrap_or_else(|_| panic!("{} is missing: run with HANDOFF_BLESS=1", expected_path.display()));
        if expected != output.stderr {
            mismatches.push((name.clone(), expected, output.stderr));
        }
    }
    if let Some((name, expected, actual)) = mismatches.first() {
        let names: Vec<&str> = mismatches.iter().map(|(n, _, _)| n.as_str()).collect();
        eprintln!("diagnostics differ for: {}", names.join(", "));
        assert_eq!(actual, expected, "{name}");
    }
}

#[test]
fn every_valid_playbook_passes() {
    let dir = crate_dir().join("tests/fixtures/valid");
    let names = playbooks(&dir);
    assert!(names.len() >= 10, "the corpus shrank to {} playbooks", names.len());
    for name in &names {
        let output = Test::new().current_dir(&dir).args(["validate", name.as_str()]).run();
        assert_eq!(output.code, 0, "{name}:\n{}", output.stderr);
        assert!(!output.stderr.contains(": error: "), "{name}:\n{}", output.stderr);
    }
}

#[test]
fn every_expected_file_belongs_to_a_playbook() {
    let dir = crate_dir().join("tests/fixtures/invalid");
    for entry in std::fs::read_dir(&dir).expect("fixture directory") {
        let path = entry.expect("directory entry").path();
        if path.extension().is_some_and(|e| e == "stderr") {
            assert!(path.with_extension("yaml").exists(), "{} has no playbook", path.display());
        }
    }
}
