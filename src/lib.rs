//! handoff: run declarative YAML playbooks against AWS CodePipeline partner jobs and AWS
//! Partner Central Selling engagement invitations.
//!
//! The modules follow the pipeline a playbook goes through:
//! `source` (files, positions) -> `yaml` (spanned tree) -> `schema` (JSON Schema) ->
//! `playbook` (typed model) -> `check` (semantic checks, `template`) -> `diagnostic`
//! (what the user reads). Then the run: `engine` (steps and items, the journal's records)
//! drives `actions` (one file per action: AWS calls, `exec` for programs, artifacts through
//! `archive`), which send through `call` (retries, rate limits, timeouts). `metrics` turns the run's events into Prometheus metrics and probes (`--metrics`).
//! `commands` has one file per command;
//! `cli` the command line. `fuzz` holds the fuzz targets' bodies (`fuzz/`, docs/fuzzing.md).

pub mod actions;
pub mod archive;
pub mod aws;
pub mod call;
pub mod check;
pub mod cli;
pub mod commands;
pub mod diagnostic;
pub mod emulator;
pub mod engine;
pub mod events;
pub mod exit;
pub mod fuzz;
pub mod journal;
pub mod metrics;
pub mod playbook;
pub mod progress;
pub mod report;
pub mod schema;
pub mod secrets;
pub mod skeleton;
pub mod source;
pub mod template;
pub mod vars;
pub mod yaml;
