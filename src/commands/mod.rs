//! One module per command. [`run`] parses the command line and dispatches; each command
//! returns the [`Exit`] status it earned.

use std::io::IsTerminal;

use clap::Parser;

use crate::cli::{Cli, ColorChoice, Command};
use crate::exit::Exit;

mod completions;
mod demo;
mod emulator;
mod prune;
mod report;
mod run;
mod runs;
mod schema;
mod skeleton;
mod validate;

pub use runs::describe as describe_run;
pub use validate::{FileReport, validate_bytes};

/// The whole program after `main`: parse arguments, run the command, map the outcome.
pub fn run() -> Exit {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Validate(args) => validate::run(&args, stderr_color(cli.color)),
        Command::Schema(args) => schema::run(&args),
        Command::Skeleton(args) => skeleton::run(&args),
        Command::Completions(args) => completions::run(&args),
        Command::Emulator(args) => emulator::run(&args),
        Command::Run(args) => run::run(&args, stderr_color(cli.color)),
        Command::Runs(args) => runs::runs(&args),
        Command::Show(args) => runs::show(&args),
        Command::Report(args) => report::run(&args),
        Command::Prune(args) => prune::run(&args),
        Command::Demo(args) => demo::run(&args, stderr_color(cli.color)),
    };
    result.unwrap_or_else(|error| {
        // Only failures outside the playbook reach here (a closed stdout, say).
        eprintln!("handoff: error: {error:#}");
        Exit::Failures
    })
}

/// Writes a command's output to stdout. A reader that went away (`| head`) ends the output
/// quietly, as git's and ripgrep's do; `print!` panicked there.
pub(crate) fn print_out(text: impl std::fmt::Display) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    quiet_broken_pipe(write!(out, "{text}").and_then(|()| out.flush()))
}

/// A write's result, with a closed pipe counted as the end of the output, not an error.
pub(crate) fn quiet_broken_pipe(result: std::io::Result<()>) -> std::io::Result<()> {
    match result {
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// Whether to colour what goes to stderr: `--color`, then NO_COLOR, then a terminal check.
fn stderr_color(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
        }
    }
}
