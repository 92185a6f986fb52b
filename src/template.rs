//! Templates: minijinja, strict. This module compiles templates and finds the names they use;
//! rendering with values comes with the engine.
//!
//! Strict means an undefined name is an error, never an empty string: a typo in
//! `{{ item.idd }}` must not send an empty identifier to AWS.

use std::collections::BTreeSet;
use std::ops::Range;

use minijinja::{Environment, UndefinedBehavior};

/// The names a template may start with, besides minijinja's own globals.
pub const ROOT_NAMES: &[&str] = &["vars", "secrets", "env", "item", "index", "steps", "run"];

/// minijinja's global functions and loop helpers, which are not data.
const BUILTIN_NAMES: &[&str] =
    &["range", "dict", "namespace", "debug", "loop", "caller", "varargs", "kwargs"];

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
    env
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
    fn syntax_errors_say_where() {
        let error = references(&environment(), "ok {{ item.id ").unwrap_err();
        assert!(error.message.contains("end of input"), "{error:?}");
        assert!(error.range.is_some());
    }
}
