//! Semantic checks: what the schema cannot say. Unique step ids, templates that compile and
//! name only what exists (and only steps that ran before), settings that only make sense on a
//! `for-each` step, consistent retry delays, and secrets written literally.
//!
//! Runs on the spanned document, not the typed model, so that it still reports template
//! problems in a playbook the schema has refused: the user sees every problem at once.

use std::collections::{BTreeSet, HashMap};

use minijinja::Environment;
use thiserror::Error;

use crate::actions::ActionKind;
use crate::playbook::{DurationSpec, Pointer, is_template};
use crate::template::{self, ROOT_NAMES, RUN_FIELDS, STEP_FIELDS};
use crate::yaml::{Node, NodeValue};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// One semantic problem, at a place in the document.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub at: Pointer,
    pub kind: FindingKind,
}

#[derive(Debug, Clone, PartialEq, Error)]
pub enum FindingKind {
    #[error("duplicate step id `{id}`")]
    DuplicateStepId { id: String, first: Pointer },
    #[error("template does not compile: {}", error.message)]
    TemplateSyntax { error: template::SyntaxError },
    #[error("unknown name `{name}` in template")]
    UnknownName { name: String },
    #[error("unknown var `{name}`")]
    UnknownVar { name: String, known: Vec<String> },
    #[error("unknown secret `{name}`")]
    UnknownSecret { name: String, known: Vec<String> },
    #[error("`{name}` is only defined inside a `for-each` step")]
    ItemOutsideForEach { name: String, in_for_each_value: bool },
    #[error("unknown field `run.{field}`")]
    UnknownRunField { field: String },
    #[error("unknown step `{step}`")]
    UnknownStep { step: String, known: Vec<String> },
    #[error("step `{step}` reads its own result")]
    SelfReference { step: String },
    #[error("step `{step}` runs later (it is step {later} of the playbook, this is step {current})")]
    LaterStep { step: String, later: usize, current: usize },
    #[error("unknown field `steps.{step}.{field}`")]
    UnknownStepField { step: String, field: String },
    #[error("step `{step}` has a `for-each`, so it has `results`, not `output`")]
    OutputOfForEach { step: String },
    #[error("step `{step}` has no `for-each`, so it has `output`, not `results`")]
    ResultsWithoutForEach { step: String },
    #[error("`{action}` has no output field `{field}`")]
    UnknownOutput { step: String, action: ActionKind, field: String },
    #[error("`{key}` only applies to a step with `for-each`")]
    ForEachOnly { key: &'static str },
    #[error("`max-failures` is more than 100%")]
    PercentOver100,
    #[error("`max-delay` ({max}) is shorter than `initial-delay` ({initial})")]
    DelayOrder { initial: String, max: String },
    #[error("a duration of 0 here would never let a call finish")]
    ZeroDuration,
    #[error("`client-token` of `{action}` is written literally, but it is a secret")]
    LiteralSecret { action: ActionKind },
    #[error(
        "a `shell` script interpolates `{{{{ {expression} }}}}`: the shell will parse whatever the value holds"
    )]
    ShellInterpolation { expression: String },
    #[error(
        "Partner Central Selling is served only in us-east-1, and this playbook calls it with region `{region}`"
    )]
    PartnerCentralRegion { region: String },
}

impl FindingKind {
    pub fn severity(&self) -> Severity {
        match self {
            FindingKind::LiteralSecret { .. }
            | FindingKind::ShellInterpolation { .. }
            | FindingKind::PartnerCentralRegion { .. } => Severity::Warning,
            _ => Severity::Error,
        }
    }
}

/// What the checks need to know of a step, read from the document.
#[derive(Debug, Clone, Copy)]
struct StepInfo {
    index: usize,
    has_for_each: bool,
    action: Option<ActionKind>,
}

impl StepInfo {
    fn of(index: usize, node: &Node) -> Self {
        let action = match &node.value {
            NodeValue::Map(entries) => entries.iter().find_map(|e| ActionKind::from_name(&e.key)),
            _ => None,
        };
        StepInfo { index, has_for_each: node.get("for-each").is_some(), action }
    }
}

/// Runs every semantic check over a playbook document.
pub fn check(doc: &Node) -> Vec<Finding> {
    let names = |key: &str| -> BTreeSet<String> {
        match doc.get(key).map(|n| &n.value) {
            Some(NodeValue::Map(entries)) => entries.iter().map(|e| e.key.clone()).collect(),
            _ => BTreeSet::new(),
        }
    };
    let mut checker = Checker {
        env: template::environment(),
        vars: names("vars"),
        secrets: names("secrets"),
        steps: HashMap::new(),
        findings: Vec::new(),
    };
    let steps: &[Node] = match doc.get("steps").map(|n| &n.value) {
        Some(NodeValue::Seq(items)) => items,
        _ => &[],
    };
    let steps_at = Pointer::root().join("steps");
    for (index, step) in steps.iter().enumerate() {
        let Some(id) = step.get("id").and_then(Node::as_str) else {
            continue;
        };
        if let Some(first) = checker.steps.get(id) {
            let first = steps_at.join(first.index.to_string()).join("id");
            let kind = FindingKind::DuplicateStepId { id: id.to_string(), first };
            checker.push(steps_at.join(index.to_string()).join("id"), kind);
        } else {
            checker.steps.insert(id.to_string(), StepInfo::of(index, step));
        }
    }
    if let Some(retry) = doc.get("defaults").and_then(|d| d.get("retry")) {
        checker.check_retry(retry, &Pointer::root().join("defaults").join("retry"));
    }
    for (index, step) in steps.iter().enumerate() {
        checker.check_step(StepInfo::of(index, step), step, &steps_at.join(index.to_string()));
    }
    // Partner Central Selling has one endpoint, in us-east-1 (its API reference, "Supported
    // AWS Regions"); another region fails at run time with a name that does not resolve.
    let aws = doc.get("aws");
    let region = aws.and_then(|a| a.get("region")).and_then(Node::as_str);
    let overridden =
        aws.and_then(|a| a.get("endpoints")).and_then(|e| e.get("partnercentral-selling")).is_some();
    let calls_partner_central = checker.steps.values().any(|s| {
        s.action.is_some_and(|a| a.service() == Some(crate::actions::Service::PartnerCentralSelling))
    });
    if let Some(region) = region
        && region != "us-east-1"
        && !overridden
        && calls_partner_central
    {
        let at = Pointer::root().join("aws").join("region");
        checker.push(at, FindingKind::PartnerCentralRegion { region: region.to_string() });
    }
    checker.findings
}

struct Checker {
    env: Environment<'static>,
    vars: BTreeSet<String>,
    secrets: BTreeSet<String>,
    /// Each step id with what we know of its step (the first, if an id repeats).
    steps: HashMap<String, StepInfo>,
    findings: Vec<Finding>,
}

/// Where a template stands, which decides the names it may use.
#[derive(Clone, Copy)]
struct Scope {
    step_index: usize,
    /// `item` and `index` exist: inside a `for-each` step, but not in its own `for-each`.
    has_item: bool,
    in_for_each_value: bool,
}

impl Checker {
    fn push(&mut self, at: Pointer, kind: FindingKind) {
        self.findings.push(Finding { at, kind });
    }

    fn check_step(&mut self, info: StepInfo, node: &Node, at: &Pointer) {
        if !info.has_for_each {
            for key in ["concurrency", "max-failures"] {
                if node.get(key).is_some() {
                    self.push(at.join(key), FindingKind::ForEachOnly { key });
                }
            }
        }
        let percent = node
            .get("max-failures")
            .and_then(Node::as_str)
            .and_then(|p| p.strip_suffix('%'))
            .and_then(|p| p.parse::<f64>().ok());
        if percent.is_some_and(|p| p > 100.0) {
            self.push(at.join("max-failures"), FindingKind::PercentOver100);
        }
        if let Some(retry) = node.get("retry") {
            self.check_retry(retry, &at.join("retry"));
        }
        if duration(node.get("timeout")).is_some_and(|d| d.0.is_zero()) {
            self.push(at.join("timeout"), FindingKind::ZeroDuration);
        }

        let scope = Scope { step_index: info.index, has_item: info.has_for_each, in_for_each_value: false };
        for key in ["name", "when"] {
            if let Some(value) = node.get(key) {
                self.check_strings(value, &at.join(key), scope);
            }
        }
        if let Some(value) = node.get("for-each").filter(|v| v.as_str().is_some()) {
            let scope = Scope { has_item: false, in_for_each_value: true, ..scope };
            self.check_strings(value, &at.join("for-each"), scope);
        }
        let Some(kind) = info.action else {
            return;
        };
        if let Some(input) = node.get(kind.name()) {
            let input_at = at.join(kind.name());
            self.check_strings(input, &input_at, scope);
            if kind.client_token_is_secret()
                && let Some(token) = input.get("client-token").and_then(Node::as_str)
                && !is_template(token)
            {
                self.push(input_at.join("client-token"), FindingKind::LiteralSecret { action: kind });
            }
            // Data spliced into a script is code to the shell (`x"; rm -rf ~; "`): values
            // belong in `env`, where the script reads them as "$NAME".
            if kind == ActionKind::Exec
                && let Some(script) = input.get("shell").and_then(Node::as_str)
                && let Some(expression) = first_expression(script)
            {
                self.push(input_at.join("shell"), FindingKind::ShellInterpolation { expression });
            }
        }
    }

    fn check_retry(&mut self, retry: &Node, at: &Pointer) {
        if let (Some(initial), Some(max)) =
            (duration(retry.get("initial-delay")), duration(retry.get("max-delay")))
            && max.0 < initial.0
        {
            let kind = FindingKind::DelayOrder { initial: initial.to_string(), max: max.to_string() };
            self.push(at.join("max-delay"), kind);
        }
    }

    /// Checks every string under `node` (a step's input is a tree of them).
    fn check_strings(&mut self, node: &Node, at: &Pointer, scope: Scope) {
        match &node.value {
            NodeValue::String(text) if is_template(text) => self.check_template(text, at, scope),
            NodeValue::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.check_strings(item, &at.join(i.to_string()), scope);
                }
            }
            NodeValue::Map(entries) => {
                for entry in entries {
                    self.check_strings(&entry.value, &at.join(entry.key.clone()), scope);
                }
            }
            _ => {}
        }
    }

    fn check_template(&mut self, text: &str, at: &Pointer, scope: Scope) {
        let names = match template::references(&self.env, text) {
            Ok(names) => names,
            Err(error) => return self.push(at.clone(), FindingKind::TemplateSyntax { error }),
        };
        for name in names {
            if let Some(kind) = self.check_reference(&name, scope) {
                self.push(at.clone(), kind);
            }
        }
    }

    fn check_reference(&self, name: &str, scope: Scope) -> Option<FindingKind> {
        let parts: Vec<&str> = name.split('.').collect();
        let field = |i: usize| parts.get(i).map(|s| s.to_string());
        match parts[0] {
            "env" => None,
            "vars" => field(1)
                .filter(|v| !self.vars.contains(v))
                .map(|name| FindingKind::UnknownVar { name, known: self.vars.iter().cloned().collect() }),
            "secrets" => field(1).filter(|s| !self.secrets.contains(s)).map(|name| {
                FindingKind::UnknownSecret { name, known: self.secrets.iter().cloned().collect() }
            }),
            "item" | "index" if !scope.has_item => Some(FindingKind::ItemOutsideForEach {
                name: parts[0].to_string(),
                in_for_each_value: scope.in_for_each_value,
            }),
            "item" | "index" => None,
            "run" => field(1)
                .filter(|f| !RUN_FIELDS.contains(&f.as_str()))
                .map(|field| FindingKind::UnknownRunField { field }),
            "steps" => self.check_step_reference(&parts, scope),
            other => {
                debug_assert!(!ROOT_NAMES.contains(&other));
                Some(FindingKind::UnknownName { name: other.to_string() })
            }
        }
    }

    fn check_step_reference(&self, parts: &[&str], scope: Scope) -> Option<FindingKind> {
        let id = parts.get(1)?.to_string();
        let Some(&StepInfo { index, has_for_each, action }) = self.steps.get(&id) else {
            let mut known: Vec<String> = self.steps.keys().cloned().collect();
            known.sort();
            return Some(FindingKind::UnknownStep { step: id, known });
        };
        if index == scope.step_index {
            return Some(FindingKind::SelfReference { step: id });
        }
        if index > scope.step_index {
            return Some(FindingKind::LaterStep {
                step: id,
                later: index + 1,
                current: scope.step_index + 1,
            });
        }
        let field = parts.get(2)?;
        match *field {
            "output" if has_for_each => Some(FindingKind::OutputOfForEach { step: id }),
            "results" if !has_for_each => Some(FindingKind::ResultsWithoutForEach { step: id }),
            "output" => {
                let output = parts.get(3)?;
                let action = action?;
                (!action.output_fields().contains(output)).then(|| FindingKind::UnknownOutput {
                    step: id,
                    action,
                    field: output.to_string(),
                })
            }
            f if STEP_FIELDS.contains(&f) => None,
            f => Some(FindingKind::UnknownStepField { step: id, field: f.to_string() }),
        }
    }
}

/// The first `{{ ... }}` expression of a template, trimmed, if it has one.
fn first_expression(text: &str) -> Option<String> {
    let start = text.find("{{")? + 2;
    let end = text[start..].find("}}")? + start;
    Some(text[start..end].trim().to_string())
}

/// A duration written in the document, if it is one (the schema reports those that are not).
fn duration(node: Option<&Node>) -> Option<DurationSpec> {
    node?.as_str()?.parse().ok()
}
