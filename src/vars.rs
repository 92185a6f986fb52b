//! Vars: inline values and files loaded when a run starts (.csv with a header row, .json,
//! .jsonl, .yaml), relative to the playbook's folder, and `--var NAME=VALUE` overrides.
//! Every load error names the file and the line (and column where the format has one).

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use thiserror::Error;

use crate::playbook::{Playbook, VarSource};

#[derive(Debug, Error, PartialEq, Eq)]
pub enum VarsError {
    #[error("{}: cannot read the file: {message}", path.display())]
    Io { path: PathBuf, message: String },
    #[error("{}:{line}: {message}", path.display())]
    Csv { path: PathBuf, line: u64, message: String },
    #[error("{}:{line}:{column}: {message}", path.display())]
    Json { path: PathBuf, line: usize, column: usize, message: String },
    #[error("{}:{line}:{column}: {message}", path.display())]
    Yaml { path: PathBuf, line: usize, column: usize, message: String },
    #[error("--var {name}: no var `{name}` is declared in the playbook{}", known_list(.known))]
    UnknownOverride { name: String, known: Vec<String> },
    #[error("--var `{text}` is not NAME=VALUE")]
    BadOverride { text: String },
}

fn known_list(known: &[String]) -> String {
    if known.is_empty() {
        " (it declares none)".into()
    } else {
        format!(" (it declares {})", known.join(", "))
    }
}

/// Parses `--var NAME=VALUE`.
pub fn parse_override(text: &str) -> Result<(String, String), VarsError> {
    let (name, value) = text.split_once('=').ok_or_else(|| VarsError::BadOverride { text: text.into() })?;
    if name.is_empty() {
        return Err(VarsError::BadOverride { text: text.into() });
    }
    Ok((name.to_string(), value.to_string()))
}

/// The vars of a run: declared values, loaded files, then overrides (as strings).
pub fn load(
    playbook: &Playbook,
    base: &Path,
    overrides: &[(String, String)],
) -> Result<Map<String, Value>, VarsError> {
    for (name, _) in overrides {
        if !playbook.vars.contains_key(name) {
            return Err(VarsError::UnknownOverride {
                name: name.clone(),
                known: playbook.vars.keys().cloned().collect(),
            });
        }
    }
    let mut vars = Map::new();
    for (name, source) in &playbook.vars {
        if let Some((_, value)) = overrides.iter().rev().find(|(n, _)| n == name) {
            vars.insert(name.clone(), Value::String(value.clone()));
            continue;
        }
        let value = match source {
            VarSource::Inline(value) => value.clone(),
            VarSource::File { file } => {
                let mut value = load_file(&base.join(file))?;
                // A run keeps its vars to the end: no growth slack in a 100,000-row list.
                if let Value::Array(rows) = &mut value {
                    rows.shrink_to_fit();
                }
                value
            }
        };
        vars.insert(name.clone(), value);
    }
    Ok(vars)
}

/// Loads one data file by its extension.
pub fn load_file(path: &Path) -> Result<Value, VarsError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| VarsError::Io { path: path.into(), message: e.to_string() })?;
    parse(path, &text)
}

/// Parses a data file's text by the extension of `path` (which only names it in messages).
pub fn parse(path: &Path, text: &str) -> Result<Value, VarsError> {
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or_default().to_ascii_lowercase();
    match extension.as_str() {
        "csv" => load_csv(path, text),
        "json" => serde_json::from_str(text).map_err(|e| VarsError::Json {
            path: path.into(),
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        }),
        "jsonl" => text
            .lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(i, line)| {
                serde_json::from_str(line).map_err(|e| VarsError::Json {
                    path: path.into(),
                    line: i + 1,
                    column: e.column(),
                    message: e.to_string(),
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        _ => crate::yaml::parse(text).map(|doc| doc.to_json()).map_err(|errors| {
            let first = &errors[0];
            let at = first.span().start;
            VarsError::Yaml { path: path.into(), line: at.line, column: at.col, message: first.to_string() }
        }),
    }
}

/// A CSV file with a header row: a list of mappings from column name to cell text.
fn load_csv(path: &Path, text: &str) -> Result<Value, VarsError> {
    let csv_error = |line: u64, message: String| VarsError::Csv { path: path.into(), line, message };
    let mut reader =
        csv::ReaderBuilder::new().has_headers(true).trim(csv::Trim::Headers).from_reader(text.as_bytes());
    let headers = reader.headers().map_err(|e| csv_error(1, e.to_string()))?.clone();
    for (i, header) in headers.iter().enumerate() {
        if header.is_empty() {
            return Err(csv_error(1, format!("column {} has no name in the header row", i + 1)));
        }
        if headers.iter().take(i).any(|h| h == header) {
            return Err(csv_error(1, format!("column `{header}` appears twice in the header row")));
        }
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            let message = match e.kind() {
                csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
                    format!("this row has {len} fields but the header has {expected_len}")
                }
                _ => e.to_string(),
            };
            csv_error(line, message)
        })?;
        let row: Map<String, Value> = headers
            .iter()
            .zip(record.iter())
            .map(|(h, v)| (h.to_string(), Value::String(v.to_string())))
            .collect();
        rows.push(Value::Object(row));
    }
    Ok(Value::Array(rows))
}

#[cfg(test)]
mod tests {
    use super::{VarsError, load_file};
    use serde_json::json;

    fn write(name: &str, text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn loads_each_format() {
        let (_d, csv) = write("a.csv", "id,note\nengi-1,\"a, b\"\nengi-2,x\n");
        assert_eq!(
            load_file(&csv).unwrap(),
            json!([{"id": "engi-1", "note": "a, b"}, {"id": "engi-2", "note": "x"}])
        );
        let (_d, jsonl) = write("a.jsonl", "{\"id\": 1}\n\n{\"id\": 2}\n");
        assert_eq!(load_file(&jsonl).unwrap(), json!([{"id": 1}, {"id": 2}]));
        let (_d, yaml) = write("a.yaml", "- id: 1\n- id: 2\n");
        assert_eq!(load_file(&yaml).unwrap(), json!([{"id": 1}, {"id": 2}]));
    }

    #[test]
    fn errors_name_the_line() {
        let (_d, csv) = write("bad.csv", "id,note\nengi-1,x\nengi-2\n");
        let error = load_file(&csv).unwrap_err();
        assert!(matches!(&error, VarsError::Csv { line: 3, .. }), "{error:?}");
        assert!(
            error.to_string().ends_with("bad.csv:3: this row has 1 fields but the header has 2"),
            "{error}"
        );
        let (_d, json) = write("bad.json", "{\n  \"a\": [1,\n}");
        assert!(matches!(load_file(&json).unwrap_err(), VarsError::Json { line: 3, .. }));
        let (_d, jsonl) = write("bad.jsonl", "{}\n{oops}\n");
        assert!(matches!(load_file(&jsonl).unwrap_err(), VarsError::Json { line: 2, .. }));
    }
}
