//! Sample steps for `handoff skeleton`, generated from each action's JSON Schema so that the
//! sample, the schema and the validator can never disagree.

use std::borrow::Cow;
use std::fmt::Write as _;

use serde_json::Value;

use crate::actions::ActionKind;
use crate::schema;

/// A commented sample step for `kind`, ready to paste under `steps:`.
pub fn render(kind: ActionKind) -> String {
    let file = schema::action_file(kind);
    let text = schema::file_text(&file).unwrap_or("{}");
    let root: Value = serde_json::from_str(text).unwrap_or_default();
    let mut out = String::new();
    let service = match kind.service() {
        Some(crate::actions::Service::CodePipeline) => "CodePipeline ",
        Some(crate::actions::Service::PartnerCentralSelling) => "Partner Central Selling ",
        Some(crate::actions::Service::S3) => "Amazon S3 ",
        None => "",
    };
    let _ = writeln!(out, "# {}: {service}{}", kind.name(), kind.operation());
    if let Some(description) = root.get("description").and_then(Value::as_str) {
        for line in wrap(description, 96) {
            let _ = writeln!(out, "# {line}");
        }
    }
    let outputs = kind.output_fields();
    if outputs.is_empty() {
        let _ = writeln!(out, "# Output: none.");
    } else {
        let _ =
            writeln!(out, "# Output: steps.{}.output.{}", kind.name().replace('-', "_"), outputs.join(", "));
    }
    let _ = writeln!(out, "- id: {}", kind.name().replace('-', "_"));
    let _ = writeln!(out, "  {}:", kind.name());
    object(&mut out, &root, &root, 4);
    out
}

fn object(out: &mut String, node: &Value, root: &Value, indent: usize) {
    let required: Vec<&str> = node
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(properties) = node.get("properties").and_then(Value::as_object) else {
        return;
    };
    // Keys of which exactly one must be given (`oneOf` of `required`): the first is written
    // out, the others shown commented, as the alternative.
    let alternatives: Vec<&str> = node
        .get("oneOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|branch| branch.get("required")?.as_array()?.first()?.as_str())
        .collect();
    let pad = " ".repeat(indent);
    for (key, property) in properties {
        let property = resolve(property, root);
        let property = property.as_ref();
        let position = alternatives.iter().position(|k| k == key);
        let need = match position {
            Some(0) => format!("one of `{}`", alternatives.join("`, `")),
            Some(_) => format!("instead of `{}`", alternatives[0]),
            None if required.contains(&key.as_str()) => "required".into(),
            None => "optional".into(),
        };
        let description = description(property).unwrap_or_default();
        for (i, line) in wrap(&format!("({need}) {description}"), 96 - indent).iter().enumerate() {
            let _ = writeln!(out, "{pad}#{}{line}", if i == 0 { " " } else { "   " });
        }
        if position.is_some_and(|p| p > 0) {
            let mut written = String::new();
            value(&mut written, key, property, root, indent);
            for line in written.lines() {
                let _ = writeln!(out, "{pad}# {}", &line[indent.min(line.len())..]);
            }
        } else {
            value(out, key, property, root, indent);
        }
    }
}

fn value(out: &mut String, key: &str, property: &Value, root: &Value, indent: usize) {
    let pad = " ".repeat(indent);
    let literal = property.get("else").unwrap_or(property);
    let types = type_names(property);
    let example = property.get("examples").and_then(Value::as_array).and_then(|e| e.first());
    if let Some(Value::String(_)) = example
        && types.contains(&"string")
    {
        // A template is the usual way to give it (`job: "{{ item }}"`).
        let _ = writeln!(out, "{pad}{key}: {}", scalar(property));
    } else if types.contains(&"object") && property.get("properties").is_none() {
        // A map of the user's own keys (`env`): an empty one to fill in.
        let _ = writeln!(out, "{pad}{key}: {{}}");
    } else if types.contains(&"object") {
        let _ = writeln!(out, "{pad}{key}:");
        object(out, property, root, indent + 2);
    } else if let Some(list @ Value::Array(_)) = example {
        let _ = writeln!(out, "{pad}{key}: {list}");
    } else if types.contains(&"array") {
        let items = literal.get("items").map_or(Cow::Owned(Value::Null), |i| resolve(i, root));
        let items = items.as_ref();
        let _ = writeln!(out, "{pad}{key}:");
        if type_names(items).contains(&"object") {
            let mut nested = String::new();
            object(&mut nested, items, root, indent + 4);
            let mut lines = nested.lines().filter(|l| !l.trim_start().starts_with('#'));
            if let Some(first) = lines.next() {
                let _ = writeln!(out, "{pad}  - {}", first.trim_start());
                for line in lines {
                    let _ = writeln!(out, "{pad}    {}", line.trim_start());
                }
            }
        } else {
            let _ = writeln!(out, "{pad}  - {}", scalar(items));
        }
    } else {
        let _ = writeln!(out, "{pad}{key}: {}", scalar(property));
    }
}

fn scalar(property: &Value) -> String {
    let literal = property.get("else").unwrap_or(property);
    if let Some(first) = literal.get("enum").and_then(Value::as_array).and_then(|e| e.first()) {
        return first.as_str().map_or_else(|| first.to_string(), str::to_string);
    }
    if let Some(example) = property.get("examples").and_then(Value::as_array).and_then(|e| e.first()) {
        return example.to_string();
    }
    if property.get("x-handoff-secret").is_some() {
        return "\"{{ secrets.client_token }}\"".to_string();
    }
    if type_names(property).contains(&"boolean") {
        return "true".to_string();
    }
    if type_names(property).contains(&"integer") {
        return literal.get("minimum").map_or("1".to_string(), |m| m.to_string());
    }
    if property.get("pattern").and_then(Value::as_str) == Some("^[0-9]+(ms|s|m|h)$") {
        return "30s".to_string();
    }
    "\"\"".to_string()
}

fn type_names(property: &Value) -> Vec<&str> {
    match property.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn description(property: &Value) -> Option<&str> {
    property.get("description").and_then(Value::as_str)
}

/// Follows a `$ref` to a local definition or to the shared `common.schema.json`, keeping the
/// referring property's own description.
fn resolve<'a>(property: &'a Value, root: &'a Value) -> Cow<'a, Value> {
    let Some(reference) = property.get("$ref").and_then(Value::as_str) else {
        return Cow::Borrowed(property);
    };
    let target = if let Some(local) = reference.strip_prefix('#') {
        root.pointer(local)
    } else if let Some(fragment) = reference.strip_prefix("../common.schema.json#") {
        common().pointer(fragment)
    } else {
        None
    };
    match (target, property.get("description")) {
        (Some(target), None) => Cow::Borrowed(target),
        // Keep the property's own description; take the type and pattern from the target.
        (Some(target), Some(description)) => {
            let mut merged = target.clone();
            if let Some(object) = merged.as_object_mut() {
                object.insert("description".into(), description.clone());
            }
            Cow::Owned(merged)
        }
        (None, _) => Cow::Borrowed(property),
    }
}

fn common() -> &'static Value {
    static COMMON: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    COMMON.get_or_init(|| {
        serde_json::from_str(schema::file_text("common.schema.json").unwrap_or("{}")).unwrap_or_default()
    })
}

fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in text.split_whitespace() {
        let line = lines.last_mut().expect("never empty");
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(word.to_string());
        } else {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
    }
    lines
}
