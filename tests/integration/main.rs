//! End-to-end tests: each runs the built `handoff` binary as a user would.

mod artifacts;
mod aws_cli;
mod browser;
mod cli;
mod emulator_load;
mod emulator_sdk;
mod errors;
mod examples;
mod exec;
mod fixtures;
mod flows;
mod fuzz;
mod helpers;
mod hostile;
mod journal;
mod metrics;
mod progress;
mod report;
mod run;
mod schemas;
mod shared_quota;
mod triage;
