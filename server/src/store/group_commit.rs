//! Group commit: many small write units (a revocation recorded, an activation confirmed, a job
//! finished) share one transaction and so one synced commit. A commit costs a sync to disk
//! (about 2 ms on SQLite; PostgreSQL's WAL flush likewise), which bounded a mass expiry at a
//! few hundred revocations per second when every unit committed alone.
//!
//! Each unit runs inside a savepoint of the shared transaction: a unit that fails rolls back
//! alone, and the others commit. Its caller learns its result only once the commit is done,
//! so nothing is reported as recorded before it is durable. Units queue while a batch
//! commits and go in the next one: under load batches grow, when idle a unit commits at once.
use std::{
    panic::AssertUnwindSafe,
    sync::{Arc, Mutex},
};

use futures_util::{FutureExt, future::BoxFuture};
use sea_orm::{DatabaseConnection, DatabaseTransaction, TransactionTrait};
use tokio::sync::{mpsc, oneshot};

use super::StoreError;

/// Units per shared transaction at most: bounds how long one commit holds its locks.
const MAX_UNITS: usize = 64;

/// One unit's writes, run on the shared transaction's savepoint; `false` rolls them back.
type Work = Box<dyn for<'t> FnOnce(&'t DatabaseTransaction) -> BoxFuture<'t, bool> + Send>;

struct Unit {
    work: Work,
    /// Told once the shared transaction committed or failed.
    done: oneshot::Sender<Result<(), Arc<StoreError>>>,
}

/// Where units wait for their transaction; cheap to clone.
#[derive(Clone)]
pub struct GroupCommit {
    queue: mpsc::Sender<Unit>,
}

/// The shared transaction itself failed (its commit, a savepoint, the connection): no unit of
/// it was recorded.
#[derive(Debug, thiserror::Error)]
#[error("the transaction shared with other writes failed")]
pub struct SharedCommitFailed(#[source] Arc<StoreError>);

impl GroupCommit {
    /// Starts `lanes` committers on `db` (one on SQLite, whose writers take turns anyway; a
    /// few on PostgreSQL, which commits transactions side by side). They stop once every
    /// handle is dropped.
    pub fn start(db: DatabaseConnection, lanes: usize) -> Self {
        let (queue, receiver) = mpsc::channel::<Unit>(MAX_UNITS * 16);
        let receiver = Arc::new(tokio::sync::Mutex::new(receiver));
        for _ in 0..lanes.max(1) {
            tokio::spawn(run(db.clone(), receiver.clone()));
        }
        Self { queue }
    }

    /// Runs `write` in a transaction shared with other units and returns its result once that
    /// transaction committed. An `Err` from `write` rolls back its own writes only.
    pub async fn run<T, E, F>(&self, write: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: for<'t> FnOnce(&'t DatabaseTransaction) -> BoxFuture<'t, Result<T, E>> + Send + 'static,
    {
        let slot: Arc<Mutex<Option<Result<T, E>>>> = Arc::default();
        let kept = slot.clone();
        let work: Work = Box::new(move |tx| {
            Box::pin(async move {
                let result = write(tx).await;
                let keep = result.is_ok();
                if let Ok(mut slot) = kept.lock() {
                    *slot = Some(result);
                }
                keep
            })
        });
        let (done, committed) = oneshot::channel();
        let gone = || E::from(StoreError::Corrupt("the shared commit stopped before this write was done".into()));
        self.queue.send(Unit { work, done }).await.map_err(|_| gone())?;
        match committed.await {
            Ok(Ok(())) => {}
            Ok(Err(failed)) => return Err(E::from(StoreError::Shared(SharedCommitFailed(failed)))),
            Err(_) => return Err(gone()),
        }
        let result = slot.lock().ok().and_then(|mut s| s.take());
        result.unwrap_or_else(|| Err(gone()))
    }
}

/// One lane: takes whatever units wait (up to `MAX_UNITS`), runs them in one transaction,
/// commits, tells each.
async fn run(db: DatabaseConnection, receiver: Arc<tokio::sync::Mutex<mpsc::Receiver<Unit>>>) {
    loop {
        let mut units = Vec::new();
        {
            let mut queue = receiver.lock().await;
            match queue.recv().await {
                Some(first) => units.push(first),
                None => return,
            }
            while units.len() < MAX_UNITS {
                match queue.try_recv() {
                    Ok(unit) => units.push(unit),
                    Err(_) => break,
                }
            }
        }
        let mut waiting = Vec::with_capacity(units.len());
        let outcome = commit(&db, units, &mut waiting).await.map_err(Arc::new);
        for done in waiting {
            let _ = done.send(outcome.clone());
        }
    }
}

async fn commit(
    db: &DatabaseConnection,
    units: Vec<Unit>,
    waiting: &mut Vec<oneshot::Sender<Result<(), Arc<StoreError>>>>,
) -> Result<(), StoreError> {
    let tx = match super::begin_write(db).await {
        Ok(tx) => tx,
        Err(e) => {
            waiting.extend(units.into_iter().map(|u| u.done));
            return Err(e);
        }
    };
    let mut failed = None;
    for Unit { work, done } in units {
        waiting.push(done);
        if failed.is_some() {
            continue;
        }
        let step = async {
            let savepoint = tx.begin().await?;
            // A unit that panics is rolled back like one that failed (its caller is told the
            // commit stopped); the lane and the other units carry on.
            let keep = AssertUnwindSafe(work(&savepoint)).catch_unwind().await.unwrap_or(false);
            if keep { savepoint.commit().await } else { savepoint.rollback().await }
        };
        if let Err(e) = step.await {
            failed = Some(e);
        }
    }
    match failed {
        Some(e) => {
            let _ = tx.rollback().await;
            Err(e.into())
        }
        None => Ok(tx.commit().await?),
    }
}
