//! The schemas the binary embeds are the files in `schemas/`, byte for byte.

use crate::helpers::{ACTIONS, Test, crate_dir};

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

/// Editors show a property's `description` as help, so every property must have one, on
/// itself or on the definition it refers to.
#[test]
fn every_property_has_a_description() {
    use serde_json::Value;
    fn described(node: &Value, common: &Value, own: &Value) -> bool {
        if node.get("description").is_some() {
            return true;
        }
        let Some(reference) = node.get("$ref").and_then(Value::as_str) else { return false };
        let (file, fragment) = reference.split_once('#').unwrap_or((reference, ""));
        let target = if file.is_empty() {
            own.pointer(fragment)
        } else if file.ends_with("common.schema.json") {
            common.pointer(fragment)
        } else {
            // A whole action schema: it has a description at its root.
            return true;
        };
        target.is_some_and(|t| t.get("description").is_some())
    }
    fn walk(node: &Value, common: &Value, own: &Value, path: &str, missing: &mut Vec<String>) {
        match node {
            Value::Object(map) => {
                if let Some(Value::Object(properties)) = map.get("properties") {
                    for (key, property) in properties {
                        if !described(property, common, own) {
                            missing.push(format!("{path}/properties/{key}"));
                        }
                    }
                }
                for (key, value) in map {
                    walk(value, common, own, &format!("{path}/{key}"), missing);
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    walk(item, common, own, &format!("{path}/{i}"), missing);
                }
            }
            _ => {}
        }
    }
    let read = |p: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(crate_dir().join("schemas").join(p)).expect("schema"))
            .expect("JSON")
    };
    let common = read("common.schema.json");
    let mut missing = Vec::new();
    let mut files = vec!["playbook.schema.json".to_string(), "common.schema.json".to_string()];
    for entry in std::fs::read_dir(crate_dir().join("schemas/actions")).expect("actions") {
        files.push(format!("actions/{}", entry.expect("entry").file_name().to_string_lossy()));
    }
    for file in files {
        let own = read(&file);
        walk(&own, &common, &own, &file, &mut missing);
    }
    assert!(missing.is_empty(), "properties without a description: {missing:#?}");
}
