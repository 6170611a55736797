//! Periodic sweeps driven by tokio-cron-scheduler. The database says what is due; the
//! scheduler only says when to look.
use tokio_cron_scheduler::{Job, JobScheduler, JobSchedulerError};
use tracing::error;

use crate::workflows::{Broker, timeout};

/// Starts the decision-timeout sweep on `schedule` (cron with seconds).
pub async fn start(broker: Broker, schedule: &str) -> Result<JobScheduler, JobSchedulerError> {
    let scheduler = JobScheduler::new().await?;
    let job = Job::new_async(schedule, move |_id, _scheduler| {
        let broker = broker.clone();
        Box::pin(async move {
            if let Err(e) = timeout::time_out_undecided(&broker).await {
                error!(error = %e, "decision-timeout sweep failed");
            }
        })
    })?;
    scheduler.add(job).await?;
    scheduler.start().await?;
    Ok(scheduler)
}
