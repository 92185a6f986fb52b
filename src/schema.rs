//! The JSON Schemas shipped in `schemas/`, embedded in the binary, and validation against them.
//!
//! jsonschema reports each failure with a JSON pointer into the instance and a keyword kind;
//! we turn that into a [`Violation`] with plain data (what was expected, what was found,
//! which keys were allowed) so the diagnostics layer can word it and place it.

use std::sync::OnceLock;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::{Registry, Validator};
use serde_json::Value;

use crate::actions::ActionKind;
use crate::playbook::Pointer;

/// Where the schemas live in URI space; only used to resolve `$ref`s between the files.
const BASE_URI: &str = "https://handoff.invalid/schemas/";

/// The schema files that are not an action's, by their path under `schemas/`.
const BASE_FILES: &[(&str, &str)] = &[
    ("playbook.schema.json", include_str!("../schemas/playbook.schema.json")),
    ("common.schema.json", include_str!("../schemas/common.schema.json")),
];

/// Every schema file compiled into the binary, by its path under `schemas/`: the playbook's,
/// the common definitions, and each action's (embedded by the action's `SPEC`).
pub fn files() -> impl Iterator<Item = (String, &'static str)> {
    let base = BASE_FILES.iter().map(|(path, text)| (path.to_string(), *text));
    base.chain(ActionKind::ALL.iter().map(|&kind| (action_file(kind), kind.spec().schema)))
}

/// The text of one embedded schema file.
pub fn file_text(path: &str) -> Option<&'static str> {
    files().find(|(p, _)| p == path).map(|(_, text)| text)
}

/// The schema file of one action.
pub fn action_file(kind: ActionKind) -> String {
    format!("actions/{}.schema.json", kind.name())
}

/// One embedded schema file, parsed when first read: a run reads a few of them.
struct Document {
    uri: String,
    text: &'static str,
    value: OnceLock<Value>,
}

impl Document {
    fn value(&self) -> &Value {
        // The schemas are part of the binary and checked by the test suite.
        self.value.get_or_init(|| serde_json::from_str(self.text).expect("embedded schema is valid JSON"))
    }

    fn is_action(&self) -> bool {
        self.uri.starts_with(&format!("{BASE_URI}actions/"))
    }
}

/// An action's input as the playbook holds it (templates allowed where the schema says so)
/// or as it is sent, after rendering.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stage {
    Written,
    Rendered,
}

struct Compiled {
    /// The playbook's shape, with every action's input accepted as it is: each input is then
    /// checked by its action's own validator, compiled only for the actions a playbook uses.
    /// Compiling all fourteen took most of a `validate`'s and a one-call run's time.
    validator: Validator,
    /// Per action, its validator for each [`Stage`], compiled when first needed.
    actions: Vec<(ActionKind, [OnceLock<Validator>; 2])>,
    documents: Vec<Document>,
}

fn compiled() -> &'static Compiled {
    static COMPILED: OnceLock<Compiled> = OnceLock::new();
    COMPILED.get_or_init(|| {
        let documents: Vec<Document> = files()
            .map(|(path, text)| Document { uri: format!("{BASE_URI}{path}"), text, value: OnceLock::new() })
            .collect();
        let mut registry = Registry::new();
        for document in &documents {
            let value = if document.is_action() { Value::Bool(true) } else { document.value().clone() };
            registry = registry.add(document.uri.as_str(), value).expect("embedded schema registers");
        }
        let registry = registry.prepare().expect("embedded schemas resolve");
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .with_registry(&registry)
            .with_base_uri(format!("{BASE_URI}playbook.schema.json"))
            .build(documents[0].value())
            .expect("embedded playbook schema compiles");
        let actions = ActionKind::ALL.iter().map(|&kind| (kind, Default::default())).collect();
        Compiled { validator, actions, documents }
    })
}

impl Compiled {
    fn document(&self, uri: &str) -> Option<&Value> {
        self.documents.iter().find(|d| d.uri == uri).map(Document::value)
    }
}

/// The compiled schema of an action's input at one stage.
fn action_validator(kind: ActionKind, stage: Stage) -> &'static Validator {
    let compiled = compiled();
    let cells = &compiled.actions.iter().find(|(k, _)| *k == kind).expect("every action has a cell").1;
    cells[stage as usize].get_or_init(|| {
        let uri = format!("{BASE_URI}{}", action_file(kind));
        let document = compiled.document(&uri).expect("every action has a schema");
        // An action's schema refers only to itself and to the common definitions.
        let common_uri = format!("{BASE_URI}common.schema.json");
        let mut common = compiled.document(&common_uri).expect("the common schema is embedded").clone();
        // An action's schema checks a value's API constraints only when it is not a template
        // (`"if": templated, "else": {pattern...}`), since a playbook holds templates; after
        // rendering, a value that merely looks like one (an id of `{{x}}` from a CSV) must
        // meet them too, so there `templated` matches nothing.
        if stage == Stage::Rendered
            && let Some(templated) = common.pointer_mut("/$defs/templated")
        {
            *templated = Value::Bool(false);
        }
        let registry = Registry::new()
            .add(common_uri.as_str(), common)
            .and_then(|r| r.add(uri.as_str(), document.clone()))
            .and_then(|r| r.prepare())
            .expect("embedded action schema resolves");
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .with_registry(&registry)
            .with_base_uri(uri)
            .build(document)
            .expect("embedded action schema compiles")
    })
}

/// The playbook schema with every referenced schema inlined, for tools that take one file.
pub fn bundled() -> Result<Value, jsonschema::ReferencingError> {
    let compiled = compiled();
    let mut registry = Registry::new();
    for document in &compiled.documents {
        registry = registry.add(document.uri.as_str(), document.value().clone())?;
    }
    let registry = registry.prepare()?;
    jsonschema::options()
        .with_registry(&registry)
        .with_base_uri(format!("{BASE_URI}playbook.schema.json"))
        .bundle(compiled.documents[0].value())
}

/// One way the document breaks the schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    pub at: Pointer,
    pub problem: Problem,
    /// The description of the property whose rule was broken, from the schema.
    pub expected: Option<String>,
    /// The offending value, if there is one to show.
    pub found: Option<Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Problem {
    UnknownKey { key: String, allowed: Vec<String> },
    MissingKey { key: String },
    WrongType { expected: Vec<String> },
    TooShort { min: u64 },
    TooLong { max: u64 },
    Pattern { pattern: String },
    NotOneOf { options: Vec<String> },
    TooSmall { min: String },
    TooLarge { max: String },
    TooFewItems { min: u64 },
    TooManyItems { max: u64 },
    WrongConstant { expected: Value },
    BadKeyName { key: String, pattern: String },
    NoAction,
    SeveralActions { actions: Vec<String> },
    ExactlyOneOf { keys: Vec<String> },
    Other { message: String },
}

/// Checks a document against the playbook schema, returning every violation: the playbook's
/// shape first, then each step's action input, as the combined schema would (an input is
/// checked under every action key the step has, one or several).
pub fn validate(instance: &Value) -> Vec<Violation> {
    let compiled = compiled();
    let mut violations = collect(compiled, &compiled.validator, instance, instance, &Pointer::root());
    let steps = instance.get("steps").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    for (index, step) in steps.iter().enumerate() {
        for (key, input) in step.as_object().into_iter().flatten() {
            if let Some(kind) = ActionKind::from_name(key) {
                let at = Pointer::root().join("steps").join(index.to_string()).join(key.clone());
                let validator = action_validator(kind, Stage::Written);
                violations.extend(collect(compiled, validator, instance, input, &at));
            }
        }
    }
    violations
}

/// Checks an action's input after rendering against the action's schema: the API's
/// constraints apply to every value now, since no template is left.
pub fn validate_action(kind: ActionKind, input: &Value) -> Vec<Violation> {
    // The two stages differ only in what `templated` matches, and it is only asked of values
    // that must be strings: with no string that looks like a template, an input valid as
    // written is valid as rendered. The written validator is compiled already (the playbook
    // was checked with it), so a run compiles the rendered one only to explain a failure.
    if !looks_templated(input) && action_validator(kind, Stage::Written).is_valid(input) {
        return Vec::new();
    }
    collect(compiled(), action_validator(kind, Stage::Rendered), input, input, &Pointer::root())
}

/// Whether any string in `value` matches common.schema.json's `templated` (`{{` or `{%`).
fn looks_templated(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains("{{") || s.contains("{%"),
        Value::Array(items) => items.iter().any(looks_templated),
        Value::Object(map) => map.values().any(looks_templated),
        _ => false,
    }
}

/// The violations of `instance`, which sits at `base` in `root`, the whole document.
fn collect(
    compiled: &Compiled,
    validator: &Validator,
    root: &Value,
    instance: &Value,
    base: &Pointer,
) -> Vec<Violation> {
    let mut violations = Vec::new();
    // Most inputs are valid, and checking costs a fraction of collecting errors.
    if validator.is_valid(instance) {
        return violations;
    }
    for error in validator.iter_errors(instance) {
        let relative = Pointer::from_json_pointer(error.instance_path().as_str());
        let at = relative.segments().iter().fold(base.clone(), |at, segment| at.join(segment.clone()));
        let keyword_location = error.absolute_keyword_location().map(|uri| uri.as_str().to_string());
        let expected = keyword_location.as_deref().and_then(|l| compiled.description_near(l));
        let found = Some(error.instance().clone().into_owned());
        let mut push = |at: Pointer, problem: Problem, found: Option<Value>| {
            // Secrets are never echoed back, not even in an error about their length.
            let found = found.filter(|_| at.last() != Some("client-token"));
            violations.push(Violation { at, problem, expected: expected.clone(), found })
        };
        match error.kind() {
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                let allowed = keyword_location
                    .as_deref()
                    .and_then(|l| compiled.sibling_properties(l))
                    .unwrap_or_default();
                for key in unexpected {
                    let problem = Problem::UnknownKey { key: key.clone(), allowed: allowed.clone() };
                    push(at.join(key.clone()), problem, None);
                }
            }
            ValidationErrorKind::Required { property } => {
                let key = property.as_str().unwrap_or_default().to_string();
                let described =
                    keyword_location.as_deref().and_then(|l| compiled.property_description(l, &key));
                violations.push(Violation {
                    at,
                    problem: Problem::MissingKey { key },
                    expected: described,
                    found: None,
                });
            }
            ValidationErrorKind::Type { kind } => {
                let expected = match kind {
                    TypeKind::Single(t) => vec![t.to_string()],
                    TypeKind::Multiple(ts) => ts.iter().map(|t| t.to_string()).collect(),
                };
                push(at, Problem::WrongType { expected }, found);
            }
            ValidationErrorKind::MinLength { limit } => push(at, Problem::TooShort { min: *limit }, found),
            ValidationErrorKind::MaxLength { limit } => push(at, Problem::TooLong { max: *limit }, found),
            ValidationErrorKind::Pattern { pattern } => {
                push(at, Problem::Pattern { pattern: pattern.clone() }, found)
            }
            ValidationErrorKind::Enum { options } => {
                let options =
                    options.as_array().map(|o| o.iter().map(value_text).collect()).unwrap_or_default();
                push(at, Problem::NotOneOf { options }, found);
            }
            ValidationErrorKind::Minimum { limit } | ValidationErrorKind::ExclusiveMinimum { limit } => {
                push(at, Problem::TooSmall { min: limit.to_string() }, found)
            }
            ValidationErrorKind::Maximum { limit } | ValidationErrorKind::ExclusiveMaximum { limit } => {
                push(at, Problem::TooLarge { max: limit.to_string() }, found)
            }
            ValidationErrorKind::MinItems { limit } => push(at, Problem::TooFewItems { min: *limit }, None),
            ValidationErrorKind::MaxItems { limit } => push(at, Problem::TooManyItems { max: *limit }, None),
            ValidationErrorKind::Constant { expected_value } => {
                let expected = expected_value.as_ref().clone();
                push(at, Problem::WrongConstant { expected }, found)
            }
            ValidationErrorKind::PropertyNames { error } => {
                let key = value_text(error.instance());
                let pattern = match error.kind() {
                    ValidationErrorKind::Pattern { pattern } => pattern.clone(),
                    _ => String::new(),
                };
                push(at.join(key.clone()), Problem::BadKeyName { key, pattern }, None);
            }
            ValidationErrorKind::OneOfNotValid { .. } | ValidationErrorKind::OneOfMultipleValid { .. }
                if is_step(&at) =>
            {
                let actions: Vec<String> = instance_keys(root, &at)
                    .into_iter()
                    .filter(|k| ActionKind::from_name(k).is_some())
                    .collect();
                let problem =
                    if actions.is_empty() { Problem::NoAction } else { Problem::SeveralActions { actions } };
                push(at, problem, None);
            }
            ValidationErrorKind::MinProperties { .. } | ValidationErrorKind::MaxProperties { .. } => {
                let keys = keyword_location
                    .as_deref()
                    .and_then(|l| compiled.sibling_properties(l))
                    .unwrap_or_default();
                push(at, Problem::ExactlyOneOf { keys }, None);
            }
            _ => push(at, Problem::Other { message: error.to_string() }, None),
        }
    }
    violations
}

fn is_step(at: &Pointer) -> bool {
    matches!(at.segments(), [steps, index] if steps == "steps" && index.parse::<usize>().is_ok())
}

fn instance_keys(instance: &Value, at: &Pointer) -> Vec<String> {
    instance
        .pointer(&at.to_json_pointer())
        .and_then(Value::as_object)
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl Compiled {
    /// The schema node a keyword location (`<uri>#/json/pointer`) names.
    fn node_at(&self, location: &str) -> Option<&Value> {
        let (uri, fragment) = location.split_once('#').unwrap_or((location, ""));
        self.document(uri)?.pointer(fragment)
    }

    /// The `properties` next to the keyword at `location`, e.g. for `additionalProperties`.
    fn sibling_properties(&self, location: &str) -> Option<Vec<String>> {
        let parent = location.rsplit_once('/')?.0;
        let properties = self.node_at(&format!("{parent}/properties"))?.as_object()?;
        Some(properties.keys().cloned().collect())
    }

    /// The description of property `key` of the object whose keyword is at `location`.
    fn property_description(&self, location: &str, key: &str) -> Option<String> {
        let parent = location.rsplit_once('/')?.0;
        let escaped = key.replace('~', "~0").replace('/', "~1");
        let property = self.node_at(&format!("{parent}/properties/{escaped}"))?;
        let property = match property.get("$ref").and_then(Value::as_str) {
            Some(reference) => self.resolve(location, reference)?,
            None => property,
        };
        property.get("description")?.as_str().map(str::to_string)
    }

    /// Resolves a `$ref` written in the document that `location` points into.
    fn resolve(&self, location: &str, reference: &str) -> Option<&Value> {
        let (base, _) = location.split_once('#').unwrap_or((location, ""));
        let (file, fragment) = reference.split_once('#').unwrap_or((reference, ""));
        let uri = if file.is_empty() {
            base.to_string()
        } else {
            let dir = base.rsplit_once('/')?.0;
            let mut uri = format!("{dir}/{file}");
            while let Some(i) = uri.find("/../") {
                let head = uri[..i].rsplit_once('/')?.0.to_string();
                uri = format!("{head}/{}", &uri[i + 4..]);
            }
            uri
        };
        self.node_at(&format!("{uri}#{fragment}"))
    }

    /// The description of the nearest schema node at or above the keyword at `location`.
    fn description_near(&self, location: &str) -> Option<String> {
        let mut current = location.rsplit_once('/')?.0.to_string();
        loop {
            if let Some(description) = self.node_at(&current).and_then(|n| n.get("description")) {
                return description.as_str().map(str::to_string);
            }
            // Climb out of `if`/`then`/`else`/`items` wrappers to the property they belong to.
            let (parent, last) = current.rsplit_once('/')?;
            if !matches!(last, "if" | "then" | "else" | "items" | "additionalProperties") {
                return None;
            }
            current = parent.to_string();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{BASE_URI, Problem, Registry, Violation, collect, compiled, files, validate};
    use crate::playbook::Pointer;
    use serde_json::{Value, json};

    /// The violations of the whole playbook schema compiled as one, with every action's
    /// schema inlined by reference: what `validate` gave before it checked inputs apart.
    fn combined(instance: &Value) -> Vec<Violation> {
        let mut registry = Registry::new();
        for (path, text) in files() {
            let value: Value = serde_json::from_str(text).unwrap();
            registry = registry.add(format!("{BASE_URI}{path}"), value).unwrap();
        }
        let registry = registry.prepare().unwrap();
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .with_registry(&registry)
            .with_base_uri(format!("{BASE_URI}playbook.schema.json"))
            .build(compiled().documents[0].value())
            .unwrap();
        collect(compiled(), &validator, instance, instance, &Pointer::root())
    }

    fn sorted(mut violations: Vec<Violation>) -> Vec<String> {
        let mut texts: Vec<String> = violations.drain(..).map(|v| format!("{v:?}")).collect();
        texts.sort();
        texts
    }

    #[test]
    fn checking_inputs_apart_finds_what_the_combined_schema_finds() {
        let mut checked = 0;
        for dir in ["tests/fixtures/invalid", "tests/fixtures/valid", "examples"] {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
                    continue;
                }
                let Ok(doc) = crate::yaml::parse(&std::fs::read_to_string(&path).unwrap()) else { continue };
                let json = doc.to_json();
                assert_eq!(sorted(validate(&json)), sorted(combined(&json)), "{}", path.display());
                checked += 1;
            }
        }
        assert!(checked > 50, "only {checked} playbooks checked");
        // A step with two actions, both inputs wrong: each input is still checked.
        let two = json!({"version": 1, "name": "x", "steps": [{"id": "a",
            "acknowledge": {"job-id": 1, "nonce": "n", "client-token": "t"},
            "exec": {"command": 5}}]});
        let violations = validate(&two);
        assert_eq!(sorted(violations.clone()), sorted(combined(&two)));
        assert!(
            violations.iter().any(|v| v.at.to_string() == "steps[0].acknowledge.job-id"),
            "{violations:?}"
        );
        assert!(
            violations.iter().any(|v| matches!(v.problem, Problem::SeveralActions { .. })),
            "{violations:?}"
        );
    }

    #[test]
    fn every_embedded_schema_is_json_and_compiles() {
        for (path, text) in files() {
            serde_json::from_str::<serde_json::Value>(text).unwrap_or_else(|e| panic!("{path}: {e}"));
        }
        assert!(validate(&json!({"version": 1, "name": "x", "steps": [{"id": "a", "poll-jobs": {
            "action-type": {"category": "Build", "owner": "ThirdParty", "provider": "Acme", "version": "1"}}}]}))
        .is_empty());
    }

    #[test]
    fn a_rendered_input_is_checked_as_the_api_sees_it() {
        use super::{Stage, action_validator, validate_action};
        use crate::actions::ActionKind;
        let kind = ActionKind::from_name("accept-invitation").unwrap();
        let inputs = [
            json!({"catalog": "AWS", "identifier": "engi-0000000000001", "client-token": "t"}),
            // Looks like a template, but rendering is over: it must match the pattern.
            json!({"catalog": "AWS", "identifier": "{{ x }}", "client-token": "t"}),
            json!({"catalog": "AWS", "identifier": "engi-0000000000001", "client-token": "{% x %}", "tags": []}),
            json!({"catalog": 5, "identifier": "nope"}),
            json!({"catalog": "AWS", "identifier": "engi-0000000000001", "tags": [{"key": "k{{", "value": "v"}]}),
        ];
        let rendered = action_validator(kind, Stage::Rendered);
        for input in &inputs {
            let all = collect(compiled(), rendered, input, input, &Pointer::root());
            assert_eq!(sorted(validate_action(kind, input)), sorted(all), "{input}");
        }
        assert!(validate_action(kind, &inputs[0]).is_empty());
        let violations = validate_action(kind, &inputs[1]);
        assert!(
            matches!(&violations[..], [v] if matches!(v.problem, Problem::Pattern { .. })),
            "{violations:?}"
        );
        assert!(!validate_action(kind, &inputs[4]).is_empty());
    }

    #[test]
    fn unknown_keys_come_with_the_allowed_ones() {
        let violations = validate(&json!({"version": 1, "name": "x", "steps": [
            {"id": "a", "acknowledge": {"jobid": "1", "nonce": "2", "client-token": "{{ secrets.t }}"}}]}));
        let unknown = violations
            .iter()
            .find_map(|v| match &v.problem {
                Problem::UnknownKey { key, allowed } => Some((key.clone(), allowed.clone())),
                _ => None,
            })
            .expect("an unknown-key violation");
        assert_eq!(unknown.0, "jobid");
        assert!(unknown.1.contains(&"job-id".to_string()), "{unknown:?}");
    }

    #[test]
    fn templates_skip_literal_constraints() {
        let step = |nonce: &str| {
            json!({"version": 1, "name": "x", "steps": [{"id": "a", "acknowledge": {
                "job-id": "j", "nonce": nonce, "client-token": "{{ secrets.t }}"}}]})
        };
        assert!(validate(&step("{{ steps.d.output.jobDetails.nonce }}")).is_empty());
        let long = "n".repeat(51);
        let violations = validate(&step(&long));
        assert!(matches!(violations[0].problem, Problem::TooLong { max: 50 }), "{violations:?}");
    }
}
