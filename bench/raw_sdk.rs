//! The baseline of `bench/run`'s overhead figure: the least a Rust program can do to send
//! StartEngagementByAcceptingInvitationTask for every id in a file, N at a time, with the
//! same SDK client settings handoff uses (no SDK retries, static credentials, an endpoint
//! override). No templates, schema checks, journal or display.
//!
//!   cargo run --profile dist --example raw_sdk -- ENDPOINT IDS_FILE CONCURRENCY
//!
//! Prints `{"calls": N, "ok": N, "seconds": S}`.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

#[tokio::main]
pub async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, endpoint, ids, concurrency] = args.as_slice() else {
        eprintln!("usage: raw_sdk ENDPOINT IDS_FILE CONCURRENCY");
        std::process::exit(2);
    };
    let ids: Vec<String> = std::fs::read_to_string(ids)
        .expect("the ids file")
        .lines()
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    let concurrency: usize = concurrency.parse().expect("a concurrency");
    let config = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(
            aws_credential_types::Credentials::new(
                handoff::emulator::DEFAULT_ACCESS_KEY,
                handoff::emulator::DEFAULT_SECRET_KEY,
                None,
                None,
                "bench",
            ),
        ))
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .build();
    let client = aws_sdk_partnercentralselling::Client::new(&config);
    let semaphore = Arc::new(Semaphore::new(concurrency));
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for (i, id) in ids.iter().enumerate() {
        let permit = semaphore.clone().acquire_owned().await.expect("semaphore");
        let (client, id) = (client.clone(), id.clone());
        tasks.spawn(async move {
            let _permit = permit;
            client
                .start_engagement_by_accepting_invitation_task()
                .catalog("AWS")
                .identifier(id)
                .client_token(format!("raw-sdk-{i}"))
                .send()
                .await
                .is_ok()
        });
    }
    let mut ok = 0;
    while let Some(done) = tasks.join_next().await {
        ok += usize::from(done.unwrap_or(false));
    }
    let seconds = started.elapsed().as_secs_f64();
    println!("{{\"calls\": {}, \"ok\": {ok}, \"seconds\": {seconds:.4}}}", ids.len());
}
