//! End-to-end tests: each runs the built `handoff` binary as a user would.

mod cli;
mod examples;
mod fixtures;
mod helpers;
mod hostile;
mod schemas;
