//! Which processes are alive and which jobs each is running: a heartbeat every second renews
//! the process's row and its running jobs' leases; a process not heard from is taken for
//! dead and its jobs are run by others.
use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::sync::watch;
use tracing::warn;

use super::Worker;
use crate::{
    store::{StoreError, jobs, processes},
    telemetry::error_chain,
};

/// How often a process says it is alive (and renews the leases of the jobs it runs).
const HEARTBEAT: Duration = Duration::from_secs(1);
/// A process not heard from for this long is taken for dead: its jobs are taken over.
pub(super) const DEAD_AFTER_MS: i64 = 5_000;

/// A job counted as running in this process until its task ends, however it ends (done,
/// panicked, or stopped at shutdown).
pub(super) struct Running {
    ids: Arc<Mutex<HashSet<i64>>>,
    id: i64,
}

impl Running {
    pub(super) fn start(ids: &Arc<Mutex<HashSet<i64>>>, id: i64) -> Self {
        ids.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(id);
        Self { ids: ids.clone(), id }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.ids.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&self.id);
    }
}

/// The task that keeps this process's heartbeat (and its leases) fresh.
pub struct Heartbeat {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Heartbeat {
    /// Stops beating and leaves the processes table (after the worker gave back its jobs).
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// This machine's name (`/proc/sys/kernel/hostname`, else `$HOSTNAME`).
pub(super) fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}

impl Worker {
    /// Registers this process and gives back, to run at once, what processes of this host
    /// that died (earlier runs of this one, crashed replicas) left running; returns how many
    /// jobs that was. Those of other hosts are taken over once their heartbeat goes stale.
    pub async fn register(&self) -> Result<u64, StoreError> {
        let tx = self.broker.store.begin().await?;
        processes::register(&tx, &self.owner, &self.host, std::process::id()).await?;
        let dead = processes::dead_on_host(&tx, &self.host, &self.owner).await?;
        let retaken = jobs::release_from(&tx, &dead).await?;
        processes::forget(&tx, &dead).await?;
        tx.commit().await?;
        Ok(retaken)
    }

    /// Beats every second until stopped: the process's row says it is alive and the leases of
    /// its running jobs are renewed, so a long job keeps its lease and a dead process's jobs
    /// are taken over within `DEAD_AFTER_MS` and a poll.
    pub fn start_heartbeat(&self) -> Heartbeat {
        let (stop, mut stopped) = watch::channel(false);
        let worker = self.clone_handle();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(HEARTBEAT);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stopped.changed() => break,
                }
                if let Err(e) = worker.beat().await {
                    warn!(error = %error_chain(&e), "heartbeat failed; retrying");
                }
            }
            if let Err(e) = processes::leave(worker.broker.store.conn(), &worker.owner).await {
                warn!(error = %error_chain(&e), "could not leave the processes table");
            }
        });
        Heartbeat { stop, task }
    }

    async fn beat(&self) -> Result<(), StoreError> {
        let tx = self.broker.store.begin().await?;
        if !processes::beat(&tx, &self.owner).await? {
            processes::register(&tx, &self.owner, &self.host, std::process::id()).await?;
        }
        let ids: Vec<i64> =
            self.running.lock().unwrap_or_else(std::sync::PoisonError::into_inner).iter().copied().collect();
        jobs::renew_leases(&tx, &self.owner, ids, self.settings.lease.as_millis()).await?;
        tx.commit().await?;
        Ok(())
    }
}
