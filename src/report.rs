//! `--report FILE.json|FILE.csv`: one row per item (or per call of a step without
//! `for-each`), written when the run ends, whatever way it ends. Everything in it was masked
//! by the engine. CSV has one `output.<Field>` column per output field of the actions the
//! run used (objects and lists as JSON); JSON keeps each output whole.

use std::path::Path;

use serde_json::{Value, json};

use crate::engine::RunReport;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot write the report {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("cannot write the report {path}: {source}")]
    Csv { path: String, source: csv::Error },
}

/// The rows of a report: items that ran or were journaled, and items never started.
pub fn rows(run_id: &str, report: &RunReport) -> Vec<Value> {
    let mut rows = Vec::new();
    for step in &report.steps {
        for item in &step.items {
            rows.push(json!({
                "run_id": run_id,
                "step": step.id,
                "action": step.action.name(),
                "index": item.index,
                "key": item.key,
                "label": item.label,
                "status": item.status.map_or("not_done", |s| s.name()),
                "attempts": item.attempts,
                "throttled": item.throttled,
                "resumed": item.replayed,
                "output": item.output,
                "error_code": item.error_code,
                "error": item.error,
            }));
        }
    }
    rows
}

pub fn write(path: &Path, run_id: &str, report: &RunReport) -> Result<(), ReportError> {
    let display = path.display().to_string();
    let rows = rows(run_id, report);
    let is_csv = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    if !is_csv {
        let text = serde_json::to_string_pretty(&rows).unwrap_or_default() + "\n";
        return std::fs::write(path, text).map_err(|source| ReportError::Io { path: display, source });
    }
    // One column per output field of the actions used, in the order the steps ran.
    let mut fields: Vec<&str> = Vec::new();
    for step in &report.steps {
        for field in step.action.output_fields() {
            if !fields.contains(field) {
                fields.push(field);
            }
        }
    }
    let csv_error = |source| ReportError::Csv { path: display.clone(), source };
    let mut writer = csv::Writer::from_path(path).map_err(csv_error)?;
    let mut header: Vec<String> =
        ["run_id", "step", "action", "index", "key", "label", "status", "attempts", "throttled", "resumed"]
            .iter()
            .map(|s| s.to_string())
            .collect();
    header.extend(fields.iter().map(|f| format!("output.{f}")));
    header.extend(["error_code".to_string(), "error".to_string()]);
    writer.write_record(&header).map_err(csv_error)?;
    let cell = |value: &Value| match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    for row in &rows {
        let mut record: Vec<String> = [
            "run_id",
            "step",
            "action",
            "index",
            "key",
            "label",
            "status",
            "attempts",
            "throttled",
            "resumed",
        ]
        .iter()
        .map(|k| cell(&row[*k]))
        .collect();
        record.extend(fields.iter().map(|f| cell(&row["output"][*f])));
        record.push(cell(&row["error_code"]));
        record.push(cell(&row["error"]));
        writer.write_record(&record).map_err(csv_error)?;
    }
    writer.flush().map_err(|source| ReportError::Io { path: display.clone(), source })
}
