//! Templates: minijinja, strict. This module compiles templates and finds the names they use;
//! rendering with values comes with the engine.
//!
//! Strict means an undefined name is an error, never an empty string: a typo in
//! `{{ item.idd }}` must not send an empty identifier to AWS.

use std::collections::{BTreeSet, HashMap};
use std::ops::Range;
use std::sync::Arc;

use minijinja::{Environment, Expression, UndefinedBehavior};

/// The names a template may start with, besides minijinja's own globals.
pub const ROOT_NAMES: &[&str] = &["vars", "secrets", "env", "item", "index", "steps", "run"];

/// minijinja's global functions and loop helpers, which are not data.
const BUILTIN_NAMES: &[&str] =
    &["range", "dict", "namespace", "debug", "loop", "caller", "varargs", "kwargs", "now"];

/// The fields of `run`.
pub const RUN_FIELDS: &[&str] = &["id", "started_at", "playbook"];

/// The fields of `steps.<id>`.
pub const STEP_FIELDS: &[&str] = &["output", "results", "status", "error"];

/// A template that does not compile, with where in the template text it went wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SyntaxError {
    pub message: String,
    /// Byte range in the template's own text, when minijinja knows it.
    pub range: Option<Range<usize>>,
}

/// The environment every template is compiled and rendered in.
pub fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // Playbook values are not HTML.
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env.add_filter("origin", origin);
    env.add_filter("days_since", |text: String| days_from_now(&text).map(|d| -d));
    env.add_filter("days_until", |text: String| days_from_now(&text));
    env.add_function("now", || chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    env
}

/// Days from now to `text` (an ISO 8601 timestamp as the APIs print them, or a date),
/// fractional; negative when it lies in the past. `"{{ item.ExpirationDate | days_until }}"`
/// and `days_since` compare dates as dates: `when: "{{ item.InvitationDate | days_since > 30 }}"`.
fn days_from_now(text: &str) -> Result<f64, minijinja::Error> {
    let at = chrono::DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.with_timezone(&chrono::Utc))
        .or_else(|_| {
            chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
                .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
        })
        .map_err(|_| {
            minijinja::Error::new(
                minijinja::ErrorKind::InvalidOperation,
                format!("`{text}` is not a date: expected 2026-11-23T10:00:00Z or 2026-11-23"),
            )
        })?;
    Ok((at - chrono::Utc::now()).num_seconds() as f64 / 86_400.0)
}

/// `{{ item | origin }}`: the item a chain of results started from. A step that iterates an
/// earlier step's `results` gets items shaped `{item, status, output, ...}`, and a step after
/// it gets those nested again; `origin` follows `item` down to the first step's item (the
/// job, the invitation), however many steps lie between.
fn origin(value: minijinja::Value) -> minijinja::Value {
    let mut current = value;
    loop {
        let is_result = current.get_attr("status").is_ok_and(|s| !s.is_undefined())
            && current.get_attr("item").is_ok_and(|i| !i.is_undefined());
        if !is_result {
            return current;
        }
        match current.get_attr("item") {
            Ok(inner) => current = inner,
            Err(_) => return current,
        }
    }
}

/// Compiles `source` and returns the dotted names it reads (`steps.ack.output.status`).
pub fn references(env: &Environment<'static>, source: &str) -> Result<BTreeSet<String>, SyntaxError> {
    let template = env.template_from_str(source).map_err(|e| SyntaxError {
        message: e.detail().map_or_else(|| e.kind().to_string(), str::to_string),
        range: e.range(),
    })?;
    Ok(template
        .undeclared_variables(true)
        .into_iter()
        .filter(|name| !BUILTIN_NAMES.contains(&name.split('.').next().unwrap_or_default()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::{environment, references};

    #[test]
    fn finds_nested_names_and_ignores_locals() {
        let env = environment();
        let names = references(
            &env,
            "{% for x in vars.list %}{{ x }}{% endfor %}{{ steps.ack.output.status }}{{ range(3) }}",
        )
        .unwrap();
        let names: Vec<_> = names.into_iter().collect();
        assert_eq!(names, ["steps.ack.output.status", "vars.list"]);
    }

    #[test]
    fn origin_follows_results_down_to_the_first_item() {
        let env = environment();
        let job = serde_json::json!({"id": "job-1", "data": {}});
        let chained = serde_json::json!({"status": "succeeded", "output": {}, "item": {
            "status": "succeeded", "output": {"input": "/w"}, "item": job.clone()}});
        let ctx = minijinja::context! { item => minijinja::Value::from(minijinja::value::Serde(&chained)), plain => minijinja::Value::from(minijinja::value::Serde(&job)) };
        let render = |source: &str| env.render_str(source, &ctx).unwrap();
        assert_eq!(render("{{ (item | origin).id }}"), "job-1");
        assert_eq!(render("{{ (plain | origin).id }}"), "job-1");
    }

    #[test]
    fn dates_compare_as_dates() {
        let env = environment();
        let past = (chrono::Utc::now() - chrono::Duration::days(40)).to_rfc3339();
        let soon =
            (chrono::Utc::now() + chrono::Duration::hours(36)).format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let ctx = minijinja::context! { past => past, soon => soon };
        let render = |source: &str| env.render_str(source, &ctx).unwrap();
        assert_eq!(render("{{ past | days_since > 30 }}"), "True");
        assert_eq!(render("{{ soon | days_until < 7 and soon | days_until > 1 }}"), "True");
        assert_eq!(render("{{ '2020-01-01' | days_since > 365 }}"), "True");
        let error = env.render_str("{{ 'soon' | days_until }}", &ctx).unwrap_err();
        assert!(error.to_string().contains("`soon` is not a date"), "{error}");
        assert!(render("{{ now() }}").ends_with('Z'));
    }

    #[test]
    fn syntax_errors_say_where() {
        let error = references(&environment(), "ok {{ item.id ").unwrap_err();
        assert!(error.message.contains("end of input"), "{error:?}");
        assert!(error.range.is_some());
    }
}

/// Renders playbook values with a context. Each `{{ expression }}` is compiled once and
/// kept: a bulk step renders the same few expressions for every one of its items.
pub struct Renderer {
    env: &'static Environment<'static>,
    expressions: std::sync::Mutex<HashMap<String, Arc<Expression<'static, 'static>>>>,
}

impl std::fmt::Debug for Renderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renderer").finish_non_exhaustive()
    }
}

/// The run-time environment, shared: compiled expressions borrow it for the whole process.
fn shared_environment() -> &'static Environment<'static> {
    static ENV: std::sync::OnceLock<Environment<'static>> = std::sync::OnceLock::new();
    ENV.get_or_init(environment)
}

/// What a playbook string evaluated to: a single expression's template value, or text.
#[derive(Debug)]
pub enum Evaluated {
    Value(minijinja::Value),
    Json(serde_json::Value),
}

/// A template that failed at run time (an undefined name, a filter on the wrong type, ...).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RenderError {
    pub message: String,
}

impl Default for Renderer {
    fn default() -> Self {
        Self { env: shared_environment(), expressions: Default::default() }
    }
}

/// Whether `text` is one `{{ expression }}` and nothing else, so it can yield a list, a
/// number or a mapping rather than a string.
fn single_expression(text: &str) -> Option<&str> {
    let inner = text.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    (!inner.contains("{{") && !inner.contains("}}") && !inner.contains("{%")).then_some(inner)
}

/// The value of an expression that is only a dotted name (`item.id`, `vars.region`), looked
/// up in `context` the way minijinja looks up names and attributes, without its VM: every
/// evaluation there sets up a state and a 4 KB stack, once per item of a bulk step for a
/// template as plain as `{{ item.id }}`. `None` for anything else, and for a name that does
/// not resolve: minijinja then evaluates it, and words the error.
fn dotted_name(expression: &str, context: &minijinja::Value) -> Option<minijinja::Value> {
    fn is_name(part: &str) -> bool {
        part.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    }
    let mut value: Option<minijinja::Value> = None;
    for part in expression.trim().split('.') {
        // At the start, these are literals, not names.
        let literal =
            value.is_none() && matches!(part, "true" | "false" | "none" | "True" | "False" | "None");
        if !is_name(part) || literal {
            return None;
        }
        let next = value.as_ref().unwrap_or(context).get_attr(part).ok()?;
        if next.is_undefined() {
            return None;
        }
        value = Some(next);
    }
    value
}

impl Renderer {
    /// The compiled form of an expression, compiled on first use.
    fn expression(&self, source: &str) -> Result<Arc<Expression<'static, 'static>>, RenderError> {
        let mut cache = self.expressions.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(compiled) = cache.get(source) {
            return Ok(compiled.clone());
        }
        let compiled = self.env.compile_expression_owned(source.to_string()).map_err(|e| RenderError {
            message: e.detail().map_or_else(|| e.kind().to_string(), str::to_string),
        })?;
        let compiled = Arc::new(compiled);
        cache.insert(source.to_string(), compiled.clone());
        Ok(compiled)
    }

    fn render_source(&self, source: &str, context: &minijinja::Value) -> Result<String, RenderError> {
        let fail = |e: minijinja::Error| RenderError {
            message: e.detail().map_or_else(|| e.kind().to_string(), str::to_string),
        };
        self.env.template_from_str(source).map_err(fail)?.render(context).map_err(fail)
    }

    /// Renders one string: a single expression keeps its type, anything else is text.
    pub fn render_str(
        &self,
        text: &str,
        context: &minijinja::Value,
    ) -> Result<serde_json::Value, RenderError> {
        match self.evaluate(text, context)? {
            Evaluated::Value(value) => {
                serde_json::to_value(&value).map_err(|e| RenderError { message: e.to_string() })
            }
            Evaluated::Json(json) => Ok(json),
        }
    }

    /// Like [`Renderer::render_str`], but a single expression's value is returned as the
    /// template value it is, unconverted: a `for-each` over `{{ vars.ids }}` then shares the
    /// run's one copy of the rows (see [`JsonData::viewed`]).
    pub fn evaluate(&self, text: &str, context: &minijinja::Value) -> Result<Evaluated, RenderError> {
        if !crate::playbook::is_template(text) {
            return Ok(Evaluated::Json(serde_json::Value::String(text.to_string())));
        }
        if let Some(expression) = single_expression(text) {
            if let Some(value) = dotted_name(expression, context) {
                return Ok(Evaluated::Value(value));
            }
            let expr = self.expression(expression)?;
            let value = expr.eval(context).map_err(|e| RenderError {
                message: e.detail().map_or_else(|| e.kind().to_string(), str::to_string),
            })?;
            if value.is_undefined() {
                return Err(RenderError { message: format!("`{}` is undefined", expression.trim()) });
            }
            return Ok(Evaluated::Value(value));
        }
        self.render_source(text, context).map(|s| Evaluated::Json(serde_json::Value::String(s)))
    }

    /// Renders every string in a JSON value; data inside the context is never rendered again.
    pub fn render_value(
        &self,
        value: &serde_json::Value,
        context: &minijinja::Value,
    ) -> Result<serde_json::Value, (String, RenderError)> {
        use serde_json::Value;
        match value {
            Value::String(text) => self.render_str(text, context).map_err(|e| (String::new(), e)),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    self.render_value(item, context).map_err(|(path, e)| (format!("/{i}{path}"), e))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            Value::Object(map) => {
                let mut out = serde_json::Map::with_capacity(map.len());
                for (key, item) in map {
                    let rendered =
                        self.render_value(item, context).map_err(|(path, e)| (format!("/{key}{path}"), e))?;
                    out.insert(key.clone(), rendered);
                }
                Ok(Value::Object(out))
            }
            other => Ok(other.clone()),
        }
    }
}

#[cfg(test)]
mod render_tests {
    use super::{Renderer, dotted_name};
    use minijinja::context;
    use serde_json::json;

    #[test]
    fn a_dotted_name_is_looked_up_as_minijinja_would() {
        let renderer = Renderer::default();
        let ctx = context! {
            item => context! { id => "engi-1", nested => context! { n => 3 }, list => vec![1, 2] },
            vars => serde_json::from_value::<minijinja::Value>(json!({"region": "us-east-1", "none": null})).unwrap(),
            index => 7,
        };
        for expression in
            ["item.id", " item.nested.n ", "item.list", "item", "index", "vars.region", "vars.none"]
        {
            let direct =
                dotted_name(expression, &ctx).unwrap_or_else(|| panic!("{expression} is a dotted name"));
            let evaluated = renderer.expression(expression).unwrap().eval(&ctx).unwrap();
            assert_eq!(direct, evaluated, "{expression}");
        }
        // Anything else goes to minijinja, which also words the errors.
        for expression in
            ["item.missing", "missing", "item.id | upper", "item['id']", "item.list.0", "true", "1", ""]
        {
            assert!(dotted_name(expression, &ctx).is_none(), "{expression}");
        }
        assert_eq!(renderer.render_str("{{ item.id | upper }}", &ctx).unwrap(), json!("ENGI-1"));
        let error = renderer.render_str("{{ item.missing }}", &ctx).unwrap_err();
        assert!(error.message.contains("undefined"), "{error}");
    }

    #[test]
    fn single_expressions_keep_their_type_and_text_stays_text() {
        let renderer = Renderer::default();
        let ctx = context! { vars => context! { ids => vec![1, 2], name => "x" } };
        assert_eq!(renderer.render_str("{{ vars.ids }}", &ctx).unwrap(), json!([1, 2]));
        assert_eq!(renderer.render_str("{{ 50 + 50 }}", &ctx).unwrap(), json!(100));
        assert_eq!(renderer.render_str("id-{{ vars.name }}", &ctx).unwrap(), json!("id-x"));
        assert_eq!(renderer.render_str("plain", &ctx).unwrap(), json!("plain"));
    }

    #[test]
    fn undefined_names_are_errors_not_empty_strings() {
        let renderer = Renderer::default();
        let ctx = context! { item => context! { id => "a" } };
        assert!(renderer.render_str("{{ item.idd }}", &ctx).is_err());
        assert!(renderer.render_str("x-{{ item.idd }}", &ctx).is_err());
    }

    #[test]
    fn data_is_never_rendered_again() {
        let renderer = Renderer::default();
        let ctx = context! { item => "{{ secrets.token }}" };
        assert_eq!(renderer.render_str("{{ item }}", &ctx).unwrap(), json!("{{ secrets.token }}"));
        assert_eq!(renderer.render_str("<{{ item }}>", &ctx).unwrap(), json!("<{{ secrets.token }}>"));
    }
}

/// JSON data (vars, a step's items) as templates read it, in place: a template reaching
/// `vars.ids[3].id` walks the one copy the run holds instead of a converted copy of all of
/// it (100,000 CSV rows converted for every step would cost more memory than the rows).
/// Containers stay views (this type); scalars become plain template values.
#[derive(Debug)]
pub struct JsonData {
    root: Arc<serde_json::Value>,
    /// A JSON Pointer into `root`.
    pointer: String,
}

impl JsonData {
    /// The template value of the data at `pointer` in `root` (undefined when there is none).
    pub fn at(root: &Arc<serde_json::Value>, pointer: String) -> minijinja::Value {
        match root.pointer(&pointer) {
            Some(serde_json::Value::Object(_) | serde_json::Value::Array(_)) => {
                minijinja::Value::from_object(JsonData { root: root.clone(), pointer })
            }
            Some(scalar) => minijinja::Value::from(minijinja::value::Serde(scalar)),
            None => minijinja::Value::UNDEFINED,
        }
    }

    /// The data a template value views, when it is one of these: `(root, pointer)`.
    pub fn viewed(value: &minijinja::Value) -> Option<(&Arc<serde_json::Value>, &str)> {
        value.downcast_object_ref::<JsonData>().map(|data| (&data.root, data.pointer.as_str()))
    }

    fn node(&self) -> &serde_json::Value {
        self.root.pointer(&self.pointer).unwrap_or(&serde_json::Value::Null)
    }

    fn child(&self, segment: &str) -> minijinja::Value {
        let escaped = segment.replace('~', "~0").replace('/', "~1");
        Self::at(&self.root, format!("{}/{escaped}", self.pointer))
    }
}

impl minijinja::value::Object for JsonData {
    fn repr(self: &Arc<Self>) -> minijinja::value::ObjectRepr {
        match self.node() {
            serde_json::Value::Array(_) => minijinja::value::ObjectRepr::Seq,
            _ => minijinja::value::ObjectRepr::Map,
        }
    }

    fn get_value(self: &Arc<Self>, key: &minijinja::Value) -> Option<minijinja::Value> {
        let child = match self.node() {
            serde_json::Value::Array(items) => {
                let index = usize::try_from(key.as_i64()?).ok().filter(|i| *i < items.len())?;
                self.child(&index.to_string())
            }
            serde_json::Value::Object(map) => {
                let name = key.as_str()?;
                map.contains_key(name).then(|| self.child(name))?
            }
            _ => return None,
        };
        Some(child)
    }

    fn enumerate(self: &Arc<Self>) -> minijinja::value::Enumerator {
        match self.node() {
            serde_json::Value::Array(items) => minijinja::value::Enumerator::Seq(items.len()),
            serde_json::Value::Object(map) => minijinja::value::Enumerator::Values(
                map.keys().map(|k| minijinja::Value::from(k.as_str())).collect(),
            ),
            _ => minijinja::value::Enumerator::Empty,
        }
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        match self.node() {
            serde_json::Value::Array(items) => Some(items.len()),
            serde_json::Value::Object(map) => Some(map.len()),
            _ => Some(0),
        }
    }
}

#[cfg(test)]
mod json_data_tests {
    use std::sync::Arc;

    use super::JsonData;

    #[test]
    fn data_reads_in_place_as_plain_values_would() {
        let env = super::environment();
        let data = Arc::new(serde_json::json!({
            "ids": [{"id": "a", "n": 1}, {"id": "b", "n": 2}],
            "odd/key~": {"x": true},
            "empty": [],
        }));
        let viewed = minijinja::context! { vars => JsonData::at(&data, String::new()) };
        let plain = minijinja::context! { vars => minijinja::Value::from(minijinja::value::Serde(&*data)) };
        for source in [
            "{{ vars.ids[1].id }}",
            "{{ vars.ids | length }}",
            "{{ vars.ids | map(attribute='id') | join(',') }}",
            "{{ vars.ids[-1].n + 1 }}",
            "{% for row in vars.ids %}{{ loop.index }}={{ row.id }};{% endfor %}",
            "{{ vars['odd/key~'].x }}",
            "{{ vars.ids | tojson }}",
            "{{ vars.ids[0] | tojson }}",
            "{{ vars.empty | length }}{{ vars.ids | selectattr('n', 'gt', 1) | list | length }}",
            "{{ 'ids' in vars }}{{ vars.ids[0].id == 'a' }}{{ vars | length }}",
            "{{ vars.ids | first | items | list }}",
        ] {
            assert_eq!(
                env.render_str(source, &viewed).unwrap(),
                env.render_str(source, &plain).unwrap(),
                "{source}"
            );
        }
        assert!(env.render_str("{{ vars.nope }}", &viewed).is_err(), "strict: undefined is an error");
        assert!(env.render_str("{{ vars.ids[7].id }}", &viewed).is_err());
    }
}
