//! `--dry-run`: every call the run would make (action, AWS operation, rendered input, with
//! secrets masked), and the policies in force. Nothing is sent, no credentials are needed:
//! secrets render as the mask, and steps that read earlier steps' results are shown as
//! templates, since those results exist only at run time.

use std::io::Write;

use serde_json::{Map, Value};

use super::results::Items;
use super::{RunInput, base_context, derived_token, item_key};
use crate::actions::Service;
use crate::playbook::ForEach;
use crate::secrets::MASK;
use crate::template::Renderer;

/// Writes the plan of a run to `out`. `endpoints` names where each service's calls would go.
pub fn dry_run(
    input: &RunInput<'_>,
    endpoints: &[(Service, String)],
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let playbook = input.playbook;
    let renderer = Renderer::default();
    let limiters = super::Limiters::new(playbook);
    writeln!(out, "dry run of {} (run {}): nothing is sent", playbook.name, input.run_id)?;
    for (service, endpoint) in endpoints {
        let ceiling = playbook
            .rate_limits
            .ceiling(*service)
            .map_or(String::new(), |c| format!(", every call at most {c}"));
        writeln!(out, "  {service}: {endpoint}{ceiling}")?;
    }
    writeln!(out, "  retries are handoff's alone: the AWS SDK's own retry layer is off")?;
    // Secrets render as the mask: a dry run needs none of their values.
    let secrets: Map<String, Value> =
        playbook.secrets.keys().map(|k| (k.clone(), Value::String(MASK.into()))).collect();
    let secrets = Value::Object(secrets);
    let context = base_context(input, &secrets, &Default::default());
    for (index, step) in playbook.steps.iter().enumerate() {
        let kind = step.action.kind();
        let raw =
            input.document.pointer(&format!("/steps/{index}/{}", kind.name())).cloned().unwrap_or_default();
        let policy = super::step_policy(step, playbook);
        let target = kind
            .service()
            .map_or_else(|| kind.operation().to_string(), |s| format!("{s} {}", kind.operation()));
        writeln!(out, "\nstep {} ({kind} -> {target})", step.id)?;
        writeln!(out, "  retry: {}", policy.describe())?;
        if kind.service().is_some() {
            writeln!(out, "  limit: {}", limiters.source(kind))?;
        }
        // As a run reads them: a list the run holds (`{{ vars.ids }}`) is shared, not copied.
        let items = match &step.for_each {
            None => Some(Items::owned(vec![Value::Null])),
            Some(ForEach::List(items)) => Some(Items::owned(items.clone())),
            Some(ForEach::Template(template)) => match Items::from_template(&renderer, &template.0, &context)
            {
                Ok(items) => Some(items),
                Err(_) => {
                    writeln!(out, "  for each item of {}: known only at run time", template.0)?;
                    None
                }
            },
        };
        let Some(items) = items else {
            let mut raw = raw.clone();
            kind.redact(&mut raw);
            writeln!(out, "  input: {raw}")?;
            continue;
        };
        if step.for_each.is_some() {
            writeln!(out, "  {} items", items.list().len())?;
        }
        let seed = format!("{}\n{}\n{}", playbook.name, input.run_id, step.id);
        for (i, item) in items.list().iter().enumerate() {
            let item_context = if step.for_each.is_some() {
                minijinja::context! { item => items.template_value(i), index => i, ..context.clone() }
            } else {
                context.clone()
            };
            let prefix = if step.for_each.is_some() { format!("  [{i}] ") } else { "  ".to_string() };
            if let Some(when) = &step.when
                && let Ok(Value::Bool(false)) = renderer.render_str(&when.0, &item_context)
            {
                writeln!(out, "{prefix}skipped: `when` is false")?;
                continue;
            }
            match renderer.render_value(&raw, &item_context) {
                Ok(mut rendered) => {
                    if kind.derives_client_token()
                        && let Some(object) = rendered.as_object_mut()
                        && !object.contains_key("client-token")
                    {
                        object.insert(
                            "client-token".into(),
                            Value::String(derived_token(&seed, &item_key(item))),
                        );
                    }
                    kind.redact(&mut rendered);
                    writeln!(out, "{prefix}{rendered}")?;
                }
                Err((_, error)) if error.message.contains("steps") || raw.to_string().contains("steps.") => {
                    let mut raw = raw.clone();
                    kind.redact(&mut raw);
                    writeln!(out, "{prefix}{raw} (reads an earlier step's results: rendered at run time)")?;
                }
                Err((path, error)) => {
                    writeln!(out, "{prefix}error at {path}: {}", error.message)?;
                }
            }
        }
    }
    Ok(())
}
