//! `handoff run FILE`: validate, then execute (or, with `--dry-run`, show every call).

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::validate::{FileReport, print_human, validate_file};
use crate::actions::Service;
use crate::aws::{self, AwsOptions};
use crate::cli::RunArgs;
use crate::engine::{self, Engine, RunInput, RunReport};
use crate::events::{PlainReporter, Reporter};
use crate::exit::Exit;
use crate::playbook::Loaded;
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
    Ok(Prepared { loaded, document, vars, base })
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
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    let reporter: Arc<dyn Reporter> = Arc::new(PlainReporter::stderr(args.verbose));
    runtime.block_on(execute(
        &prepared,
        options,
        args.dry_run,
        args.concurrency.map(|c| c as usize),
        reporter,
    ))
}

/// Runs (or dry-runs) a prepared playbook; shared by `run` and `demo`.
pub async fn execute(
    prepared: &Prepared,
    options: AwsOptions,
    dry_run: bool,
    concurrency: Option<usize>,
    reporter: Arc<dyn Reporter>,
) -> anyhow::Result<Exit> {
    let playbook = &prepared.loaded.playbook;
    let mut input = RunInput {
        playbook,
        document: &prepared.document,
        vars: prepared.vars.clone(),
        secrets: Default::default(),
        run_id: run_id(),
        started_at: chrono::Utc::now(),
        concurrency,
    };
    if dry_run {
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
    let clients = match aws::clients(&options).await {
        Ok(clients) => clients,
        Err(error) => {
            eprintln!("handoff: error: {error}");
            return Ok(Exit::AwsConfig);
        }
    };
    let cancel = CancellationToken::new();
    let engine = Arc::new(Engine {
        clients,
        renderer: Renderer::default(),
        masker: Masker::new(input.secrets.values().cloned()),
        reporter,
        limiters: engine::limiters(playbook),
        cancel: cancel.clone(),
    });
    let signal = tokio::spawn(async move {
        let signal = wait_for_signal().await;
        cancel.cancel();
        signal
    });
    let report = engine.run(&input).await;
    let stopped_by = if report.stopped { signal.await.ok() } else { None };
    Ok(exit_status(&report, stopped_by))
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
