//! `handoff demo`: the embedded default. Starts the emulator in this process with generated
//! invitations and jobs, runs the bundled playbooks against it (a bulk acceptance at the real
//! Partner Central quota; the example job worker, which downloads each job's input artifact,
//! deploys it and uploads the output; the example long-job worker, which follows its work
//! across polls with continuation tokens), and tells the user what happened.

/// `println!` that does not panic when stdout is closed (`handoff demo | head`): the demo goes
/// on, and its exit status still says how it went.
macro_rules! say {
    ($($arg:tt)*) => {
        let _ = super::print_out(format_args!("{}\n", format_args!($($arg)*)));
    };
}

use std::time::Duration;

use anyhow::Context;

use super::run::{Every, RunSettings, execute, prepare};
use super::validate::validate_file;
use crate::aws::AwsOptions;
use crate::cli::DemoArgs;
use crate::emulator::{
    ActionTypeId, DEFAULT_ACCESS_KEY, DEFAULT_CLIENT_TOKEN, DEFAULT_REGION, DEFAULT_SECRET_KEY, Emulator,
    EmulatorConfig, Fixtures, JobFixture, QuotaSpec, default_action_type,
};
use crate::exit::Exit;
use crate::progress::{self, Level};

/// The playbooks, in order: file name, what it shows, text, and how many polls it makes (a
/// worker that follows work across polls runs more than once, a second apart).
const PLAYBOOKS: [(&str, &str, &str, u32); 3] = [
    ("accept-pending.yaml", "bulk acceptance", include_str!("../../demo/accept-pending.yaml"), 1),
    ("job-worker.yaml", "job worker with artifacts", include_str!("../../examples/job-worker.yaml"), 1),
    (
        "long-job-worker.yaml",
        "long jobs with continuation tokens",
        include_str!("../../examples/long-job-worker.yaml"),
        4,
    ),
];

/// The examples' scripts, as the example playbooks name them.
const SCRIPTS: [(&str, &str); 2] = [
    ("scripts/deploy.sh", include_str!("../../examples/scripts/deploy.sh")),
    ("scripts/long-job.sh", include_str!("../../examples/scripts/long-job.sh")),
];

pub fn run(args: &DemoArgs, color: bool) -> anyhow::Result<Exit> {
    let dir =
        tempfile::Builder::new().prefix("handoff-demo-").tempdir().context("creating the demo folder")?;
    for (name, _, text, _) in PLAYBOOKS {
        // The examples read the partner's client token from the environment; the demo keeps
        // it in a file of its own folder instead of changing this process's environment.
        let text = text.replace("{ env: PARTNER_CLIENT_TOKEN }", "{ file: client-token.txt }");
        std::fs::write(dir.path().join(name), text).context("writing the demo playbooks")?;
    }
    std::fs::write(dir.path().join("client-token.txt"), DEFAULT_CLIENT_TOKEN)
        .context("writing the demo secret")?;
    std::fs::create_dir_all(dir.path().join("scripts")).context("writing the demo scripts")?;
    for (name, text) in SCRIPTS {
        let script = dir.path().join(name);
        std::fs::write(&script, text).context("writing the demo scripts")?;
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .context("making the demo scripts executable")?;
    }
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    runtime.block_on(async {
        // Two partner actions: AcmeDeploy (the generated jobs) and AcmeMigrate, whose two jobs
        // take longer than one poll.
        let migrate = ActionTypeId { provider: "AcmeMigrate".into(), ..default_action_type() };
        let fixtures = Fixtures {
            action_types: vec![default_action_type(), migrate.clone()],
            jobs: ["orders-db", "billing-db"]
                .into_iter()
                .map(|target| JobFixture {
                    action_type: Some(migrate.clone()),
                    configuration: [("Target".to_string(), target.to_string())].into(),
                    pipeline: Some(format!("{target}-migrations")),
                    ..JobFixture::default()
                })
                .collect(),
            ..Fixtures::default()
        };
        let config = EmulatorConfig {
            generate: "jobs=6,failing=33%,invitations=10,expired=20%".parse().map_err(anyhow::Error::msg)?,
            fixtures,
            quotas: QuotaSpec::default(),
            task_delay: Duration::from_millis(1500),
            seed: 2026,
            ..EmulatorConfig::default()
        };
        let emulator = Emulator::start(config, 0).await?;
        say!("handoff demo: the emulator listens on {} (in this process).", emulator.endpoint_url());
        say!("It holds 10 engagement invitations (8 PENDING, 2 EXPIRED), 6 queued jobs of a partner's");
        say!("deploy action (2 configured to fail), each with a zipped input artifact in the pipeline's");
        say!("S3 bucket, and 2 jobs of a migrate action that take longer than one poll.");
        say!("Partner Central's real quota applies: 1 accept per second.");
        let report =
            args.report.clone().unwrap_or_else(|| std::env::temp_dir().join("handoff-demo-report.html"));
        let level = Level::from_flags(args.output.quiet, args.output.verbose);
        let mode = args.output.progress;
        let mut worst = Exit::Success;
        for (i, (name, what, _, polls)) in PLAYBOOKS.iter().enumerate() {
            let path = dir.path().join(name);
            say!("\n== {}/{} {what}: {}", i + 1, PLAYBOOKS.len(), path.display());
            let vars = [format!("deploy_root={}", dir.path().join("deployments").display())];
            let vars: &[String] = if name.starts_with("job-worker") { &vars } else { &[] };
            let prepared = match prepare(validate_file(&path), vars, false) {
                Ok(prepared) => prepared,
                Err(exit) => return Ok(exit),
            };
            let options = AwsOptions {
                region: Some(DEFAULT_REGION.into()),
                endpoint_url: Some(emulator.endpoint_url()),
                static_credentials: Some((DEFAULT_ACCESS_KEY.into(), DEFAULT_SECRET_KEY.into())),
                ..AwsOptions::default()
            };
            let settings = RunSettings {
                dry_run: false,
                review: false,
                concurrency: None,
                resume: None,
                // The demo keeps its journal in its own folder, out of the user's history.
                journal: Some(dir.path().join("journal.sqlite")),
                arguments: vec!["demo".into()],
                // Each playbook gets its own display: it ends with that run's summary.
                reporter: std::sync::Arc::new(move || progress::reporter(mode, level, color)),
                // The bulk acceptance's report outlives the demo's folder.
                report: name.starts_with("accept").then(|| report.clone()),
                workdirs: super::run::Workdirs { root: dir.path().join("work"), keep: false },
                every: (*polls > 1).then_some(Every {
                    interval: Duration::from_secs(1),
                    max_runs: Some(*polls),
                    keep_idle: false,
                    keep_runs_for: Duration::from_secs(7 * 24 * 3600),
                }),
                announce: false,
                metrics: None,
            };
            let exit = execute(&prepared, options, settings).await?;
            if exit != Exit::Success {
                worst = exit;
            }
        }
        let summary = emulator.summary();
        let state = emulator.state();
        emulator.stop().await;
        let count = |section: &str, status: &str| summary[section][status].as_u64().unwrap_or(0);
        say!("\nWhat happened, as the emulator counted it:");
        say!(
            "  invitations: {} accepted, {} still pending, {} expired (not listed as PENDING, so not sent)",
            count("invitations", "ACCEPTED"),
            count("invitations", "PENDING"),
            count("invitations", "EXPIRED")
        );
        say!(
            "  accept tasks: {} COMPLETE, {} FAILED",
            count("tasks", "COMPLETE"),
            count("tasks", "FAILED")
        );
        say!(
            "  jobs: {} Succeeded, {} Failed, {} left InProgress; action executions: {} Succeeded, {} Failed",
            count("jobs", "Succeeded"),
            count("jobs", "Failed"),
            count("jobs", "InProgress"),
            count("executions", "Succeeded"),
            count("executions", "Failed"),
        );
        let outputs = summary["outputs"].as_object().map_or(0, |o| o.len());
        say!(
            "  artifacts: {} inputs downloaded, {outputs} output artifacts uploaded, each with its job's own credentials",
            summary["requests"]["S3.GetObject"].as_u64().unwrap_or(0)
        );
        let results: Vec<String> = state["jobs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|job| {
                let result = &job["result"];
                let said = result["executionDetails"]["summary"]
                    .as_str()
                    .or(result["failureDetails"]["message"].as_str())?;
                Some(format!("    {:<9} {said}", job["status"].as_str()?))
            })
            .collect();
        if !results.is_empty() {
            say!("  what the worker reported to CodePipeline:\n{}", results.join("\n"));
        }
        say!(
            "  throttled by the quota: {}; nothing done twice: {}",
            summary["throttled_by_quota"], summary["duplicates"]
        );
        say!("  the bulk acceptance as a picture: {} (open it in a browser)", report.display());
        say!("\nNext:");
        say!(
            "  handoff run examples/accept-from-csv.yaml --dry-run    # every call a playbook would make"
        );
        say!("  handoff emulator --port 4566 --generate invitations=50 # try your own playbooks offline");
        say!("  handoff run playbook.yaml --profile partner --region us-east-1");
        say!("      # real AWS: no endpoint override; credentials come from the standard chain");
        say!("      # (environment, AWS_PROFILE, SSO, web identity, instance roles).");
        Ok(worst)
    })
}
