//! The typed playbook: what a YAML file means once it has passed the schema.
//!
//! Loading goes `text -> yaml::Node (spanned) -> schema-checked JSON -> Playbook` (see
//! [`load`]). Strings that may hold templates are [`Text`]; they are rendered by the engine,
//! never here. Positions are not stored in these types: every error names a [`Pointer`]
//! into the document, and the spanned tree turns it into `file:line:col`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use serde_json::Value;

use crate::actions::Action;

mod load;
mod pointer;
mod units;

pub use load::{LoadError, Loaded, MAX_FILE_SIZE, load_file, load_source, source_from_bytes};
pub use pointer::Pointer;
pub use units::{DurationSpec, FailureBudget, Limit, Rate};

/// A string from the playbook. It may hold a template (`{{ ... }}`), rendered at run time.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Text(pub String);

impl Text {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_template(&self) -> bool {
        is_template(&self.0)
    }
}

/// Whether a string holds template syntax (an expression or a statement).
pub fn is_template(text: &str) -> bool {
    text.contains("{{") || text.contains("{%")
}

/// A number written literally or as a template that renders to one.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Number {
    Literal(i64),
    Template(Text),
}

/// A list written literally or as a template that renders to one.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum TextList<T> {
    Items(Vec<T>),
    Template(Text),
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Playbook {
    pub version: u32,
    pub name: String,
    pub description: Option<String>,
    #[serde(default)]
    pub aws: AwsSettings,
    #[serde(default)]
    pub vars: BTreeMap<String, VarSource>,
    #[serde(default)]
    pub secrets: BTreeMap<String, SecretSource>,
    #[serde(default)]
    pub defaults: Defaults,
    #[serde(default)]
    pub rate_limits: RateLimits,
    pub steps: Vec<Step>,
}

impl Playbook {
    /// The AWS services the playbook's steps call (none, for a playbook of `exec` steps).
    pub fn services(&self) -> std::collections::BTreeSet<crate::actions::Service> {
        self.steps.iter().filter_map(|step| step.action.kind().service()).collect()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct AwsSettings {
    pub region: Option<String>,
    pub profile: Option<String>,
    #[serde(default)]
    pub endpoints: Endpoints,
    #[serde(default)]
    pub timeouts: Timeouts,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Endpoints {
    pub codepipeline: Option<String>,
    pub partnercentral_selling: Option<String>,
    pub s3: Option<String>,
}

impl Endpoints {
    pub fn get(&self, service: crate::actions::Service) -> Option<&String> {
        use crate::actions::Service;
        match service {
            Service::CodePipeline => self.codepipeline.as_ref(),
            Service::PartnerCentralSelling => self.partnercentral_selling.as_ref(),
            Service::S3 => self.s3.as_ref(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Timeouts {
    pub connect: Option<DurationSpec>,
    pub read: Option<DurationSpec>,
}

/// A var's value: inline data, or a file loaded when the run starts.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum VarSource {
    File { file: PathBuf },
    Inline(Value),
}

/// Where a secret's value comes from; the value itself is never in the playbook.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SecretSource {
    Env(String),
    File(PathBuf),
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Defaults {
    pub retry: Option<RetrySpec>,
    pub timeout: Option<DurationSpec>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct RateLimits {
    /// A ceiling on every call to the service, never adapted.
    pub codepipeline: Option<Limit>,
    pub partnercentral_selling: Option<Limit>,
    pub s3: Option<Limit>,
    /// Per quota group (`partnercentral-selling-writes`) and per action (`accept-invitation`):
    /// each replaces the documented quota for what it names.
    #[serde(flatten)]
    pub named: BTreeMap<String, Limit>,
}

impl RateLimits {
    /// The ceiling on every call to `service`, if the playbook sets one.
    pub fn ceiling(&self, service: crate::actions::Service) -> Option<Limit> {
        use crate::actions::Service;
        match service {
            Service::CodePipeline => self.codepipeline,
            Service::PartnerCentralSelling => self.partnercentral_selling,
            Service::S3 => self.s3,
        }
    }
}

/// Retry settings as written; unset fields fall back to `defaults.retry`, then to built-ins.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct RetrySpec {
    pub max_attempts: Option<u32>,
    pub initial_delay: Option<DurationSpec>,
    pub max_delay: Option<DurationSpec>,
    pub multiplier: Option<f64>,
    pub jitter: Option<Jitter>,
    pub on: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Jitter {
    Full,
    None,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Step {
    pub id: String,
    pub name: Option<Text>,
    pub when: Option<Text>,
    pub for_each: Option<ForEach>,
    pub concurrency: Option<u32>,
    pub max_failures: Option<FailureBudget>,
    pub on_failure: Option<OnFailure>,
    pub retry: Option<RetrySpec>,
    pub timeout: Option<DurationSpec>,
    #[serde(flatten)]
    pub action: Action,
}

/// What a `for-each` iterates over.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum ForEach {
    List(Vec<Value>),
    Template(Text),
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnFailure {
    #[default]
    Abort,
    Continue,
    /// Go on, and do not count the step's failures against the run: a later step handles
    /// them (Ansible's `ignore_errors`).
    Ignore,
}
