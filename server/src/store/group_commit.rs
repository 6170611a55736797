//! Group commit, for SQLite: many small write units (a revocation recorded, an activation
//! confirmed, a job finished) share one transaction and so one synced commit. A commit costs
//! a sync to disk (about 2 ms), and SQLite's one writer takes them in turn, which bounded a
//! mass expiry at a few hundred revocations per second when every unit committed alone.
//! (PostgreSQL flushes the WAL of transactions committing together itself: there, each unit
//! commits on its own, `Store::commit_shared`.)
//!
//! Each unit runs inside a savepoint of the shared transaction: a unit that fails rolls back
//! alone, and the others commit (a unit alone in its batch needs none: its transaction is its
//! own). Its caller learns its result only once the commit is done,
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
    /// Starts the committer on `db` (SQLite's writer connection: its writers take turns
    /// anyway). It stops once every handle is dropped.
    pub fn start(db: DatabaseConnection) -> Self {
        let (queue, receiver) = mpsc::channel::<Unit>(MAX_UNITS * 16);
        tokio::spawn(run(db, receiver));
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

/// The committer: takes whatever units wait (up to `MAX_UNITS`), runs them in one
/// transaction, commits, tells each.
async fn run(db: DatabaseConnection, mut queue: mpsc::Receiver<Unit>) {
    loop {
        let mut units = Vec::new();
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
        let mut waiting = Vec::with_capacity(units.len());
        let outcome = commit(&db, units, &mut waiting).await.map_err(Arc::new);
        for done in waiting {
            let _ = done.send(outcome.clone());
        }
    }
}

async fn commit(
    db: &DatabaseConnection,
    mut units: Vec<Unit>,
    waiting: &mut Vec<oneshot::Sender<Result<(), Arc<StoreError>>>>,
) -> Result<(), StoreError> {
    let tx = match super::begin_write(db).await {
        Ok(tx) => tx,
        Err(e) => {
            waiting.extend(units.into_iter().map(|u| u.done));
            return Err(e);
        }
    };
    if units.len() == 1
        && let Some(unit) = units.pop()
    {
        return commit_alone(tx, unit, waiting).await;
    }
    let mut failed = None;
    for Unit { work, done } in units {
        waiting.push(done);
        if failed.is_some() {
            continue;
        }
        let step = async {
            let savepoint = tx.begin().await?;
            if run_unit(work, &savepoint).await { savepoint.commit().await } else { savepoint.rollback().await }
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

/// A batch of one needs no savepoint: its transaction is its own, committed when it keeps
/// its writes and rolled back when not (its caller then reads its error). Two round trips
/// fewer for the unit that finds the committer idle, the common case below saturation.
async fn commit_alone(
    tx: DatabaseTransaction,
    Unit { work, done }: Unit,
    waiting: &mut Vec<oneshot::Sender<Result<(), Arc<StoreError>>>>,
) -> Result<(), StoreError> {
    waiting.push(done);
    if run_unit(work, &tx).await {
        return Ok(tx.commit().await?);
    }
    // Nothing of it was committed either way: its caller hears its own error, not this one.
    let _ = tx.rollback().await;
    Ok(())
}

/// Runs one unit's writes; a unit that panics is rolled back like one that failed (its caller
/// is told the commit stopped), and the committer and the other units carry on.
async fn run_unit(work: Work, tx: &DatabaseTransaction) -> bool {
    AssertUnwindSafe(work(tx)).catch_unwind().await.unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use futures_util::future::join_all;
    use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};

    use super::*;

    /// A lane on a real SQLite file, with a table of notes to write to.
    async fn lane() -> (tempfile::TempDir, DatabaseConnection, GroupCommit) {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("lane.db").display());
        let db = Database::connect(url).await.expect("the SQLite file opens");
        db.execute_unprepared("CREATE TABLE notes (text TEXT NOT NULL)").await.expect("the table is made");
        let lane = GroupCommit::start(db.clone());
        (dir, db, lane)
    }

    /// Writes a note, then keeps it or fails with `refused` (its writes are then undone).
    async fn write(lane: &GroupCommit, text: String, keep: bool) -> Result<(), StoreError> {
        lane.run(move |tx| {
            Box::pin(async move {
                let insert = Statement::from_sql_and_values(
                    tx.get_database_backend(),
                    "INSERT INTO notes (text) VALUES (?)",
                    [text.clone().into()],
                );
                tx.execute_raw(insert).await?;
                if keep { Ok(()) } else { Err(StoreError::Corrupt(format!("refused {text}"))) }
            })
        })
        .await
    }

    async fn notes(db: &DatabaseConnection) -> Vec<String> {
        let rows = db
            .query_all_raw(Statement::from_string(db.get_database_backend(), "SELECT text FROM notes ORDER BY text"))
            .await
            .expect("the notes are read");
        rows.iter().map(|r| r.try_get::<String>("", "text").expect("a text")).collect()
    }

    #[tokio::test]
    async fn a_unit_alone_that_fails_leaves_nothing_and_hears_its_own_error() {
        let (_dir, db, lane) = lane().await;
        write(&lane, "kept".into(), true).await.expect("the first note is kept");
        let refused = write(&lane, "dropped".into(), false).await.expect_err("the second unit fails");
        assert_eq!(refused.to_string(), StoreError::Corrupt("refused dropped".into()).to_string());
        write(&lane, "later".into(), true).await.expect("the lane carries on");
        assert_eq!(notes(&db).await, ["kept", "later"]);
    }

    #[tokio::test]
    async fn units_sharing_a_transaction_fail_alone() {
        let (_dir, db, lane) = lane().await;
        // Sent at once: the first finds the lane idle, the rest queue and share transactions.
        let outcomes = join_all((0..40).map(|i| write(&lane, format!("{i:02}"), i % 3 != 0))).await;
        for (i, outcome) in outcomes.iter().enumerate() {
            assert_eq!(outcome.is_ok(), i % 3 != 0, "unit {i}: {outcome:?}");
        }
        let kept: Vec<String> = (0..40).filter(|i| i % 3 != 0).map(|i| format!("{i:02}")).collect();
        assert_eq!(notes(&db).await, kept);
    }
}
