//! The application handle every layer above the providers shares: the store, the policy,
//! the directory, the notifier and the worker's wake-up. It lives below workflows and jobs,
//! so that both use it without depending on each other.
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use tokio::sync::Notify;

use crate::{
    config::SessionNameClaim,
    domain::{GroupId, Upn},
    policy::{Policy, Principals, Profile},
    providers::aws::{AwsIam, RiskTier, identity_center::IdentityCenter},
    providers::directory::{DirectoryError, DirectoryProvider, DirectoryUser},
    store::{Store, requests::Request},
};

/// Everything a workflow or a job needs, shared by the HTTP server, the worker and the CLI.
#[derive(Clone)]
pub struct Broker {
    pub store: Store,
    pub policy: Arc<Policy>,
    pub directory: Arc<dyn DirectoryProvider>,
    /// Wakes the worker when a job was written, so effects start at once.
    pub wake: Arc<Notify>,
    /// Drift already reported (membership key → when), so that report mode says it once a
    /// day rather than on every pass.
    pub reported_drift: Arc<Mutex<HashMap<String, Instant>>>,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// AWS IAM, when `[aws]` is configured.
    pub aws: Option<Arc<AwsMapping>>,
    /// Mail, chat webhooks and the signed links of emailed decisions.
    pub notifier: Arc<crate::notify::Notifier>,
    /// Who is an admin or auditor (`auth.admins`, `auth.auditors`): the web pages' roles, and
    /// whom a break-glass activation is told to.
    pub staff: Arc<Staff>,
    /// Requests one user may have waiting for a decision (`limits.max_pending_per_user`; 0: no cap).
    pub max_pending_per_user: u32,
    /// How recent a multi-factor sign-in must be for a `require_mfa` profile (`auth.mfa_max_age`).
    pub mfa_max_age: std::time::Duration,
    /// Users' groups for display and routing (`directory.display_cache_ttl`).
    pub groups_cache: Arc<GroupsCache>,
    /// Groups' members and named users, for display only (`directory.display_cache_ttl`).
    pub members_cache: Arc<MembersCache>,
    pub people_cache: Arc<PeopleCache>,
    /// Directory users by object id, for Entra tokens (`IDENTITY_TTL`).
    pub identities: Arc<TtlCache<String, DirectoryUser>>,
    /// PagerDuty and Opsgenie, for profiles that approve whoever is on call (`[oncall]`).
    pub pagerduty: Option<Arc<crate::providers::oncall::pagerduty::PagerDuty>>,
    pub opsgenie: Option<Arc<crate::providers::oncall::opsgenie::Opsgenie>>,
}

/// How long the user an object id stands for is taken from memory: the id is immutable, so
/// only the UPN can be this old (a user the directory no longer has is refused after this).
pub const IDENTITY_TTL: Duration = Duration::from_secs(300);

/// What start-up (and `elevate policy check --aws`) learned about the mapped roles.
pub struct AwsMapping {
    pub iam: AwsIam,
    /// The identity store, when a profile targets IAM Identity Center.
    pub identity_center: Option<IdentityCenter>,
    /// How long to wait for SCIM before adding an Identity Center membership directly.
    pub identity_center_wait_ms: i64,
    pub session_name: SessionNameClaim,
    /// Risk tier of each profile's role, by profile key.
    pub risk: HashMap<String, RiskTier>,
    /// The CloudTrail trail's log files, when `[aws.activity]` is configured.
    pub activity: Option<crate::providers::aws::activity::CloudTrailLogs>,
}

impl AwsMapping {
    /// Whether ending a grant of this profile revokes the user's live sessions: as the
    /// profile says, or else for high-risk roles.
    pub fn revokes_sessions(&self, profile: &Profile) -> bool {
        profile.aws_role_arn.is_some()
            && profile.revoke_sessions.unwrap_or_else(|| self.risk.get(profile.key.as_str()) == Some(&RiskTier::High))
    }
}

/// Who is an admin or an auditor on the web pages (`auth.admins`, `auth.auditors`).
#[derive(Debug, Default)]
pub struct Staff {
    pub admins: Principals,
    pub auditors: Principals,
    /// How often a browser session's roles are read again (`auth.session_roles_ttl`).
    pub roles_ttl: Duration,
}

/// Directory answers kept for a short while, per process: a user's transitive groups for what
/// is only shown or routed (the approvals inbox, the catalog, a page's buttons), so that
/// reloading a page does not spend the Graph budget removals need — authorizations never read
/// those, they ask afresh (and refresh them); and the user an Entra object id stands for
/// (immutable, so only the UPN shown can be that old).
pub struct TtlCache<K, V> {
    ttl: Duration,
    entries: Mutex<HashMap<K, (Instant, V)>>,
}

/// A user's groups as the directory said; `None`: it does not know the user.
pub type KnownGroups = Option<Arc<[GroupId]>>;
pub type GroupsCache = TtlCache<Upn, KnownGroups>;
/// A group's members as the directory said; `None`: it does not know the group.
pub type MembersCache = TtlCache<GroupId, Option<Arc<[DirectoryUser]>>>;
/// A user as the directory said; `None`: it does not know them.
pub type PeopleCache = TtlCache<Upn, Option<DirectoryUser>>;

/// How current a directory answer must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Asked now: for every authorization (deciding, filing, reading a request, signing in)
    /// and for whom a notice goes to.
    Fresh,
    /// May be up to [`RECENT`] old (and never older than `directory.display_cache_ttl`): only
    /// to check, as a request is filed, that someone other than the requester can decide it.
    /// Whoever decides is asked about afresh then.
    Recent,
    /// May be up to `directory.display_cache_ttl` old: for what is only shown or routed.
    Display,
}

/// How old a [`Freshness::Recent`] answer may be.
pub const RECENT: Duration = Duration::from_secs(5);

impl Freshness {
    /// The oldest cached answer this freshness takes; `None`: none, ask now.
    fn max_age(self) -> Option<Duration> {
        match self {
            Self::Fresh => None,
            Self::Recent => Some(RECENT),
            Self::Display => Some(Duration::MAX),
        }
    }
}

/// More entries than this and the stale ones are dropped.
const CACHE_PRUNE_AT: usize = 10_000;

impl<K: std::hash::Hash + Eq + Clone, V: Clone> TtlCache<K, V> {
    /// `ttl` zero: nothing is kept.
    pub fn new(ttl: Duration) -> Self {
        Self { ttl, entries: Mutex::new(HashMap::new()) }
    }

    /// The value kept for `key`, if it is younger than the cache's ttl and than what
    /// `freshness` takes.
    pub fn get(&self, key: &K, freshness: Freshness) -> Option<V> {
        let max_age = freshness.max_age()?.min(self.ttl);
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.get(key).filter(|(at, _)| at.elapsed() < max_age).map(|(_, value)| value.clone())
    }

    pub fn put(&self, key: &K, value: V) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= CACHE_PRUNE_AT {
            entries.retain(|_, (at, _)| at.elapsed() < self.ttl);
        }
        entries.insert(key.clone(), (Instant::now(), value));
    }
}

/// `key`'s directory answer from `cache` when `freshness` allows, else asked now with `ask`
/// (a fresh answer serves the next display too). "Not found" is an answer: `None`.
async fn cached<K, V, F, Fut>(
    cache: &TtlCache<K, Option<V>>,
    key: &K,
    freshness: Freshness,
    ask: F,
) -> Result<Option<V>, DirectoryError>
where
    K: std::hash::Hash + Eq + Clone,
    V: Clone,
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<V, DirectoryError>>,
{
    if let Some(answer) = cache.get(key, freshness) {
        return Ok(answer);
    }
    let answer = match ask().await {
        Ok(value) => Some(value),
        Err(DirectoryError::NotFound(_)) => None,
        Err(e) => return Err(e),
    };
    cache.put(key, answer.clone());
    Ok(answer)
}

/// A request names a profile the policy no longer has.
#[derive(Debug, thiserror::Error)]
#[error("profile {0} is no longer in the policy")]
pub struct ProfileGone(pub String);

impl Broker {
    pub fn profile_of(&self, request: &Request) -> Result<&Profile, ProfileGone> {
        self.policy.find(&request.profile).ok_or_else(|| ProfileGone(request.profile.clone()))
    }

    /// Everyone `principals` names: the users, and the members of the groups (a group or
    /// user the directory does not know is skipped). Each person once.
    pub async fn people_among(&self, principals: &Principals) -> Result<Vec<DirectoryUser>, DirectoryError> {
        self.people_among_as(principals, Freshness::Fresh).await
    }

    /// [`Broker::people_among`], the groups' members from an answer as fresh as `freshness`
    /// asks (a fresh answer serves the next display too).
    pub async fn people_among_as(
        &self,
        principals: &Principals,
        freshness: Freshness,
    ) -> Result<Vec<DirectoryUser>, DirectoryError> {
        let mut people: Vec<DirectoryUser> = Vec::new();
        for upn in &principals.users {
            let user = cached(&self.people_cache, upn, freshness, || self.directory.resolve_user(upn.as_str())).await?;
            people.extend(user);
        }
        for group in &principals.groups {
            let list = || async { self.directory.list_members(group).await.map(Arc::<[DirectoryUser]>::from) };
            let members = cached(&self.members_cache, group, freshness, list).await?;
            people.extend(members.iter().flat_map(|m| m.iter().cloned()));
        }
        people.sort_by(|a, b| a.upn.cmp(&b.upn));
        people.dedup_by(|a, b| a.upn == b.upn);
        Ok(people)
    }

    /// The risk tier of the profile's AWS role, once AWS has been asked.
    pub fn risk_tier(&self, profile: &Profile) -> Option<String> {
        self.aws.as_ref()?.risk.get(profile.key.as_str()).map(|r| r.as_str().to_owned())
    }

    /// Must the approver be signed in to use an emailed link of this profile? As `[links]`
    /// and the profile say, and always when AWS discovery found its role high-risk
    /// (administrator-like): a forwarded mail must not hand out administrator access.
    pub fn links_need_sign_in(&self, profile: &Profile) -> bool {
        self.is_high_risk(profile) || self.notifier.requires_sign_in(profile)
    }

    /// Must a decision from chat be confirmed on Elevate's page, signed in? For high-risk roles
    /// and for profiles that ask so (`require_sign_in_for_links = true`); a chat press is
    /// otherwise as good as the inbox, the chat app having proved who pressed.
    pub fn chat_needs_sign_in(&self, profile: &Profile) -> bool {
        self.is_high_risk(profile) || profile.require_sign_in_for_links == Some(true)
    }

    fn is_high_risk(&self, profile: &Profile) -> bool {
        self.aws.as_ref().is_some_and(|aws| aws.risk.get(profile.key.as_str()) == Some(&RiskTier::High))
    }

    /// True the first time in a day that drift on this membership is seen by this process.
    pub fn first_report(&self, key: &str) -> bool {
        let mut seen = self.reported_drift.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        seen.retain(|_, at| now.duration_since(*at) < Duration::from_secs(24 * 3600));
        seen.insert(key.to_owned(), now).is_none()
    }

    /// Tells the worker that new jobs may be due.
    pub fn wake_worker(&self) {
        self.wake.notify_one();
    }
}
