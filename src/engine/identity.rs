//! An item's identity: its key (what the journal and `--resume` know it by), its label (what
//! messages call it) and its idempotency token (what makes a repeated call harmless).

use std::collections::BTreeMap;

use serde_json::Value;
use sha2::{Digest, Sha256};

/// The key of an item: stable for the same value, whatever its position.
pub fn item_key(item: &Value) -> String {
    fn canonical(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let sorted: BTreeMap<&String, Value> = map.iter().map(|(k, v)| (k, canonical(v))).collect();
                serde_json::to_value(sorted).unwrap_or_default()
            }
            Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
            other => other.clone(),
        }
    }
    // `to_string` (not `Display`): the same text, without the formatter's per-fragment cost.
    let text = serde_json::to_string(&canonical(item)).unwrap_or_default();
    hex::encode(&Sha256::digest(text.as_bytes())[..12])
}

/// The keys of a `for-each`'s items, in order; a value listed twice gets `-1`, `-2`... so
/// every item has its own key (and its own idempotency token).
pub fn item_keys(items: &[Value]) -> Vec<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    items
        .iter()
        .map(|item| {
            let key = item_key(item);
            let count = seen.entry(key.clone()).or_default();
            *count += 1;
            if *count == 1 { key } else { format!("{key}-{}", *count - 1) }
        })
        .collect()
}

/// A short name for an item in messages: its id if it has one, else its value.
pub(super) fn item_label(item: &Value) -> String {
    for key in ["id", "Id", "jobId", "TaskId", "identifier"] {
        if let Some(id) = item.get(key).and_then(Value::as_str) {
            return id.to_string();
        }
    }
    match item {
        Value::String(s) => s.clone(),
        Value::Null | Value::Object(_) | Value::Array(_) => String::new(),
        other => other.to_string(),
    }
}

/// The idempotency token of an accept: `[!-~]{1,64}`, the strictest form the API documents.
pub fn derived_token(seed: &str, key: &str) -> String {
    token_from(&token_hasher(seed), key)
}

/// The hash state after a step's seed: each item's token then hashes only its key.
pub(super) fn token_hasher(seed: &str) -> Sha256 {
    let mut hasher = Sha256::new();
    hasher.update(seed.as_bytes());
    hasher.update(b"\n");
    hasher
}

pub(super) fn token_from(seeded: &Sha256, key: &str) -> String {
    let mut hasher = seeded.clone();
    hasher.update(key.as_bytes());
    format!("handoff-{}", hex::encode(&hasher.finalize()[..24]))
}

#[cfg(test)]
mod tests {
    use super::{derived_token, item_key};
    use serde_json::json;

    #[test]
    fn item_keys_ignore_key_order_and_tokens_fit_the_api() {
        assert_eq!(item_key(&json!({"a": 1, "b": [2]})), item_key(&json!({"b": [2], "a": 1})));
        assert_ne!(item_key(&json!({"a": 1})), item_key(&json!({"a": 2})));
        let token = derived_token("playbook\nrun\nstep", &item_key(&json!("engi-1")));
        assert!(token.len() <= 64 && token.bytes().all(|b| (b'!'..=b'~').contains(&b)), "{token}");
        assert_eq!(token, derived_token("playbook\nrun\nstep", &item_key(&json!("engi-1"))));
    }

    /// Keys are what `--resume` matches a journal's items by: they must not change with how
    /// the canonical text is produced (it was `Value`'s `Display` before).
    #[test]
    fn item_keys_are_those_journals_already_hold() {
        use sha2::{Digest, Sha256};
        let value = json!({"z": [1, 2.5, -3e20, null, true], "a": "quote \" slash \\ tab \t é \u{1}", "m": {"b": {}, "a": []}});
        let canonical =
            r#"{"a":"quote \" slash \\ tab \t é \u0001","m":{"a":[],"b":{}},"z":[1,2.5,-3e+20,null,true]}"#;
        assert_eq!(item_key(&value), hex::encode(&Sha256::digest(canonical.as_bytes())[..12]));
    }
}
