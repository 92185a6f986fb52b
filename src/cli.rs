//! The command line, as clap structs: a close copy of what the user typed. Each command
//! turns its arguments into what the rest of the program needs in `commands/`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use clap_complete::Shell;

use crate::actions::ActionKind;
use crate::emulator::{
    DEFAULT_ACCESS_KEY, DEFAULT_ACCOUNT, DEFAULT_REGION, DEFAULT_SECRET_KEY, FaultSpec, Generate,
};
use crate::playbook::DurationSpec;
use crate::progress::ProgressMode;

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

    /// Validate a playbook, then run it against AWS
    #[command(
        after_help = "Examples:\n  handoff run examples/accept-from-csv.yaml --dry-run\n  handoff run playbook.yaml --var catalog=Sandbox --profile partner\n  handoff run playbook.yaml --endpoint-url http://127.0.0.1:4566\n\nExit status: 0 all steps succeeded, 1 the run finished with failures, 2 the playbook or the command line is invalid (nothing was sent), 3 another run of this playbook holds the lock, 4 AWS configuration or credentials are missing, 130/143 stopped by SIGINT/SIGTERM."
    )]
    Run(Box<RunArgs>),

    /// List the runs in the journal, newest first
    #[command(
        after_help = "Examples:\n  handoff runs\n  handoff runs --format json --limit 5\n\nThe journal is $HANDOFF_STATE, else $XDG_STATE_HOME/handoff/journal.sqlite, else ~/.local/state/handoff/journal.sqlite."
    )]
    Runs(RunsArgs),

    /// Remove finished runs from the journal and give their space back
    #[command(
        after_help = "Examples:\n  handoff prune --older-than 30d\n  handoff prune --older-than 7d --keep-last 50 --dry-run\n  handoff prune 20261123T020000Z-1a2b      # this run, even if it could be resumed\n\nA run that succeeded and ended before the cutoff goes, with its items and attempts; one that failed, was stopped or died can still be resumed and stays unless named. Runs of the last 24 hours count toward Partner Central's rolling daily quota, so --older-than is at least 24h."
    )]
    Prune(PruneArgs),

    /// Write a run's report as one HTML file: steps on a time line, the rate against the quota, latency, failures, items
    #[command(
        after_help = "Examples:\n  handoff report 20261123T020000Z-1a2b --html run.html\n  handoff report latest --html run.html     # the newest run in the journal\n\nThe file is self-contained: it fetches nothing, opens from disk or a CI artifact, and prints to PDF."
    )]
    Report(ReportArgs),

    /// Show one run from the journal: its steps, counts, failed items and their errors
    #[command(
        after_help = "Examples:\n  handoff show 20261123T020000Z-1a2b\n  handoff show 20261123T020000Z-1a2b -v      # every item and attempt\n  handoff show 20261123T020000Z-1a2b --format json"
    )]
    Show(ShowArgs),

    /// Run a bundled bulk acceptance and job worker against the built-in emulator
    #[command(
        after_help = "Examples:\n  handoff demo\n\nNo AWS account or credentials are needed: the emulator runs in this process on 127.0.0.1."
    )]
    Demo(DemoArgs),

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

    /// Serve both AWS APIs on 127.0.0.1, for trying playbooks offline and for tests
    #[command(
        after_help = "Examples:\n  handoff emulator --port 4566 --generate jobs=20,invitations=100\n  handoff emulator --faults throttle=0.2,drop_after=0.02 --seed 7 --quota writes=20/s --background writes=5/s\n  aws --endpoint-url http://127.0.0.1:4566 partnercentral-selling list-engagement-invitations --catalog AWS --participant-type RECEIVER\n\nThe first line printed is `listening on http://127.0.0.1:PORT`. Credentials: AKIAHANDOFFEMULATOR1 / handoff-emulator-secret, region us-east-1. GET /_handoff/summary, /_handoff/state and /_handoff/ledger report what was applied."
    )]
    Emulator(Box<EmulatorArgs>),

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

#[derive(Debug, Args)]
pub struct EmulatorArgs {
    /// The port on 127.0.0.1; 0 picks a free one
    #[arg(long, default_value_t = 0)]
    pub port: u16,

    /// Jobs and invitations to start with (YAML or JSON; see docs/emulator.md)
    #[arg(long, value_name = "FILE")]
    pub fixtures: Option<PathBuf>,

    /// Generate state: jobs=N,invitations=M[,failing=P%,expired=P%,accepted=P%,rejected=P%,arrive=DURATION] (arrive: one job queued every DURATION instead of all at once)
    #[arg(long, value_name = "SPEC", value_parser = parse_generate)]
    pub generate: Option<Generate>,

    /// Inject faults: throttle=P,error=P,drop=P,drop_after=P,latency=DURATION
    #[arg(long, value_name = "SPEC", value_parser = parse_faults)]
    pub faults: Option<FaultSpec>,

    /// Seed for generated ids and faults; the same seed repeats a run
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    /// Quotas: `off`, or GROUP=RATE[,DAILY] with GROUP writes or reads (writes=1/s,10000 and reads=10/s are the defaults)
    #[arg(long, value_name = "SPEC")]
    pub quota: Vec<String>,

    /// Another client's steady use of a quota: GROUP=RATE (writes=0.3/s leaves 0.7/s of the default 1/s)
    #[arg(long, value_name = "SPEC")]
    pub background: Vec<String>,

    /// A real-like other client of a quota: GROUP=RATE, evenly spaced requests that get a token only when the bucket has one, never retried (its refusals are in the summary's quota_clients)
    #[arg(long, value_name = "SPEC")]
    pub client: Vec<String>,

    /// A quota's bucket size: GROUP=TOKENS (default: one second's worth, at least 1; AWS documents the rate, not the bucket)
    #[arg(long, value_name = "SPEC")]
    pub bucket: Vec<String>,

    /// Append every applied change to FILE as JSON lines
    #[arg(long, value_name = "FILE")]
    pub ledger: Option<PathBuf>,

    /// How long an accept task stays IN_PROGRESS
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_duration)]
    pub task_delay: DurationSpec,

    /// A CodePipeline job acknowledged this long ago and not finished times out
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_duration)]
    pub job_timeout: DurationSpec,

    /// Jobs' artifact credentials expire this long after their details first hand them out
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_duration)]
    pub credential_lifetime: DurationSpec,

    /// The access key clients sign with
    #[arg(long, default_value = DEFAULT_ACCESS_KEY)]
    pub access_key: String,

    /// The secret key clients sign with
    #[arg(long, default_value = DEFAULT_SECRET_KEY)]
    pub secret_key: String,

    /// The region clients must sign for
    #[arg(long, default_value = DEFAULT_REGION)]
    pub region: String,

    /// The AWS account the access key stands for
    #[arg(long, default_value = DEFAULT_ACCOUNT)]
    pub account: String,
}

fn parse_generate(text: &str) -> Result<Generate, String> {
    text.parse()
}

fn parse_faults(text: &str) -> Result<FaultSpec, String> {
    text.parse()
}

fn parse_duration(text: &str) -> Result<DurationSpec, String> {
    text.parse()
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The playbook to run
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// Override a declared var: NAME=VALUE (repeatable)
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,

    /// Render every call the run would make, with secrets masked, and send nothing
    #[arg(long, conflicts_with = "review")]
    pub dry_run: bool,

    /// Send only the calls that read (list, get), so `when:` decides on real data; show what every write would send, and send no write (nothing is journaled; with --report, a row per decision)
    #[arg(long)]
    pub review: bool,

    /// The AWS Region (overrides the playbook's `aws.region`)
    #[arg(long)]
    pub region: Option<String>,

    /// A named profile from the AWS config and credentials files
    #[arg(long)]
    pub profile: Option<String>,

    /// Send every service's calls to this URL (the emulator, a proxy)
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,

    /// Send one service's calls to URL: codepipeline=URL or partnercentral-selling=URL (repeatable)
    #[arg(long = "endpoint", value_name = "SERVICE=URL")]
    pub endpoints: Vec<String>,

    /// At most N items at once in every for-each (caps each step's concurrency)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub concurrency: Option<u32>,

    /// Continue a stopped or failed run: same run id and tokens; items already done are not sent again
    #[arg(long, value_name = "RUN_ID")]
    pub resume: Option<String>,

    #[command(flatten)]
    pub state: StateArgs,

    /// Keep each run's working directory (job artifacts, under the state directory's `work/`) instead of removing it when the run ends
    #[arg(long)]
    pub keep_workdirs: bool,

    #[command(flatten)]
    pub worker: WorkerArgs,

    #[command(flatten)]
    pub output: OutputArgs,

    /// Write one row per item (step, key, status, attempts, outputs, error) to FILE.json or FILE.csv, or the run's HTML report to FILE.html
    #[arg(long, value_name = "FILE", value_parser = parse_report_path)]
    pub report: Option<PathBuf>,

    #[command(flatten)]
    pub metrics: MetricsArgs,
}

/// `--metrics ADDR`: Prometheus metrics and health probes for the run's (the worker's) life.
#[derive(Debug, Args)]
pub struct MetricsArgs {
    /// Serve /metrics (Prometheus), /healthz and /readyz on ADDR (0.0.0.0:9464, 127.0.0.1:0) while the run (the worker) lives
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<String>,

    /// With --metrics: /healthz fails once an iteration has run this long (or, between a worker's iterations, the next is this late)
    #[arg(long, value_name = "DURATION", requires = "metrics", default_value = "1h", value_parser = parse_duration)]
    pub stuck_after: DurationSpec,
}

/// `--every`: run as a worker, again and again.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Run again every DURATION (30s, 5m) until SIGINT or SIGTERM, each time a journaled run, holding the lock throughout
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub every: Option<DurationSpec>,

    /// With --every: stop after N runs
    #[arg(long, value_name = "N", requires = "every", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_runs: Option<u32>,

    /// With --every: journal the runs that found nothing to do too (by default they are left out)
    #[arg(long, requires = "every")]
    pub keep_idle_runs: bool,

    /// With --every: keep the runs that succeeded this long, and prune older ones as it goes (hourly, or twice per DURATION if shorter); runs whose calls a rolling daily quota still counts are kept 24h
    #[arg(long, value_name = "DURATION", requires = "every", default_value = "7d", value_parser = parse_retention_of_a_worker)]
    pub keep_runs_for: std::time::Duration,
}

/// A worker's retention: at least a minute. Shorter than a day is fine: the runs whose calls
/// a rolling daily quota counts are kept for the count regardless.
fn parse_retention_of_a_worker(text: &str) -> Result<std::time::Duration, String> {
    let retention = parse_retention(text)?;
    if retention < std::time::Duration::from_secs(60) {
        return Err(format!("`{text}` is less than a minute"));
    }
    Ok(retention)
}

/// How a run shows its progress.
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// How to show progress: a live display on a terminal, plain lines elsewhere (auto), or JSON lines on stdout
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    pub progress: ProgressMode,

    /// Only errors and the summary
    #[arg(short, long, conflicts_with = "verbose")]
    pub quiet: bool,

    /// More detail: -v every item and retry, -vv also HTTP status, request ids and delays
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

fn parse_report_path(text: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(text);
    match crate::report::ReportFormat::of(&path) {
        Some(_) => Ok(path),
        None => Err("the report file must end in .json, .csv or .html".into()),
    }
}

fn parse_html_path(text: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(text);
    match crate::report::ReportFormat::of(&path) {
        Some(crate::report::ReportFormat::Html) => Ok(path),
        _ => Err("the report file must end in .html".into()),
    }
}

/// Where the run journal is.
#[derive(Debug, Args)]
pub struct StateArgs {
    /// The run journal (SQLite) [default: $HANDOFF_STATE, else the XDG state directory]
    #[arg(long = "state", value_name = "PATH")]
    pub path: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    #[command(flatten)]
    pub state: StateArgs,

    /// Remove runs that succeeded and ended longer ago than this (24h, 7d, 30days; at least 24h)
    #[arg(long, value_name = "DURATION", value_parser = parse_retention)]
    pub older_than: Option<std::time::Duration>,

    /// Keep the newest N runs of each playbook, however old
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub keep_last: usize,

    /// Runs to remove whatever their status and age (not one in progress)
    #[arg(value_name = "RUN_ID")]
    pub runs: Vec<String>,

    /// Say what would be removed; remove nothing
    #[arg(long)]
    pub dry_run: bool,

    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

/// A retention: a duration in any unit humantime reads (`30d`, `7days`, `24h`).
fn parse_retention(text: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(text)
        .map_err(|e| format!("`{text}` is not a duration like 24h, 7d or 30days: {e}"))
}

#[derive(Debug, Args)]
pub struct RunsArgs {
    #[command(flatten)]
    pub state: StateArgs,

    /// Show at most N runs
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub limit: usize,

    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The run, as `handoff runs` lists it, or `latest`
    #[arg(value_name = "RUN_ID")]
    pub run_id: String,

    /// Where to write the report
    #[arg(long, value_name = "FILE", value_parser = parse_html_path)]
    pub html: PathBuf,

    #[command(flatten)]
    pub state: StateArgs,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The run, as `handoff runs` lists it
    #[arg(value_name = "RUN_ID")]
    pub run_id: String,

    #[command(flatten)]
    pub state: StateArgs,

    /// Every item and every attempt, not only failures
    #[arg(short, long)]
    pub verbose: bool,

    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    #[command(flatten)]
    pub output: OutputArgs,

    /// Where to write the HTML report of the demo's bulk acceptance [default: handoff-demo-report.html in the system's temporary directory]
    #[arg(long, value_name = "FILE", value_parser = parse_html_path)]
    pub report: Option<PathBuf>,
}
