//! `handoff schema [ACTION]`: the embedded JSON Schemas, for editors and CI.

use crate::cli::SchemaArgs;
use crate::exit::Exit;
use crate::schema;

pub fn run(args: &SchemaArgs) -> anyhow::Result<Exit> {
    let text = match (args.action, args.bundle) {
        (None, true) => serde_json::to_string_pretty(&schema::bundled()?)? + "\n",
        (None, false) => schema::file_text("playbook.schema.json").unwrap_or_default().to_string(),
        (Some(action), _) => schema::file_text(&schema::action_file(action)).unwrap_or_default().to_string(),
    };
    super::print_out(text)?;
    Ok(Exit::Success)
}
