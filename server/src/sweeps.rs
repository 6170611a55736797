//! Periodic sweeps driven by tokio-cron-scheduler (decision timeouts, reminders and
//! escalation on `worker.sweep_schedule`; reconciliation; pruning). The database says what
//! is due; the scheduler only says when to look.
use tokio_cron_scheduler::{Job, JobScheduler, JobSchedulerError};
use tracing::error;

use crate::{
    broker::Broker,
    jobs::{audit_forwarder, aws_jobs, identity_center_jobs},
    telemetry::error_chain,
    workflows::{reconcile, remind, timeout},
};

/// Periodic signed checkpoints of the audit chain (`audit.checkpoint_dir`).
pub struct Checkpoints {
    pub key: std::path::PathBuf,
    pub dir: std::path::PathBuf,
    pub every: std::time::Duration,
}

/// Starts the decision-timeout sweep on `schedule` (cron with seconds), drift
/// reconciliation every `reconcile_every`, and (with `[aws]`) the pruning of revocations.
pub async fn start(
    broker: Broker,
    schedule: &str,
    reconcile_every: std::time::Duration,
    prune_every: Option<std::time::Duration>,
    syslog: Option<std::sync::Arc<crate::providers::syslog::Syslog>>,
    checkpoints: Option<Checkpoints>,
) -> Result<JobScheduler, JobSchedulerError> {
    let scheduler = JobScheduler::new().await?;
    if let Some(Checkpoints { key, dir, every }) = checkpoints {
        let store = broker.store.clone();
        let checkpointer = Job::new_repeated_async(every, move |_id, _scheduler| {
            let (store, key, dir) = (store.clone(), key.clone(), dir.clone());
            Box::pin(async move {
                match crate::audit_checkpoint::make_periodic(&store, &key, &dir).await {
                    Ok(Some(path)) => tracing::info!(path = %path.display(), "audit checkpoint signed"),
                    Ok(None) => {}
                    Err(e) => error!(error = %error_chain(&e), "signing an audit checkpoint failed"),
                }
            })
        })?;
        scheduler.add(checkpointer).await?;
    }
    if let Some(syslog) = syslog {
        // Every second: the audit log reaches the collector within about a second. A run
        // still sending to a slow collector is not joined by another.
        let forwarding = broker.clone();
        let running = std::sync::Arc::new(tokio::sync::Mutex::new(()));
        let forwarder = Job::new_repeated_async(std::time::Duration::from_secs(1), move |_id, _scheduler| {
            let (broker, syslog, running) = (forwarding.clone(), syslog.clone(), running.clone());
            Box::pin(async move {
                let Ok(_running) = running.try_lock_owned() else { return };
                if let Err(e) = audit_forwarder::forward(&broker, &syslog).await {
                    tracing::warn!(error = %error_chain(&e), "forwarding the audit log to syslog failed; retrying");
                }
            })
        })?;
        scheduler.add(forwarder).await?;
    }
    let pruning = broker.clone();
    let sweeper = broker.clone();
    let job = Job::new_async(schedule, move |_id, _scheduler| {
        let broker = sweeper.clone();
        Box::pin(async move {
            if let Err(e) = timeout::time_out_undecided(&broker).await {
                error!(error = %error_chain(&e), "decision-timeout sweep failed");
            }
            if let Err(e) = remind::remind_and_escalate(&broker).await {
                error!(error = %error_chain(&e), "reminder and escalation sweep failed");
            }
        })
    })?;
    scheduler.add(job).await?;
    let reconciler = Job::new_repeated_async(reconcile_every, move |_id, _scheduler| {
        let broker = broker.clone();
        Box::pin(async move {
            if let Err(e) = crate::store::link_tokens::forget_expired(broker.store.conn()).await {
                error!(error = %error_chain(&e), "forgetting expired link tokens failed");
            }
            let now = crate::domain::now();
            if let Err(e) = crate::store::credentials::forget_old_sessions(broker.store.conn(), now).await {
                error!(error = %error_chain(&e), "forgetting old browser sessions failed");
            }
            if let Err(e) = identity_center_jobs::reconcile(&broker).await {
                error!(error = %error_chain(&e), "Identity Center reconciliation failed");
            }
            match reconcile::reconcile_all(&broker).await {
                Ok(r) if r.drift + r.restored > 0 => {
                    tracing::warn!(drift = r.drift, restored = r.restored, "reconciliation found drift")
                }
                Ok(_) => {}
                Err(e) => error!(error = %error_chain(&e), "reconciliation failed"),
            }
        })
    })?;
    scheduler.add(reconciler).await?;
    if let Some(every) = prune_every {
        let pruner = Job::new_repeated_async(every, move |_id, _scheduler| {
            let broker = pruning.clone();
            Box::pin(async move {
                if let Err(e) = aws_jobs::schedule_prunes(&broker).await {
                    error!(error = %error_chain(&e), "scheduling the pruning of AWS revocations failed");
                }
            })
        })?;
        scheduler.add(pruner).await?;
    }
    scheduler.start().await?;
    Ok(scheduler)
}
