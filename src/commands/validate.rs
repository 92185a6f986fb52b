//! `handoff validate FILE...`: every problem in every file, then a one-line summary.

use std::io::Write;

use serde_json::json;

use crate::check::{self, Severity};
use crate::cli::{Format, ValidateArgs};
use crate::diagnostic::{self, Diagnostic, Renderer};
use crate::exit::Exit;
use crate::playbook::{self, Loaded};
use crate::source::SourceFile;

/// The outcome of validating one file.
#[derive(Debug)]
pub struct FileReport {
    pub source: Option<SourceFile>,
    /// The typed playbook, when it passed the schema (`run` goes on with it).
    pub loaded: Option<Loaded>,
    pub diagnostics: Vec<Diagnostic>,
}

impl FileReport {
    pub fn errors(&self) -> usize {
        self.count(Severity::Error)
    }

    pub fn warnings(&self) -> usize {
        self.count(Severity::Warning)
    }

    fn count(&self, severity: Severity) -> usize {
        self.diagnostics.iter().filter(|d| d.severity == severity).count()
    }
}

/// Loads and checks one playbook file, collecting every diagnostic.
pub fn validate_file(path: &std::path::Path) -> FileReport {
    validate_loaded(path, playbook::load_file(path))
}

/// Checks a playbook given as bytes (`path` only names it in messages): what `validate`
/// does once the file is read. The fuzz targets start here.
pub fn validate_bytes(path: &std::path::Path, bytes: Vec<u8>) -> FileReport {
    validate_loaded(path, playbook::source_from_bytes(path, bytes))
}

fn validate_loaded(path: &std::path::Path, read: Result<SourceFile, playbook::LoadError>) -> FileReport {
    let source = match read {
        Ok(source) => source,
        Err(error) => {
            return FileReport {
                source: None,
                loaded: None,
                diagnostics: diagnostic::from_load_error(None, path.to_path_buf(), &error),
            };
        }
    };
    let (loaded, failed_doc, mut diagnostics) = match playbook::load_source(&source) {
        Ok(loaded) => (Some(loaded), None, Vec::new()),
        Err(error) => {
            let diagnostics = diagnostic::from_load_error(Some(&source), source.path.clone(), &error);
            (None, error.into_document(), diagnostics)
        }
    };
    // Semantic checks run even when the schema failed, so every problem shows at once.
    if let Some(doc) = loaded.as_ref().map(|l| &l.doc).or(failed_doc.as_ref()) {
        diagnostics
            .extend(check::check(doc).iter().map(|finding| diagnostic::from_finding(&source, doc, finding)));
    }
    diagnostic::sort(&mut diagnostics);
    FileReport { source: Some(source), loaded, diagnostics }
}

pub fn run(args: &ValidateArgs, color: bool) -> anyhow::Result<Exit> {
    let reports: Vec<FileReport> = args.files.iter().map(|path| validate_file(path)).collect();
    let invalid = reports.iter().filter(|r| r.errors() > 0).count();
    match args.format {
        Format::Human => print_human(&reports, color, true),
        Format::Json => {
            let document = json!({
                "version": 1,
                "valid": invalid == 0,
                "files": reports.iter().zip(&args.files).map(|(r, path)| json!({
                    "file": path.display().to_string(),
                    "valid": r.errors() == 0,
                    "errors": r.errors(),
                    "warnings": r.warnings(),
                })).collect::<Vec<_>>(),
                "diagnostics": reports.iter().flat_map(|r| &r.diagnostics).map(diagnostic::to_json).collect::<Vec<_>>(),
            });
            let mut stdout = std::io::stdout().lock();
            serde_json::to_writer_pretty(&mut stdout, &document)?;
            writeln!(stdout)?;
        }
    }
    Ok(if invalid == 0 { Exit::Success } else { Exit::Invalid })
}

/// Prints every diagnostic of `reports` on stderr, then (with `summary`) one closing line.
pub fn print_human(reports: &[FileReport], color: bool, summary: bool) {
    let renderer = Renderer { color };
    let mut stderr = std::io::stderr().lock();
    for report in reports {
        for d in &report.diagnostics {
            let _ = writeln!(stderr, "{}", renderer.render(d, report.source.as_ref()));
        }
    }
    if !summary {
        return;
    }
    let invalid = reports.iter().filter(|r| r.errors() > 0).count();
    let errors: usize = reports.iter().map(FileReport::errors).sum();
    let warnings: usize = reports.iter().map(FileReport::warnings).sum();
    let files = reports.len();
    let line = if invalid == 0 {
        format!("{} valid{}", count(files, "playbook"), warnings_note(warnings))
    } else {
        format!(
            "{invalid} of {} invalid: {}{}",
            count(files, "playbook"),
            count(errors, "error"),
            warnings_note(warnings)
        )
    };
    let _ = writeln!(stderr, "{line}");
}

fn count(n: usize, word: &str) -> String {
    if n == 1 { format!("1 {word}") } else { format!("{n} {word}s") }
}

fn warnings_note(warnings: usize) -> String {
    if warnings == 0 { String::new() } else { format!(", {}", count(warnings, "warning")) }
}
