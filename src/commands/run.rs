//! `handoff run FILE`: validate, then execute (or, with `--dry-run`, show every call).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use serde_json::Value;
use sha2::Digest;
use tokio_util::sync::CancellationToken;

use super::validate::{FileReport, print_human, validate_file};
use crate::actions::{ActionKind, Service};
use crate::aws::{self, AwsOptions};
use crate::cli::RunArgs;
use crate::engine::{self, Engine, RunInput, RunReport};
use crate::events::{Event, Reporter};
use crate::exit::Exit;
use crate::journal::{self, Journal, JournaledOutcome, LockError, LockHolder, NewRun, RunLock, RunRecorder};
use crate::playbook::Loaded;
use crate::progress::{self, Level};
use crate::report::ReportFormat;
use crate::secrets::{self, Masker};
use crate::template::Renderer;
use crate::vars;

/// A playbook ready to run: valid, with its vars loaded.
#[derive(Debug)]
pub struct Prepared {
    pub loaded: Loaded,
    pub document: Value,
    /// A JSON object, shared by every run of a worker and read in place by templates.
    pub vars: std::sync::Arc<Value>,
    pub base: std::path::PathBuf,
    /// The playbook's path as the user gave it.
    pub path: PathBuf,
    /// SHA-256 of the playbook's text, kept in the journal.
    pub content_hash: String,
}

/// Validates and loads vars; prints diagnostics and returns the exit status on failure.
pub fn prepare(report: FileReport, overrides: &[String], color: bool) -> Result<Prepared, Exit> {
    if report.errors() > 0 || report.warnings() > 0 {
        print_human(std::slice::from_ref(&report), color, report.errors() > 0);
    }
    if report.errors() > 0 {
        return Err(Exit::Invalid);
    }
    let (Some(source), Some(loaded)) = (report.source, report.loaded) else {
        return Err(Exit::Invalid);
    };
    let base = match source.path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => Path::new(".").to_path_buf(),
    };
    let mut parsed = Vec::new();
    for text in overrides {
        match vars::parse_override(text) {
            Ok(pair) => parsed.push(pair),
            Err(error) => {
                eprintln!("handoff: error: {error}");
                return Err(Exit::Invalid);
            }
        }
    }
    let vars = vars::load(&loaded.playbook, &base, &parsed).map_err(|error| {
        eprintln!("handoff: error: {error}");
        Exit::Invalid
    })?;
    let document = loaded.doc.to_json();
    let content_hash = hex::encode(sha2::Sha256::digest(source.text.as_bytes()));
    let vars = std::sync::Arc::new(Value::Object(vars));
    Ok(Prepared { loaded, document, vars, base, path: source.path.clone(), content_hash })
}

fn run_id() -> String {
    let now = chrono::Utc::now();
    format!("{}-{:04x}", now.format("%Y%m%dT%H%M%SZ"), rand::random::<u16>())
}

pub fn run(args: &RunArgs, color: bool) -> anyhow::Result<Exit> {
    let prepared = match prepare(validate_file(&args.file), &args.vars, color) {
        Ok(prepared) => prepared,
        Err(exit) => return Ok(exit),
    };
    let mut options = AwsOptions {
        region: args.region.clone(),
        profile: args.profile.clone(),
        endpoint_url: args.endpoint_url.clone(),
        ..AwsOptions::default()
    };
    for text in &args.endpoints {
        let parsed = text.split_once('=').and_then(|(service, url)| {
            let service = Service::ALL.into_iter().find(|s| s.name() == service)?;
            Some((service, url.to_string()))
        });
        match parsed {
            Some((service, url)) => {
                options.endpoints.insert(service, url);
            }
            None => {
                eprintln!(
                    "handoff: error: --endpoint `{text}` is not codepipeline=URL, partnercentral-selling=URL or s3=URL"
                );
                return Ok(Exit::Invalid);
            }
        }
    }
    let options = AwsOptions::merge(&prepared.loaded.playbook.aws, options);
    let journal = match journal_path(&args.state) {
        Ok(path) => path,
        Err(exit) => return Ok(exit),
    };
    // Bound before the runtime and the run: an address in use is an error at once.
    let server = match args.metrics.metrics.as_deref().map(crate::metrics::MetricsServer::bind) {
        Some(Ok(server)) => Some(server),
        Some(Err(error)) => {
            eprintln!("handoff: error: {error}");
            return Ok(Exit::Invalid);
        }
        None => None,
    };
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    let metrics = server.map(|server| {
        let metrics = Arc::new(crate::metrics::Metrics::new(
            args.metrics.stuck_after.0,
            args.worker.every.map(|every| every.0),
        ));
        if let Some(addr) = server.local_addr() {
            eprintln!("handoff: metrics on http://{addr}/metrics (/healthz, /readyz)");
        }
        // Ends with the runtime, when the command returns.
        runtime.spawn(server.serve(metrics.clone(), tokio_util::sync::CancellationToken::new()));
        metrics
    });
    let level = Level::from_flags(args.output.quiet, args.output.verbose);
    let mode = args.output.progress;
    let settings = RunSettings {
        dry_run: args.dry_run,
        review: args.review,
        concurrency: args.concurrency.map(|c| c as usize),
        resume: args.resume.clone(),
        // A review sends no write, so it must not journal its items as done.
        journal: (!args.review).then(|| journal.clone()),
        arguments: std::env::args().skip(1).collect(),
        reporter: Arc::new(move || progress::reporter(mode, level, color)),
        report: args.report.clone(),
        workdirs: Workdirs { root: Workdirs::beside(&journal), keep: args.keep_workdirs },
        every: args.worker.every.map(|interval| Every {
            interval: interval.0,
            max_runs: args.worker.max_runs,
            keep_idle: args.worker.keep_idle_runs,
            keep_runs_for: args.worker.keep_runs_for,
        }),
        announce: level > Level::Quiet
            && !matches!(mode, progress::ProgressMode::Json | progress::ProgressMode::None),
        metrics,
    };
    runtime.block_on(execute(&prepared, options, settings))
}

/// Where the host's processes that share this journal's directory share their quota
/// schedules (`quotas/` beside the journal), and what tells their accounts apart: the
/// region, the endpoints, the profile and an access key id from the environment. Two
/// processes with the same scope take turns; others do not.
fn host_share(journal: &std::path::Path, options: &aws::AwsOptions) -> Option<engine::HostShare> {
    let dir = journal.parent()?.join("quotas");
    let env = |name| std::env::var(name).unwrap_or_default();
    let scope = format!(
        "{:?}|{:?}|{:?}|{:?}|{}|{}|{}",
        options.region.clone().unwrap_or_else(|| env("AWS_REGION")),
        options.endpoint_url,
        options.endpoints,
        options.profile.clone().unwrap_or_else(|| env("AWS_PROFILE")),
        env("AWS_ACCESS_KEY_ID"),
        options.static_credentials.as_ref().map_or("", |(key, _)| key.as_str()),
        env("AWS_DEFAULT_REGION"),
    );
    Some(engine::HostShare { dir, scope })
}

/// `--state`, else `HANDOFF_STATE`, else the XDG state directory.
pub fn journal_path(state: &crate::cli::StateArgs) -> Result<PathBuf, Exit> {
    match &state.path {
        Some(path) => Ok(path.clone()),
        None => journal::default_path().map_err(|error| {
            eprintln!("handoff: error: {error}");
            Exit::Invalid
        }),
    }
}

/// How to run a prepared playbook, beside its AWS options.
pub struct RunSettings {
    /// Render every call and send nothing.
    pub dry_run: bool,
    /// `--review`: send the reads only (`Engine::review`).
    pub review: bool,
    /// `--concurrency`: caps every `for-each`.
    pub concurrency: Option<usize>,
    /// `--resume RUN_ID`.
    pub resume: Option<String>,
    /// The journal file; `None` runs without one (and without the lock).
    pub journal: Option<PathBuf>,
    /// The command line, recorded (masked) in the journal.
    pub arguments: Vec<String>,
    /// Makes the display of one run: a worker (`--every`) shows each iteration on its own.
    pub reporter: progress::MakeReporter,
    /// `--report FILE.json|FILE.csv`.
    pub report: Option<PathBuf>,
    /// Where each run's working directory goes, and whether it outlives the run.
    pub workdirs: Workdirs,
    /// `--every`: run again and again, as a worker.
    pub every: Option<Every>,
    /// Whether to print the worker's own lines (its start, going idle): not with `--quiet`,
    /// nor when stdout carries JSON events.
    pub announce: bool,
    /// `--metrics`: sees every run's events beside the display.
    pub metrics: Option<Arc<crate::metrics::Metrics>>,
}

/// Runs' working directories: `<root>/<run id>/<job id>/{in,out}/<artifact>`, mode 0700.
#[derive(Debug, Clone)]
pub struct Workdirs {
    pub root: PathBuf,
    /// `--keep-workdirs`: leave them for a person to look at.
    pub keep: bool,
}

impl Workdirs {
    /// `work/` beside the journal: the state directory, private to the user.
    pub fn beside(journal: &std::path::Path) -> PathBuf {
        journal.parent().unwrap_or(std::path::Path::new(".")).join("work")
    }

    /// Removes a finished run's directory unless told to keep it. A stopped run keeps it:
    /// `--resume` goes on with what was downloaded.
    fn clean(&self, run: &std::path::Path, exit: Exit) {
        if self.keep || matches!(exit, Exit::Interrupted | Exit::Terminated) {
            return;
        }
        match std::fs::remove_dir_all(run) {
            Ok(()) => {
                // The root stays: other runs may be using it.
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => eprintln!("handoff: warning: cannot remove {}: {error}", run.display()),
        }
    }
}

/// `--every DURATION [--max-runs N] [--keep-idle-runs]`.
#[derive(Debug, Clone, Copy)]
pub struct Every {
    /// From the start of one iteration to the start of the next (at once, when one takes
    /// longer).
    pub interval: std::time::Duration,
    pub max_runs: Option<u32>,
    /// Journal iterations that found nothing to do, too.
    pub keep_idle: bool,
    /// Runs that succeeded longer ago than this are pruned as the worker goes.
    pub keep_runs_for: std::time::Duration,
}

/// How often a worker prunes its journal: hourly, or twice per retention if that is shorter.
fn prune_every(keep: std::time::Duration) -> std::time::Duration {
    std::time::Duration::from_secs(3600).min(keep / 2)
}

/// Runs (or dry-runs) a prepared playbook; shared by `run` and `demo`. With `every`, runs it
/// again at the interval until a signal or `max_runs`, each iteration a journaled run of its
/// own, the playbook's lock held throughout.
pub async fn execute(
    prepared: &Prepared,
    options: AwsOptions,
    settings: RunSettings,
) -> anyhow::Result<Exit> {
    let playbook = &prepared.loaded.playbook;
    if settings.dry_run {
        let input = run_input(prepared, &settings, run_id());
        let endpoints: Vec<(Service, String)> = playbook
            .services()
            .into_iter()
            .map(|s| {
                (
                    s,
                    options
                        .endpoint(s)
                        .map_or_else(|| "the AWS endpoint of the region".to_string(), str::to_string),
                )
            })
            .collect();
        // Streamed: a plan of 100,000 calls is not held as one string.
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        super::quiet_broken_pipe(
            engine::dry_run(&input, &endpoints, &mut out).and_then(|()| std::io::Write::flush(&mut out)),
        )?;
        return Ok(Exit::Success);
    }
    // The journal and the lock come before the AWS clients: a second cron run must exit 3
    // at once, whatever its credentials. A worker holds the lock across its iterations.
    let first_run = settings.resume.clone().unwrap_or_else(run_id);
    let journal = match &settings.journal {
        Some(path) => match open_journal(path, prepared, &first_run) {
            Ok(opened) => Some(opened),
            Err(exit) => return Ok(exit),
        },
        None => None,
    };
    let clients = if playbook.services().is_empty() {
        Ok(aws::Clients::unconfigured())
    } else {
        aws::clients(&options).await.and_then(|clients| {
            aws::check_region(&clients, &playbook.services())?;
            Ok(clients)
        })
    };
    let clients = match clients {
        Ok(clients) => clients,
        Err(error) => {
            eprintln!("handoff: error: {error}");
            return Ok(Exit::AwsConfig);
        }
    };
    let stop = Stop::install();
    let limiters = Arc::new(match settings.journal.as_deref().and_then(|path| host_share(path, &options)) {
        Some(host) => engine::Limiters::shared(playbook, &host),
        None => engine::Limiters::new(playbook),
    });
    let runs = Runs {
        prepared,
        clients: &clients,
        limiters: &limiters,
        journal: journal.as_ref(),
        settings: &settings,
        stop: &stop,
    };
    let Some(every) = settings.every else {
        return Ok(run_once(&runs, first_run, true).await?.exit);
    };
    if settings.announce {
        let most = every.max_runs.map(|n| format!(", at most {n} times")).unwrap_or_default();
        eprintln!(
            "{} worker: running {} every {}{most}, until SIGINT or SIGTERM",
            journal::now(),
            playbook.name,
            humantime::format_duration(every.interval)
        );
    }
    let mut worst = Exit::Success;
    let mut was_idle = false;
    // Iterations in a row that failed without doing anything (an outage, credentials refused):
    // the next waits longer, and only the first of them prints the journal's hint.
    let mut stalled = 0u32;
    let mut next_run = Some(first_run);
    let mut pruned_at: Option<tokio::time::Instant> = None;
    for count in 1u32.. {
        if let Some((journal, _)) = &journal
            && pruned_at.is_none_or(|at| at.elapsed() >= prune_every(every.keep_runs_for))
        {
            pruned_at = Some(tokio::time::Instant::now());
            prune_as_a_worker(journal, every.keep_runs_for, settings.announce);
        }
        let started = tokio::time::Instant::now();
        let run_id = next_run.take().unwrap_or_else(run_id);
        let hint = stalled == 0;
        let ran = run_once(&runs, run_id, hint).await?;
        if let Some(signal) = stop.signal() {
            return Ok(signal);
        }
        match ran.exit {
            // The playbook, the journal or the configuration is wrong: every iteration would
            // fail the same way.
            Exit::Invalid | Exit::AwsConfig | Exit::Locked => return Ok(ran.exit),
            exit => worst = worst.max_severity(exit),
        }
        if ran.idle && !was_idle && settings.announce {
            eprintln!(
                "{} worker: nothing to do; polling every {}",
                journal::now(),
                humantime::format_duration(every.interval)
            );
        }
        was_idle = ran.idle;
        if every.max_runs.is_some_and(|most| count >= most) {
            return Ok(worst);
        }
        stalled = if ran.stalled { stalled.saturating_add(1) } else { 0 };
        let wait = backoff(every.interval, stalled);
        if stalled > 0 && settings.announce {
            eprintln!(
                "{} worker: {stalled} iteration{} in a row failed before doing anything; next in {:.1}s",
                journal::now(),
                if stalled == 1 { "" } else { "s" },
                wait.as_secs_f64()
            );
        }
        tokio::select! {
            () = tokio::time::sleep_until(started + wait) => {}
            () = stop.cancel.cancelled() => {}
        }
        if let Some(signal) = stop.signal() {
            return Ok(signal);
        }
    }
    Ok(worst)
}

/// The longest a stalled worker waits between iterations.
const MAX_BACKOFF: std::time::Duration = std::time::Duration::from_secs(300);

/// How long after its start the next iteration begins: the interval, doubled for each
/// iteration in a row that failed before doing anything, up to five minutes (or the interval,
/// if longer), less up to a tenth of jitter so that replicas that failed together do not
/// retry together. As AWS's own clients back off, a worker does not poll an outage at full
/// pace.
fn backoff(interval: std::time::Duration, stalled: u32) -> std::time::Duration {
    if stalled == 0 {
        return interval;
    }
    let cap = MAX_BACKOFF.max(interval);
    let doubled = interval.saturating_mul(1u32 << stalled.min(16)).min(cap);
    doubled.mul_f64(1.0 - rand::random::<f64>() * 0.1)
}

/// A worker's own retention: the runs that succeeded longer ago than `keep` go, with their
/// items, and their space is given back; runs that can still be resumed stay. A journal that
/// cannot be pruned is said once an hour and does not stop the worker.
fn prune_as_a_worker(journal: &Journal, keep: std::time::Duration, announce: bool) {
    let cutoff = chrono::Utc::now() - chrono::Duration::from_std(keep).unwrap_or(chrono::Duration::MAX);
    // Whatever the retention, the runs whose calls a rolling daily quota still counts stay:
    // the count is read from the journal (any playbook's runs in it).
    let day_ago = chrono::Utc::now() - chrono::Duration::hours(24);
    let quota_window = journal::QuotaWindow {
        actions: ActionKind::ALL
            .iter()
            .filter(|kind| kind.spec().quota.is_some())
            .map(|kind| kind.name().to_string())
            .collect(),
        since: day_ago.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    };
    let plan = journal::PrunePlan {
        ended_before: Some(cutoff.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        quota_window: Some(quota_window),
        ..journal::PrunePlan::default()
    };
    match journal.prune(&plan, |_| false) {
        Ok(pruned) if announce && !pruned.removed.is_empty() => eprintln!(
            "{} worker: pruned {} run{} that succeeded more than {} ago ({} items); journal {:.1} MB",
            journal::now(),
            pruned.removed.len(),
            if pruned.removed.len() == 1 { "" } else { "s" },
            humantime::format_duration(keep),
            pruned.items_removed,
            pruned.bytes_after as f64 / 1e6
        ),
        Ok(_) => {}
        Err(error) => eprintln!("{} worker: warning: cannot prune the journal: {error}", journal::now()),
    }
}

fn run_input<'a>(prepared: &'a Prepared, settings: &RunSettings, run_id: String) -> RunInput<'a> {
    RunInput {
        playbook: &prepared.loaded.playbook,
        document: &prepared.document,
        vars: prepared.vars.clone(),
        secrets: Default::default(),
        started_at: chrono::Utc::now(),
        concurrency: settings.concurrency,
        // Absolute, so a program that changes directory still finds what the playbook names.
        dir: std::path::absolute(&prepared.base).unwrap_or_else(|_| prepared.base.clone()),
        workdir: std::path::absolute(&settings.workdirs.root)
            .unwrap_or_else(|_| settings.workdirs.root.clone())
            .join(&run_id),
        run_id,
    }
}

/// How one run ended.
struct Ran {
    exit: Exit,
    /// A worker's iteration that found nothing to do.
    idle: bool,
    /// It failed and no item of it succeeded: its first call failed (an outage, refused
    /// credentials), so the next iteration would most likely fail the same way.
    stalled: bool,
}

/// What every run of a command (every iteration of a worker) shares.
struct Runs<'a> {
    prepared: &'a Prepared,
    clients: &'a aws::Clients,
    limiters: &'a Arc<engine::Limiters>,
    journal: Option<&'a (Arc<Journal>, RunLock)>,
    settings: &'a RunSettings,
    stop: &'a Stop,
}

/// One journaled run: secrets, the run's record, the engine, the report. `hint`: say how
/// to look at a failed run and resume it.
async fn run_once(runs: &Runs<'_>, run_id: String, hint: bool) -> anyhow::Result<Ran> {
    let Runs { prepared, clients, limiters, journal, settings, stop } = *runs;
    let playbook = &prepared.loaded.playbook;
    let mut input = run_input(prepared, settings, run_id);
    // Read again for every run: a rotated secret file is picked up by a long-lived worker.
    input.secrets = match secrets::load(playbook, &prepared.base) {
        Ok(secrets) => secrets,
        Err(error) => {
            eprintln!("handoff: error: {error}");
            return Ok(Ran { exit: Exit::Invalid, idle: false, stalled: false });
        }
    };
    let masker = Masker::new(input.secrets.values().cloned());
    let resume = settings.resume.as_deref().filter(|id| *id == input.run_id);
    let mut session = None;
    if let Some((journal, _lock)) = journal {
        match begin_session(journal, prepared, &mut input, resume, settings, &masker) {
            Ok(opened) => session = Some(opened),
            Err(exit) => return Ok(Ran { exit, idle: false, stalled: false }),
        }
    }
    let display: Arc<dyn Reporter> = match settings.every {
        Some(_) => Arc::new(progress::Deferred::new(settings.reporter.clone())),
        None => (settings.reporter)(),
    };
    // The display sees each event first; the metrics and the report's telemetry after it.
    let mut reporters: Vec<Arc<dyn Reporter>> = vec![display];
    reporters.extend(settings.metrics.iter().map(|m| m.clone() as Arc<dyn Reporter>));
    reporters.extend(session.as_ref().map(|s| s.telemetry.clone() as Arc<dyn Reporter>));
    let reporter: Arc<dyn Reporter> = match reporters.len() {
        1 => reporters.remove(0),
        _ => Arc::new(crate::events::Tee(reporters)),
    };
    stop.watch(reporter.clone());
    let engine = Arc::new(Engine {
        clients: clients.clone(),
        renderer: Renderer::default(),
        masker,
        reporter: reporter.clone(),
        limiters: limiters.clone(),
        cancel: stop.cancel.clone(),
        recorder: session.as_ref().map(|s| s.recorder.clone()),
        replay: session.as_mut().map(|s| std::mem::take(&mut s.replay)).unwrap_or_default(),
        review: settings.review,
    });
    let report = engine.run(&input).await;
    reporter.finish();
    let mut exit = exit_status(&report, stop.signal());
    settings.workdirs.clean(&input.workdir, exit);
    let idle = settings.every.is_some() && exit == Exit::Success && is_idle(playbook, &report);
    if let Some(message) = &report.refused {
        eprintln!("handoff: error: {message}");
        exit = Exit::Invalid;
    }
    let html =
        settings.report.as_deref().filter(|p| crate::report::ReportFormat::of(p) == Some(ReportFormat::Html));
    if let Some(path) = &settings.report
        && html.is_none()
        && !idle
        && let Err(error) =
            crate::report::write(path, &input.run_id, &report, session.as_ref().map(|s| &*s.journal))
    {
        eprintln!("handoff: error: {error}");
        exit = exit.max_severity(Exit::Failures);
    }
    if let Some(session) = &session {
        if let Some(failure) = session.recorder.failure() {
            eprintln!("handoff: error: the run stopped because its journal could not be written: {failure}");
            exit = Exit::Failures;
        }
        let status = match exit {
            Exit::Success => "succeeded",
            Exit::Interrupted | Exit::Terminated => "stopped",
            _ if report.refused.is_some() => "refused",
            _ => "failed",
        };
        let keep = !idle || settings.every.is_some_and(|every| every.keep_idle);
        let written = if keep {
            session.journal.finish_run(&input.run_id, status, exit as i32)
        } else {
            session.journal.forget_run(&input.run_id)
        };
        if let Err(error) = written {
            eprintln!("handoff: error: {error}");
        }
        // After the run's end is journaled: the report's header shows it.
        if let Some(path) = html
            && !idle
        {
            match crate::report::html::write(path, &session.journal, &input.run_id) {
                Ok(_) => eprintln!("handoff: report of run {}: {}", input.run_id, path.display()),
                Err(error) => {
                    eprintln!("handoff: error: {error}");
                    exit = exit.max_severity(Exit::Failures);
                }
            }
        }
        if exit != Exit::Success && hint {
            eprintln!(
                "handoff: run {} is in the journal {}: `handoff show {}`; `handoff run {} --resume {}` goes on",
                input.run_id,
                session.journal.path().display(),
                input.run_id,
                prepared.path.display(),
                input.run_id
            );
        }
    }
    let stalled = exit == Exit::Failures && report.counts.succeeded == 0;
    Ok(Ran { exit, idle, stalled })
}

/// Whether a worker's iteration found nothing to do: it succeeded, and no `for-each` step
/// had an item (the poll came back empty). A playbook without `for-each` always has work.
fn is_idle(playbook: &crate::playbook::Playbook, report: &RunReport) -> bool {
    let mut for_each = playbook.steps.iter().zip(&report.steps).filter(|(step, _)| step.for_each.is_some());
    let mut any = false;
    let all_empty = for_each.all(|(_, step)| {
        any = true;
        step.items.is_empty()
    });
    any && all_empty
}

/// SIGINT and SIGTERM for the whole command: the first stops starting work and lets what is
/// in flight drain (programs get SIGTERM and their grace period); a second exits at once,
/// after killing every program still running.
struct Stop {
    cancel: CancellationToken,
    by: Arc<std::sync::OnceLock<Exit>>,
    /// The display of the run in progress, told that the run is stopping.
    current: Arc<std::sync::Mutex<Option<Arc<dyn Reporter>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Stop {
    fn install() -> Self {
        let cancel = CancellationToken::new();
        let by = Arc::new(std::sync::OnceLock::new());
        let current: Arc<std::sync::Mutex<Option<Arc<dyn Reporter>>>> = Default::default();
        let (token, seen, display) = (cancel.clone(), by.clone(), current.clone());
        let task = tokio::spawn(async move {
            let first = wait_for_signal().await;
            let _ = seen.set(first);
            if let Some(reporter) = display.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
                reporter.report(&Event::Stopping { signal: signal_name(first) });
            }
            token.cancel();
            // A second signal means "now": the journal is consistent at every instant (one
            // transaction per item), so exiting here loses only what was in flight.
            let second = wait_for_signal().await;
            crate::actions::exec::kill_all_children();
            if let Some(reporter) = display.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
                reporter.flush();
            }
            std::process::exit(second as i32);
        });
        Self { cancel, by, current, task }
    }

    fn watch(&self, reporter: Arc<dyn Reporter>) {
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = Some(reporter);
    }

    /// The exit status the signal received calls for, if one was.
    fn signal(&self) -> Option<Exit> {
        self.by.get().copied()
    }
}

impl Drop for Stop {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The journal side of a run: the open journal, the run's recorder, what `--resume` replays.
struct Session {
    journal: Arc<Journal>,
    recorder: Arc<RunRecorder>,
    /// Journals the paces and latencies the HTML report draws.
    telemetry: Arc<crate::journal::Telemetry>,
    replay: BTreeMap<String, BTreeMap<String, JournaledOutcome>>,
}

/// Opens the journal and takes the playbook's lock, for one run or a worker's many.
fn open_journal(path: &Path, prepared: &Prepared, run_id: &str) -> Result<(Arc<Journal>, RunLock), Exit> {
    let playbook = &prepared.loaded.playbook;
    let journal = Arc::new(Journal::open(path).map_err(|e| invalid(&e))?);
    let holder = LockHolder {
        run_id: run_id.to_string(),
        pid: std::process::id(),
        host: journal::hostname(),
        started_at: journal::now(),
    };
    match RunLock::acquire(&RunLock::path_for(path, &playbook.name), &playbook.name, &holder) {
        Ok(lock) => Ok((journal, lock)),
        Err(error @ LockError::Held { .. }) => {
            eprintln!("handoff: error: {error}");
            Err(Exit::Locked)
        }
        Err(error) => Err(invalid(&error)),
    }
}

fn invalid(error: &dyn std::fmt::Display) -> Exit {
    eprintln!("handoff: error: {error}");
    Exit::Invalid
}

/// Starts (or, with `resume`, takes up again) the run's record in the journal.
fn begin_session(
    journal: &Arc<Journal>,
    prepared: &Prepared,
    input: &mut RunInput<'_>,
    resume: Option<&str>,
    settings: &RunSettings,
    masker: &Masker,
) -> Result<Session, Exit> {
    let playbook = &prepared.loaded.playbook;
    let (session, replay) = match resume {
        Some(run_id) => {
            let earlier = journal.summary(run_id).map_err(|e| invalid(&e))?;
            if earlier.playbook != playbook.name {
                return Err(invalid(&format!(
                    "run {run_id} is of playbook `{}`, not `{}`; resume it with its own playbook",
                    earlier.playbook, playbook.name
                )));
            }
            if let Ok(started) = chrono::DateTime::parse_from_rfc3339(&earlier.started_at) {
                input.started_at = started.with_timezone(&chrono::Utc);
            }
            let session = journal.resume_run(run_id).map_err(|e| invalid(&e))?;
            (session, journal.outcomes(run_id).map_err(|e| invalid(&e))?)
        }
        None => {
            let arguments: Vec<String> = settings.arguments.iter().map(|a| masker.mask(a)).collect();
            journal
                .begin_run(&NewRun {
                    id: &input.run_id,
                    playbook: &playbook.name,
                    path: &prepared.path.display().to_string(),
                    content_hash: &prepared.content_hash,
                    arguments: &arguments,
                    started_at: &input.started_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                })
                .map_err(|e| invalid(&e))?;
            (0, BTreeMap::new())
        }
    };
    let recorder = Arc::new(RunRecorder::new(journal.clone(), input.run_id.clone(), session));
    let telemetry = Arc::new(crate::journal::Telemetry::new(journal.clone(), &input.run_id, session));
    Ok(Session { journal: journal.clone(), recorder, telemetry, replay })
}

fn signal_name(exit: Exit) -> &'static str {
    if exit == Exit::Interrupted { "SIGINT" } else { "SIGTERM" }
}

fn exit_status(report: &RunReport, stopped_by: Option<Exit>) -> Exit {
    match stopped_by {
        Some(exit) => exit,
        None if report.succeeded() => Exit::Success,
        None => Exit::Failures,
    }
}

/// Resolves with the exit status a signal calls for: 130 for SIGINT, 143 for SIGTERM.
async fn wait_for_signal() -> Exit {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => Exit::Interrupted,
        () = async {
            match terminate.as_mut() {
                Some(signal) => { signal.recv().await; }
                None => std::future::pending::<()>().await,
            }
        } => Exit::Terminated,
    }
}
