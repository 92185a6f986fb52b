//! The emulator's throughput on loopback from a concurrent AWS SDK client, faults and quotas
//! off (goal: at least 5,000 requests per second on a 2-core machine). Not a test: it prints
//! figures. Run with `cargo bench --bench emulator_throughput`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use handoff::emulator::{
    DEFAULT_ACCESS_KEY, DEFAULT_CLIENT_TOKEN, DEFAULT_REGION, DEFAULT_SECRET_KEY, Emulator, EmulatorConfig,
    QuotaSpec,
};

const CONCURRENCY: usize = 64;
const SECONDS: u64 = 5;

fn sdk_config(url: &str) -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(DEFAULT_REGION))
        .endpoint_url(url)
        .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(
            aws_credential_types::Credentials::new(
                DEFAULT_ACCESS_KEY,
                DEFAULT_SECRET_KEY,
                None,
                None,
                "bench",
            ),
        ))
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .build()
}

/// Runs `call` from CONCURRENCY tasks for SECONDS and returns (requests, errors, elapsed).
async fn drive<F, Fut>(call: F) -> (usize, usize, Duration)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let call = Arc::new(call);
    let next = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(SECONDS);
    let start = Instant::now();
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (call, next, errors) = (call.clone(), next.clone(), errors.clone());
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if !call(i).await {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        let _ = worker.await;
    }
    (next.load(Ordering::Relaxed), errors.load(Ordering::Relaxed), start.elapsed())
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let config = EmulatorConfig {
            generate: "jobs=1,invitations=200000".parse().expect("spec"),
            quotas: QuotaSpec::off(),
            ..EmulatorConfig::default()
        };
        let emulator = Emulator::start(config, 0).await.expect("emulator");
        let sdk = sdk_config(&emulator.endpoint_url());
        let codepipeline = aws_sdk_codepipeline::Client::new(&sdk);
        let partner = aws_sdk_partnercentralselling::Client::new(&sdk);
        let state = emulator.state();
        let job = state["jobs"][0]["id"].as_str().expect("a job").to_string();
        let invitations: Arc<Vec<String>> = Arc::new(
            state["invitations"].as_array().expect("invitations").iter().map(|i| i["id"].as_str().unwrap_or_default().to_string()).collect(),
        );
        println!("machine: {} cores; client and emulator share them; {CONCURRENCY} concurrent requests, {SECONDS} s each", std::thread::available_parallelism().map_or(0, |n| n.get()));

        let client = codepipeline.clone();
        let (n, errors, elapsed) = drive(move |_| {
            let (client, job) = (client.clone(), job.clone());
            async move { client.get_third_party_job_details().job_id(job).client_token(DEFAULT_CLIENT_TOKEN).send().await.is_ok() }
        })
        .await;
        println!("GetThirdPartyJobDetails (read):                  {:>8.0} requests/s  ({n} requests, {errors} errors)", n as f64 / elapsed.as_secs_f64());

        let client = partner.clone();
        let ids = invitations.clone();
        let (n, errors, elapsed) = drive(move |i| {
            let client = client.clone();
            let id = ids[i % ids.len()].clone();
            async move {
                client.start_engagement_by_accepting_invitation_task().catalog("AWS").identifier(id).send().await.is_ok()
            }
        })
        .await;
        println!("StartEngagementByAcceptingInvitationTask (write): {:>8.0} requests/s  ({n} requests, {errors} errors)", n as f64 / elapsed.as_secs_f64());
        emulator.stop().await;
    });
}
