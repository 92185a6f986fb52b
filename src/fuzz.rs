//! The fuzz targets' bodies: each takes arbitrary bytes, feeds them to one part of handoff
//! that reads untrusted input, and panics only when a promise breaks. `fuzz/` wraps each in
//! libFuzzer (`scripts/fuzz TARGET [SECONDS]`, docs/fuzzing.md); the integration tests run
//! the checked-in corpus and every crash found through them (`tests/integration/fuzz.rs`),
//! so they stay compiled, linted and checked on every build.
//!
//! A panic is a finding. So is a hang or a runaway allocation: libFuzzer's `-timeout` and
//! `-rss_limit_mb` catch those.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use crate::source::{Pos, SourceFile, Span};

/// A fuzz target: a name (its directory under `fuzz/corpus/`) and its body.
pub type Target = (&'static str, fn(&[u8]));

/// Every target, by name.
pub const TARGETS: &[Target] = &[
    ("playbook", playbook),
    ("vars", vars),
    ("template", template),
    ("emulator", emulator),
    ("journal", journal),
    ("archive", archive),
];

/// Loads and validates a playbook: every diagnostic's place lies inside the input, and every
/// diagnostic renders (for people and as JSON).
pub fn playbook(data: &[u8]) {
    let report = crate::commands::validate_bytes(Path::new("fuzz.yaml"), data.to_vec());
    let renderer = crate::diagnostic::Renderer { color: false };
    for diagnostic in &report.diagnostics {
        if let (Some(span), Some(source)) = (diagnostic.span, report.source.as_ref()) {
            assert_inside(source, span, &format!("{} ({})", diagnostic.message, diagnostic.code));
        }
        let _ = renderer.render(diagnostic, report.source.as_ref());
        let _ = crate::diagnostic::to_json(diagnostic);
    }
}

fn assert_inside(source: &SourceFile, span: Span, what: &str) {
    let inside = |pos: Pos| {
        pos.line >= 1
            && pos.col >= 1
            && source.line(pos.line).is_some_and(|line| pos.col <= line.chars().count() + 1)
    };
    assert!(
        inside(span.start) && inside(span.end) && span.start <= span.end,
        "diagnostic `{what}` at {span:?} lies outside the input ({} lines)",
        crate::source::lines(&source.text).count()
    );
}

/// The vars loaders, chosen by the first byte: CSV, JSON, JSONL, YAML, and `--var`. An error
/// names a line of the input.
pub fn vars(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let extension = match selector % 5 {
        0 => "csv",
        1 => "json",
        2 => "jsonl",
        3 => "yaml",
        _ => {
            if let Ok((name, value)) = crate::vars::parse_override(text) {
                assert!(
                    !name.is_empty() && format!("{name}={value}") == text,
                    "--var {text:?} split wrongly"
                );
            }
            return;
        }
    };
    // Lines as YAML and CSV count them: a lone CR ends one too.
    let lines = crate::source::lines(text).count();
    match crate::vars::parse(Path::new(&format!("fuzz.{extension}")), text) {
        Ok(value) => {
            if extension == "csv" || extension == "jsonl" {
                let rows = value.as_array().map_or(0, Vec::len);
                assert!(rows <= lines, "{rows} rows from {lines} lines");
            }
        }
        Err(error) => {
            let line = match &error {
                crate::vars::VarsError::Csv { line, .. } => *line as usize,
                crate::vars::VarsError::Json { line, .. } | crate::vars::VarsError::Yaml { line, .. } => {
                    *line
                }
                _ => 0,
            };
            assert!(line <= lines + 1, "`{error}` names line {line} of {lines}");
        }
    }
}

/// Template rendering with hostile data. The input is a template, a NUL byte, then a value:
/// the value (holding `{{`, huge, deep) is data and is never rendered again, and the
/// template renders or fails with a message, against a context holding the value.
pub fn template(data: &[u8]) {
    use serde_json::{Value, json};
    let (text, value) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let text = String::from_utf8_lossy(text);
    let value = String::from_utf8_lossy(value).into_owned();
    // A deep structure from the value: one level per byte, up to 64.
    let mut deep = Value::String(value.clone());
    for byte in value.bytes().take(64) {
        deep = if byte % 2 == 0 { json!([deep]) } else { json!({ "k": deep }) };
    }
    let context = minijinja::context! {
        item => value.clone(),
        vars => crate::template::JsonData::at(
            &std::sync::Arc::new(json!({ "value": value, "deep": deep, "list": [value, 1, null] })),
            String::new(),
        ),
        secrets => minijinja::context! { token => "fuzz-secret" },
    };
    let renderer = crate::template::Renderer::default();
    let item = renderer.render_str("{{ item }}", &context).expect("`{{ item }}` renders");
    assert_eq!(item, Value::String(value.clone()), "data was rendered again");
    let framed = renderer.render_str("<{{ vars.value }}>", &context).expect("a framed value renders");
    assert_eq!(framed, Value::String(format!("<{value}>")), "data was rendered again");
    if let Err(error) = renderer.render_str(&text, &context) {
        assert!(!error.message.is_empty(), "an empty error message for {text:?}");
    }
    let _ = crate::template::references(&crate::template::environment(), &text);
}

/// The emulator's request path, through its HTTP/1.1 connection code. The first byte chooses:
/// even, the rest is a raw request (anything at all); odd, the next byte picks an operation
/// and the rest is its JSON body, sent as a well-formed request signed with SigV4. Either
/// way the server never panics, and a signed request always gets an answer: 200, or an error
/// in the AWS JSON shape (`__type` and a message).
pub fn emulator(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else { return };
    let emulator = crate::emulator::Connectionless::new(&crate::emulator::EmulatorConfig::default())
        .expect("the default emulator builds");
    let signed = selector % 2 == 1;
    let request = if signed {
        let Some((&operation, body)) = rest.split_first() else { return };
        emulator.signed_request(operation as usize, body)
    } else {
        rest.to_vec()
    };
    let answer = block_on(emulator.exchange(&request));
    if answer.is_empty() {
        assert!(!signed, "a signed request got no answer");
        return;
    }
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let parsed = response.parse(&answer);
    assert!(matches!(parsed, Ok(httparse::Status::Complete(_))), "not an HTTP answer: {parsed:?}");
    let status = response.code.unwrap_or_default();
    let is_json = response.headers.iter().any(|h| {
        h.name.eq_ignore_ascii_case("content-type") && h.value.starts_with(b"application/x-amz-json")
    });
    if let (true, Ok(httparse::Status::Complete(head))) = (signed, parsed) {
        assert!(is_json, "a signed request's answer is not AWS JSON (status {status})");
        // Only the first answer: a signed request is one request.
        let body: serde_json::Value = serde_json::from_slice(&answer[head..])
            .unwrap_or_else(|e| panic!("status {status}: the body is not JSON: {e}"));
        if status != 200 {
            let shaped = body.get("__type").is_some_and(|t| t.is_string())
                && (body.get("message").or_else(|| body.get("Message"))).is_some_and(|m| m.is_string());
            assert!(shaped, "status {status}: not an AWS-shaped error: {body}");
        }
    }
}

/// Runs a future on one runtime shared by every emulator input of a fuzzing process.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime")
        })
        .block_on(future)
}

/// The journal reader on any file: opening it, listing runs, reading each run as `handoff
/// show` does, and `--resume`'s reads. A clear error or an answer, never a panic.
pub fn journal(data: &[u8]) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("journal.sqlite");
    std::fs::write(&path, data).expect("the journal file is written");
    let Ok(journal) = crate::journal::Journal::open(&path) else { return };
    let Ok(runs) = journal.runs(20) else { return };
    for run in runs {
        if let Ok(detail) = journal.run(&run.id) {
            let _ = crate::commands::describe_run(&detail, true);
            let _ = serde_json::to_string(&detail);
            for item in detail.items.iter().take(20) {
                let _ = journal.item_output(&run.id, &item.step_id, item.position, &item.key);
            }
        }
        // What `--resume` reads.
        let _ = journal.summary(&run.id);
        let _ = journal.outcomes(&run.id);
    }
}

/// Zip extraction into an empty directory: on success nothing lies outside it (no path, no
/// symlink resolving out) and the limits hold; on a refusal the directory is gone.
pub fn archive(data: &[u8]) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let root = dir.path().join("out");
    let limits = crate::archive::Limits { bytes: 1 << 20, entries: 1_000 };
    let result = crate::archive::extract(Cursor::new(data), &root, limits);
    let siblings: Vec<PathBuf> =
        std::fs::read_dir(dir.path()).expect("the temporary directory").flatten().map(|e| e.path()).collect();
    match result {
        Err(_) => assert!(siblings.is_empty(), "a refused archive left {siblings:?}"),
        Ok(contents) => {
            assert_eq!(siblings, vec![root.clone()], "extraction wrote beside its directory");
            assert!(contents.bytes <= limits.bytes, "{} bytes extracted", contents.bytes);
            let canonical_root = std::fs::canonicalize(&root).expect("the extracted directory");
            let (mut files, mut bytes) = (0, 0);
            walk(&canonical_root, &canonical_root, &mut files, &mut bytes);
            assert!(bytes <= limits.bytes, "{bytes} bytes on disk");
            assert_eq!(files, contents.files, "the files counted and the files on disk differ");
        }
    }
}

/// Checks every entry under `path` stays inside `root`, counting regular files and bytes.
fn walk(path: &Path, root: &Path, files: &mut usize, bytes: &mut u64) {
    for entry in std::fs::read_dir(path).expect("an extracted directory").flatten() {
        let path = entry.path();
        let meta = std::fs::symlink_metadata(&path).expect("an extracted entry");
        if meta.file_type().is_symlink() {
            // A symlink may dangle, but what it names must lie inside.
            let target = std::fs::read_link(&path).expect("a symlink");
            let named = lexical(&path.parent().unwrap_or(root).join(target));
            assert!(named.starts_with(root), "symlink {path:?} names {named:?}, outside");
            if let Ok(real) = std::fs::canonicalize(&path) {
                assert!(real.starts_with(root), "symlink {path:?} resolves outside to {real:?}");
            }
        } else if meta.is_dir() {
            walk(&path, root, files, bytes);
        } else {
            *files += 1;
            *bytes += meta.len();
        }
    }
}

/// `path` with `.` and `..` taken away by their names.
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::emulator::{Connectionless, EmulatorConfig};

    /// The signed mode is only worth fuzzing if its requests get past the signature check.
    #[test]
    fn a_signed_request_reaches_the_world() {
        let emulator = Connectionless::new(&EmulatorConfig::default()).unwrap();
        let body = br#"{"Catalog": "AWS", "ParticipantType": "RECEIVER"}"#;
        // Operation 5 is ListEngagementInvitations.
        let answer = super::block_on(emulator.exchange(&emulator.signed_request(5, body)));
        let text = String::from_utf8_lossy(&answer);
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.contains("EngagementInvitationSummaries"), "{text}");
        let unsigned = super::block_on(emulator.exchange(
            b"POST / HTTP/1.1\r\nhost: x\r\nx-amz-target: AWSPartnerCentralSelling.ListEngagementInvitations\r\ncontent-length: 2\r\n\r\n{}",
        ));
        let text = String::from_utf8_lossy(&unsigned);
        assert!(text.starts_with("HTTP/1.1 4"), "{text}");
    }
}
