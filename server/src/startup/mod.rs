//! Wiring: the store, the directory, AWS and the notification channels put together from the
//! settings, for `serve` (`Application`) and for the commands that need only some of them.
use std::{sync::Arc, time::Duration};

use tokio::sync::Notify;
use tracing::warn;

use crate::providers::aws::activity::CloudTrailLogs;
use crate::{
    config::{AwsSettings, ConfigError, DirectoryKind, Settings},
    policy::{Policy, PolicyError},
    providers::{
        aws::{AwsIam, identity_center::IdentityCenter},
        directory::{DirectoryProvider, graph, local},
        oncall,
    },
    store::{Store, StoreError},
    workflows::{Broker, aws_mapping::AwsMapping},
};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error("cannot open the database {url}")]
    Database {
        url: String,
        #[source]
        source: StoreError,
    },
    #[error("database migration failed")]
    Migrate(#[source] StoreError),
    #[error(transparent)]
    Seed(#[from] local::SeedError),
    #[error("revoking overdue grants failed")]
    Recovery(#[source] StoreError),
    #[error("recording the configuration in the audit log failed")]
    AuditConfig(#[source] StoreError),
    #[error("configuration key `worker.sweep_schedule`: {0}")]
    Scheduler(String),
    #[error("cannot listen on {addr}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("AWS mapping check failed: {0}")]
    AwsMapping(String),
    #[error("metrics: {0}")]
    Metrics(String),
    #[error("Microsoft Graph")]
    Graph(#[source] graph::GraphError),
    #[error("invalid token signing key")]
    Token(#[source] jsonwebtoken::errors::Error),
}

async fn connect(settings: &Settings) -> Result<Store, StartError> {
    // Whatever this process records in the audit log is authenticated with the deployment's
    // key, so a sealer elsewhere can tell it from an entry written into the database directly.
    if let Ok(secret) = settings.auth.token_secret() {
        crate::store::audit::authenticate_entries_with(&secret);
    }
    Store::connect(&settings.database)
        .await
        .map_err(|source| StartError::Database { url: settings.database.redacted_url(), source })
}

/// Connects to the database and applies pending migrations (`serve`, `migrate`, `demo`),
/// one process at a time.
pub async fn open_store(settings: &Settings) -> Result<Store, StartError> {
    let store = connect(settings).await?;
    store.migrate().await.map_err(StartError::Migrate)?;
    Ok(store)
}

/// Connects to a database whose schema is current (every other command): waits while a
/// process that started at the same moment migrates, and refuses if the schema stays behind.
pub async fn open_current_store(settings: &Settings) -> Result<Store, StartError> {
    let store = connect(settings).await?;
    store
        .require_current()
        .await
        .map_err(|source| StartError::Database { url: settings.database.redacted_url(), source })?;
    Ok(store)
}

/// Seals what this command recorded in the audit log, in case no `serve` runs to do it.
pub async fn seal_audit_entries(store: &Store) {
    let sealed = crate::store::audit::seal::Sealer::default().seal_committed(store, Duration::from_secs(10)).await;
    match sealed {
        Ok(true) => {}
        Ok(false) => warn!("the audit log's newest entries are not sealed yet; `serve` will seal them"),
        Err(e) => warn!(error = %crate::telemetry::error_chain(&e), "sealing the audit log's newest entries failed"),
    }
}

/// The store, the policy, the directory and the notification channels wired together.
/// `public_url`: where people reach this Elevate (links in mail and chat).
pub async fn broker(settings: &Settings, policy: Policy, public_url: &str, store: Store) -> Result<Broker, StartError> {
    let notifier = Arc::new(crate::notify::Notifier::new(settings, public_url)?);
    let policy_for_aws = policy.clone();
    if settings.aws.is_none()
        && let Some(p) = policy.profiles().find(|p| p.identity_center.is_some())
    {
        return Err(StartError::AwsMapping(format!(
            "profile {} targets IAM Identity Center, which needs an [aws] section to remove memberships there",
            p.key
        )));
    }
    let (pagerduty, opsgenie) = on_call_services(settings, &policy)?;
    let directory: Arc<dyn DirectoryProvider> = match settings.directory.kind {
        DirectoryKind::Local => {
            local::seed(&store, &settings.directory).await?;
            Arc::new(local::LocalDirectory::new(store.clone()))
        }
        DirectoryKind::Graph => Arc::new(graph_directory(settings).await?),
    };
    let metrics = Arc::new(crate::metrics::Metrics::new().map_err(|e| StartError::Metrics(e.to_string()))?);
    Ok(Broker {
        store,
        policy: Arc::new(policy),
        directory,
        wake: Arc::new(Notify::new()),
        reported_drift: Default::default(),
        metrics,
        notifier,
        max_pending_per_user: settings.limits.max_pending_per_user,
        mfa_max_age: settings.auth.mfa_max_age.get(),
        groups_cache: Arc::new(crate::broker::GroupsCache::new(settings.directory.display_cache_ttl.get())),
        members_cache: Arc::new(crate::broker::MembersCache::new(settings.directory.display_cache_ttl.get())),
        people_cache: Arc::new(crate::broker::PeopleCache::new(settings.directory.display_cache_ttl.get())),
        identities: Arc::new(crate::broker::TtlCache::new(crate::broker::IDENTITY_TTL)),
        pagerduty,
        opsgenie,
        staff: Arc::new(crate::workflows::sign_in::Staff {
            admins: settings.auth.admins.principals("auth.admins")?,
            auditors: settings.auth.auditors.principals("auth.auditors")?,
            roles_ttl: settings.auth.session_roles_ttl.get(),
        }),
        aws: match &settings.aws {
            Some(aws) => Some(Arc::new(aws_mapping(aws, &policy_for_aws).await?)),
            None => None,
        },
    })
}

/// The on-call services profiles ask (`on_call`): each one a profile names must be configured.
#[allow(clippy::type_complexity)]
fn on_call_services(
    settings: &Settings,
    policy: &Policy,
) -> Result<(Option<Arc<oncall::pagerduty::PagerDuty>>, Option<Arc<oncall::opsgenie::Opsgenie>>), StartError> {
    let needs = |service: &'static str, asks: fn(&crate::policy::OnCallRule) -> bool| match policy
        .profiles()
        .find(|p| p.on_call.as_ref().is_some_and(asks))
    {
        Some(p) => Err(ConfigError::Key {
            key: service,
            reason: format!("profile {} approves whoever is on call there: configure [{service}]", p.key),
        }),
        None => Ok(()),
    };
    let pagerduty = match &settings.oncall.pagerduty {
        Some(pd) => Some(Arc::new(oncall::pagerduty::PagerDuty::new(pd)?)),
        None => {
            needs("oncall.pagerduty", |r| {
                !r.pagerduty_schedules.is_empty() || !r.pagerduty_escalation_policies.is_empty()
            })?;
            None
        }
    };
    let opsgenie = match &settings.oncall.opsgenie {
        Some(og) => Some(Arc::new(oncall::opsgenie::Opsgenie::new(og)?)),
        None => {
            needs("oncall.opsgenie", |r| !r.opsgenie_schedules.is_empty())?;
            None
        }
    };
    Ok((pagerduty, opsgenie))
}

/// The directory alone, for `elevate directory check`: Graph needs no database, the local
/// directory one whose schema is current.
pub async fn directory(settings: &Settings) -> Result<Arc<dyn DirectoryProvider>, StartError> {
    Ok(match settings.directory.kind {
        DirectoryKind::Local => {
            let store = open_current_store(settings).await?;
            local::seed(&store, &settings.directory).await?;
            Arc::new(local::LocalDirectory::new(store))
        }
        DirectoryKind::Graph => Arc::new(graph_directory(settings).await?),
    })
}

/// The AWS side, with every mapped role checked: a missing or untrusting role stops start-up.
pub async fn aws_mapping(settings: &AwsSettings, policy: &Policy) -> Result<AwsMapping, StartError> {
    let iam = AwsIam::new(settings).await;
    let report = crate::workflows::aws_mapping::check(&iam, policy).await;
    for warning in &report.warnings {
        warn!("{warning}");
    }
    if !report.errors.is_empty() {
        return Err(StartError::AwsMapping(report.errors.join("; ")));
    }
    let targets: Vec<_> = policy.profiles().filter_map(|p| p.identity_center.as_ref()).collect();
    let identity_center =
        if targets.is_empty() { None } else { Some(IdentityCenter::new(settings, targets.into_iter()).await) };
    Ok(AwsMapping {
        iam,
        identity_center,
        identity_center_wait_ms: settings.identity_center_wait.as_millis(),
        session_name: settings.session_name,
        risk: report.risk,
        activity: match &settings.activity {
            Some(a) => Some(CloudTrailLogs::new(settings, a).await),
            None => None,
        },
    })
}

/// The Graph directory, with its credentials proven (a token fetched) before anything starts.
pub async fn graph_directory(settings: &Settings) -> Result<graph::GraphDirectory, StartError> {
    let graph_settings = settings.graph.as_ref().ok_or(ConfigError::Key {
        key: "graph",
        reason: "directory.kind = \"graph\" needs a [graph] section".into(),
    })?;
    let directory = graph::GraphDirectory::new(graph_settings).map_err(StartError::Graph)?;
    directory.check_credentials().await.map_err(StartError::Graph)?;
    Ok(directory)
}

/// The Entra ID token checker, with the role and application maps (checked at load).
pub(crate) fn entra_tokens(settings: &crate::config::EntraSettings) -> crate::auth::entra::EntraTokens {
    use crate::auth::entra::{self, Grant};
    let roles = if settings.roles.is_empty() {
        entra::default_roles()
    } else {
        let grant = |g: &str| {
            if g == "delegate" { Some(Grant::Delegate) } else { crate::domain::Role::parse(g).map(Grant::Role) }
        };
        settings.roles.iter().filter_map(|(value, g)| Some((value.clone(), grant(g)?))).collect()
    };
    let apps = settings
        .apps
        .iter()
        .filter_map(|(app, who)| Some((app.clone(), crate::domain::Upn::parse(who).ok()?)))
        .collect();
    entra::EntraTokens::new(settings, roles, apps)
}

mod application;
pub use application::Application;
