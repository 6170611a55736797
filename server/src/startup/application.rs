//! The running application: built (connect, migrate, seed, carry out what fell due while
//! down, then bind), served, and stopped on SIGINT/SIGTERM with its jobs finished or given
//! back. The listener is bound here so that tests can ask for port 0.
use std::{net::TcpListener, sync::Arc, time::Duration};

use actix_web::{App, HttpServer, web};
use tokio::sync::watch;
use tracing::{error, info};

use super::{StartError, broker, entra_tokens, open_store};
use crate::{
    auth::{Sessions, TokenAuthority},
    config::{ConfigError, Settings},
    http::{self, AppState},
    jobs::worker::Worker,
    policy::Policy,
    store::audit::seal::Sealer,
    sweeps,
    telemetry::error_chain,
    workflows::configuration,
};

/// How long an idle keep-alive connection stays open. Longer than clients and load balancers
/// keep theirs (reqwest's pool 90 s, an AWS load balancer 60 s by default): the side that
/// closes first must be theirs. Were it ours (actix's default is 5 s), a request sent as the
/// server closes would be lost with the connection, and a filing cannot be retried blindly.
const IDLE_CONNECTION_KEPT: Duration = Duration::from_secs(120);

pub struct Application {
    server: actix_web::dev::Server,
    port: u16,
    worker: tokio::task::JoinHandle<()>,
    heartbeat: crate::jobs::worker::Heartbeat,
    stop_worker: watch::Sender<bool>,
    scheduler: tokio_cron_scheduler::JobScheduler,
    sealer: tokio::task::JoinHandle<()>,
    stop_sealer: watch::Sender<bool>,
    /// How long the worker may take to stop (its grace for running jobs, and a margin).
    worker_stop_bound: Duration,
}

impl Application {
    /// Everything up to (not including) serving. Overdue expiries are carried out here, so
    /// the first request served already sees them revoked.
    pub async fn build(settings: Settings) -> Result<Self, StartError> {
        let policy = Policy::load(&settings.policy.path)?;
        let fingerprints = configuration::Fingerprints::of(&settings);
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
        let (stop_sealer, sealer_stopped) = watch::channel(false);
        let sealer =
            tokio::spawn(Sealer::default().run(store.clone(), settings.audit.seal_interval.get(), sealer_stopped));
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
        .keep_alive(IDLE_CONNECTION_KEPT)
        // Signals are ours (run_until_stopped): the worker must hear of them at once too.
        .disable_signals()
        .run();
        Ok(Self { server, port, worker, heartbeat, stop_worker, scheduler, sealer, stop_sealer, worker_stop_bound })
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
            error!(error = %error_chain(&e), "stopping the scheduler failed");
        }
        // Last, so that what the worker and the sweeps recorded is chained before exiting.
        let _ = self.stop_sealer.send(true);
        let _ = self.sealer.await;
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
                error!(error = %error_chain(&e), "cannot listen for SIGTERM; stopping on SIGINT only");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
