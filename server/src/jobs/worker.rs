//! The outbox worker: claims due jobs with a lease, runs them, and records the outcome.
//! It sleeps until the next job is due (or until woken), so an expiry runs at its instant.
use std::{sync::Arc, time::Duration};

use rand::Rng;
use serde_json::json;
use tokio::{sync::watch, task::JoinSet};
use tracing::{Instrument, error, info, info_span, warn};

use super::effects::{self, EffectError};
use crate::{
    config::WorkerSettings,
    domain::now,
    store::{
        StoreError, audit,
        audit::NewEvent,
        jobs::{self, DONE, FAILED, Job, PENDING},
    },
    workflows::Broker,
};

pub struct Worker {
    broker: Broker,
    settings: Arc<WorkerSettings>,
    /// Unique per process: leases name their owner.
    owner: String,
}

/// Logs a job task that panicked (its lease runs out and the job is tried again).
fn report(joined: Result<(), tokio::task::JoinError>) {
    if let Err(e) = joined
        && e.is_panic()
    {
        error!(error = %e, "job task panicked");
    }
}

impl Worker {
    pub fn new(broker: Broker, settings: Arc<WorkerSettings>) -> Self {
        Self { broker, settings, owner: format!("worker-{}", uuid::Uuid::new_v4()) }
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
        let batch = jobs::claim(&self.broker.store, &self.owner, limit, self.settings.lease.as_millis()).await?;
        let count = batch.len();
        for job in batch {
            let worker =
                Self { broker: self.broker.clone(), settings: self.settings.clone(), owner: self.owner.clone() };
            let span =
                info_span!("job", job_id = job.id, kind = %job.kind, grant = job.grant_id.as_deref().unwrap_or(""));
            running.spawn(async move { worker.execute(job).await }.instrument(span));
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
                        error!(error = %e, "worker could not claim jobs");
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
            Err(e) => error!(error = %e, "could not release claimed jobs"),
        }
    }

    async fn until_next_due(&self) -> Duration {
        let poll = self.settings.poll_interval.get();
        match jobs::next_due(self.broker.store.conn()).await {
            Ok(Some(due)) => {
                let wait = u64::try_from(due - now()).unwrap_or(0);
                poll.min(Duration::from_millis(wait))
            }
            Ok(None) => poll,
            Err(e) => {
                error!(error = %e, "could not read the next due job");
                poll
            }
        }
    }

    async fn execute(&self, job: Job) {
        let result = match job.kind.as_str() {
            super::ACTIVATE => effects::activate(&self.broker, &job).await,
            super::EXPIRE => effects::expire(&self.broker, &job).await,
            super::REMOVE => effects::remove(&self.broker, &job).await,
            super::RESTORE => effects::restore(&self.broker, &job).await,
            super::PROVISION => effects::provision(&self.broker, &job).await,
            super::REVOKE_SESSIONS => super::aws_jobs::revoke_sessions(&self.broker, &job).await,
            super::PRUNE_REVOCATIONS => super::aws_jobs::prune(&self.broker, &job).await,
            super::IC_ENSURE => super::identity_center_jobs::ensure(&self.broker, &job).await,
            super::IC_REMOVE => super::identity_center_jobs::remove(&self.broker, &job).await,
            super::IC_REMOVE_DRIFT => super::identity_center_jobs::remove_drift(&self.broker, &job).await,
            super::REMOVE_DRIFT => effects::remove_drift(&self.broker, &job).await,
            super::NOTIFY => super::notifications::fan_out(&self.broker, &job).await,
            super::SEND_MAIL => super::notifications::send_mail(&self.broker, &job).await,
            super::CALL_WEBHOOK => super::notifications::call_webhook(&self.broker, &job).await,
            other => Err(EffectError::Permanent(format!("unknown job kind {other:?}"))),
        };
        if let Err(e) = self.record(&job, result).await {
            // The lease runs out and the job is claimed again: nothing is lost.
            error!(error = %e, "could not record the job's outcome");
        }
    }

    async fn record(&self, job: &Job, result: Result<(), EffectError>) -> Result<(), StoreError> {
        let conn = self.broker.store.conn();
        let error = match result {
            Ok(()) => {
                self.broker.metrics.job_attempts.with_label_values(&[job.kind.as_str(), "done"]).inc();
                jobs::settle(conn, job, &self.owner, DONE, job.due_at, None).await?;
                return Ok(());
            }
            Err(e) => e,
        };
        let message = error.to_string();
        warn!(attempt = job.attempts, error = %message, "job attempt failed");
        // Only an activation, a provisioning push or a notification may be given up; an expiry
        // or removal is retried for ever: revocation is never abandoned. A delivery (written
        // when due) is retried for `notify.give_up_after`, however many attempts that takes.
        let permanent = matches!(error, EffectError::Permanent(_));
        let give_up = match job.kind.as_str() {
            super::ACTIVATE | super::PROVISION | super::IC_ENSURE => {
                permanent || job.attempts >= self.settings.max_attempts
            }
            super::SEND_MAIL | super::CALL_WEBHOOK => {
                permanent || now() - job.created_at > self.broker.notifier.give_up_after_ms
            }
            super::NOTIFY => permanent,
            _ => false,
        };
        let outcome = if give_up { "failed" } else { "retry" };
        self.broker.metrics.job_attempts.with_label_values(&[job.kind.as_str(), outcome]).inc();
        let tx = self.broker.store.begin().await?;
        let subject =
            job.grant_id.as_deref().map(|g| format!("grant:{g}")).unwrap_or_else(|| format!("job:{}", job.id));
        let details =
            json!({ "job": job.id, "kind": job.kind, "attempt": job.attempts, "error": message, "final": give_up });
        audit::append(&tx, NewEvent::new("system", "job.attempt_failed", subject, details)).await?;
        let (status, due) =
            if give_up { (FAILED, job.due_at) } else { (PENDING, now() + self.backoff(job.attempts, &error)) };
        let settled = jobs::settle(&tx, job, &self.owner, status, due, Some(message.clone())).await?;
        if settled
            && give_up
            && job.kind == super::ACTIVATE
            && let Err(e) = effects::fail_activation(&self.broker, &tx, job, &message).await
        {
            // Rolled back whole: the lease runs out and the activation is tried again.
            error!(error = %e, "could not mark the activation failed");
            return Ok(());
        }
        tx.commit().await?;
        self.broker.wake_worker();
        Ok(())
    }

    /// Exponential backoff with jitter, or exactly what the provider asked for.
    fn backoff(&self, attempts: i32, error: &EffectError) -> i64 {
        if let EffectError::Retry { after: Some(after), .. } = error {
            return i64::try_from(after.as_millis()).unwrap_or(i64::MAX);
        }
        let base = self.settings.backoff_base.as_millis() as f64;
        let max = self.settings.backoff_max.as_millis() as f64;
        let exp = base * 2f64.powi(attempts.saturating_sub(1).min(30));
        let jitter = rand::rng().random_range(0.5..=1.0);
        (exp.min(max) * jitter) as i64
    }
}
