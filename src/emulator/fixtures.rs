//! The emulator's starting state: jobs and invitations from a fixtures file (YAML or JSON),
//! or generated (`--generate jobs=N,invitations=M`), with a seeded generator so the same
//! seed gives the same ids.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono::{Duration as ChronoDuration, Utc};
use rand::Rng;
use rand::rngs::StdRng;
use serde::Deserialize;

use super::artifacts;
use super::codepipeline::{ActionTypeId, ArtifactCredentials, ArtifactLocation, Job, JobStatus};
use super::partnercentral::{Invitation, InvitationStatus};

/// The state a fixtures file describes. Every list is optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Fixtures {
    /// The partner action's clientId/clientToken pair used by jobs that name none.
    #[serde(default)]
    pub client: Option<ClientPair>,
    #[serde(default)]
    pub action_types: Vec<ActionTypeId>,
    #[serde(default)]
    pub jobs: Vec<JobFixture>,
    #[serde(default)]
    pub invitations: Vec<InvitationFixture>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ClientPair {
    pub id: String,
    pub token: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct JobFixture {
    pub id: Option<String>,
    pub nonce: Option<String>,
    /// Defaults to the first of `action-types`.
    pub action_type: Option<ActionTypeId>,
    pub client: Option<ClientPair>,
    /// The action's configuration, as the job's details show it (`Mode: fail`, say).
    #[serde(default)]
    pub configuration: BTreeMap<String, String>,
    pub pipeline: Option<String>,
    /// A file whose bytes are the job's input artifact (relative to the fixtures file);
    /// by default a small generated zip (see `artifacts::input_archive`).
    pub input_archive: Option<PathBuf>,
    /// The artifact store's KMS key id the job's outputs must be written with.
    pub encryption_key: Option<String>,
    /// Generated jobs only: how long after the emulator starts the job is queued.
    #[serde(skip)]
    pub arrives_after: Option<std::time::Duration>,
}

/// A job as built, with its input artifact's bytes.
#[derive(Debug)]
pub struct BuiltJob {
    pub job: Job,
    pub input: Vec<u8>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct InvitationFixture {
    pub id: Option<String>,
    /// PENDING (the default), ACCEPTED, EXPIRED or REJECTED.
    pub status: Option<String>,
    pub catalog: Option<String>,
    pub title: Option<String>,
    pub sender: Option<String>,
    pub company: Option<String>,
    pub payload_type: Option<String>,
    /// When it was sent, in days before now (default: a minute apart, in list order).
    pub invited_days_ago: Option<f64>,
    /// When it expires, in days from now (negative: in the past).
    pub expires_in_days: Option<f64>,
    /// The customer's company name and expected monthly spend (USD) in its payload.
    pub customer: Option<String>,
    pub spend: Option<u64>,
}

const INDUSTRIES: [&str; 10] = [
    "Software and Internet",
    "Financial Services",
    "Healthcare",
    "Retail",
    "Manufacturing",
    "Media and Entertainment",
    "Education",
    "Government",
    "Telecommunications",
    "Automotive",
];
const COUNTRIES: [&str; 8] = ["US", "DE", "JP", "BR", "IN", "GB", "FR", "AU"];
const CUSTOMERS: [&str; 12] = [
    "Northwind Traders",
    "Contoso Health",
    "Fabrikam Motors",
    "Tailspin Toys",
    "Wide World Importers",
    "Adventure Works",
    "Litware Labs",
    "Proseware Bank",
    "Woodgrove Retail",
    "Alpine Ski House",
    "Blue Yonder Airlines",
    "Coho Vineyard",
];
const SPENDS: [u64; 5] = [500, 2500, 8000, 20000, 60000];

/// The `Payload` GetEngagementInvitation answers for the `i`th invitation: an opportunity
/// (customer, project, expected spend, the AWS contact) or a lead (customer, the interaction
/// it came from). Chosen from `i`, so ids drawn from the seeded generator stay the same.
fn payload(i: usize, fixture: &InvitationFixture, payload_type: &str, title: &str) -> serde_json::Value {
    use serde_json::json;
    let company = fixture.customer.clone().unwrap_or_else(|| match i / CUSTOMERS.len() {
        0 => CUSTOMERS[i % CUSTOMERS.len()].to_string(),
        n => format!("{} {}", CUSTOMERS[i % CUSTOMERS.len()], n + 1),
    });
    let website = format!("https://www.{}.example", company.to_lowercase().replace(' ', "-"));
    let (industry, country) = (INDUSTRIES[(i * 3) % INDUSTRIES.len()], COUNTRIES[(i * 5) % COUNTRIES.len()]);
    let spend = fixture.spend.unwrap_or(SPENDS[(i * 7) % SPENDS.len()]);
    if payload_type == "LeadInvitation" {
        return json!({"LeadInvitation": {
            "Customer": {"Industry": industry, "CompanyName": company, "WebsiteUrl": website,
                         "CountryCode": country, "AwsMaturity": "Intermediate",
                         "MarketSegment": (["Enterprise", "Large", "Medium", "Small"][i % 4])},
            "Interaction": {"SourceType": "Event", "SourceId": format!("evt-{i:05}"), "SourceName": "AWS Summit",
                            "Usecase": "Migration", "ContactBusinessTitle": "CTO"},
        }});
    }
    json!({"OpportunityInvitation": {
        "SenderContacts": [{"Email": format!("pdm{}@amazon.example", i % 17), "FirstName": "Sam",
                            "LastName": (["Rivera", "Chen", "Okafor", "Müller"][i % 4]),
                            "BusinessTitle": "Partner Development Manager"}],
        "ReceiverResponsibilities": ["Co-Sell Facilitator"],
        "Customer": {"Industry": industry, "CompanyName": company, "WebsiteUrl": website, "CountryCode": country},
        "Project": {"BusinessProblem": format!("{company} wants to move its workloads to AWS."),
                    "Title": title, "TargetCompletionDate": "2027-06-30",
                    "ExpectedCustomerSpend": [{"Amount": spend.to_string(), "CurrencyCode": "USD",
                                               "Frequency": "Monthly", "TargetCompany": "AWS"}]},
    }})
}

/// `--generate jobs=N,invitations=M,failing=P%,expired=P%,accepted=P%,rejected=P%,arrive=DURATION`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Generate {
    pub jobs: usize,
    pub invitations: usize,
    /// Shares (0-1) of generated jobs whose configuration says `Mode: fail`.
    pub failing: f64,
    pub expired: f64,
    pub accepted: f64,
    pub rejected: f64,
    /// Generated jobs arrive one every this long (the first at once) instead of all at the
    /// start: a worker finds work throughout a long run.
    pub arrive: Option<std::time::Duration>,
}

impl FromStr for Generate {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut generate = Generate::default();
        for part in text.split(',').filter(|p| !p.is_empty()) {
            let (name, value) = part.split_once('=').ok_or_else(|| format!("`{part}` is not NAME=VALUE"))?;
            let share = || -> Result<f64, String> {
                let number =
                    value.strip_suffix('%').ok_or_else(|| format!("`{value}` is not a percentage"))?;
                let p: f64 = number.parse().map_err(|_| format!("`{value}` is not a percentage"))?;
                if !(0.0..=100.0).contains(&p) {
                    return Err(format!("`{value}` is not from 0% to 100%"));
                }
                Ok(p / 100.0)
            };
            let count = || value.parse::<usize>().map_err(|_| format!("`{value}` is not a whole number"));
            match name {
                "jobs" => generate.jobs = count()?,
                "invitations" => generate.invitations = count()?,
                "failing" => generate.failing = share()?,
                "expired" => generate.expired = share()?,
                "accepted" => generate.accepted = share()?,
                "rejected" => generate.rejected = share()?,
                "arrive" => {
                    let every = humantime::parse_duration(value)
                        .map_err(|_| format!("arrive: `{value}` is not a duration (500ms, 2s)"))?;
                    generate.arrive = Some(every);
                }
                other => {
                    return Err(format!(
                        "unknown `{other}`: use jobs, invitations, failing, expired, accepted, rejected or arrive"
                    ));
                }
            }
        }
        if generate.expired + generate.accepted + generate.rejected > 1.0 {
            return Err("expired, accepted and rejected add up to more than 100%".into());
        }
        Ok(generate)
    }
}

/// The client pair of generated jobs and of fixtures that name none.
pub const DEFAULT_CLIENT_ID: &str = "0c6ab1b2-8f4e-4d57-9a3f-5e1d2c3b4a59";
pub const DEFAULT_CLIENT_TOKEN: &str = "handoff-emulator-client-token";

pub fn default_action_type() -> ActionTypeId {
    ActionTypeId {
        category: "Deploy".into(),
        owner: "ThirdParty".into(),
        provider: "AcmeDeploy".into(),
        version: "1".into(),
    }
}

impl Fixtures {
    pub fn load(path: &Path) -> Result<Self, String> {
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let doc = crate::yaml::parse(&text).map_err(|errors| {
            let first = &errors[0];
            let at = first.span().start;
            format!("{}:{}:{}: {first}", path.display(), at.line, at.col)
        })?;
        let mut fixtures: Fixtures = serde_path_to_error::deserialize(doc.to_json())
            .map_err(|e| format!("{}: at {}: {}", path.display(), e.path(), e.inner()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        for job in &mut fixtures.jobs {
            if let Some(archive) = &mut job.input_archive {
                *archive = base.join(&*archive);
            }
        }
        Ok(fixtures)
    }

    /// Adds generated jobs and invitations.
    pub fn generate(&mut self, generate: Generate, rng: &mut StdRng) {
        for i in 0..generate.jobs {
            let failing = (i as f64) < generate.failing * generate.jobs as f64;
            let mut configuration = BTreeMap::new();
            configuration.insert("Mode".to_string(), if failing { "fail" } else { "deploy" }.to_string());
            configuration.insert("Target".to_string(), format!("service-{i}"));
            self.jobs.push(JobFixture {
                configuration,
                pipeline: Some(format!("pipeline-{}", i % 7)),
                // Half the pipelines keep their artifacts under a customer-managed KMS key.
                encryption_key: (i % 2 == 1)
                    .then(|| format!("arn:aws:kms:us-east-1:123456789012:key/{}", uuid(rng))),
                arrives_after: generate.arrive.map(|every| every.saturating_mul(i as u32)),
                ..JobFixture::default()
            });
        }
        let n = generate.invitations as f64;
        for i in 0..generate.invitations {
            let x = i as f64;
            let status = if x < generate.expired * n {
                "EXPIRED"
            } else if x < (generate.expired + generate.accepted) * n {
                "ACCEPTED"
            } else if x < (generate.expired + generate.accepted + generate.rejected) * n {
                "REJECTED"
            } else {
                "PENDING"
            };
            // Sent over the last 45 days, in list order; a third are leads; pending ones expire
            // within a month, some within days; expired ones expired in the last ten days.
            let invited_days_ago = 45.0 * (n - x) / n.max(1.0);
            let expires_in_days = if status == "EXPIRED" {
                -((i % 10) as f64 + 1.0).min(invited_days_ago / 2.0)
            } else {
                ((i * 7) % 30) as f64 + 0.5
            };
            let lead = i % 3 == 2;
            self.invitations.push(InvitationFixture {
                status: Some(status.into()),
                title: Some(format!("{} {}", if lead { "Lead" } else { "Opportunity" }, i + 1)),
                sender: Some(format!("{:012}", 100_000_000_000u64 + rng.random_range(0..899_999_999_999u64))),
                payload_type: Some(if lead { "LeadInvitation" } else { "OpportunityInvitation" }.into()),
                invited_days_ago: Some(invited_days_ago),
                expires_in_days: Some(expires_in_days),
                ..InvitationFixture::default()
            });
        }
    }

    /// Builds jobs (with their input artifacts in `bucket`) and invitations; generated ids
    /// come from `rng`.
    pub fn build(
        &self,
        account: &str,
        bucket: &str,
        rng: &mut StdRng,
    ) -> Result<(Vec<BuiltJob>, Vec<Invitation>), String> {
        let default_client = self
            .client
            .clone()
            .unwrap_or(ClientPair { id: DEFAULT_CLIENT_ID.into(), token: DEFAULT_CLIENT_TOKEN.into() });
        let default_action = self.action_types.first().cloned().unwrap_or_else(default_action_type);
        let mut jobs = Vec::with_capacity(self.jobs.len());
        for fixture in &self.jobs {
            let client = fixture.client.clone().unwrap_or_else(|| default_client.clone());
            let id = fixture.id.clone().unwrap_or_else(|| uuid(rng));
            let pipeline_name = fixture.pipeline.clone().unwrap_or_else(|| "pipeline".into());
            // CodePipeline's key layout: the pipeline's name and the artifact's, both cut
            // short, then a random name.
            let object_key = |artifact: &str, rng: &mut StdRng| {
                let short = |text: &str, n: usize| text.chars().take(n).collect::<String>();
                format!("{}/{}/{}", short(&pipeline_name, 20), short(artifact, 10), alnum(rng, 7))
            };
            let revision: String =
                (0..40).map(|_| char::from_digit(rng.random_range(0..16), 16).unwrap_or('0')).collect();
            let input_location = ArtifactLocation {
                name: "SourceArtifact".into(),
                bucket: bucket.into(),
                key: object_key("SourceArtifact", rng),
                revision: Some(revision),
            };
            let output_location = ArtifactLocation {
                name: "OutputArtifact".into(),
                bucket: bucket.into(),
                key: object_key("OutputArtifact", rng),
                revision: None,
            };
            let job = Job {
                execution_id: uuid(rng),
                id,
                client_id: client.id,
                client_token: client.token,
                nonce: fixture
                    .nonce
                    .clone()
                    .unwrap_or_else(|| rng.random_range(100_000u64..999_999_999).to_string()),
                action_type: fixture.action_type.clone().unwrap_or_else(|| default_action.clone()),
                status: JobStatus::Queued,
                configuration: fixture.configuration.clone(),
                pipeline_name,
                continuation_token: None,
                input: input_location,
                output: output_location,
                encryption_key: fixture.encryption_key.clone(),
                artifact_credentials: new_credentials(rng),
                acknowledged_at: None,
                arrives_at: fixture.arrives_after.map(|after| std::time::Instant::now() + after),
                result: None,
            };
            let input = match &fixture.input_archive {
                Some(path) => std::fs::read(path)
                    .map_err(|e| format!("job {}: cannot read {}: {e}", job.id, path.display()))?,
                None => artifacts::input_archive(&job),
            };
            jobs.push(BuiltJob { job, input });
        }
        let now = Utc::now();
        let mut invitations = Vec::with_capacity(self.invitations.len());
        for (i, fixture) in self.invitations.iter().enumerate() {
            let status_text = fixture.status.as_deref().unwrap_or("PENDING");
            let status = InvitationStatus::parse(status_text).ok_or_else(|| {
                format!("invitation {}: `{status_text}` is not PENDING, ACCEPTED, EXPIRED or REJECTED", i + 1)
            })?;
            let days = |d: f64| ChronoDuration::seconds((d * 86_400.0) as i64);
            let invited_at = match fixture.invited_days_ago {
                Some(ago) => now - days(ago),
                None => now - ChronoDuration::minutes((self.invitations.len() - i) as i64),
            };
            let expires_at = match (fixture.expires_in_days, status) {
                (Some(until), _) => now + days(until),
                (None, InvitationStatus::Expired) => invited_at - ChronoDuration::days(1),
                (None, _) => invited_at + ChronoDuration::days(15),
            };
            let title = fixture.title.clone().unwrap_or_else(|| format!("Opportunity {}", i + 1));
            let payload_type = fixture.payload_type.clone().unwrap_or_else(|| "OpportunityInvitation".into());
            if !["OpportunityInvitation", "LeadInvitation"].contains(&payload_type.as_str()) {
                return Err(format!(
                    "invitation {}: `{payload_type}` is not OpportunityInvitation or LeadInvitation",
                    i + 1
                ));
            }
            invitations.push(Invitation {
                id: fixture.id.clone().unwrap_or_else(|| format!("engi-{}", alnum(rng, 13))),
                catalog: fixture.catalog.clone().unwrap_or_else(|| "AWS".into()),
                status,
                engagement_id: format!("eng-{}", alnum(rng, 14)),
                payload: payload(i, fixture, &payload_type, &title),
                title,
                invited_at,
                expires_at,
                sender_account: fixture.sender.clone().unwrap_or_else(|| "999999999999".into()),
                sender_company: fixture.company.clone().unwrap_or_else(|| "Amazon Web Services".into()),
                payload_type,
                account: account.to_string(),
                rejection_reason: None,
            });
        }
        Ok((jobs, invitations))
    }
}

/// Temporary credentials as STS makes them: an `ASIA` key, a secret and a session token.
pub fn new_credentials(rng: &mut StdRng) -> ArtifactCredentials {
    ArtifactCredentials {
        access_key_id: format!("ASIA{}", alnum(rng, 16).to_uppercase()),
        secret_access_key: alnum(rng, 40),
        session_token: alnum(rng, 64),
        issued: None,
    }
}

/// Lowercase letters and digits, as AWS ids use.
pub fn alnum(rng: &mut StdRng, n: usize) -> String {
    const CHARS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    (0..n).map(|_| CHARS[rng.random_range(0..CHARS.len())] as char).collect()
}

pub fn uuid(rng: &mut StdRng) -> String {
    let hex: String = (0..32).map(|_| char::from_digit(rng.random_range(0..16), 16).unwrap_or('0')).collect();
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

#[cfg(test)]
mod tests {
    use super::{Fixtures, Generate};
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn generation_mixes_statuses_by_share_and_repeats_by_seed() {
        let generate: Generate =
            "jobs=10,invitations=100,failing=20%,expired=10%,accepted=10%".parse().unwrap();
        let build = |seed| {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut fixtures = Fixtures::default();
            fixtures.generate(generate, &mut rng);
            fixtures.build("123456789012", "bucket", &mut rng).unwrap()
        };
        let (jobs, invitations) = build(1);
        assert_eq!(jobs.len(), 10);
        assert_eq!(jobs.iter().filter(|j| j.job.configuration["Mode"] == "fail").count(), 2);
        assert_eq!(jobs.iter().filter(|j| j.job.encryption_key.is_some()).count(), 5);
        let expired = invitations.iter().filter(|i| i.status.name() == "EXPIRED").count();
        assert_eq!(expired, 10);
        let ids: Vec<_> = invitations.iter().map(|i| i.id.clone()).collect();
        assert_eq!(ids, build(1).1.iter().map(|i| i.id.clone()).collect::<Vec<_>>());
        assert!(ids.iter().all(|id| id.len() == 18 && id.starts_with("engi-")));
    }
}
