//! Which rate limits a run's calls wait for, and where each came from.
//!
//! Every action waits for two limiters: its adaptive one (`call::RateLimiter`, which finds
//! the rate the service grants) and its service's fixed ceiling (`rate-limits.<service>`, if
//! any). The adaptive one starts from, in order: the playbook's limit for the action, its
//! limit for the action's quota group, the quota AWS documents for the group (shared by all
//! the group's actions, as the account's quota is), and otherwise nothing (slow start).
//!
//! With a state directory, every limiter of a quota group also takes its turns from the
//! group's schedule shared by the host's handoff processes (`call::HostQuota`), so that two
//! runs on one machine never throttle each other.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::actions::{ActionKind, QuotaGroup, Service};
use crate::call::{HostQuota, RateLimiter};
use crate::playbook::{Limit, Playbook};

/// The rate limiters of a run.
#[derive(Debug)]
pub struct Limiters {
    services: BTreeMap<Service, Arc<RateLimiter>>,
    actions: BTreeMap<ActionKind, (Arc<RateLimiter>, LimitSource)>,
    /// What an action that calls no service (`exec`) waits for: nothing.
    unlimited: Arc<RateLimiter>,
}

/// Where the limit an action starts at came from.
#[derive(Debug, Clone, PartialEq)]
pub enum LimitSource {
    /// `rate-limits.<action>`.
    Action(ActionKind, Limit),
    /// `rate-limits.<group>`.
    Group(QuotaGroup, Limit),
    /// The quota AWS documents for the group, calls per second.
    Documented(QuotaGroup, f64),
    /// AWS documents no rate quota for the action; `rate-limits.<service>` may cap it.
    Undocumented(Service, Option<Limit>),
    /// Not an AWS call.
    Local,
}

impl fmt::Display for LimitSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LimitSource::Action(kind, limit) => write!(f, "{limit}, from rate-limits.{kind}"),
            LimitSource::Group(group, limit) => {
                write!(f, "{limit}, shared by {group}, from rate-limits.{group}")
            }
            LimitSource::Documented(group, rate) => write!(
                f,
                "{rate}/s, shared by {group}: the quota AWS documents (rate-limits.{group} changes it)"
            ),
            LimitSource::Undocumented(service, Some(limit)) => {
                write!(f, "{limit}, from rate-limits.{service} (AWS documents no rate quota for it)")
            }
            LimitSource::Undocumented(_, None) => {
                f.write_str("none: AWS documents no rate quota for it; slows down when throttled")
            }
            LimitSource::Local => f.write_str("none: not an AWS call"),
        }
    }
}

impl LimitSource {
    /// The starting limit in calls per second (`None`: none known, or not an AWS call).
    pub fn per_second(&self) -> Option<f64> {
        match self {
            LimitSource::Action(_, limit) | LimitSource::Group(_, limit) => limit.per_second(),
            LimitSource::Undocumented(_, limit) => limit.and_then(|l| l.per_second()),
            LimitSource::Documented(_, rate) => Some(*rate),
            LimitSource::Local => None,
        }
    }
}

/// Where the host's handoff processes share their quota schedules: a directory, and what
/// tells one account from another (region, endpoint, profile, access key id).
#[derive(Debug, Clone)]
pub struct HostShare {
    pub dir: std::path::PathBuf,
    pub scope: String,
}

impl Limiters {
    /// The limiters of a run, from the playbook's `rate-limits` and the documented quotas.
    pub fn new(playbook: &Playbook) -> Self {
        Self::build(playbook, None)
    }

    /// The same, taking each quota group's turns from a schedule the host's processes share.
    pub fn shared(playbook: &Playbook, host: &HostShare) -> Self {
        Self::build(playbook, Some(host))
    }

    fn build(playbook: &Playbook, host: Option<&HostShare>) -> Self {
        // One schedule file per group the playbook calls and account scope; one that cannot
        // be opened leaves the group to this process's own pacing.
        let used: Vec<QuotaGroup> =
            playbook.steps.iter().filter_map(|step| step.action.kind().spec().quota).collect();
        let schedules: BTreeMap<QuotaGroup, Arc<HostQuota>> = host
            .into_iter()
            .flat_map(|host| {
                let scope = short_hash(&host.scope);
                let used = used.clone();
                QuotaGroup::ALL.into_iter().filter(move |group| used.contains(group)).filter_map(
                    move |group| {
                        let name = format!("{}-{scope}", group.name());
                        HostQuota::open(&host.dir, &name).ok().map(|quota| (group, Arc::new(quota)))
                    },
                )
            })
            .collect();
        let on_host =
            |limiter: RateLimiter, group: Option<QuotaGroup>| match group.and_then(|g| schedules.get(&g)) {
                Some(schedule) => limiter.shared_on_host(schedule.clone()),
                None => limiter,
            };
        let limits = &playbook.rate_limits;
        let ceiling = |service: Service| limits.ceiling(service);
        let services = Service::ALL
            .into_iter()
            .map(|s| (s, Arc::new(RateLimiter::fixed(ceiling(s).and_then(Limit::per_second)))))
            .collect();
        // One limiter per group: the group's actions share the account's quota.
        let groups: BTreeMap<QuotaGroup, (Arc<RateLimiter>, LimitSource)> = QuotaGroup::ALL
            .into_iter()
            .map(|group| {
                let source = match limits.named.get(group.name()) {
                    Some(limit) => LimitSource::Group(group, *limit),
                    None => LimitSource::Documented(group, group.documented().0),
                };
                let rate = match &source {
                    LimitSource::Group(_, limit) => limit.per_second(),
                    _ => Some(group.documented().0),
                };
                (group, (Arc::new(on_host(RateLimiter::new(rate), Some(group))), source))
            })
            .collect();
        let actions = ActionKind::ALL
            .iter()
            .map(|&kind| {
                let limiter = match (limits.named.get(kind.name()), kind.spec().quota, kind.service()) {
                    (Some(limit), group, _) => (
                        Arc::new(on_host(RateLimiter::new(limit.per_second()), group)),
                        LimitSource::Action(kind, *limit),
                    ),
                    (None, Some(group), _) => groups[&group].clone(),
                    (None, None, Some(service)) => {
                        let cap = ceiling(service);
                        (
                            Arc::new(RateLimiter::new(cap.and_then(Limit::per_second))),
                            LimitSource::Undocumented(service, cap),
                        )
                    }
                    (None, None, None) => (Arc::new(RateLimiter::fixed(None)), LimitSource::Local),
                };
                (kind, limiter)
            })
            .collect();
        Self { services, actions, unlimited: Arc::new(RateLimiter::fixed(None)) }
    }

    /// The action's adaptive limiter, then its service's ceiling.
    pub fn of(&self, kind: ActionKind) -> [Arc<RateLimiter>; 2] {
        let service = kind.service().map_or(&self.unlimited, |s| &self.services[&s]);
        [self.actions[&kind].0.clone(), service.clone()]
    }

    /// Where the action's starting limit came from, for `--dry-run` and the step's first line.
    pub fn source(&self, kind: ActionKind) -> &LimitSource {
        &self.actions[&kind].1
    }

    /// How many other handoff processes of the host took turns from the action's quota
    /// schedule in the last minute (`None`: its quota is not shared on the host).
    pub fn shared_with(&self, kind: ActionKind) -> Option<usize> {
        self.actions[&kind].0.host().and_then(|host| host.others().ok())
    }
}

/// Eight hex digits of a SHA-256: enough to keep accounts apart in a file name, and no
/// profile name or key id in it.
fn short_hash(text: &str) -> String {
    use sha2::Digest;
    hex::encode(&sha2::Sha256::digest(text.as_bytes())[..4])
}

#[cfg(test)]
mod tests {
    use super::{LimitSource, Limiters};
    use crate::actions::{ActionKind, QuotaGroup};
    use crate::playbook::{Limit, Rate};

    fn playbook(rate_limits: &str) -> crate::playbook::Playbook {
        let text = format!(
            "version: 1\nname: p\nrate-limits: {rate_limits}\nsteps:\n  - id: a\n    list-invitations: {{catalog: AWS}}\n"
        );
        let source = crate::source::SourceFile::new("p.yaml", text);
        crate::playbook::load_source(&source).map_err(|e| format!("{e:?}")).expect("valid").playbook
    }

    #[test]
    fn a_shared_state_directory_gives_the_groups_the_playbook_calls_a_host_schedule() {
        let text = "version: 1\nname: p\nsteps:\n  - id: a\n    for-each: [x]\n    accept-invitation: \
                    {catalog: AWS, identifier: \"{{ item }}\"}\n";
        let source = crate::source::SourceFile::new("p.yaml", text.to_string());
        let playbook =
            crate::playbook::load_source(&source).map_err(|e| format!("{e:?}")).expect("valid").playbook;
        let dir = tempfile::tempdir().unwrap();
        let host = super::HostShare { dir: dir.path().join("quotas"), scope: "us-east-1|AKIA".into() };
        let limiters = Limiters::shared(&playbook, &host);
        assert!(limiters.of(ActionKind::AcceptInvitation)[0].host().is_some());
        assert_eq!(limiters.shared_with(ActionKind::AcceptInvitation), Some(0), "alone on the host");
        assert!(limiters.of(ActionKind::ListInvitations)[0].host().is_none(), "the reads are not called");
        assert_eq!(limiters.shared_with(ActionKind::Exec), None);
        let files: Vec<String> = std::fs::read_dir(dir.path().join("quotas"))
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(files.len(), 1, "{files:?}");
        assert!(files[0].starts_with("partnercentral-selling-writes-"), "{files:?}");
        assert!(!files[0].contains("AKIA"), "no key id in a file name: {files:?}");
    }

    #[test]
    fn documented_quotas_unless_the_playbook_names_the_action_or_its_group() {
        let limiters = Limiters::new(&playbook("{}"));
        assert_eq!(
            limiters.source(ActionKind::AcceptInvitation),
            &LimitSource::Documented(QuotaGroup::PartnerCentralWrites, 1.0)
        );
        assert_eq!(limiters.of(ActionKind::AcceptInvitation)[0].rate(), Some(1.0));
        assert_eq!(limiters.of(ActionKind::ListInvitations)[0].rate(), Some(10.0));
        assert_eq!(limiters.source(ActionKind::Exec), &LimitSource::Local);

        let raised =
            Limiters::new(&playbook("{accept-invitation: 100/s, partnercentral-selling-reads: unlimited}"));
        let hundred = Limit::Rate(Rate { per_second: 100.0 });
        assert_eq!(
            raised.source(ActionKind::AcceptInvitation),
            &LimitSource::Action(ActionKind::AcceptInvitation, hundred)
        );
        assert_eq!(
            raised.of(ActionKind::AcceptInvitation)[0].rate(),
            Some(100.0),
            "100/s alone allows 100/s"
        );
        assert_eq!(
            raised.source(ActionKind::WaitForAcceptance),
            &LimitSource::Group(QuotaGroup::PartnerCentralReads, Limit::Unlimited)
        );
    }
}
