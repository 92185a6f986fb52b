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
    #[error("no AWS credentials were found{}: {reason}", profile.as_ref().map(|p| format!(" for profile `{p}`")).unwrap_or_default())]
    NoCredentials { profile: Option<String>, reason: String },
}

/// One client per service, sharing one configuration.
#[derive(Debug, Clone)]
pub struct Clients {
    pub codepipeline: aws_sdk_codepipeline::Client,
    pub partner: aws_sdk_partnercentralselling::Client,
    /// S3's configuration without credentials: artifacts are read and written with each
    /// job's own temporary credentials ([`Clients::s3_for_job`]), never the profile's.
    s3: aws_sdk_s3::Config,
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
        }
    }

    /// An S3 client that signs with a job's artifact credentials.
    pub fn s3_for_job(&self, credentials: aws_credential_types::Credentials) -> aws_sdk_s3::Client {
        let config = self.s3.to_builder().credentials_provider(credentials).build();
        aws_sdk_s3::Client::from_conf(config)
    }
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
    let shared = loader.retry_config(RetryConfig::disabled()).timeout_config(timeouts.build()).load().await;
    if shared.region().is_none() {
        return Err(AwsConfigError::NoRegion);
    }
    let provider = shared.credentials_provider().ok_or_else(|| AwsConfigError::NoCredentials {
        profile: options.profile.clone(),
        reason: "no credentials provider is configured".into(),
    })?;
    if let Err(error) = provider.provide_credentials().await {
        return Err(AwsConfigError::NoCredentials {
            profile: options.profile.clone(),
            reason: aws_smithy_types::error::display::DisplayErrorContext(&error).to_string(),
        });
    }
    let mut codepipeline = aws_sdk_codepipeline::config::Builder::from(&shared);
    if let Some(url) = options.endpoint(Service::CodePipeline) {
        codepipeline = codepipeline.endpoint_url(url);
    }
    let mut partner = aws_sdk_partnercentralselling::config::Builder::from(&shared);
    if let Some(url) = options.endpoint(Service::PartnerCentralSelling) {
        partner = partner.endpoint_url(url);
    }
    // The profile's credentials never reach S3: artifact calls carry the job's own.
    let mut s3 = aws_sdk_s3::config::Builder::from(&shared).credentials_provider(
        aws_credential_types::Credentials::new("", "", None, None, "no credentials: use the job's"),
    );
    if let Some(url) = options.endpoint(Service::S3) {
        // An endpoint of our own (the emulator, a VPC endpoint by IP) has no bucket subdomains.
        s3 = s3.endpoint_url(url).force_path_style(true);
    }
    Ok(Clients {
        codepipeline: aws_sdk_codepipeline::Client::from_conf(codepipeline.build()),
        partner: aws_sdk_partnercentralselling::Client::from_conf(partner.build()),
        s3: s3.build(),
    })
}
