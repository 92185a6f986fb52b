//! `handoff emulator`: runs the emulator in the foreground until SIGINT or SIGTERM.

use std::io::Write;

use anyhow::Context;

use crate::cli::EmulatorArgs;
use crate::emulator::{Credential, Emulator, EmulatorConfig, Fixtures, JobSettings, QuotaSpec};
use crate::exit::Exit;

pub fn run(args: &EmulatorArgs) -> anyhow::Result<Exit> {
    let mut quotas = QuotaSpec::default();
    for spec in &args.quota {
        if let Err(message) = quotas.apply(spec) {
            eprintln!("handoff: error: invalid --quota `{spec}`: {message}");
            return Ok(Exit::Invalid);
        }
    }
    type Apply = fn(&mut QuotaSpec, &str) -> Result<(), String>;
    let settings: [(&str, &[String], Apply); 3] = [
        ("--background", &args.background, QuotaSpec::apply_background),
        ("--client", &args.client, QuotaSpec::apply_client),
        ("--bucket", &args.bucket, QuotaSpec::apply_bucket),
    ];
    for (flag, specs, apply) in settings {
        for spec in specs {
            if let Err(message) = apply(&mut quotas, spec) {
                eprintln!("handoff: error: invalid {flag} `{spec}`: {message}");
                return Ok(Exit::Invalid);
            }
        }
    }
    let fixtures = match &args.fixtures {
        Some(path) => match Fixtures::load(path) {
            Ok(fixtures) => fixtures,
            Err(message) => {
                eprintln!("handoff: error: {message}");
                return Ok(Exit::Invalid);
            }
        },
        None => Fixtures::default(),
    };
    let config = EmulatorConfig {
        credentials: vec![Credential {
            access_key_id: args.access_key.clone(),
            secret_access_key: args.secret_key.clone(),
            account: args.account.clone(),
        }],
        region: args.region.clone(),
        faults: args.faults.unwrap_or_default(),
        seed: args.seed,
        quotas,
        task_delay: args.task_delay.0,
        jobs: JobSettings {
            job_timeout: args.job_timeout.0,
            credential_lifetime: args.credential_lifetime.0,
        },
        fixtures,
        generate: args.generate.unwrap_or_default(),
        ledger_file: args.ledger.clone(),
    };
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    runtime.block_on(async {
        let emulator = match Emulator::start(config, args.port).await {
            Ok(emulator) => emulator,
            Err(error) => {
                eprintln!("handoff: error: {error}");
                return Ok(Exit::Invalid);
            }
        };
        let url = emulator.endpoint_url();
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "listening on {url}")?;
        stdout.flush()?;
        // Scripts often read the first line and close the pipe: the rest is best effort.
        let _ = writeln!(
            stdout,
            "credentials: AWS_ACCESS_KEY_ID={} AWS_SECRET_ACCESS_KEY=<--secret-key> AWS_REGION={}",
            args.access_key, args.region
        );
        let _ = writeln!(
            stdout,
            "try: aws --endpoint-url {url} partnercentral-selling list-engagement-invitations --catalog AWS --participant-type RECEIVER"
        );
        let _ = writeln!(stdout, "summary: curl {url}/_handoff/summary");
        let _ = stdout.flush();
        drop(stdout);
        let token = emulator.shutdown_token();
        tokio::spawn(async move {
            wait_for_signal().await;
            token.cancel();
        });
        emulator.wait().await;
        Ok(Exit::Success)
    })
}

/// Resolves on SIGINT or SIGTERM.
async fn wait_for_signal() {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = async {
            match terminate.as_mut() {
                Some(signal) => { signal.recv().await; }
                None => std::future::pending::<()>().await,
            }
        } => {}
    }
}
