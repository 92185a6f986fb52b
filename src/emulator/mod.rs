//! `handoff emulator`: a local server that speaks both AWS APIs, for trying playbooks offline
//! and for every test of the engine.
//!
//! It answers the AWS JSON protocols on 127.0.0.1 with the services' error shapes, verifies
//! SigV4 signatures, enforces the models' constraints and the documented quotas, keeps job and
//! invitation state with the API's semantics, injects seeded faults, and keeps a ledger of
//! every applied change (`/_handoff/summary`, `/_handoff/ledger`, `/_handoff/state`).
//!
//! The server takes a bound listener and a cancellation token, so tests bind `127.0.0.1:0`
//! and stop it explicitly: see [`Emulator::start`] and [`Emulator::stop`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::Value;
use thiserror::Error;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

mod artifacts;
mod codepipeline;
mod faults;
mod fixtures;
mod ledger;
mod partnercentral;
mod protocol;
mod quota;
mod s3;
mod server;
mod sigv4;
mod validation;
mod world;

pub use codepipeline::ActionTypeId;
pub use faults::FaultSpec;
pub use fixtures::{
    DEFAULT_CLIENT_ID, DEFAULT_CLIENT_TOKEN, Fixtures, Generate, JobFixture, default_action_type,
};
pub use quota::QuotaSpec;
pub use sigv4::Credential;
pub use world::JobSettings;

use codepipeline::Jobs;
use faults::FaultInjector;
use ledger::Ledger;
use partnercentral::Engagements;
use server::Shared;
use world::World;

/// The access key every AWS client may use against the emulator by default.
pub const DEFAULT_ACCESS_KEY: &str = "AKIAHANDOFFEMULATOR1";
pub const DEFAULT_SECRET_KEY: &str = "handoff-emulator-secret";
pub const DEFAULT_REGION: &str = "us-east-1";
pub const DEFAULT_ACCOUNT: &str = "123456789012";

/// Everything the emulator can be told at start.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    pub credentials: Vec<Credential>,
    pub region: String,
    pub faults: FaultSpec,
    /// Seeds ids and faults, so the same seed repeats a run.
    pub seed: u64,
    pub quotas: QuotaSpec,
    /// How long an accept task stays IN_PROGRESS.
    pub task_delay: Duration,
    /// CodePipeline jobs: their timeout and their artifact credentials' lifetime.
    pub jobs: world::JobSettings,
    pub fixtures: Fixtures,
    pub generate: Generate,
    /// Also append every ledger entry to this file, as JSON lines.
    pub ledger_file: Option<PathBuf>,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            credentials: vec![Credential {
                access_key_id: DEFAULT_ACCESS_KEY.into(),
                secret_access_key: DEFAULT_SECRET_KEY.into(),
                account: DEFAULT_ACCOUNT.into(),
            }],
            region: DEFAULT_REGION.into(),
            faults: FaultSpec::default(),
            seed: 0,
            quotas: QuotaSpec::default(),
            task_delay: Duration::from_secs(1),
            jobs: world::JobSettings::default(),
            fixtures: Fixtures::default(),
            generate: Generate::default(),
            ledger_file: None,
        }
    }
}

#[derive(Debug, Error)]
pub enum EmulatorError {
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
    #[error("the fixtures are invalid: {0}")]
    Fixtures(String),
    #[error("cannot write the ledger file {}: {source}", path.display())]
    Ledger { path: PathBuf, source: std::io::Error },
}

/// A running emulator.
#[derive(Debug)]
pub struct Emulator {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
    task: JoinHandle<()>,
}

impl Emulator {
    /// Binds 127.0.0.1 on `port` (0 picks a free one) and starts serving.
    pub async fn start(config: EmulatorConfig, port: u16) -> Result<Self, EmulatorError> {
        let addr = format!("127.0.0.1:{port}");
        let listener = TcpListener::bind(&addr)
            .await
            .map_err(|source| EmulatorError::Bind { addr: addr.clone(), source })?;
        Self::serve(listener, config)
    }

    /// Serves on an already-bound listener.
    pub fn serve(listener: TcpListener, config: EmulatorConfig) -> Result<Self, EmulatorError> {
        let addr = listener
            .local_addr()
            .map_err(|source| EmulatorError::Bind { addr: "listener".into(), source })?;
        let shared = Arc::new(build(&config)?);
        let shutdown = CancellationToken::new();
        let account = config.credentials.first().map_or(DEFAULT_ACCOUNT, |c| c.account.as_str());
        for kind in [quota::QuotaKind::Accept, quota::QuotaKind::Reads] {
            if let Some(rate) = config.quotas.get(kind).map(|q| q.client).filter(|r| *r > 0.0) {
                tokio::spawn(other_client(shared.clone(), kind, account.to_string(), rate, shutdown.clone()));
            }
        }
        let task = tokio::spawn(server::serve(listener, shared.clone(), shutdown.clone()));
        Ok(Self { addr, shared, shutdown, task })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, for `--endpoint-url` and SDK clients.
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The counts `/_handoff/summary` answers.
    pub fn summary(&self) -> Value {
        self.shared.world().summary()
    }

    /// Jobs, invitations and tasks as they stand.
    pub fn state(&self) -> Value {
        self.shared.world().state()
    }

    /// Every applied change so far.
    pub fn ledger(&self) -> Value {
        serde_json::to_value(self.shared.world().ledger.entries()).unwrap_or_default()
    }

    /// A token that stops the server when cancelled (for signal handlers).
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Waits until the server stops (its token was cancelled).
    pub async fn wait(self) {
        let _ = self.task.await;
    }

    /// Stops accepting, lets in-flight requests finish, and returns when the server is down.
    pub async fn stop(self) {
        self.shutdown.cancel();
        let _ = self.task.await;
    }
}

/// The emulator's own client of a quota (`--client writes=0.3/s`): a request every `1/rate`
/// seconds, evenly spaced from the start, that takes a token when the bucket has one and is
/// refused otherwise, as a partner's CRM integration that does not retry would be.
async fn other_client(
    shared: Arc<Shared>,
    kind: quota::QuotaKind,
    account: String,
    rate: f64,
    stop: CancellationToken,
) {
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    // A late tick is one request late, not a burst of catch-up requests.
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticks.tick() => shared.world().client_request(kind, &account),
        }
    }
}

/// An emulator without a socket: it answers the bytes of HTTP/1.1 requests with the bytes of
/// its answers, through the same connection code as [`Emulator`]. The fuzz targets drive it
/// (`src/fuzz.rs`); each value is a fresh world.
#[derive(Debug)]
pub struct Connectionless {
    shared: Arc<Shared>,
    s3: s3s::service::S3Service,
}

impl Connectionless {
    pub fn new(config: &EmulatorConfig) -> Result<Self, EmulatorError> {
        let shared = Arc::new(build(config)?);
        let s3 = s3::service(shared.clone());
        Ok(Self { shared, s3 })
    }

    /// Sends `request` as the whole of a connection's input, closes its sending side, and
    /// returns everything the server wrote before it closed the connection.
    pub async fn exchange(&self, request: &[u8]) -> Vec<u8> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (client, server) = tokio::io::duplex(64 * 1024);
        let connection = server::connection(server, self.shared.clone(), self.s3.clone());
        let (mut read, mut write) = tokio::io::split(client);
        let send = async move {
            // The server may answer and close before reading everything (a body too large).
            let _ = write.write_all(request).await;
            let _ = write.shutdown().await;
        };
        let mut answer = Vec::new();
        let receive = read.read_to_end(&mut answer);
        let _ = tokio::join!(connection, send, receive);
        answer
    }

    /// The counts `/_handoff/summary` answers.
    pub fn summary(&self) -> Value {
        self.shared.world().summary()
    }

    /// The bytes of a well-formed request for operation number `operation` (modulo their
    /// count) with `body`, signed with SigV4 by the AWS SDK's own signer and the first
    /// credential: a request that gets past the signature check to the world.
    pub fn signed_request(&self, operation: usize, body: &[u8]) -> Vec<u8> {
        use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
        let operation = protocol::Operation::ALL[operation % protocol::Operation::ALL.len()];
        let service = operation.service();
        let target = format!("{}.{}", protocol::target_prefix(service), operation.name());
        let host = "127.0.0.1";
        let mut headers = vec![
            ("host".to_string(), host.to_string()),
            ("content-type".to_string(), protocol::content_type(service).to_string()),
            ("x-amz-target".to_string(), target),
        ];
        if let Some(credential) = self.shared.credentials.first() {
            let identity = aws_credential_types::Credentials::new(
                credential.access_key_id.clone(),
                credential.secret_access_key.clone(),
                None,
                None,
                "handoff-fuzz",
            )
            .into();
            let params = aws_sigv4::sign::v4::SigningParams::builder()
                .identity(&identity)
                .region(&self.shared.region)
                .name(protocol::signing_name(service))
                .time(std::time::SystemTime::now())
                .settings(SigningSettings::default())
                .build()
                .map(Into::into);
            let signed = params.ok().and_then(|params| {
                let request = SignableRequest::new(
                    "POST",
                    format!("http://{host}/"),
                    headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                    SignableBody::Bytes(body),
                )
                .ok()?;
                sign(request, &params).ok()
            });
            if let Some(signed) = signed {
                let (instructions, _) = signed.into_parts();
                headers.extend(instructions.headers().map(|(k, v)| (k.to_string(), v.to_string())));
            }
        }
        let mut request = b"POST / HTTP/1.1\r\n".to_vec();
        for (name, value) in &headers {
            request.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        request.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
        request.extend_from_slice(body);
        request
    }
}

fn build(config: &EmulatorConfig) -> Result<Shared, EmulatorError> {
    let mut rng = StdRng::seed_from_u64(config.seed);
    let mut fixtures = config.fixtures.clone();
    fixtures.generate(config.generate, &mut rng);
    let account = config.credentials.first().map_or(DEFAULT_ACCOUNT, |c| c.account.as_str());
    let bucket = format!("codepipeline-{}-{account}", config.region);
    let (jobs, invitations) = fixtures.build(account, &bucket, &mut rng).map_err(EmulatorError::Fixtures)?;
    let mut job_book = Jobs::default();
    for action_type in fixtures.action_types.iter().cloned().chain([default_action_type()]) {
        if !job_book.action_types.contains(&action_type) {
            job_book.action_types.push(action_type);
        }
    }
    let mut artifacts = artifacts::Artifacts::default();
    artifacts.create_bucket(&bucket);
    for built in jobs {
        let job = built.job;
        artifacts.put(
            &job.input.bucket,
            &job.input.key,
            built.input.into(),
            job.encryption_key.clone(),
            None,
        );
        job_book.add(job);
    }
    let mut engagements = Engagements::new(config.task_delay);
    for invitation in invitations {
        engagements.add(invitation);
    }
    let file = match &config.ledger_file {
        Some(path) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|source| EmulatorError::Ledger { path: path.clone(), source })?,
        ),
        None => None,
    };
    let mut world = World::new(job_book, engagements, Ledger::with_file(file), config.quotas, rng);
    world.artifacts = artifacts;
    world.settings = config.jobs;
    let faults = FaultInjector::new(config.faults, config.seed ^ 0x5eed_fa17);
    Ok(Shared::new(world, config.credentials.clone(), config.region.clone(), faults))
}
