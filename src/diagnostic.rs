//! Every problem the user sees about their playbook is worded and drawn here, in one place.
//!
//! The layers below report typed errors with data and a place ([`Pointer`] or [`Span`]);
//! this module turns them into [`Diagnostic`]s (message, expected, found, hint) and renders
//! them as `file:line:col: error: message` with a source snippet and a caret, or as JSON for
//! tools (`docs/diagnostics.md` documents that format).

use std::fmt::Write as _;
use std::path::PathBuf;

use anstyle::{AnsiColor, Effects, Style};
use serde_json::{Value, json};
use unicode_width::UnicodeWidthStr;

use crate::actions::ActionKind;
use crate::check::{Finding, FindingKind, Severity};
use crate::playbook::{LoadError, Pointer};
use crate::schema::{Problem, Violation};
use crate::source::{Pos, SourceFile, Span};
use crate::template::{ROOT_NAMES, RUN_FIELDS, STEP_FIELDS};
use crate::yaml::{Node, YamlError};

/// The longest `found` value we show before cutting it.
const MAX_FOUND_CHARS: usize = 60;
/// The widest source line a snippet shows before cutting it.
const MAX_SNIPPET_CHARS: usize = 100;

/// One problem, ready to show.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// A stable identifier for tools (`unknown-key`), documented in `docs/diagnostics.md`.
    pub code: &'static str,
    pub message: String,
    pub file: PathBuf,
    pub span: Option<Span>,
    pub path: Option<Pointer>,
    pub expected: Option<String>,
    pub found: Option<String>,
    pub hint: Option<String>,
    pub notes: Vec<String>,
    /// Part of the snippet to hide because it holds a secret written literally.
    pub masked: Option<Span>,
}

impl Diagnostic {
    fn new(severity: Severity, code: &'static str, message: impl Into<String>, file: PathBuf) -> Self {
        Self {
            severity,
            code,
            message: message.into(),
            file,
            span: None,
            path: None,
            expected: None,
            found: None,
            hint: None,
            notes: Vec::new(),
            masked: None,
        }
    }

    fn error(code: &'static str, message: impl Into<String>, file: PathBuf) -> Self {
        Self::new(Severity::Error, code, message, file)
    }

    fn at(mut self, span: Option<Span>) -> Self {
        self.span = span;
        self
    }

    fn path(mut self, path: &Pointer) -> Self {
        self.path = Some(path.clone());
        self
    }

    fn expected(mut self, expected: Option<String>) -> Self {
        self.expected = expected;
        self
    }

    fn found(mut self, found: Option<String>) -> Self {
        self.found = found.map(|f| truncate(&f));
        self
    }

    fn hint(mut self, hint: Option<String>) -> Self {
        self.hint = hint;
        self
    }
}

/// The diagnostics for a file that failed to load.
pub fn from_load_error(source: Option<&SourceFile>, path: PathBuf, error: &LoadError) -> Vec<Diagnostic> {
    match error {
        LoadError::Io { source: io, .. } => {
            vec![Diagnostic::error("io", format!("cannot read the file: {io}"), path)]
        }
        LoadError::TooLarge { size } => vec![
            Diagnostic::error("file-too-large", error.to_string(), path)
                .found(Some(format!("{:.1} MiB", *size as f64 / 1024.0 / 1024.0)))
                .hint(Some("split the work into several playbooks, or load the data with `vars: {name: {file: data.csv}}`".into())),
        ],
        LoadError::NotUtf8 { at, byte } => vec![
            Diagnostic::error("not-utf8", error.to_string(), path)
                .at(Some(Span::point(*at)))
                .found(Some(format!("byte 0x{byte:02x}")))
                .hint(Some("save the file as UTF-8".into())),
        ],
        LoadError::Yaml(errors) => errors.iter().map(|e| from_yaml_error(source, path.clone(), e)).collect(),
        LoadError::Schema { doc, violations } => from_violations(doc, path, violations),
        LoadError::Model { doc, at, message } => vec![
            Diagnostic::error("invalid-value", message.clone(), path)
                .path(at)
                .at(locate(doc, at, false)),
        ],
    }
}

fn from_yaml_error(source: Option<&SourceFile>, file: PathBuf, error: &YamlError) -> Diagnostic {
    let (code, hint) = match error {
        YamlError::Syntax { message, .. } if message.contains("tab") => {
            ("yaml-syntax", Some("YAML indents with spaces only; replace the tab with spaces".to_string()))
        }
        YamlError::Syntax { .. } => ("yaml-syntax", None),
        YamlError::DuplicateKey { .. } => {
            ("duplicate-key", Some("a key may appear once per mapping; remove or rename one".to_string()))
        }
        YamlError::ComplexKey { .. } => ("complex-key", Some("write the key as a plain string".to_string())),
        YamlError::TooDeep { .. } => (
            "too-deep",
            Some("playbooks need only a few levels; flatten the data or load it from a file".to_string()),
        ),
        YamlError::TooManyValues { .. } => (
            "too-many-values",
            Some(
                "split the data into several files and load them with `vars: {name: {file: ...}}`"
                    .to_string(),
            ),
        ),
        YamlError::AliasesTooLarge { .. } => (
            "aliases-too-large",
            Some(
                "an alias that copies an alias that copies... grows exponentially; expand fewer aliases"
                    .to_string(),
            ),
        ),
        YamlError::UnknownAlias { .. } => {
            ("unknown-alias", Some("define the anchor (`&name`) before the alias (`*name`)".to_string()))
        }
        YamlError::SecondDocument { .. } => (
            "second-document",
            Some("remove the `---` line, or move the second document to its own file".to_string()),
        ),
        YamlError::BadMerge { .. } => ("bad-merge", None),
    };
    let mut span = error.span();
    if let (YamlError::Syntax { message, .. }, Some(source)) = (error, source) {
        span = source_position_of_syntax_error(source, span, message.contains("tab"));
    }
    let mut diagnostic = Diagnostic::error(code, yaml_message(error), file).at(Some(span)).hint(hint);
    if let YamlError::DuplicateKey { first, .. } = error {
        diagnostic
            .notes
            .push(format!("first defined at line {}, column {}", first.start.line, first.start.col));
    }
    diagnostic
}

/// The YAML scanner reports some errors where the construct began (a tab inside a plain
/// scalar) or after the end of the input (an unclosed `{`). Point at the tab itself, and at
/// the end of the last written line rather than at an empty one.
fn source_position_of_syntax_error(source: &SourceFile, span: Span, about_tab: bool) -> Span {
    let start = span.start;
    if about_tab {
        for line_number in start.line..start.line + 3 {
            let Some(line) = source.line(line_number) else { break };
            let from = if line_number == start.line { start.col - 1 } else { 0 };
            if let Some(i) = line.chars().skip(from).position(|c| c == '\t') {
                let col = from + i + 1;
                return Span::new(Pos::new(line_number, col), Pos::new(line_number, col + 1));
            }
        }
    }
    let blank = source.line(start.line).is_none_or(|l| l.trim().is_empty());
    if blank {
        for line_number in (1..start.line).rev() {
            let Some(line) = source.line(line_number) else { continue };
            if !line.trim().is_empty() {
                let col = line.trim_end().chars().count() + 1;
                return Span::point(Pos::new(line_number, col));
            }
        }
    }
    span
}

fn yaml_message(error: &YamlError) -> String {
    match error {
        YamlError::Syntax { message, .. } => format!("invalid YAML: {message}"),
        other => other.to_string(),
    }
}

fn from_violations(doc: &Node, file: PathBuf, violations: &[Violation]) -> Vec<Diagnostic> {
    // An unknown key that is a misspelt action already explains a step with no action.
    let misspelt_action_steps: Vec<Pointer> = violations
        .iter()
        .filter_map(|v| match &v.problem {
            Problem::UnknownKey { key, allowed } => {
                let suggestion = suggest(key, allowed.iter().map(String::as_str))?;
                ActionKind::from_name(suggestion).map(|_| v.at.parent())
            }
            _ => None,
        })
        .collect();
    // Likewise a missing key whose misspelling is reported as unknown next to it.
    let misspelt_keys: Vec<Pointer> = violations
        .iter()
        .filter_map(|v| match &v.problem {
            Problem::UnknownKey { key, allowed } => {
                let suggestion = suggest(key, allowed.iter().map(String::as_str))?;
                Some(v.at.parent().join(suggestion))
            }
            _ => None,
        })
        .collect();
    let mut diagnostics: Vec<Diagnostic> = violations
        .iter()
        .filter(|v| !(v.problem == Problem::NoAction && misspelt_action_steps.contains(&v.at)))
        .filter(|v| match &v.problem {
            Problem::MissingKey { key } => !misspelt_keys.contains(&v.at.join(key.clone())),
            _ => true,
        })
        .map(|v| from_violation(doc, file.clone(), v))
        .collect();
    sort(&mut diagnostics);
    diagnostics
}

fn from_violation(doc: &Node, file: PathBuf, violation: &Violation) -> Diagnostic {
    let at = &violation.at;
    let node = doc.lookup(at.segments()).map(|(n, _)| n);
    // Mappings and lists are named by the message ("found a mapping"), not dumped.
    let found_text = violation.found.as_ref().and_then(|v| match v {
        Value::String(s) if s.is_empty() => Some("\"\" (an empty string)".to_string()),
        Value::String(s) => Some(format!("`{s}`")),
        Value::Array(_) | Value::Object(_) => None,
        other => Some(format!("`{other}`")),
    });
    let found_kind = node.map(|n| n.kind_name());
    let prefer_key = matches!(
        violation.problem,
        Problem::UnknownKey { .. } | Problem::MissingKey { .. } | Problem::BadKeyName { .. }
    );
    let span = locate(doc, at, prefer_key);
    let base = |code, message: String| Diagnostic::error(code, message, file.clone()).at(span).path(at);
    let described = violation.expected.clone();
    match &violation.problem {
        Problem::UnknownKey { key, allowed } => base("unknown-key", format!("unknown key `{key}`"))
            .expected(Some(one_of(allowed)))
            .hint(suggest(key, allowed.iter().map(String::as_str)).map(|s| format!("did you mean `{s}`?"))),
        Problem::MissingKey { key } => {
            let message = match at.segments() {
                [steps, _] if steps == "steps" => format!("step is missing `{key}`"),
                [] => format!("the playbook is missing `{key}`"),
                _ => format!("missing required key `{key}`"),
            };
            base("missing-key", message).expected(described)
        }
        Problem::WrongType { expected } => {
            let wanted: Vec<String> = expected.iter().map(|t| type_phrase(t)).collect();
            let message = format!(
                "expected {}, found {}",
                wanted.join(" or "),
                found_kind.map_or("another type".to_string(), article)
            );
            let unitless = match &violation.found {
                Some(Value::Number(n))
                    if described.as_deref().is_some_and(|d| d.starts_with("A duration")) =>
                {
                    Some(format!("add a unit: `{n}s`, `{n}ms` or `{n}m`"))
                }
                _ => None,
            };
            base("type", message).expected(described).found(found_text).hint(unitless)
        }
        Problem::TooShort { min } => {
            let length = violation.found.as_ref().and_then(Value::as_str).map_or(0, |s| s.chars().count());
            let message = if length == 0 {
                "must not be empty".to_string()
            } else {
                format!("is too short: {length} characters, at least {min}")
            };
            base("length", message).expected(described).found(found_text)
        }
        Problem::TooLong { max } => {
            let length = violation.found.as_ref().and_then(Value::as_str).map_or(0, |s| s.chars().count());
            base("length", format!("is too long: {length} characters, at most {max}"))
                .expected(described)
                .found(found_text)
        }
        Problem::Pattern { pattern } if pattern.contains("\\{\\{") => {
            base("not-a-template", "expected a template (`{{ ... }}`)".to_string())
                .expected(described)
                .found(found_text)
        }
        Problem::Pattern { pattern } => {
            let shown = found_text.clone().unwrap_or_else(|| "the value".into());
            base("pattern", format!("{shown} does not match `{pattern}`"))
                .expected(described)
                .found(found_text)
        }
        Problem::NotOneOf { options } => {
            let value = violation.found.as_ref().map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            });
            let hint = value
                .as_deref()
                .and_then(|v| suggest(v, options.iter().map(String::as_str)))
                .map(|s| format!("did you mean `{s}`?"));
            base("enum", format!("{} is not an allowed value", found_text.clone().unwrap_or_default()))
                .expected(Some(one_of(options)))
                .found(found_text)
                .hint(hint)
        }
        Problem::TooSmall { min } => {
            base("range", format!("must be at least {min}")).expected(described).found(found_text)
        }
        Problem::TooLarge { max } => {
            base("range", format!("must be at most {max}")).expected(described).found(found_text)
        }
        Problem::TooFewItems { min } => {
            base("items", format!("needs at least {min} {}", plural(*min, "item"))).expected(described)
        }
        Problem::TooManyItems { max } => {
            let count = node.and_then(|n| match &n.value {
                crate::yaml::NodeValue::Seq(items) => Some(items.len()),
                _ => None,
            });
            let message = match count {
                Some(count) => format!("has {count} items, at most {max} allowed"),
                None => format!("has more than {max} items"),
            };
            base("items", message).expected(described)
        }
        Problem::WrongConstant { expected } => {
            base("const", format!("must be {expected}")).expected(described).found(found_text)
        }
        Problem::BadKeyName { key, .. } => {
            let fixed: String =
                key.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
            base("key-name", format!("`{key}` is not a valid name"))
                .expected(Some("letters, digits and `_`, not starting with a digit, so templates can write `vars.<name>`".into()))
                .hint((fixed != *key).then(|| format!("call it `{fixed}`")))
        }
        Problem::NoAction => base("no-action", "step has no action".to_string())
            .expected(Some(one_of(ActionKind::ALL.iter().map(|k| k.name().to_string()))))
            .hint(Some("`handoff skeleton <action>` prints a sample step".into())),
        Problem::SeveralActions { actions } => {
            base("several-actions", format!("step has {} actions: {}", actions.len(), quoted_list(actions)))
                .expected(Some("exactly one action per step".into()))
                .hint(Some("split it into one step per action".into()))
        }
        Problem::ExactlyOneOf { keys } => {
            base("one-of-keys", format!("takes exactly one of {}", quoted_list(keys)))
        }
        Problem::Other { message } => base("schema", message.clone()),
    }
}

/// The diagnostic for one semantic finding.
pub fn from_finding(source: &SourceFile, doc: &Node, finding: &Finding) -> Diagnostic {
    let at = &finding.at;
    let span = locate(doc, at, false);
    let template_text = doc.lookup(at.segments()).and_then(|(n, _)| n.as_str().map(str::to_string));
    let severity = finding.kind.severity();
    let mut d =
        Diagnostic::new(severity, finding_code(&finding.kind), finding.kind.to_string(), source.path.clone())
            .at(span)
            .path(at);
    let did_you_mean = |name: &str, known: &[String]| {
        suggest(name, known.iter().map(String::as_str)).map(|s| format!("did you mean `{s}`?"))
    };
    match &finding.kind {
        FindingKind::DuplicateStepId { first, .. } => {
            if let Some(first) = locate(doc, first, false) {
                d.notes.push(format!("first used at line {}, column {}", first.start.line, first.start.col));
            }
            d = d.hint(Some("step ids must be unique: later steps refer to them".into()));
        }
        FindingKind::TemplateSyntax { error } => {
            d.span =
                span.map(|s| refine_template_span(source, s, template_text.as_deref(), error.range.clone()));
            d = d.found(template_text);
        }
        FindingKind::UnknownName { name } => {
            let roots: Vec<String> = ROOT_NAMES.iter().map(|s| s.to_string()).collect();
            d = d.expected(Some(one_of(&roots))).hint(did_you_mean(name, &roots)).found(template_text);
        }
        FindingKind::UnknownVar { name, known } => {
            let hint = did_you_mean(name, known)
                .or_else(|| Some(format!("declare it under `vars:` (`{name}: ...`)")));
            d = d.expected(Some(declared("vars", known))).hint(hint).found(template_text);
        }
        FindingKind::UnknownSecret { name, known } => {
            let hint = did_you_mean(name, known)
                .or_else(|| Some(format!("declare it under `secrets:` (`{name}: {{env: VARIABLE}}`)")));
            d = d.expected(Some(declared("secrets", known))).hint(hint).found(template_text);
        }
        FindingKind::ItemOutsideForEach { in_for_each_value, .. } => {
            let hint = if *in_for_each_value {
                "the list a `for-each` walks cannot use its own items"
            } else {
                "add `for-each:` to this step, or read an earlier step's items from `steps.<id>.results`"
            };
            d = d.hint(Some(hint.into())).found(template_text);
        }
        FindingKind::UnknownRunField { field } => {
            let known: Vec<String> = RUN_FIELDS.iter().map(|s| s.to_string()).collect();
            d = d.expected(Some(one_of(&known))).hint(did_you_mean(field, &known)).found(template_text);
        }
        FindingKind::UnknownStep { step, known } => {
            d = d
                .expected(Some(declared("step ids", known)))
                .hint(did_you_mean(step, known))
                .found(template_text);
        }
        FindingKind::SelfReference { .. } => {
            d = d.hint(Some("a step can read only the steps before it".into())).found(template_text);
        }
        FindingKind::LaterStep { step, .. } => {
            d = d.hint(Some(format!("move step `{step}` before this one"))).found(template_text);
        }
        FindingKind::UnknownStepField { field, .. } => {
            let known: Vec<String> = STEP_FIELDS.iter().map(|s| s.to_string()).collect();
            d = d.expected(Some(one_of(&known))).hint(did_you_mean(field, &known)).found(template_text);
        }
        FindingKind::OutputOfForEach { step } => {
            let hint = format!(
                "`steps.{step}.results` has one entry per item, each with `item`, `status`, `output` and `error`"
            );
            d = d.hint(Some(hint)).found(template_text);
        }
        FindingKind::ResultsWithoutForEach { step } => {
            d = d.hint(Some(format!("use `steps.{step}.output`"))).found(template_text);
        }
        FindingKind::UnknownOutput { action, field, .. } => {
            let known: Vec<String> = action.output_fields().iter().map(|s| s.to_string()).collect();
            let expected = if known.is_empty() {
                format!("nothing: {} ({}) returns no output", action, action.operation())
            } else {
                one_of(&known)
            };
            d = d.expected(Some(expected)).hint(did_you_mean(field, &known)).found(template_text);
        }
        FindingKind::ForEachOnly { .. } => {
            d = d.hint(Some("remove it, or add `for-each:` to the step".into()));
        }
        FindingKind::PercentOver100 => {
            d = d.expected(Some("a count, or a percentage from 0% to 100%".into()))
        }
        FindingKind::DelayOrder { .. } => {
            d = d.hint(Some("make `max-delay` at least as long as `initial-delay`".into()));
        }
        FindingKind::ZeroDuration => d = d.expected(Some("a duration longer than 0 (`30s`)".into())),
        FindingKind::LiteralSecret { .. } => {
            d.masked = span;
            d = d.hint(Some(
                "declare it under `secrets:` (`client_token: {env: PARTNER_CLIENT_TOKEN}`) and write `\"{{ secrets.client_token }}\"`"
                    .into(),
            ));
        }
        FindingKind::PartnerCentralRegion { .. } => {
            d = d.hint(Some(
                "use `region: us-east-1` (a playbook that also works CodePipeline jobs elsewhere can run as two playbooks)"
                    .to_string(),
            ));
        }
        FindingKind::ShellInterpolation { expression } => {
            let name = env_name(expression);
            d = d.hint(Some(format!(
                "pass it in `env` (`{name}: \"{{{{ {expression} }}}}\"`) and write \"${name}\" in the script, or use `command:` (an argv list, no shell)"
            )));
        }
    }
    d
}

/// A variable name for an expression in a hint: `item.output.jobDetails.id` -> `ID`.
fn env_name(expression: &str) -> String {
    let last = expression.rsplit(['.', ' ', '|']).find(|p| !p.is_empty()).unwrap_or("VALUE");
    let name: String =
        last.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect();
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) { "VALUE".into() } else { name }
}

fn finding_code(kind: &FindingKind) -> &'static str {
    match kind {
        FindingKind::DuplicateStepId { .. } => "duplicate-step-id",
        FindingKind::TemplateSyntax { .. } => "template-syntax",
        FindingKind::UnknownName { .. } => "unknown-name",
        FindingKind::UnknownVar { .. } => "unknown-var",
        FindingKind::UnknownSecret { .. } => "unknown-secret",
        FindingKind::ItemOutsideForEach { .. } => "item-outside-for-each",
        FindingKind::UnknownRunField { .. } => "unknown-run-field",
        FindingKind::UnknownStep { .. } => "unknown-step",
        FindingKind::SelfReference { .. } => "self-reference",
        FindingKind::LaterStep { .. } => "later-step",
        FindingKind::UnknownStepField { .. } => "unknown-step-field",
        FindingKind::OutputOfForEach { .. } => "output-of-for-each",
        FindingKind::ResultsWithoutForEach { .. } => "results-without-for-each",
        FindingKind::UnknownOutput { .. } => "unknown-output",
        FindingKind::ForEachOnly { .. } => "for-each-only",
        FindingKind::PercentOver100 => "range",
        FindingKind::DelayOrder { .. } => "delay-order",
        FindingKind::ZeroDuration => "zero-duration",
        FindingKind::LiteralSecret { .. } => "literal-secret",
        FindingKind::ShellInterpolation { .. } => "shell-interpolation",
        FindingKind::PartnerCentralRegion { .. } => "partner-central-region",
    }
}

/// Sorts diagnostics by position, keeping the order of those at the same place.
pub fn sort(diagnostics: &mut [Diagnostic]) {
    diagnostics.sort_by_key(|d| d.span.map(|s| s.start));
}

/// Where a pointer's value (or, with `prefer_key`, its key) was written. A pointer to
/// something absent (a missing key) falls back to the closest ancestor that exists.
pub fn locate(doc: &Node, at: &Pointer, prefer_key: bool) -> Option<Span> {
    let mut segments = at.segments();
    loop {
        if let Some((node, key_span)) = doc.lookup(segments) {
            let span = match key_span {
                Some(key) if prefer_key => key,
                _ => node.span,
            };
            return Some(span);
        }
        segments = segments.split_last()?.1;
    }
}

/// Moves a template error's position from the start of the value to the exact character,
/// when the template is written on one line as it appears in the file (no escapes).
fn refine_template_span(
    source: &SourceFile,
    value: Span,
    template: Option<&str>,
    range: Option<std::ops::Range<usize>>,
) -> Span {
    let (Some(template), Some(range)) = (template, range) else {
        return value;
    };
    let Some(line) = source.line(value.start.line) else {
        return value;
    };
    let rest: String = line.chars().skip(value.start.col - 1).collect();
    let quote = usize::from(rest.starts_with(['"', '\'']));
    let written: String = rest.chars().skip(quote).collect();
    let prefix = template.get(..range.start).unwrap_or(template);
    if template.contains('\n') || !written.starts_with(prefix) {
        return value;
    }
    let col = value.start.col + quote + prefix.chars().count();
    let width = template.get(range.clone()).map_or(1, |s| s.chars().count().max(1));
    // An error at the end of the template (`unexpected end of string`) points just past the
    // line's last character, not beyond it.
    let last = line.chars().count() + 1;
    Span::new(Pos::new(value.start.line, col.min(last)), Pos::new(value.start.line, (col + width).min(last)))
}

/// The closest of `candidates` to `name`, if one is close enough to be a likely typo.
/// Case, `-` and `_` are ignored first, so `jobId` finds `job-id`.
pub fn suggest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let normalize = |s: &str| {
        s.chars().filter(|c| *c != '-' && *c != '_').flat_map(char::to_lowercase).collect::<String>()
    };
    let wanted = normalize(name);
    candidates
        .into_iter()
        .filter(|c| *c != name)
        .map(|c| (strsim::damerau_levenshtein(&wanted, &normalize(c)), c))
        .filter(|(distance, c)| *distance <= (c.chars().count().max(name.chars().count()) / 3).max(1))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| c)
}

fn one_of<I, S>(options: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let options: Vec<String> = options.into_iter().map(|s| s.as_ref().to_string()).collect();
    match options.len() {
        0 => "nothing here".to_string(),
        1 => format!("`{}`", options[0]),
        n if n > 20 => format!("one of {}, and {} more", quoted_list(&options[..10]), n - 10),
        _ => format!("one of {}", quoted_list(&options)),
    }
}

fn declared(what: &str, known: &[String]) -> String {
    if known.is_empty() {
        format!("no {what} are declared")
    } else {
        format!("one of the declared {what}: {}", quoted_list(known))
    }
}

fn quoted_list<S: AsRef<str>>(items: &[S]) -> String {
    items.iter().map(|s| format!("`{}`", s.as_ref())).collect::<Vec<_>>().join(", ")
}

fn type_phrase(json_type: &str) -> String {
    match json_type {
        "string" => "a string",
        "array" => "a list",
        "object" => "a mapping",
        "integer" => "an integer",
        "number" => "a number",
        "boolean" => "true or false",
        "null" => "null",
        other => other,
    }
    .to_string()
}

fn article(kind: &str) -> String {
    match kind {
        "null" => "nothing (null)".to_string(),
        "integer" => "an integer".to_string(),
        "boolean" => "a boolean".to_string(),
        other => format!("a {other}"),
    }
}

fn plural(n: u64, word: &str) -> String {
    if n == 1 { word.to_string() } else { format!("{word}s") }
}

fn truncate(text: &str) -> String {
    let first_line = text.lines().next().unwrap_or_default();
    let cut = first_line.chars().count() > MAX_FOUND_CHARS || first_line.len() < text.trim_end().len();
    if cut {
        let head: String = first_line.chars().take(MAX_FOUND_CHARS).collect();
        format!("{head}…")
    } else {
        text.to_string()
    }
}

/// How diagnostics are drawn for people.
#[derive(Debug, Clone, Copy)]
pub struct Renderer {
    pub color: bool,
}

impl Renderer {
    /// Renders one diagnostic, with a snippet of `source` when the position is known.
    pub fn render(&self, diagnostic: &Diagnostic, source: Option<&SourceFile>) -> String {
        let paint = |style: Style, text: &str| {
            if self.color {
                format!("{}{text}{}", style.render(), style.render_reset())
            } else {
                text.to_string()
            }
        };
        let (label, label_style) = match diagnostic.severity {
            Severity::Error => ("error", AnsiColor::Red.on_default().effects(Effects::BOLD)),
            Severity::Warning => ("warning", AnsiColor::Yellow.on_default().effects(Effects::BOLD)),
        };
        let gutter_style = AnsiColor::Blue.on_default().effects(Effects::BOLD);
        let mut out = String::new();
        let place = match diagnostic.span {
            Some(span) => format!("{}:{}:{}", diagnostic.file.display(), span.start.line, span.start.col),
            None => diagnostic.file.display().to_string(),
        };
        let _ = writeln!(
            out,
            "{}: {}: {}",
            paint(Style::new().effects(Effects::BOLD), &place),
            paint(label_style, label),
            paint(Style::new().effects(Effects::BOLD), &diagnostic.message)
        );
        let snippet = diagnostic
            .span
            .zip(source)
            .and_then(|(span, source)| Some((span, source.line(span.start.line)?)));
        let width = diagnostic.span.map_or(1, |s| s.start.line.to_string().len());
        let bar = paint(gutter_style, &format!("{} |", " ".repeat(width)));
        if let Some((span, line)) = snippet {
            let shown = SnippetLine::new(line, span, diagnostic.masked);
            let _ = writeln!(out, "{bar}");
            let number = paint(gutter_style, &format!("{} |", span.start.line));
            let _ = writeln!(out, "{number} {}", shown.text.trim_end());
            let carets = paint(label_style, &"^".repeat(shown.caret_len));
            let _ = writeln!(out, "{bar} {}{carets}", " ".repeat(shown.caret_start));
        }
        let equals = paint(gutter_style, &format!("{} =", " ".repeat(width)));
        let mut detail = |name: &str, value: &str| {
            let _ = writeln!(out, "{equals} {}: {value}", paint(Style::new().effects(Effects::BOLD), name));
        };
        if let Some(path) = &diagnostic.path {
            detail("path", &path.to_string());
        }
        if let Some(expected) = &diagnostic.expected {
            detail("expected", expected);
        }
        if let Some(found) = &diagnostic.found {
            detail("found", found);
        }
        for note in &diagnostic.notes {
            detail("note", note);
        }
        if let Some(hint) = &diagnostic.hint {
            detail("help", hint);
        }
        out
    }
}

/// One source line as a snippet shows it: tabs expanded, a secret masked, a long line cut
/// to a window around the span, and where the carets go (in display columns).
struct SnippetLine {
    text: String,
    caret_start: usize,
    caret_len: usize,
}

impl SnippetLine {
    fn new(line: &str, span: Span, masked: Option<Span>) -> Self {
        let chars: Vec<char> = mask(line, span.start.line, masked).chars().collect();
        let start = (span.start.col - 1).min(chars.len());
        let end = if span.end.line == span.start.line && span.end.col > span.start.col {
            (span.end.col - 1).min(chars.len())
        } else {
            chars.len()
        };
        let first = if start > MAX_SNIPPET_CHARS / 2 { start - MAX_SNIPPET_CHARS / 3 } else { 0 };
        let last = (first + MAX_SNIPPET_CHARS).max(start + 1).min(chars.len());
        let end = end.clamp(start, last);
        let piece = |a: usize, b: usize| chars[a..b].iter().collect::<String>().replace('\t', "    ");
        let before = format!("{}{}", if first > 0 { "…" } else { "" }, piece(first, start));
        let covered = piece(start, end);
        let after = format!("{}{}", piece(end, last), if last < chars.len() { "…" } else { "" });
        SnippetLine {
            caret_start: before.width(),
            caret_len: covered.width().max(1),
            text: format!("{before}{covered}{after}"),
        }
    }
}

/// Replaces the masked part of a source line with asterisks.
fn mask(line: &str, line_number: usize, masked: Option<Span>) -> String {
    match masked {
        Some(span) if span.start.line == line_number => {
            let keep: String = line.chars().take(span.start.col - 1).collect();
            format!("{keep}********")
        }
        _ => line.to_string(),
    }
}

/// The machine-readable form of one diagnostic (see `docs/diagnostics.md`).
pub fn to_json(diagnostic: &Diagnostic) -> Value {
    json!({
        "file": diagnostic.file.display().to_string(),
        "line": diagnostic.span.map(|s| s.start.line),
        "column": diagnostic.span.map(|s| s.start.col),
        "end_line": diagnostic.span.map(|s| s.end.line),
        "end_column": diagnostic.span.map(|s| s.end.col),
        "severity": match diagnostic.severity { Severity::Error => "error", Severity::Warning => "warning" },
        "code": diagnostic.code,
        "message": diagnostic.message,
        "path": diagnostic.path.as_ref().map(|p| p.to_string()),
        "pointer": diagnostic.path.as_ref().map(Pointer::to_json_pointer),
        "expected": diagnostic.expected,
        "found": diagnostic.found,
        "hint": diagnostic.hint,
        "notes": diagnostic.notes,
    })
}

#[cfg(test)]
mod tests {
    use super::suggest;

    #[test]
    fn suggests_close_names_only() {
        let keys = ["job-id", "nonce", "client-token"];
        assert_eq!(suggest("jobid", keys), Some("job-id"));
        assert_eq!(suggest("jobId", keys), Some("job-id"));
        assert_eq!(suggest("clienttoken", keys), Some("client-token"));
        assert_eq!(suggest("nonse", keys), Some("nonce"));
        assert_eq!(suggest("region", keys), None);
    }
}
