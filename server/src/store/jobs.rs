//! The outbox. Jobs are written in the transaction of the change that causes them, claimed
//! with a lease, and finished, retried or failed by the worker.
use entity::jobs;
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, ExprTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Expr, LockBehavior, LockType, Query},
};

use super::{Store, StoreError, is_postgres};
use crate::domain::{GrantId, now};

use JobStatus::{Cancelled, Failed, Pending, Running};
pub use jobs::{JobKind, JobStatus, Model as Job};

pub struct NewJob {
    pub kind: JobKind,
    pub grant_id: Option<GrantId>,
    pub lock_key: Option<String>,
    pub payload: serde_json::Value,
    pub due_at: i64,
}

pub async fn enqueue(c: &impl ConnectionTrait, job: NewJob) -> Result<(), StoreError> {
    let at = now();
    let row = jobs::ActiveModel {
        kind: Set(job.kind),
        grant_id: Set(job.grant_id),
        lock_key: Set(job.lock_key),
        payload: Set(job.payload.to_string()),
        status: Set(Pending),
        due_at: Set(job.due_at),
        attempts: Set(0),
        last_error: Set(None),
        lease_owner: Set(None),
        lease_until: Set(None),
        created_at: Set(at),
        updated_at: Set(at),
        ..Default::default()
    };
    jobs::Entity::insert(row).exec_without_returning(c).await?;
    Ok(())
}

/// A claimed job's lease as its holder knows it: the job, the owner and the attempt. A result
/// is committed only while the stored job still matches all three (see `fence`).
#[derive(Debug, Clone)]
pub struct Lease {
    pub job_id: i64,
    pub owner: String,
    pub attempt: i32,
}

impl Lease {
    pub fn of(job: &Job, owner: &str) -> Self {
        Self { job_id: job.id, owner: owner.to_owned(), attempt: job.attempts }
    }
}

/// Owners (processes) not seen since `dead_before`: their leases no longer count.
fn dead_owners(dead_before: i64) -> sea_orm::sea_query::SelectStatement {
    Query::select()
        .column(entity::processes::Column::Id)
        .from(entity::processes::Entity)
        .and_where(Expr::col(entity::processes::Column::SeenAt).lt(dead_before))
        .to_owned()
}

/// A running job whose lease still holds, as `me` sees it: not run out, and its owner alive
/// (`me` never takes itself for dead, even when its own heartbeat is late: its jobs are
/// running here, and a lease of its that ran out is one nobody renews, so it is free).
fn lease_holds(at: i64, dead_before: i64, me: &str) -> Condition {
    Condition::all().add(jobs::Column::Status.eq(Running)).add(jobs::Column::LeaseUntil.gte(at)).add(
        Condition::any()
            .add(jobs::Column::LeaseOwner.eq(me))
            .add(jobs::Column::LeaseOwner.not_in_subquery(dead_owners(dead_before))),
    )
}

/// A job whose lock key no running job holds (or that has none): it may run now.
fn key_free(at: i64, dead_before: i64, me: &str) -> Condition {
    let held = Query::select()
        .column(jobs::Column::LockKey)
        .from(jobs::Entity)
        .cond_where(lease_holds(at, dead_before, me))
        .and_where(Expr::col(jobs::Column::LockKey).is_not_null())
        .to_owned();
    Condition::any().add(jobs::Column::LockKey.is_null()).add(jobs::Column::LockKey.not_in_subquery(held))
}

/// PostgreSQL advisory-lock key under which replicas claim one at a time ("elevjobs").
const CLAIM_LOCK: i64 = 0x656c_6576_6a6f_6273;

/// Claims up to `limit` due jobs for `owner` until `now + lease_ms`: pending jobs that are
/// due, and running jobs whose lease no longer holds (it ran out, or its owner has not
/// heartbeat since `dead_before`). Never two jobs with the same lock key at once, across
/// replicas too: on PostgreSQL claims take turns under a transaction-level advisory lock, so
/// each sees the claims committed before it (under READ COMMITTED two claims at once would
/// each find a key free and both take a job of it); `SKIP LOCKED` passes over rows that a
/// change being committed holds (a sync it is about to reuse).
pub async fn claim(
    store: &Store,
    owner: &str,
    limit: u64,
    lease_ms: i64,
    dead_before: i64,
) -> Result<Vec<Job>, StoreError> {
    let tx = store.begin().await?;
    if is_postgres(&tx) {
        tx.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({CLAIM_LOCK})")).await?;
    }
    let at = now();
    let lost = Condition::all().add(jobs::Column::Status.eq(Running)).add(lease_holds(at, dead_before, owner).not());
    let mut query = jobs::Entity::find()
        .filter(Condition::any().add(jobs::Column::Status.eq(Pending).and(jobs::Column::DueAt.lte(at))).add(lost))
        .filter(key_free(at, dead_before, owner))
        .order_by_asc(jobs::Column::DueAt)
        .order_by_asc(jobs::Column::Id)
        .limit(limit);
    if is_postgres(&tx) {
        query = query.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    let candidates = query.all(&tx).await?;
    let mut keys = std::collections::HashSet::new();
    let mut claimed = Vec::new();
    for mut job in candidates {
        if let Some(key) = &job.lock_key
            && !keys.insert(key.clone())
        {
            continue;
        }
        job.status = Running;
        job.lease_owner = Some(owner.to_owned());
        job.lease_until = Some(at + lease_ms);
        job.attempts += 1;
        job.updated_at = at;
        claimed.push(job);
    }
    // One statement for the whole batch: the rows are the claim's (locked on PostgreSQL, the
    // one writer's on SQLite), so each attempt counts up from what was just read.
    if !claimed.is_empty() {
        jobs::Entity::update_many()
            .col_expr(jobs::Column::Status, Expr::value(Running))
            .col_expr(jobs::Column::LeaseOwner, Expr::value(owner))
            .col_expr(jobs::Column::LeaseUntil, Expr::value(at + lease_ms))
            .col_expr(jobs::Column::Attempts, Expr::col(jobs::Column::Attempts).add(1))
            .col_expr(jobs::Column::UpdatedAt, Expr::value(at))
            .filter(jobs::Column::Id.is_in(claimed.iter().map(|j| j.id)))
            .exec(&tx)
            .await?;
    }
    tx.commit().await?;
    Ok(claimed)
}

/// The stored job is still the one `lease` was given for: running, same owner, same attempt.
fn still_held(lease: &Lease) -> Condition {
    Condition::all()
        .add(jobs::Column::Id.eq(lease.job_id))
        .add(jobs::Column::Status.eq(Running))
        .add(jobs::Column::LeaseOwner.eq(lease.owner.as_str()))
        .add(jobs::Column::Attempts.eq(lease.attempt))
}

/// Proves, inside a transaction that commits a job's result, that the lease still holds: the
/// job is still running under this owner and attempt. Returns false when another worker took
/// it over (the transaction must then roll back: a stale worker never overwrites a newer one).
/// The row stays locked until the transaction ends, so the lease cannot move meanwhile.
pub async fn fence(c: &impl ConnectionTrait, lease: &Lease) -> Result<bool, StoreError> {
    let res = jobs::Entity::update_many()
        .col_expr(jobs::Column::UpdatedAt, Expr::value(now()))
        .filter(still_held(lease))
        .exec(c)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Sets a claimed job's outcome, only while its lease still holds (same owner and attempt);
/// returns whether it did (false: another worker owns the job now).
pub async fn settle(
    c: &impl ConnectionTrait,
    lease: &Lease,
    status: JobStatus,
    due_at: i64,
    last_error: Option<String>,
) -> Result<bool, StoreError> {
    let res = jobs::Entity::update_many()
        .col_expr(jobs::Column::Status, Expr::value(status))
        .col_expr(jobs::Column::DueAt, Expr::value(due_at))
        .col_expr(jobs::Column::LastError, Expr::value(last_error))
        .col_expr(jobs::Column::LeaseOwner, Expr::value(Option::<String>::None))
        .col_expr(jobs::Column::LeaseUntil, Expr::value(Option::<i64>::None))
        .col_expr(jobs::Column::UpdatedAt, Expr::value(now()))
        .filter(still_held(lease))
        .exec(c)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Renews the leases of the jobs `owner` is running now (`ids`; its heartbeat): a long job
/// keeps its lease for as long as its process lives, and a job the process no longer runs
/// (its outcome could not be recorded) is left to run out and be taken again.
///
/// On PostgreSQL a job whose row a transaction holds right now (its outcome being committed,
/// or its lease fenced) is passed over (`SKIP LOCKED`): that job proves its lease as it
/// writes, and the next beat renews it if it still runs. Waiting for those rows instead, in
/// whatever order, deadlocked against the shared commits that lock them one by one.
pub async fn renew_leases(
    c: &impl ConnectionTrait,
    owner: &str,
    ids: Vec<i64>,
    lease_ms: i64,
) -> Result<u64, StoreError> {
    if ids.is_empty() {
        return Ok(0);
    }
    let mut mine = Query::select()
        .column(jobs::Column::Id)
        .from(jobs::Entity)
        .and_where(jobs::Column::Status.eq(Running))
        .and_where(jobs::Column::LeaseOwner.eq(owner))
        .and_where(jobs::Column::Id.is_in(ids))
        .to_owned();
    if is_postgres(c) {
        mine.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    let res = jobs::Entity::update_many()
        .col_expr(jobs::Column::LeaseUntil, Expr::value(now() + lease_ms))
        .filter(jobs::Column::Id.in_subquery(mine))
        .exec(c)
        .await?;
    Ok(res.rows_affected)
}

/// Gives back, to run again at once, the jobs that `owners` (processes known to be dead)
/// held: nobody needs to wait for their leases to run out.
pub async fn release_from(c: &impl ConnectionTrait, owners: &[String]) -> Result<u64, StoreError> {
    if owners.is_empty() {
        return Ok(0);
    }
    let res = jobs::Entity::update_many()
        .col_expr(jobs::Column::Status, Expr::value(Pending))
        .col_expr(jobs::Column::LeaseOwner, Expr::value(Option::<String>::None))
        .col_expr(jobs::Column::LeaseUntil, Expr::value(Option::<i64>::None))
        .filter(jobs::Column::Status.eq(Running))
        .filter(jobs::Column::LeaseOwner.is_in(owners.iter().cloned()))
        .exec(c)
        .await?;
    Ok(res.rows_affected)
}

/// Gives back every job `owner` still holds (graceful shutdown), to run again at once.
pub async fn release_all(c: &impl ConnectionTrait, owner: &str) -> Result<u64, StoreError> {
    release_from(c, &[owner.to_owned()]).await
}

/// Cancels the pending jobs of one kind for a grant (e.g. its expiry, once it was revoked).
pub async fn cancel_pending(c: &impl ConnectionTrait, grant_id: &GrantId, kind: JobKind) -> Result<(), StoreError> {
    jobs::Entity::update_many()
        .col_expr(jobs::Column::Status, Expr::value(Cancelled))
        .col_expr(jobs::Column::UpdatedAt, Expr::value(now()))
        .filter(jobs::Column::GrantId.eq(grant_id.clone()))
        .filter(jobs::Column::Kind.eq(kind))
        .filter(jobs::Column::Status.eq(Pending))
        .exec(c)
        .await?;
    Ok(())
}

/// The earliest instant at which some job may become claimable by `owner`: a pending job falls
/// due (unless a running job holds its lock key: the worker looks again when a job of its
/// own finishes, and at its regular poll), or a lease runs out. Instants already past are
/// left out: the claim just made saw those jobs, and the poll covers a dead owner's.
pub async fn next_due(c: &impl ConnectionTrait, owner: &str, dead_before: i64) -> Result<Option<i64>, StoreError> {
    let at = now();
    let pending: Option<Option<i64>> = jobs::Entity::find()
        .select_only()
        .column_as(jobs::Column::DueAt.min(), "t")
        .filter(jobs::Column::Status.eq(Pending))
        .filter(key_free(at, dead_before, owner))
        .into_tuple()
        .one(c)
        .await?;
    let leases: Option<Option<i64>> = jobs::Entity::find()
        .select_only()
        .column_as(jobs::Column::LeaseUntil.min(), "t")
        .filter(jobs::Column::Status.eq(Running))
        .filter(jobs::Column::LeaseUntil.gt(at))
        .into_tuple()
        .one(c)
        .await?;
    Ok([pending.flatten(), leases.flatten()].into_iter().flatten().min())
}

/// Is a job of `kind` with this lock key waiting to run no later than `by`? On PostgreSQL the
/// row found stays locked until the transaction ends, so no worker claims it (and reads the
/// state) before the caller's change is committed; on SQLite the write lock does the same.
pub async fn pending_by(c: &impl ConnectionTrait, kind: JobKind, lock_key: &str, by: i64) -> Result<bool, StoreError> {
    let mut query = jobs::Entity::find()
        .filter(jobs::Column::LockKey.eq(lock_key))
        .filter(jobs::Column::Kind.eq(kind))
        .filter(jobs::Column::Status.eq(Pending))
        .filter(jobs::Column::DueAt.lte(by));
    if is_postgres(c) {
        query = query.lock_exclusive();
    }
    Ok(query.one(c).await?.is_some())
}

/// Is an effect with this lock key in flight: running, or due to run within `margin_ms`?
/// (A grant's expiry, due later, is not.)
pub async fn in_flight(c: &impl ConnectionTrait, lock_key: &str, margin_ms: i64) -> Result<bool, StoreError> {
    Ok(jobs::Entity::find()
        .filter(jobs::Column::LockKey.eq(lock_key))
        .filter(
            Condition::any()
                .add(jobs::Column::Status.eq(Running))
                .add(jobs::Column::Status.eq(Pending).and(jobs::Column::DueAt.lte(now() + margin_ms))),
        )
        .one(c)
        .await?
        .is_some())
}

pub async fn for_grant(c: &impl ConnectionTrait, grant_id: &GrantId) -> Result<Vec<Job>, StoreError> {
    Ok(jobs::Entity::find()
        .filter(jobs::Column::GrantId.eq(grant_id.clone()))
        .order_by_asc(jobs::Column::Id)
        .all(c)
        .await?)
}

/// Jobs due now (pending, due), running, and failed (given up).
pub async fn counts(c: &impl ConnectionTrait) -> Result<Vec<(&'static str, i64)>, StoreError> {
    use sea_orm::PaginatorTrait;
    let count = |condition: Condition| async move {
        jobs::Entity::find().filter(condition).count(c).await.map(|n| i64::try_from(n).unwrap_or(i64::MAX))
    };
    Ok(vec![
        (
            "due",
            count(Condition::all().add(jobs::Column::Status.eq(Pending)).add(jobs::Column::DueAt.lte(now()))).await?,
        ),
        ("running", count(Condition::all().add(jobs::Column::Status.eq(Running))).await?),
        ("failed", count(Condition::all().add(jobs::Column::Status.eq(Failed))).await?),
    ])
}
