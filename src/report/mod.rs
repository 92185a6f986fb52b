//! `--report FILE.json|FILE.csv`: one row per item (or per call of a step without
//! `for-each`), written when the run ends, whatever way it ends. Everything in it was masked
//! by the engine. CSV has one `output.<Field>` column per output field of the actions the
//! run used (objects and lists as JSON); JSON keeps each output whole.

pub mod html;

use std::path::Path;

use serde_json::{Value, json};

use std::io::Write;

use crate::engine::{Output, RunReport};

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot write the report {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("cannot write the report {path}: {source}")]
    Csv { path: String, source: csv::Error },
    #[error("cannot read the run for its report: {source}")]
    Journal { source: crate::journal::JournalError },
}

/// What a report file's extension asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    Json,
    Csv,
    Html,
}

impl ReportFormat {
    pub fn of(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "json" => Some(ReportFormat::Json),
            "csv" => Some(ReportFormat::Csv),
            "html" | "htm" => Some(ReportFormat::Html),
            _ => None,
        }
    }
}

/// Where the outputs the journal kept are read back from.
pub type Outputs<'a> = Option<&'a crate::journal::Journal>;

/// The rows of a report, one at a time: items that ran or were journaled, and items never
/// started. Outputs in the journal are read back row by row, so a report of 100,000 items
/// never holds more than one of them.
fn rows<'a>(
    run_id: &'a str,
    report: &'a RunReport,
    journal: Outputs<'a>,
) -> impl Iterator<Item = Value> + 'a {
    report.steps.iter().flat_map(move |step| {
        step.items.iter().map(move |item| {
            let output = match &item.output {
                Output::Held(value) => (**value).clone(),
                Output::Journaled => journal
                    .and_then(|j| j.item_output(run_id, &step.id, item.index, &item.key).ok().flatten())
                    .unwrap_or_default(),
            };
            json!({
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
                "output": output,
                "error_code": item.error_code,
                "error": item.error,
            })
        })
    })
}

pub fn write(path: &Path, run_id: &str, report: &RunReport, journal: Outputs<'_>) -> Result<(), ReportError> {
    let display = path.display().to_string();
    let io_error = |source| ReportError::Io { path: display.clone(), source };
    let is_csv = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    if !is_csv {
        // A JSON array written row by row, each row indented as a pretty-printed array's.
        let mut out = std::io::BufWriter::new(std::fs::File::create(path).map_err(io_error)?);
        let mut first = true;
        for row in rows(run_id, report, journal) {
            let text = serde_json::to_string_pretty(&row).unwrap_or_default().replace('\n', "\n  ");
            write!(out, "{}\n  {text}", if first { "[" } else { "," }).map_err(io_error)?;
            first = false;
        }
        writeln!(out, "{}", if first { "[]" } else { "\n]" }).map_err(io_error)?;
        return out.flush().map_err(io_error);
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
    for row in rows(run_id, report, journal) {
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
