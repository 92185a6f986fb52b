//! `handoff completions SHELL`: a completion script from the clap definition.

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs};
use crate::exit::Exit;

pub fn run(args: &CompletionsArgs) -> anyhow::Result<Exit> {
    let mut command = Cli::command();
    clap_complete::generate(args.shell, &mut command, "handoff", &mut std::io::stdout().lock());
    Ok(Exit::Success)
}
