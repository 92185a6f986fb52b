//! The command line, as clap structs: a close copy of what the user typed. Each command
//! turns its arguments into what the rest of the program needs in `commands/`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use clap_complete::Shell;

use crate::actions::ActionKind;

const ABOUT: &str =
    "Run YAML playbooks against AWS CodePipeline partner jobs and Partner Central engagement invitations";

#[derive(Debug, Parser)]
#[command(name = "handoff", version, about = ABOUT, propagate_version = true, max_term_width = 100)]
#[command(
    after_help = "Examples:\n  handoff validate examples/*.yaml\n  handoff skeleton accept-invitation\n  handoff schema > playbook.schema.json"
)]
pub struct Cli {
    /// When to use colour: auto uses it on a terminal unless NO_COLOR is set
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, global = true, overrides_with = "color")]
    pub color: ColorChoice,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check playbooks against the schema and the semantic rules; sends nothing
    #[command(
        after_help = "Examples:\n  handoff validate playbook.yaml\n  handoff validate --format json examples/*.yaml\n\nExit status: 0 when every file is valid (warnings allowed), 2 when one is not."
    )]
    Validate(ValidateArgs),

    /// Print the JSON Schema of playbooks, or of one action's input
    #[command(
        after_help = "Examples:\n  handoff schema > playbook.schema.json\n  handoff schema acknowledge\n\nEditors pick the schema up from a modeline at the top of a playbook:\n  # yaml-language-server: $schema=./playbook.schema.json"
    )]
    Schema(SchemaArgs),

    /// Print a commented sample step for an action, like the AWS CLI's --generate-cli-skeleton
    #[command(
        after_help = "Examples:\n  handoff skeleton acknowledge\n  handoff skeleton accept-invitation >> playbook.yaml"
    )]
    Skeleton(SkeletonArgs),

    /// Print a shell completion script
    #[command(
        after_help = "Examples:\n  handoff completions bash > /etc/bash_completion.d/handoff\n  handoff completions zsh > \"${fpath[1]}/_handoff\""
    )]
    Completions(CompletionsArgs),
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The playbook files to check
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// human: messages with source snippets on stderr; json: one document on stdout, for tools
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
}

#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// An action whose input schema to print; the whole playbook schema when left out
    #[arg(value_enum)]
    pub action: Option<ActionKind>,

    /// Inline the referenced schemas into one self-contained document
    #[arg(long)]
    pub bundle: bool,
}

#[derive(Debug, Args)]
pub struct SkeletonArgs {
    /// The action to print a sample step for
    #[arg(value_enum)]
    pub action: ActionKind,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to generate the script for
    #[arg(value_enum)]
    pub shell: Shell,
}
