//! `handoff completions SHELL`: a completion script from the clap definition.

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs};
use crate::exit::Exit;

pub fn run(args: &CompletionsArgs) -> anyhow::Result<Exit> {
    let mut command = Cli::command();
    // Generated whole first: clap_complete panics when its writer fails (a closed pipe).
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "handoff", &mut script);
    super::print_out(String::from_utf8_lossy(&script))?;
    Ok(Exit::Success)
}
