//! The outbox worker: claims due jobs with a lease, runs them, and records the outcome.
//! It sleeps until the next job is due (or until woken), so an expiry runs at its instant.
use std::{
    collections::HashSet,
    panic::AssertUnwindSafe,
    sync::{Arc, Mutex},
    time::Duration,
};

use futures_util::FutureExt;
use rand::Rng;
use serde_json::json;
use tokio::{sync::watch, task::JoinSet};
use tracing::{Instrument, error, info, info_span, warn};

mod liveness;

pub use liveness::Heartbeat;
use liveness::{DEAD_AFTER_MS, Running, host_name};

use super::{
    JobKind,
    effects::{self, EffectError, Finished},
};
use crate::{
    broker::Broker,
    config::WorkerSettings,
    domain::now,
    store::{
        StoreError, audit,
        audit::{NewEvent, Subject},
        jobs::{self, Job, JobStatus, Lease},
    },
    telemetry::error_chain,
};

pub struct Worker {
    broker: Broker,
    settings: Arc<WorkerSettings>,
    /// Unique per process: leases name their owner.
    owner: String,
    /// The host this process runs on (see `entity::processes`).
    host: String,
    /// The jobs running in this process now: the heartbeat renews their leases, and only theirs.
    running: Arc<Mutex<HashSet<i64>>>,
}

/// Logs a job task that panicked outside its effect (`execute` catches the effect's own
/// panics); its lease is no longer renewed, so the job is taken again once it runs out.
fn report(joined: Result<(), tokio::task::JoinError>) {
    if let Err(e) = joined
        && e.is_panic()
    {
        error!(error = %error_chain(&e), "job task panicked");
    }
}

/// Why a failed attempt's record was not kept.
enum Recorded {
    /// Another worker owns the job now.
    TakenOver,
    Store(StoreError),
}

impl From<StoreError> for Recorded {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl Worker {
    pub fn new(broker: Broker, settings: Arc<WorkerSettings>) -> Self {
        Self {
            broker,
            settings,
            owner: format!("worker-{}", uuid::Uuid::new_v4()),
            host: host_name(),
            running: Arc::default(),
        }
    }

    fn clone_handle(&self) -> Self {
        Self {
            broker: self.broker.clone(),
            settings: self.settings.clone(),
            owner: self.owner.clone(),
            host: self.host.clone(),
            running: self.running.clone(),
        }
    }

    /// Runs every due job, repeatedly, until nothing is due. Start-up calls this before
    /// serving, so expiries that passed while Elevate was down are revoked first.
    pub async fn drain(&self) -> Result<usize, StoreError> {
        let mut total = 0;
        loop {
            let ran = self.run_once().await?;
            if ran == 0 {
                return Ok(total);
            }
            total += ran;
        }
    }

    /// Claims one batch and runs it to the end; returns how many jobs ran.
    pub async fn run_once(&self) -> Result<usize, StoreError> {
        let mut running = JoinSet::new();
        let count = self.claim_into(&mut running, self.settings.concurrency).await?;
        while let Some(joined) = running.join_next().await {
            report(joined);
        }
        Ok(count)
    }

    /// Claims up to `free` due jobs and starts them; returns how many it started.
    async fn claim_into(&self, running: &mut JoinSet<()>, free: usize) -> Result<usize, StoreError> {
        let limit = u64::try_from(free).unwrap_or(1);
        let dead_before = now() - DEAD_AFTER_MS;
        self.broker.metrics.worker_claims.inc();
        let batch =
            jobs::claim(&self.broker.store, &self.owner, limit, self.settings.lease.as_millis(), dead_before).await?;
        let count = batch.len();
        for job in batch {
            let worker = self.clone_handle();
            let counted = Running::start(&self.running, job.id);
            let span = info_span!(
                "job",
                job_id = job.id,
                kind = job.kind.as_str(),
                key = job.lock_key.as_deref().unwrap_or(""),
                grant = job.grant_id.as_ref().map(|g| g.as_str()).unwrap_or("")
            );
            running.spawn(
                async move {
                    worker.execute(job).await;
                    drop(counted);
                }
                .instrument(span),
            );
        }
        Ok(count)
    }

    /// Keeps up to `worker.concurrency` jobs running: whenever one finishes, the next due job
    /// is claimed (no batch waits for its slowest job). When nothing is due it sleeps until the
    /// next job is, or until woken. Once `shutdown` turns true, the jobs still running get
    /// `worker.shutdown_grace` to finish; then they are stopped and their leases given back
    /// (every job is idempotent: another replica or the next start runs it again).
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut running = JoinSet::new();
        while !*shutdown.borrow() {
            let free = self.settings.concurrency.saturating_sub(running.len());
            // Claims come in batches (a quarter of the slots at least, or whatever is free
            // when nothing runs): one claim transaction per finished job would cost more
            // than the jobs themselves under a mass expiry.
            let batch = (self.settings.concurrency / 4).max(1);
            // `Some`: nothing more is due now; wait this long at most (or for a wake-up).
            let idle = if free == 0 || (free < batch && !running.is_empty()) {
                None
            } else {
                match self.claim_into(&mut running, free).await {
                    Ok(started) if started == free => None,
                    Ok(_) => Some(self.until_next_due().await),
                    Err(e) => {
                        error!(error = %error_chain(&e), "worker could not claim jobs");
                        Some(self.settings.poll_interval.get())
                    }
                }
            };
            tokio::select! {
                Some(joined) = running.join_next(), if !running.is_empty() => {
                    report(joined);
                    while let Some(joined) = running.try_join_next() {
                        report(joined);
                    }
                }
                _ = tokio::time::sleep(idle.unwrap_or_default()), if idle.is_some() => {}
                _ = self.broker.wake.notified(), if idle.is_some() => {}
                changed = shutdown.changed() => {
                    if changed.is_err() {
                        break; // The application is gone: stop as on a signal.
                    }
                }
            }
        }
        let deadline = tokio::time::Instant::now() + self.settings.shutdown_grace.get();
        while !running.is_empty() {
            tokio::select! {
                Some(joined) = running.join_next() => report(joined),
                _ = tokio::time::sleep_until(deadline) => {
                    warn!(jobs = running.len(), "stopping jobs still running at shutdown; their leases are given back");
                    running.abort_all();
                    while running.join_next().await.is_some() {}
                }
            }
        }
        match jobs::release_all(self.broker.store.conn(), &self.owner).await {
            Ok(n) if n > 0 => info!(released = n, "released claimed jobs"),
            Ok(_) => {}
            Err(e) => error!(error = %error_chain(&e), "could not release claimed jobs"),
        }
    }

    async fn until_next_due(&self) -> Duration {
        let poll = self.settings.poll_interval.get();
        match jobs::next_due(self.broker.store.conn(), &self.owner, now() - DEAD_AFTER_MS).await {
            Ok(Some(due)) => {
                let wait = u64::try_from(due - now()).unwrap_or(0);
                poll.min(Duration::from_millis(wait))
            }
            Ok(None) => poll,
            Err(e) => {
                error!(error = %error_chain(&e), "could not read the next due job");
                poll
            }
        }
    }

    async fn execute(&self, job: Job) {
        let lease = Lease::of(&job, &self.owner);
        let b = &self.broker;
        let effect = async {
            let done = |result: Result<(), EffectError>| result.map(|()| Finished::ToRecord);
            match job.kind {
                JobKind::SyncMembership => {
                    let give_up_adds = job.attempts >= self.settings.max_attempts;
                    super::membership::sync(b, &job, &lease, give_up_adds).await
                }
                JobKind::Notify => super::notifications::fan_out(b, &job, &lease).await,
                JobKind::StartScheduled => done(super::scheduled::open(b, &job).await),
                JobKind::CollectActivity => done(super::activity::collect(b, &job, &lease).await),
                JobKind::Provision => done(effects::provision(b, &job).await),
                JobKind::RevokeSessions => done(super::aws_jobs::revoke_sessions(b, &job).await),
                JobKind::PruneRevocations => done(super::aws_jobs::prune(b, &job).await),
                JobKind::IdentityCenterEnsure => done(super::identity_center_jobs::ensure(b, &job).await),
                JobKind::IdentityCenterRemove => done(super::identity_center_jobs::remove(b, &job).await),
                JobKind::IdentityCenterRemoveDrift => done(super::identity_center_jobs::remove_drift(b, &job).await),
                JobKind::SendMail => done(super::notifications::send_mail(b, &job).await),
                JobKind::CallWebhook => done(super::notifications::call_webhook(b, &job).await),
                JobKind::SendChat => done(super::chat::send(b, &job).await),
                JobKind::RefreshChat => done(super::chat::refresh(b, &job).await),
            }
        };
        // A panic must not leave the job `running` under a live owner (its heartbeat would
        // renew the lease for ever, and a membership's key would stay locked): it counts as a
        // failed attempt, retried like any other.
        let result = AssertUnwindSafe(effect).catch_unwind().await.unwrap_or_else(|panic| {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned());
            Err(EffectError::Retry { message: format!("the job panicked: {}", what.unwrap_or_default()), after: None })
        });
        if let Err(EffectError::Fenced) = result {
            warn!("another worker took the job over; this attempt's outcome is dropped");
            return;
        }
        if let Err(e) = self.record(&job, &lease, result).await {
            // Its lease is no longer renewed: it runs out and the job is claimed again.
            error!(error = %error_chain(&e), "could not record the job's outcome");
        }
    }

    /// Records the attempt's outcome, in a transaction shared with other jobs' outcomes
    /// (`Store::commit_shared`): finishing a job is a small write made at the rate jobs run.
    async fn record(&self, job: &Job, lease: &Lease, result: Result<Finished, EffectError>) -> Result<(), StoreError> {
        let store = &self.broker.store;
        let error = match result {
            Ok(finished) => {
                self.broker.metrics.job_attempts.with_label_values(&[job.kind.as_str(), "done"]).inc();
                if finished == Finished::Recorded {
                    return Ok(());
                }
                let (lease, due_at) = (lease.clone(), job.due_at);
                return store
                    .commit_shared(move |tx| {
                        Box::pin(async move { jobs::settle(tx, &lease, JobStatus::Done, due_at, None).await.map(drop) })
                    })
                    .await;
            }
            Err(e) => e,
        };
        let message = error_chain(&error);
        warn!(attempt = job.attempts, error = %message, "job attempt failed");
        // A membership sync is retried for ever: revocation is never abandoned (an add that
        // keeps failing fails its grant from inside the sync, after `worker.max_attempts`).
        // Only a provisioning push or a notification may be given up. A delivery (written when
        // due) is retried for `notify.give_up_after`, however many attempts that takes.
        let permanent = matches!(error, EffectError::Permanent(_));
        let give_up = match job.kind {
            JobKind::Provision | JobKind::IdentityCenterEnsure => {
                permanent || job.attempts >= self.settings.max_attempts
            }
            JobKind::SendMail | JobKind::CallWebhook | JobKind::SendChat | JobKind::RefreshChat => {
                permanent || now() - job.created_at > self.broker.notifier.give_up_after_ms
            }
            // S3's answers are retried for ever (`activity::collect`); a collection that can
            // never work (its configuration gone) is given up.
            JobKind::Notify | JobKind::CollectActivity => permanent,
            _ => false,
        };
        let outcome = if give_up { "failed" } else { "retry" };
        self.broker.metrics.job_attempts.with_label_values(&[job.kind.as_str(), outcome]).inc();
        // About the grant, or the membership (its lock key), or else the job itself.
        let subject = match (&job.grant_id, &job.lock_key) {
            (Some(g), _) => Subject::Grant(g),
            (None, Some(key)) => Subject::Written(key),
            (None, None) => Subject::Job(job.id),
        };
        let details = json!({ "job": job.id, "kind": job.kind.as_str(), "attempt": job.attempts, "error": message, "final": give_up });
        let event = NewEvent::system("job.attempt_failed", subject, details);
        let (status, due) = if give_up {
            (JobStatus::Failed, job.due_at)
        } else {
            (JobStatus::Pending, now().saturating_add(self.backoff(job.attempts, &error)))
        };
        let lease = lease.clone();
        let recorded = store
            .commit_shared(move |tx| {
                Box::pin(async move {
                    audit::append(tx, event).await?;
                    // Taken over: the new owner records its own attempts (nothing written here).
                    match jobs::settle(tx, &lease, status, due, Some(message)).await? {
                        true => Ok(()),
                        false => Err(Recorded::TakenOver),
                    }
                })
            })
            .await;
        match recorded {
            Ok(()) => {
                self.broker.wake_worker();
                Ok(())
            }
            Err(Recorded::TakenOver) => Ok(()),
            Err(Recorded::Store(e)) => Err(e),
        }
    }

    /// Exponential backoff with jitter, or what the provider asked for; never past
    /// `worker.backoff_max`.
    fn backoff(&self, attempts: i32, error: &EffectError) -> i64 {
        if let EffectError::Retry { after: Some(after), .. } = error {
            let asked = i64::try_from(after.as_millis()).unwrap_or(i64::MAX);
            return asked.min(self.settings.backoff_max.as_millis());
        }
        let base = self.settings.backoff_base.as_millis() as f64;
        let max = self.settings.backoff_max.as_millis() as f64;
        let exp = base * 2f64.powi(attempts.saturating_sub(1).min(30));
        let jitter = rand::rng().random_range(0.5..=1.0);
        (exp.min(max) * jitter) as i64
    }
}
