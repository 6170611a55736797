//! Periodic sweeps driven by tokio-cron-scheduler. The database says what is due; the
//! scheduler only says when to look.
use tokio_cron_scheduler::{Job, JobScheduler, JobSchedulerError};
use tracing::error;

use crate::workflows::{Broker, reconcile, timeout};

/// Starts the decision-timeout sweep on `schedule` (cron with seconds) and drift
/// reconciliation every `reconcile_every`.
pub async fn start(
    broker: Broker,
    schedule: &str,
    reconcile_every: std::time::Duration,
) -> Result<JobScheduler, JobSchedulerError> {
    let scheduler = JobScheduler::new().await?;
    let sweeper = broker.clone();
    let job = Job::new_async(schedule, move |_id, _scheduler| {
        let broker = sweeper.clone();
        Box::pin(async move {
            if let Err(e) = timeout::time_out_undecided(&broker).await {
                error!(error = %e, "decision-timeout sweep failed");
            }
        })
    })?;
    scheduler.add(job).await?;
    let reconciler = Job::new_repeated_async(reconcile_every, move |_id, _scheduler| {
        let broker = broker.clone();
        Box::pin(async move {
            match reconcile::reconcile_all(&broker).await {
                Ok(r) if r.drift + r.restored > 0 => {
                    tracing::warn!(drift = r.drift, restored = r.restored, "reconciliation found drift")
                }
                Ok(_) => {}
                Err(e) => error!(error = %e, "reconciliation failed"),
            }
        })
    })?;
    scheduler.add(reconciler).await?;
    scheduler.start().await?;
    Ok(scheduler)
}
