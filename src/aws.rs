//! AWS clients, built once from one `SdkConfig`: the default credential chain (environment,
//! profiles, SSO, web identity, IMDS), then the playbook's `aws:` block, then the command
//! line. The SDK's own retries are switched off: handoff retries itself, with the policy the
//! playbook states (`docs/retries.md`), so attempts are never multiplied behind the user's back.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_credential_types::provider::ProvideCredentials;
use thiserror::Error;

use crate::actions::Service;
use crate::playbook::AwsSettings;

/// Where AWS settings came from, after the command line has overridden the playbook.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AwsOptions {
    pub region: Option<String>,
    pub profile: Option<String>,
    /// `--endpoint-url`: every service.
    pub endpoint_url: Option<String>,
    /// Per-service endpoints (`--endpoint SERVICE=URL`, then `aws.endpoints`).
    pub endpoints: BTreeMap<Service, String>,
    pub connect_timeout: Option<Duration>,
    pub read_timeout: Option<Duration>,
    /// Fixed keys instead of the credential chain (the demo's emulator).
    pub static_credentials: Option<(String, String)>,
}

impl AwsOptions {
    /// The playbook's `aws:` block under the command line's flags.
    pub fn merge(settings: &AwsSettings, command_line: AwsOptions) -> Self {
        let mut endpoints: BTreeMap<Service, String> = Service::ALL
            .into_iter()
            .filter_map(|service| Some((service, settings.endpoints.get(service)?.clone())))
            .collect();
        endpoints.extend(command_line.endpoints);
        Self {
            region: command_line.region.or_else(|| settings.region.clone()),
            profile: command_line.profile.or_else(|| settings.profile.clone()),
            endpoint_url: command_line.endpoint_url,
            endpoints,
            connect_timeout: command_line.connect_timeout.or(settings.timeouts.connect.map(|d| d.0)),
            read_timeout: command_line.read_timeout.or(settings.timeouts.read.map(|d| d.0)),
            static_credentials: command_line.static_credentials,
        }
    }

    /// Where requests for `service` go: its own endpoint, else `--endpoint-url`, else AWS.
    pub fn endpoint(&self, service: Service) -> Option<&str> {
        self.endpoints.get(&service).or(self.endpoint_url.as_ref()).map(String::as_str)
    }
}

/// Why the clients could not be built. Each ends the run with exit status 4.
#[derive(Debug, Error)]
pub enum AwsConfigError {
    #[error(
        "no AWS region is configured: set `aws.region` in the playbook, pass --region, or set AWS_REGION"
    )]
    NoRegion,
    /// The first line says what is wrong, the next ones what was tried and the fix.
    #[error("{summary}\n  tried: {tried}\n  fix: {fix}")]
    NoCredentials { summary: String, tried: String, fix: String },
    #[error(
        "Partner Central Selling is served only in us-east-1 (partnercentral-selling.us-east-1.api.aws), but the region is `{region}`\n  fix: set `aws.region: us-east-1` in the playbook, or pass --region us-east-1"
    )]
    PartnerCentralRegion { region: String },
}

/// Where the AWS CLI's shared files are, as the SDK finds them.
fn shared_files() -> [std::path::PathBuf; 2] {
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from).unwrap_or_default();
    let file = |var: &str, default: &str| {
        std::env::var_os(var)
            .filter(|v| !v.is_empty())
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| home.join(default))
    };
    [file("AWS_CONFIG_FILE", ".aws/config"), file("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials")]
}

/// Whether `profile` has a section in the config or credentials file.
fn profile_defined(profile: &str, files: &[std::path::PathBuf; 2]) -> bool {
    let [config, credentials] = files;
    let has = |path: &std::path::Path, headers: &[String]| {
        std::fs::read_to_string(path).is_ok_and(|text| {
            text.lines().any(|line| {
                let line: String = line.split_whitespace().collect::<Vec<_>>().join(" ");
                headers.contains(&line)
            })
        })
    };
    let in_config = [
        format!("[profile {profile}]"),
        if profile == "default" { "[default]".into() } else { String::new() },
    ];
    has(config, &in_config) || has(credentials, &[format!("[{profile}]")])
}

/// Turns the credential chain's failure into what a person can act on: the sources it tried,
/// the likely cause, and the fix (`aws configure`, `aws sso login`, `AWS_PROFILE`).
fn credentials_error(options: &AwsOptions, error: &(dyn std::error::Error + 'static)) -> AwsConfigError {
    let cause = crate::call::describe::chain(error);
    let env = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    let files = shared_files();
    let named =
        options.profile.clone().or_else(|| std::env::var("AWS_PROFILE").ok().filter(|p| !p.is_empty()));
    let profile = named.clone().unwrap_or_else(|| "default".into());
    let shown = |p: &std::path::Path| p.display().to_string();
    let defined = profile_defined(&profile, &files);
    let tried = [
        if env("AWS_ACCESS_KEY_ID") {
            "the environment (AWS_ACCESS_KEY_ID is set)"
        } else {
            "the environment (no AWS_ACCESS_KEY_ID)"
        }
        .to_string(),
        if defined {
            format!("profile `{profile}`")
        } else {
            format!("profile `{profile}` (not in {} or {})", shown(&files[0]), shown(&files[1]))
        },
        if env("AWS_WEB_IDENTITY_TOKEN_FILE") {
            "web identity"
        } else {
            "web identity (no AWS_WEB_IDENTITY_TOKEN_FILE)"
        }
        .to_string(),
        if env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") || env("AWS_CONTAINER_CREDENTIALS_FULL_URI") {
            "the container endpoint"
        } else {
            "the container endpoint (not set)"
        }
        .to_string(),
        if std::env::var("AWS_EC2_METADATA_DISABLED").is_ok_and(|v| v.eq_ignore_ascii_case("true")) {
            "instance metadata (disabled by AWS_EC2_METADATA_DISABLED)"
        } else {
            "instance metadata (IMDS: not reachable or no role)"
        }
        .to_string(),
    ]
    .join(", ");
    let lower = cause.to_ascii_lowercase();
    let (summary, fix) = match &named {
        Some(p) if !defined => (
            format!("AWS profile `{p}` is not defined"),
            format!("check the name (`aws configure list-profiles`), or create it: `aws configure --profile {p}`"),
        ),
        Some(p) if lower.contains("sso") || lower.contains("token") && lower.contains("expired") => (
            format!("the SSO session of AWS profile `{p}` has expired or was never started"),
            format!("`aws sso login --profile {p}`"),
        ),
        Some(p) => (
            format!("AWS profile `{p}` gave no credentials: {cause}"),
            format!("check it with `aws sts get-caller-identity --profile {p}`"),
        ),
        None => (
            "no AWS credentials were found".to_string(),
            "run `aws configure`, set AWS_PROFILE to a configured profile, or sign in with `aws sso login --profile NAME`".to_string(),
        ),
    };
    AwsConfigError::NoCredentials { summary, tried, fix }
}

/// One client per service, sharing one configuration.
#[derive(Debug, Clone)]
pub struct Clients {
    pub codepipeline: aws_sdk_codepipeline::Client,
    pub partner: aws_sdk_partnercentralselling::Client,
    /// S3's configuration without credentials: artifacts are read and written with each
    /// job's own temporary credentials ([`Clients::s3_for_job`]), never the profile's.
    s3: aws_sdk_s3::Config,
    /// Where each service's calls go, for error messages: the URL, and whether it was set
    /// by the user (`--endpoint-url`, `aws.endpoints`) rather than AWS's for the region.
    endpoints: BTreeMap<Service, (String, bool)>,
}

/// Refuses a region where a service the playbook calls does not exist (Partner Central
/// Selling: us-east-1 only), unless its endpoint was given.
pub fn check_region(
    clients: &Clients,
    services: &std::collections::BTreeSet<Service>,
) -> Result<(), AwsConfigError> {
    let partner = clients.endpoints.get(&Service::PartnerCentralSelling);
    match (services.contains(&Service::PartnerCentralSelling), partner) {
        (true, Some((url, false))) if !url.contains(".us-east-1.") => {
            let region = url.split('.').nth(1).unwrap_or_default().to_string();
            Err(AwsConfigError::PartnerCentralRegion { region })
        }
        _ => Ok(()),
    }
}

impl Clients {
    /// Clients for a playbook that calls no AWS service (only `exec` steps): nothing reads
    /// the AWS configuration, so such a playbook runs on a machine that has none.
    pub fn unconfigured() -> Self {
        let region = Region::new("us-east-1");
        let codepipeline = aws_sdk_codepipeline::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(region.clone())
            .build();
        let partner = aws_sdk_partnercentralselling::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(region)
            .build();
        let s3 = aws_sdk_s3::Config::builder().behavior_version(BehaviorVersion::latest()).build();
        Clients {
            codepipeline: aws_sdk_codepipeline::Client::from_conf(codepipeline),
            partner: aws_sdk_partnercentralselling::Client::from_conf(partner),
            s3,
            endpoints: BTreeMap::new(),
        }
    }

    /// The endpoint URL of `service`'s calls, and whether the user set it.
    pub fn endpoint(&self, service: Service) -> Option<(String, bool)> {
        self.endpoints.get(&service).cloned()
    }

    /// An S3 client that signs with a job's artifact credentials.
    pub fn s3_for_job(&self, credentials: aws_credential_types::Credentials) -> aws_sdk_s3::Client {
        let config = self.s3.to_builder().credentials_provider(credentials).build();
        aws_sdk_s3::Client::from_conf(config)
    }
}

/// The HTTPS client every SDK client shares unless its endpoint is plain HTTP, built when the
/// first request needs it. The SDK's default builds its client, and so parses every
/// certificate in the system's trust store, as each SDK client is created, the STS client
/// for web identity included, whether or not anything is ever sent to it: about half of a
/// one-call run's instructions (docs/benchmarks-scale.md). The same roots still load, at the
/// first HTTPS request.
#[derive(Debug, Default)]
struct LazyHttps(std::sync::OnceLock<aws_smithy_runtime_api::client::http::SharedHttpClient>);

impl aws_smithy_runtime_api::client::http::HttpClient for LazyHttps {
    fn http_connector(
        &self,
        settings: &aws_smithy_runtime_api::client::http::HttpConnectorSettings,
        components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
    ) -> aws_smithy_runtime_api::client::http::SharedHttpConnector {
        use aws_smithy_http_client::tls;
        self.0
            .get_or_init(|| {
                aws_smithy_http_client::Builder::new()
                    .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::AwsLc))
                    .build_https()
            })
            .http_connector(settings, components)
    }

    fn connector_metadata(
        &self,
    ) -> Option<aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata> {
        Some(aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata::new(
            "hyper",
            Some("1.x".into()),
        ))
    }
}

/// A client for an endpoint the user gave as plain `http://` (the emulator, a local test
/// double): no TLS to set up at all.
fn plain_http() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    aws_smithy_http_client::Builder::new().build_http()
}

/// Builds the clients and checks that a region and credentials exist, without sending a request.
pub async fn clients(options: &AwsOptions) -> Result<Clients, AwsConfigError> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(profile) = &options.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(region) = &options.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some((key, secret)) = &options.static_credentials {
        loader = loader
            .credentials_provider(aws_credential_types::Credentials::new(key, secret, None, None, "static"));
    }
    let mut timeouts =
        TimeoutConfig::builder().connect_timeout(options.connect_timeout.unwrap_or(Duration::from_secs(3)));
    timeouts = timeouts.read_timeout(options.read_timeout.unwrap_or(Duration::from_secs(30)));
    let shared = loader
        .retry_config(RetryConfig::disabled())
        .timeout_config(timeouts.build())
        .http_client(aws_smithy_runtime_api::client::http::SharedHttpClient::new(LazyHttps::default()))
        .load()
        .await;
    if shared.region().is_none() {
        // A profile that does not exist explains the missing region too: say that first.
        let named =
            options.profile.clone().or_else(|| std::env::var("AWS_PROFILE").ok().filter(|p| !p.is_empty()));
        if let Some(profile) = named
            && !profile_defined(&profile, &shared_files())
        {
            let missing = std::io::Error::other(format!("profile `{profile}` is not defined"));
            return Err(credentials_error(options, &missing));
        }
        return Err(AwsConfigError::NoRegion);
    }
    let Some(provider) = shared.credentials_provider() else {
        let none = std::io::Error::other("no credentials provider is configured");
        return Err(credentials_error(options, &none));
    };
    if let Err(error) = provider.provide_credentials().await {
        return Err(credentials_error(options, &error));
    }
    let mut codepipeline = aws_sdk_codepipeline::config::Builder::from(&shared);
    if let Some(url) = options.endpoint(Service::CodePipeline) {
        codepipeline = codepipeline.endpoint_url(url);
        if url.starts_with("http://") {
            codepipeline = codepipeline.http_client(plain_http());
        }
    }
    let mut partner = aws_sdk_partnercentralselling::config::Builder::from(&shared);
    if let Some(url) = options.endpoint(Service::PartnerCentralSelling) {
        partner = partner.endpoint_url(url);
        if url.starts_with("http://") {
            partner = partner.http_client(plain_http());
        }
    }
    // The profile's credentials never reach S3: artifact calls carry the job's own.
    let mut s3 = aws_sdk_s3::config::Builder::from(&shared).credentials_provider(
        aws_credential_types::Credentials::new("", "", None, None, "no credentials: use the job's"),
    );
    if let Some(url) = options.endpoint(Service::S3) {
        // An endpoint of our own (the emulator, a VPC endpoint by IP) has no bucket subdomains.
        s3 = s3.endpoint_url(url).force_path_style(true);
        if url.starts_with("http://") {
            s3 = s3.http_client(plain_http());
        }
    }
    let region = shared.region().map(|r| r.to_string()).unwrap_or_default();
    let endpoints = Service::ALL
        .into_iter()
        .map(|service| {
            let endpoint = match options.endpoint(service) {
                Some(url) => (url.to_string(), true),
                None => (default_endpoint(service, &region), false),
            };
            (service, endpoint)
        })
        .collect();
    Ok(Clients {
        codepipeline: aws_sdk_codepipeline::Client::from_conf(codepipeline.build()),
        partner: aws_sdk_partnercentralselling::Client::from_conf(partner.build()),
        s3: s3.build(),
        endpoints,
    })
}

/// AWS's endpoint for `service` in `region`, as the SDKs resolve it for the standard
/// partition (for messages; the SDK does the resolving).
pub fn default_endpoint(service: Service, region: &str) -> String {
    match service {
        Service::CodePipeline => format!("https://codepipeline.{region}.amazonaws.com"),
        Service::PartnerCentralSelling => format!("https://partnercentral-selling.{region}.api.aws"),
        Service::S3 => format!("https://s3.{region}.amazonaws.com"),
    }
}
