//! The job worker of each replica (`[worker]`): how many jobs at once, leases, retries and
//! the periodic sweeps.
use serde::Deserialize;

use super::ConfigError;
use crate::domain::HumanDuration;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerSettings {
    /// Jobs run at once by one replica.
    pub concurrency: usize,
    /// How long a claimed job is ours without renewal. The heartbeat renews it every second
    /// while the process lives; a process not heard from for 5 s loses its jobs sooner.
    pub lease: HumanDuration,
    /// Longest sleep between polls; other replicas' new jobs are seen at least this often.
    pub poll_interval: HumanDuration,
    /// Attempts before a grant that cannot be activated is marked failed. Removals are
    /// retried for ever: revocation is never abandoned.
    pub max_attempts: i32,
    pub backoff_base: HumanDuration,
    pub backoff_max: HumanDuration,
    /// Cron expression (with seconds) of the decision-timeout sweep.
    pub sweep_schedule: String,
    /// How often the groups that profiles map are compared with the grants (drift).
    pub reconcile_interval: HumanDuration,
    /// On SIGTERM, how long running jobs may take to finish before they are stopped and their
    /// leases given back.
    pub shutdown_grace: HumanDuration,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            concurrency: 8,
            lease: HumanDuration::from_secs(60),
            poll_interval: HumanDuration::from_secs(2),
            max_attempts: 8,
            backoff_base: HumanDuration::from_secs(1),
            backoff_max: HumanDuration::from_secs(300),
            sweep_schedule: "*/5 * * * * *".into(),
            reconcile_interval: HumanDuration::from_secs(300),
            shutdown_grace: HumanDuration::from_secs(10),
        }
    }
}

impl WorkerSettings {
    pub(super) fn check(&self) -> Result<(), ConfigError> {
        if self.concurrency == 0 {
            return Err(ConfigError::Key { key: "worker.concurrency", reason: "must be at least 1".into() });
        }
        if self.max_attempts < 1 {
            return Err(ConfigError::Key { key: "worker.max_attempts", reason: "must be at least 1".into() });
        }
        Ok(())
    }
}
