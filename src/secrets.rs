//! Secrets: loaded from the environment or a file when a run starts, and masked in every
//! channel (logs, progress, errors, reports, the journal). The masker also learns values found
//! at run time, such as the `artifactCredentials` in CodePipeline job details.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use serde_json::Value;
use thiserror::Error;

use crate::playbook::{Playbook, SecretSource};

/// What masked text shows instead of a secret.
pub const MASK: &str = "********";
/// Shorter values cannot be masked without garbling ordinary text.
pub const MIN_SECRET_LEN: usize = 4;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum SecretError {
    #[error("secret `{name}`: the environment variable {variable} is not set")]
    MissingEnv { name: String, variable: String },
    #[error("secret `{name}`: cannot read {}: {message}", path.display())]
    File { name: String, path: PathBuf, message: String },
    #[error(
        "secret `{name}` is shorter than {MIN_SECRET_LEN} characters (or only `*`), too short to be masked reliably"
    )]
    TooShort { name: String },
}

/// Loads every secret the playbook declares. Files are relative to the playbook's folder.
pub fn load(playbook: &Playbook, base: &Path) -> Result<BTreeMap<String, String>, SecretError> {
    let mut values = BTreeMap::new();
    for (name, source) in &playbook.secrets {
        let value = match source {
            SecretSource::Env(variable) => std::env::var(variable)
                .map_err(|_| SecretError::MissingEnv { name: name.clone(), variable: variable.clone() })?,
            SecretSource::File(path) => {
                let path = base.join(path);
                let text = std::fs::read_to_string(&path).map_err(|e| SecretError::File {
                    name: name.clone(),
                    path: path.clone(),
                    message: e.to_string(),
                })?;
                text.strip_suffix('\n')
                    .map(|t| t.strip_suffix('\r').unwrap_or(t))
                    .unwrap_or(&text)
                    .to_string()
            }
        };
        if !maskable(&value) {
            return Err(SecretError::TooShort { name: name.clone() });
        }
        values.insert(name.clone(), value);
    }
    Ok(values)
}

/// Whether a value can be masked: long enough not to garble ordinary text, and not part of
/// the mask itself (masked text would still show it).
fn maskable(value: &str) -> bool {
    value.chars().count() >= MIN_SECRET_LEN && !MASK.contains(value)
}

/// Replaces every known secret value in text and JSON with [`MASK`].
#[derive(Debug, Clone, Default)]
pub struct Masker {
    values: Arc<RwLock<Vec<String>>>,
}

impl Masker {
    pub fn new<I: IntoIterator<Item = String>>(values: I) -> Self {
        let masker = Self::default();
        for value in values {
            masker.add(&value);
        }
        masker
    }

    /// Learns a value to mask from now on. Values too short to mask, or that the mask itself
    /// contains (`****`), are not learned: [`load`] refuses such secrets.
    pub fn add(&self, value: &str) {
        if !maskable(value) {
            return;
        }
        let mut values = self.values.write().unwrap_or_else(|e| e.into_inner());
        if !values.iter().any(|v| v == value) {
            values.push(value.to_string());
            // Longest first, so a secret that contains another is masked whole.
            values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        }
    }

    pub fn mask(&self, text: &str) -> String {
        let values = self.values.read().unwrap_or_else(|e| e.into_inner());
        mask_text(&values, text)
    }

    pub fn mask_json(&self, value: &Value) -> Value {
        let values = self.values.read().unwrap_or_else(|e| e.into_inner());
        if values.is_empty() {
            return value.clone();
        }
        mask_value(&values, value)
    }

    /// The value masked, or `None` when masking would not change it (no secret occurs in
    /// it): a bulk run without secrets then neither copies nor compares each item's output.
    pub fn mask_json_if_needed(&self, value: &Value) -> Option<Value> {
        let values = self.values.read().unwrap_or_else(|e| e.into_inner());
        (!values.is_empty() && holds_secret(&values, value)).then(|| mask_value(&values, value))
    }

    /// Learns the secrets inside an action's output (CodePipeline's artifact credentials).
    pub fn learn_from_output(&self, output: &Value) {
        if let Some(credentials) = output.pointer("/jobDetails/data/artifactCredentials") {
            for key in ["accessKeyId", "secretAccessKey", "sessionToken"] {
                if let Some(value) = credentials.get(key).and_then(Value::as_str) {
                    self.add(value);
                }
            }
        }
    }
}

fn mask_text(values: &[String], text: &str) -> String {
    let mut out = text.to_string();
    // Again until no secret is left: masking one secret can complete another across the
    // mask (`a******` once `a` met a secret ending in `*`). Each pass removes characters
    // that are not `*` or shortens the text, so this ends.
    loop {
        let mut changed = false;
        for value in values {
            if out.contains(value.as_str()) {
                out = out.replace(value.as_str(), MASK);
                changed = true;
            }
        }
        if !changed {
            return out;
        }
    }
}

fn mask_value(values: &[String], value: &Value) -> Value {
    match value {
        Value::String(s) => Value::String(mask_text(values, s)),
        Value::Array(items) => Value::Array(items.iter().map(|v| mask_value(values, v)).collect()),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), mask_value(values, v))).collect())
        }
        other => other.clone(),
    }
}

/// Whether a secret occurs in one of the value's strings (what [`mask_value`] would change).
fn holds_secret(values: &[String], value: &Value) -> bool {
    match value {
        Value::String(s) => values.iter().any(|secret| s.contains(secret.as_str())),
        Value::Array(items) => items.iter().any(|v| holds_secret(values, v)),
        Value::Object(map) => map.values().any(|v| holds_secret(values, v)),
        _ => false,
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::{MIN_SECRET_LEN, Masker};

    /// Secrets of every shape: printable, regex and glob characters, multi-line, Unicode,
    /// stars like the mask's.
    fn secret() -> impl Strategy<Value = String> {
        prop_oneof![
            "[ -~]{4,24}",
            "[.*+?()|\\[\\]{}^$\\\\]{4,12}",
            "[a-z\n\r\t]{4,16}",
            "\\PC{4,12}",
            "[*a]{4,12}",
            "é{4,6}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        /// Whatever the secrets and the text around them, masked text contains none of them.
        #[test]
        fn masked_text_never_contains_a_secret(
            secrets in proptest::collection::vec(secret(), 1..4),
            pieces in proptest::collection::vec((any::<u8>(), "[ -~*é\n]{0,6}"), 0..12),
        ) {
            let masker = Masker::new(secrets.clone());
            // Text made of secrets, parts of secrets and filler, in any order.
            let mut text = String::new();
            for (choice, filler) in &pieces {
                let secret = &secrets[*choice as usize % secrets.len()];
                match choice % 4 {
                    0 => text.push_str(secret),
                    1 => text.extend(secret.chars().take(secret.chars().count() / 2)),
                    2 => text.extend(secret.chars().skip(1)),
                    _ => {}
                }
                text.push_str(filler);
            }
            let masked = masker.mask(&text);
            for secret in &secrets {
                if super::maskable(secret) {
                    prop_assert!(!masked.contains(secret.as_str()), "{secret:?} in {masked:?} (from {text:?})");
                } else {
                    prop_assert!(secret.chars().count() < MIN_SECRET_LEN || super::MASK.contains(secret.as_str()));
                }
            }
        }

        /// The shortcut a bulk run takes, `mask_json_if_needed`, says "unchanged" exactly when
        /// masking changes nothing, and otherwise gives what `mask_json` gives.
        #[test]
        fn the_unchanged_shortcut_agrees_with_masking(
            secrets in proptest::collection::vec(secret(), 0..3),
            strings in proptest::collection::vec((any::<u8>(), "[ -~*é\n]{0,8}"), 0..6),
        ) {
            let masker = Masker::new(secrets.clone());
            // Strings that hold a secret, part of one, or neither, in an object and an array.
            let mut object = serde_json::Map::new();
            let mut array = Vec::new();
            for (i, (choice, filler)) in strings.iter().enumerate() {
                let mut text = filler.clone();
                if let Some(secret) = secrets.get(*choice as usize % secrets.len().max(1)) {
                    match choice % 3 {
                        0 => text.push_str(secret),
                        1 => text.extend(secret.chars().skip(1)),
                        _ => {}
                    }
                }
                object.insert(format!("k{i}"), serde_json::Value::String(text.clone()));
                array.push(serde_json::json!({ "v": text, "n": i }));
            }
            let value = serde_json::json!({ "o": object, "a": array, "t": true });
            let masked = masker.mask_json(&value);
            match masker.mask_json_if_needed(&value) {
                None => prop_assert_eq!(&masked, &value),
                Some(shortcut) => {
                    prop_assert_eq!(&shortcut, &masked);
                    prop_assert_ne!(&masked, &value);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{MASK, Masker};
    use serde_json::json;

    #[test]
    fn masks_known_values_in_text_and_json_longest_first() {
        let masker =
            Masker::new(["token-1234".to_string(), "token-1234-extra".to_string(), "abc".to_string()]);
        assert_eq!(masker.mask("a token-1234-extra and token-1234 abc"), format!("a {MASK} and {MASK} abc"));
        let output = json!({"jobDetails": {"data": {"artifactCredentials": {"accessKeyId": "ASIAXXXX", "secretAccessKey": "s3cr3t-key", "sessionToken": "sess-token"}}}});
        masker.learn_from_output(&output);
        assert_eq!(
            masker.mask_json(&output)["jobDetails"]["data"]["artifactCredentials"]["secretAccessKey"],
            MASK
        );
        assert_eq!(masker.mask("key s3cr3t-key"), format!("key {MASK}"));
    }
}
