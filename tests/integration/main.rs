//! End-to-end tests: each runs the built `handoff` binary as a user would.

mod aws_cli;
mod cli;
mod examples;
mod fixtures;
mod helpers;
mod hostile;
mod schemas;
