//! `handoff demo`: the embedded default. Starts the emulator in this process with generated
//! invitations and jobs, runs the two bundled playbooks against it (a bulk acceptance at the
//! real Partner Central quota, then a job worker), and tells the user what happened.

use std::time::Duration;

use anyhow::Context;

use super::run::{RunSettings, execute, prepare};
use super::validate::validate_file;
use crate::aws::AwsOptions;
use crate::cli::DemoArgs;
use crate::emulator::{
    DEFAULT_ACCESS_KEY, DEFAULT_CLIENT_TOKEN, DEFAULT_REGION, DEFAULT_SECRET_KEY, Emulator, EmulatorConfig,
    QuotaSpec,
};
use crate::exit::Exit;
use crate::progress::{self, Level};

const PLAYBOOKS: [(&str, &str, &str); 2] = [
    ("accept-pending.yaml", "bulk acceptance", include_str!("../../demo/accept-pending.yaml")),
    ("job-worker.yaml", "job worker", include_str!("../../demo/job-worker.yaml")),
];

pub fn run(args: &DemoArgs, color: bool) -> anyhow::Result<Exit> {
    let dir =
        tempfile::Builder::new().prefix("handoff-demo-").tempdir().context("creating the demo folder")?;
    for (name, _, text) in PLAYBOOKS {
        std::fs::write(dir.path().join(name), text).context("writing the demo playbooks")?;
    }
    std::fs::write(dir.path().join("client-token.txt"), DEFAULT_CLIENT_TOKEN)
        .context("writing the demo secret")?;
    // The job worker's work: the example worker's script, run by its `exec` step for each job.
    let script = dir.path().join("deploy.sh");
    std::fs::write(&script, include_str!("../../examples/scripts/deploy.sh"))
        .context("writing the demo script")?;
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .context("making the demo script executable")?;
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    runtime.block_on(async {
        let config = EmulatorConfig {
            generate: "jobs=6,failing=33%,invitations=10,expired=20%".parse().map_err(anyhow::Error::msg)?,
            quotas: QuotaSpec::default(),
            task_delay: Duration::from_millis(1500),
            seed: 2026,
            ..EmulatorConfig::default()
        };
        let emulator = Emulator::start(config, 0).await?;
        println!("handoff demo: the emulator listens on {} (in this process).", emulator.endpoint_url());
        println!("It holds 10 engagement invitations (8 PENDING, 2 EXPIRED) and 6 queued jobs of a partner");
        println!("action (2 configured to fail). Partner Central's real quota applies: 1 accept per second.");
        let level = Level::from_flags(args.output.quiet, args.output.verbose);
        let mode = args.output.progress;
        let mut worst = Exit::Success;
        for (i, (name, what, _)) in PLAYBOOKS.iter().enumerate() {
            let path = dir.path().join(name);
            println!("\n== {}/{} {what}: {}", i + 1, PLAYBOOKS.len(), path.display());
            let prepared = match prepare(validate_file(&path), &[], false) {
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
                concurrency: None,
                resume: None,
                // The demo keeps its journal in its own folder, out of the user's history.
                journal: Some(dir.path().join("journal.sqlite")),
                arguments: vec!["demo".into()],
                // Each playbook gets its own display: it ends with that run's summary.
                reporter: std::sync::Arc::new(move || progress::reporter(mode, level, color)),
                report: None,
                workdirs: super::run::Workdirs { root: dir.path().join("work"), keep: false },
                every: None,
                announce: false,
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
        println!("\nWhat happened, as the emulator counted it:");
        println!(
            "  invitations: {} accepted, {} still pending, {} expired (not listed as PENDING, so not sent)",
            count("invitations", "ACCEPTED"),
            count("invitations", "PENDING"),
            count("invitations", "EXPIRED")
        );
        println!(
            "  accept tasks: {} COMPLETE, {} FAILED",
            count("tasks", "COMPLETE"),
            count("tasks", "FAILED")
        );
        println!(
            "  jobs: {} Succeeded, {} Failed, {} left InProgress",
            count("jobs", "Succeeded"),
            count("jobs", "Failed"),
            count("jobs", "InProgress")
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
            println!("  what the worker reported to CodePipeline:\n{}", results.join("\n"));
        }
        println!(
            "  throttled by the quota: {}; nothing done twice: {}",
            summary["throttled_by_quota"], summary["duplicates"]
        );
        println!("\nNext:");
        println!(
            "  handoff run examples/accept-from-csv.yaml --dry-run    # every call a playbook would make"
        );
        println!("  handoff emulator --port 4566 --generate invitations=50 # try your own playbooks offline");
        println!("  handoff run playbook.yaml --profile partner --region us-east-1");
        println!("      # real AWS: no endpoint override; credentials come from the standard chain");
        println!("      # (environment, AWS_PROFILE, SSO, web identity, instance roles).");
        Ok(worst)
    })
}
