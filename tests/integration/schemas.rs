//! The schemas the binary embeds are the files in `schemas/`, byte for byte.

use crate::helpers::{Test, crate_dir};

const ACTIONS: [&str; 8] = [
    "acknowledge",
    "report-success",
    "report-failure",
    "poll-jobs",
    "get-job-details",
    "accept-invitation",
    "list-invitations",
    "wait-for-acceptance",
];

#[test]
fn embedded_playbook_schema_equals_the_file() {
    let file =
        std::fs::read_to_string(crate_dir().join("schemas/playbook.schema.json")).expect("schema file");
    Test::new().args(["schema"]).run().code(0).stdout(&file);
}

#[test]
fn embedded_action_schemas_equal_the_files() {
    for action in ACTIONS {
        let path = crate_dir().join(format!("schemas/actions/{action}.schema.json"));
        let file = std::fs::read_to_string(path).expect("action schema file");
        Test::new().args(["schema", action]).run().code(0).stdout(&file);
    }
}

#[test]
fn every_action_schema_file_is_listed_in_the_playbook_schema() {
    let playbook = std::fs::read_to_string(crate_dir().join("schemas/playbook.schema.json")).expect("schema");
    let files: Vec<String> = std::fs::read_dir(crate_dir().join("schemas/actions"))
        .expect("actions directory")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    assert_eq!(files.len(), ACTIONS.len(), "{files:?}");
    for file in files {
        assert!(playbook.contains(&format!("\"actions/{file}\"")), "{file} is not referenced");
    }
}

#[test]
fn the_bundled_schema_is_self_contained() {
    let output = Test::new().args(["schema", "--bundle"]).run().code(0);
    let bundled: serde_json::Value = serde_json::from_str(&output.stdout).expect("bundle is JSON");
    let text = bundled.to_string();
    for action in ACTIONS {
        assert!(text.contains(&format!("actions/{action}.schema.json")), "{action} missing from the bundle");
    }
    assert!(bundled.get("$defs").is_some());
}
