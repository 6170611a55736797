//! Building and running the application: connect, migrate, seed, revoke what is overdue,
//! then serve. The listener is bound here so that tests can ask for port 0.
use std::{net::TcpListener, sync::Arc, time::Duration};

use actix_web::{App, HttpServer, web};
use tokio::sync::{Notify, watch};
use tracing::{error, info, warn};

use crate::{
    auth::{Sessions, TokenAuthority},
    config::{AwsSettings, ConfigError, DirectoryKind, Settings},
    http::{self, AppState},
    jobs::worker::Worker,
    policy::{Policy, PolicyError},
    providers::{
        aws::{AwsIam, identity_center::IdentityCenter},
        directory::{DirectoryProvider, graph, local},
    },
    store::{Store, StoreError},
    sweeps,
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
        identities: Arc::new(crate::broker::TtlCache::new(crate::broker::IDENTITY_TTL)),
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

pub struct Application {
    server: actix_web::dev::Server,
    port: u16,
    worker: tokio::task::JoinHandle<()>,
    heartbeat: crate::jobs::worker::Heartbeat,
    stop_worker: watch::Sender<bool>,
    scheduler: tokio_cron_scheduler::JobScheduler,
    /// How long the worker may take to stop (its grace for running jobs, and a margin).
    worker_stop_bound: Duration,
}

impl Application {
    /// Everything up to (not including) serving. Overdue expiries are carried out here, so
    /// the first request served already sees them revoked.
    pub async fn build(settings: Settings) -> Result<Self, StartError> {
        let policy = Policy::load(&settings.policy.path)?;
        let fingerprints = Fingerprints::of(&settings);
        let sign_in_needed = settings.links.require_sign_in == Some(true)
            || policy.profiles().any(|p| p.require_sign_in_for_links == Some(true));
        if sign_in_needed && !settings.auth.demo_sign_in && settings.oidc.is_none() {
            return Err(ConfigError::Key {
                key: "links.require_sign_in",
                reason:
                    "needs a browser sign-in and none is configured: add [oidc] (or auth.demo_sign_in for the demo)"
                        .into(),
            }
            .into());
        }
        let secret = settings.auth.token_secret()?;
        let tokens =
            TokenAuthority::new(&secret, &settings.auth.issuer, &settings.auth.audience).map_err(StartError::Token)?;
        // Bound first: links in mail name the address, and with port 0 only the bound
        // listener knows it. Connections wait in the backlog until serving starts.
        let listener = TcpListener::bind(settings.server.bind)
            .map_err(|source| StartError::Bind { addr: settings.server.bind.to_string(), source })?;
        let bound = listener
            .local_addr()
            .map_err(|source| StartError::Bind { addr: settings.server.bind.to_string(), source })?;
        let public_url = settings.server.public_url.clone().unwrap_or_else(|| format!("http://{bound}"));
        let store = open_store(&settings).await?;
        let broker = broker(&settings, policy, &public_url, store).await?;

        fingerprints.record(&broker.store).await.map_err(StartError::AuditConfig)?;
        let sweep_schedule = settings.worker.sweep_schedule.clone();
        let reconcile_every = settings.worker.reconcile_interval.get();
        let prune_every = settings.aws.as_ref().map(|a| a.prune_interval.get());
        let worker_stop_bound = settings.worker.shutdown_grace.get() + Duration::from_secs(5);
        let worker = Worker::new(broker.clone(), Arc::new(settings.worker));
        let retaken = worker.register().await.map_err(StartError::Recovery)?;
        if retaken > 0 {
            info!(jobs = retaken, "took back the jobs of processes on this host that died");
        }
        let heartbeat = worker.start_heartbeat();
        let overdue = worker.drain().await.map_err(StartError::Recovery)?;
        if overdue > 0 {
            info!(jobs = overdue, "carried out jobs that fell due while Elevate was down");
        }
        let (stop_worker, stopped) = watch::channel(false);
        let worker = tokio::spawn(worker.run(stopped));
        let syslog = settings.audit.syslog.as_ref().map(|s| Arc::new(crate::providers::syslog::Syslog::new(s)));
        let checkpoints = match (&settings.audit.checkpoint_dir, &settings.audit.checkpoint_key_file) {
            (Some(dir), Some(key)) => Some(sweeps::Checkpoints {
                key: key.clone(),
                dir: dir.clone(),
                every: settings.audit.checkpoint_interval.get(),
            }),
            _ => None,
        };
        let scheduler =
            sweeps::start(broker.clone(), &sweep_schedule, reconcile_every, prune_every, syslog, checkpoints)
                .await
                .map_err(|e| StartError::Scheduler(e.to_string()))?;

        let port = bound.port();
        let secure_cookies = !crate::config::is_loopback_http(&public_url);
        let sessions =
            Sessions::new(&secret, secure_cookies, Duration::from_secs(8 * 3600)).map_err(StartError::Token)?;
        let oidc = match &settings.oidc {
            Some(o) => Some(crate::auth::oidc::OidcProvider::new(
                &o.issuer,
                &o.client_id,
                o.client_secret()?,
                o.redirect_url.clone().unwrap_or_else(|| format!("{public_url}/signin/callback")),
            )),
            None => None,
        };
        let state = web::Data::new(AppState {
            broker,
            tokens,
            sessions,
            demo_sign_in: settings.auth.demo_sign_in,
            oidc,
            token_use: Default::default(),
            limits: http::limits::Limits::new(&settings.limits),
            entra: settings.auth.entra.as_ref().map(entra_tokens),
        });
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .wrap(actix_web::middleware::from_fn(http::limits::per_address))
                .wrap(http::security_headers())
                // A span per request with a request id; every log line inside carries it.
                .wrap(tracing_actix_web::TracingLogger::<crate::telemetry::RequestSpan>::new())
                .configure(http::configure)
        })
        .listen(listener)
        .map_err(|source| StartError::Bind { addr: settings.server.bind.to_string(), source })?
        .shutdown_timeout(10)
        // Signals are ours (run_until_stopped): the worker must hear of them at once too.
        .disable_signals()
        .run();
        Ok(Self { server, port, worker, heartbeat, stop_worker, scheduler, worker_stop_bound })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGINT/SIGTERM, then at once stops taking requests (finishing those in
    /// progress) and stops the worker (running jobs get `worker.shutdown_grace`, then their
    /// leases are given back), and stops the sweeps.
    pub async fn run_until_stopped(mut self) -> std::io::Result<()> {
        let handle = self.server.handle();
        let mut server = tokio::spawn(self.server);
        let served = tokio::select! {
            served = &mut server => Some(served),
            () = stop_signal() => None,
        };
        info!("stopping: no new requests; running jobs finish or are given back");
        let _ = self.stop_worker.send(true);
        let (_, worker) = tokio::join!(handle.stop(true), tokio::time::timeout(self.worker_stop_bound, self.worker));
        if worker.is_err() {
            error!(bound = ?self.worker_stop_bound, "the worker did not stop in time; its leases will expire");
        }
        self.heartbeat.stop().await;
        if let Err(e) = self.scheduler.shutdown().await {
            error!(error = %e, "stopping the scheduler failed");
        }
        let served = match served {
            Some(served) => served,
            None => server.await,
        };
        info!("stopped");
        served.unwrap_or_else(|e| Err(std::io::Error::other(e)))
    }
}

/// SIGINT or SIGTERM.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(e) => {
                error!(error = %e, "cannot listen for SIGTERM; stopping on SIGINT only");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The Entra ID token checker, with the role and application maps (checked at load).
fn entra_tokens(settings: &crate::config::EntraSettings) -> crate::auth::entra::EntraTokens {
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

/// What configuration is in force, as SHA-256 fingerprints: of the effective settings (file
/// and environment, with every secret redacted, so a secret never reaches the audit log) and
/// of the policy file.
struct Fingerprints {
    settings: String,
    policy: String,
}

impl Fingerprints {
    fn of(settings: &Settings) -> Self {
        use sha2::{Digest, Sha256};
        let hex = |bytes: &[u8]| Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect::<String>();
        let policy = std::fs::read(&settings.policy.path).unwrap_or_default();
        Self { settings: hex(format!("{settings:?}").as_bytes()), policy: hex(&policy) }
    }

    /// Audits the configuration when it is not what the last start recorded: `config.loaded`
    /// the first time, `config.changed` (naming what changed) afterwards.
    async fn record(&self, store: &crate::store::Store) -> Result<(), crate::store::StoreError> {
        use crate::store::{audit, audit::NewEvent};
        let tx = store.begin().await?;
        let last = audit::last_of(&tx, &["config.loaded", "config.changed"]).await?;
        let seen: Option<serde_json::Value> = last.and_then(|e| serde_json::from_str(&e.details).ok());
        let was = |key: &str| seen.as_ref().and_then(|d| d[key].as_str().map(str::to_owned));
        let (settings_changed, policy_changed) = (
            was("settings_sha256").as_deref() != Some(&self.settings),
            was("policy_sha256").as_deref() != Some(&self.policy),
        );
        if settings_changed || policy_changed {
            let action = if seen.is_some() { "config.changed" } else { "config.loaded" };
            let details = serde_json::json!({
                "settings_sha256": self.settings,
                "policy_sha256": self.policy,
                "settings_changed": settings_changed,
                "policy_changed": policy_changed,
            });
            audit::append(&tx, NewEvent::new("system", action, "config", details)).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
