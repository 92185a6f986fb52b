//! `handoff run FILE`: validate, then execute (or, with `--dry-run`, show every call).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use serde_json::Value;
use sha2::Digest;
use tokio_util::sync::CancellationToken;

use super::validate::{FileReport, print_human, validate_file};
use crate::actions::Service;
use crate::aws::{self, AwsOptions};
use crate::cli::RunArgs;
use crate::engine::{self, Engine, RunInput, RunReport};
use crate::events::{Event, Reporter};
use crate::exit::Exit;
use crate::journal::{self, Journal, JournaledItem, LockError, LockHolder, NewRun, RunLock, RunRecorder};
use crate::playbook::Loaded;
use crate::progress::{self, Level};
use crate::secrets::{self, Masker};
use crate::template::Renderer;
use crate::vars;

/// A playbook ready to run: valid, with its vars loaded.
#[derive(Debug)]
pub struct Prepared {
    pub loaded: Loaded,
    pub document: Value,
    pub vars: serde_json::Map<String, Value>,
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
    let base = source.path.parent().map_or_else(|| Path::new(".").to_path_buf(), Path::to_path_buf);
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
            let service = [Service::CodePipeline, Service::PartnerCentralSelling]
                .into_iter()
                .find(|s| s.name() == service)?;
            Some((service, url.to_string()))
        });
        match parsed {
            Some((service, url)) => {
                options.endpoints.insert(service, url);
            }
            None => {
                eprintln!(
                    "handoff: error: --endpoint `{text}` is not codepipeline=URL or partnercentral-selling=URL"
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
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    let settings = RunSettings {
        dry_run: args.dry_run,
        concurrency: args.concurrency.map(|c| c as usize),
        resume: args.resume.clone(),
        journal: Some(journal),
        arguments: std::env::args().skip(1).collect(),
        reporter: progress::reporter(
            args.output.progress,
            Level::from_flags(args.output.quiet, args.output.verbose),
            color,
        ),
        report: args.report.clone(),
    };
    runtime.block_on(execute(&prepared, options, settings))
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
    /// `--concurrency`: caps every `for-each`.
    pub concurrency: Option<usize>,
    /// `--resume RUN_ID`.
    pub resume: Option<String>,
    /// The journal file; `None` runs without one (and without the lock).
    pub journal: Option<PathBuf>,
    /// The command line, recorded (masked) in the journal.
    pub arguments: Vec<String>,
    pub reporter: Arc<dyn Reporter>,
    /// `--report FILE.json|FILE.csv`.
    pub report: Option<PathBuf>,
}

/// Runs (or dry-runs) a prepared playbook; shared by `run` and `demo`.
pub async fn execute(
    prepared: &Prepared,
    options: AwsOptions,
    settings: RunSettings,
) -> anyhow::Result<Exit> {
    let playbook = &prepared.loaded.playbook;
    let mut input = RunInput {
        playbook,
        document: &prepared.document,
        vars: prepared.vars.clone(),
        secrets: Default::default(),
        run_id: run_id(),
        started_at: chrono::Utc::now(),
        concurrency: settings.concurrency,
    };
    if settings.dry_run {
        let endpoints: Vec<(Service, String)> = [Service::CodePipeline, Service::PartnerCentralSelling]
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
        print!("{}", engine::dry_run(&input, &endpoints));
        return Ok(Exit::Success);
    }
    input.secrets = match secrets::load(playbook, &prepared.base) {
        Ok(secrets) => secrets,
        Err(error) => {
            eprintln!("handoff: error: {error}");
            return Ok(Exit::Invalid);
        }
    };
    let masker = Masker::new(input.secrets.values().cloned());
    // The journal and the lock come before the AWS clients: a second cron run must exit 3
    // at once, whatever its credentials.
    let mut session = None;
    if let Some(path) = &settings.journal {
        match open_session(path, prepared, &mut input, &settings, &masker) {
            Ok(opened) => session = Some(opened),
            Err(exit) => return Ok(exit),
        }
    }
    let clients = match aws::clients(&options).await {
        Ok(clients) => clients,
        Err(error) => {
            eprintln!("handoff: error: {error}");
            if let Some(session) = &session {
                let _ = session.journal.finish_run(&input.run_id, "failed", Exit::AwsConfig as i32);
            }
            return Ok(Exit::AwsConfig);
        }
    };
    let cancel = CancellationToken::new();
    let engine = Arc::new(Engine {
        clients,
        renderer: Renderer::default(),
        masker,
        reporter: settings.reporter.clone(),
        limiters: engine::limiters(playbook),
        cancel: cancel.clone(),
        recorder: session.as_ref().map(|s| s.recorder.clone()),
        replay: session.as_mut().map(|s| std::mem::take(&mut s.replay)).unwrap_or_default(),
    });
    let reporter = settings.reporter.clone();
    let stopped_by = Arc::new(std::sync::OnceLock::new());
    let signal_seen = stopped_by.clone();
    let signal = tokio::spawn(async move {
        let first = wait_for_signal().await;
        let _ = signal_seen.set(first);
        reporter.report(&Event::Stopping { signal: signal_name(first) });
        cancel.cancel();
        // A second signal means "now": the journal is consistent at every instant (one
        // transaction per item), so exiting here loses only what was in flight.
        let second = wait_for_signal().await;
        std::process::exit(second as i32);
    });
    let report = engine.run(&input).await;
    signal.abort();
    settings.reporter.finish();
    let mut exit = exit_status(&report, stopped_by.get().copied());
    if let Some(message) = &report.refused {
        eprintln!("handoff: error: {message}");
        exit = Exit::Invalid;
    }
    if let Some(path) = &settings.report
        && let Err(error) = crate::report::write(path, &input.run_id, &report)
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
        if let Err(error) = session.journal.finish_run(&input.run_id, status, exit as i32) {
            eprintln!("handoff: error: {error}");
        }
        if exit != Exit::Success {
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
    Ok(exit)
}

/// The journal side of a run: the open journal, the lock, what `--resume` replays.
struct Session {
    journal: Arc<Journal>,
    recorder: Arc<RunRecorder>,
    replay: BTreeMap<String, BTreeMap<String, JournaledItem>>,
    _lock: RunLock,
}

/// Opens the journal, takes the playbook's lock, and starts (or resumes) the run's record.
fn open_session(
    path: &Path,
    prepared: &Prepared,
    input: &mut RunInput<'_>,
    settings: &RunSettings,
    masker: &Masker,
) -> Result<Session, Exit> {
    let playbook = &prepared.loaded.playbook;
    let fail = |error: &dyn std::fmt::Display| {
        eprintln!("handoff: error: {error}");
        Exit::Invalid
    };
    let journal = Arc::new(Journal::open(path).map_err(|e| fail(&e))?);
    if let Some(run_id) = &settings.resume {
        let earlier = journal.run(run_id).map_err(|e| fail(&e))?;
        if earlier.run.playbook != playbook.name {
            return Err(fail(&format!(
                "run {run_id} is of playbook `{}`, not `{}`; resume it with its own playbook",
                earlier.run.playbook, playbook.name
            )));
        }
        input.run_id = run_id.clone();
        if let Ok(started) = chrono::DateTime::parse_from_rfc3339(&earlier.run.started_at) {
            input.started_at = started.with_timezone(&chrono::Utc);
        }
    }
    let holder = LockHolder {
        run_id: input.run_id.clone(),
        pid: std::process::id(),
        host: journal::hostname(),
        started_at: journal::now(),
    };
    let lock = match RunLock::acquire(&RunLock::path_for(path, &playbook.name), &playbook.name, &holder) {
        Ok(lock) => lock,
        Err(error @ LockError::Held { .. }) => {
            eprintln!("handoff: error: {error}");
            return Err(Exit::Locked);
        }
        Err(error) => return Err(fail(&error)),
    };
    let (session, replay) = match &settings.resume {
        Some(run_id) => {
            let session = journal.resume_run(run_id).map_err(|e| fail(&e))?;
            (session, journal.items(run_id).map_err(|e| fail(&e))?)
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
                .map_err(|e| fail(&e))?;
            (0, BTreeMap::new())
        }
    };
    let recorder = Arc::new(RunRecorder::new(journal.clone(), input.run_id.clone(), session));
    Ok(Session { journal, recorder, replay, _lock: lock })
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
