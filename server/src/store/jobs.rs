//! The outbox. Jobs are written in the transaction of the change that causes them, claimed
//! with a lease, and finished, retried or failed by the worker.
use entity::jobs;
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, ExprTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Expr, LockBehavior, LockType, Query},
};

use super::{Store, StoreError, is_postgres};
use crate::domain::now;

pub use jobs::Model as Job;

pub const PENDING: &str = "pending";
pub const RUNNING: &str = "running";
pub const DONE: &str = "done";
pub const FAILED: &str = "failed";
pub const CANCELLED: &str = "cancelled";

pub struct NewJob {
    pub kind: &'static str,
    pub grant_id: Option<String>,
    pub lock_key: Option<String>,
    pub payload: serde_json::Value,
    pub due_at: i64,
}

pub async fn enqueue(c: &impl ConnectionTrait, job: NewJob) -> Result<(), StoreError> {
    let at = now();
    let row = jobs::ActiveModel {
        kind: Set(job.kind.to_owned()),
        grant_id: Set(job.grant_id),
        lock_key: Set(job.lock_key),
        payload: Set(job.payload.to_string()),
        status: Set(PENDING.to_owned()),
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

/// Claims up to `limit` due jobs for `owner` until `now + lease_ms`: pending jobs that are
/// due, and running jobs whose lease ran out (their owner died). Never two jobs with the same
/// lock key at once. On PostgreSQL, `FOR UPDATE SKIP LOCKED` lets replicas claim side by side
/// without waiting for or double-claiming each other's rows.
pub async fn claim(store: &Store, owner: &str, limit: u64, lease_ms: i64) -> Result<Vec<Job>, StoreError> {
    let tx = store.begin().await?;
    let at = now();
    let busy_keys = Query::select()
        .column(jobs::Column::LockKey)
        .from(jobs::Entity)
        .and_where(Expr::col(jobs::Column::Status).eq(RUNNING))
        .and_where(Expr::col(jobs::Column::LeaseUntil).gte(at))
        .and_where(Expr::col(jobs::Column::LockKey).is_not_null())
        .to_owned();
    let mut query = jobs::Entity::find()
        .filter(
            Condition::any()
                .add(jobs::Column::Status.eq(PENDING).and(jobs::Column::DueAt.lte(at)))
                .add(jobs::Column::Status.eq(RUNNING).and(jobs::Column::LeaseUntil.lt(at))),
        )
        .filter(
            Condition::any().add(jobs::Column::LockKey.is_null()).add(jobs::Column::LockKey.not_in_subquery(busy_keys)),
        )
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
        job.status = RUNNING.to_owned();
        job.lease_owner = Some(owner.to_owned());
        job.lease_until = Some(at + lease_ms);
        job.attempts += 1;
        job.updated_at = at;
        jobs::Entity::update_many()
            .col_expr(jobs::Column::Status, Expr::value(RUNNING))
            .col_expr(jobs::Column::LeaseOwner, Expr::value(owner))
            .col_expr(jobs::Column::LeaseUntil, Expr::value(at + lease_ms))
            .col_expr(jobs::Column::Attempts, Expr::value(job.attempts))
            .col_expr(jobs::Column::UpdatedAt, Expr::value(at))
            .filter(jobs::Column::Id.eq(job.id))
            .exec(&tx)
            .await?;
        claimed.push(job);
    }
    tx.commit().await?;
    Ok(claimed)
}

/// Sets a claimed job's outcome, only while `owner` still holds its lease; returns whether it
/// did (false: the lease ran out and another worker owns the job now).
pub async fn settle(
    c: &impl ConnectionTrait,
    job: &Job,
    owner: &str,
    status: &str,
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
        .filter(jobs::Column::Id.eq(job.id))
        .filter(jobs::Column::Status.eq(RUNNING))
        .filter(jobs::Column::LeaseOwner.eq(owner))
        .exec(c)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Gives back every job `owner` still holds (graceful shutdown), to run again at once.
pub async fn release_all(c: &impl ConnectionTrait, owner: &str) -> Result<u64, StoreError> {
    let res = jobs::Entity::update_many()
        .col_expr(jobs::Column::Status, Expr::value(PENDING))
        .col_expr(jobs::Column::LeaseOwner, Expr::value(Option::<String>::None))
        .col_expr(jobs::Column::LeaseUntil, Expr::value(Option::<i64>::None))
        .filter(jobs::Column::Status.eq(RUNNING))
        .filter(jobs::Column::LeaseOwner.eq(owner))
        .exec(c)
        .await?;
    Ok(res.rows_affected)
}

/// Cancels the pending jobs of one kind for a grant (e.g. its expiry, once it was revoked).
pub async fn cancel_pending(c: &impl ConnectionTrait, grant_id: &str, kind: &str) -> Result<(), StoreError> {
    jobs::Entity::update_many()
        .col_expr(jobs::Column::Status, Expr::value(CANCELLED))
        .col_expr(jobs::Column::UpdatedAt, Expr::value(now()))
        .filter(jobs::Column::GrantId.eq(grant_id))
        .filter(jobs::Column::Kind.eq(kind))
        .filter(jobs::Column::Status.eq(PENDING))
        .exec(c)
        .await?;
    Ok(())
}

/// The earliest instant at which some job becomes runnable (pending due, or a lease ending).
pub async fn next_due(c: &impl ConnectionTrait) -> Result<Option<i64>, StoreError> {
    let pending: Option<Option<i64>> = jobs::Entity::find()
        .select_only()
        .column_as(jobs::Column::DueAt.min(), "t")
        .filter(jobs::Column::Status.eq(PENDING))
        .into_tuple()
        .one(c)
        .await?;
    let leases: Option<Option<i64>> = jobs::Entity::find()
        .select_only()
        .column_as(jobs::Column::LeaseUntil.min(), "t")
        .filter(jobs::Column::Status.eq(RUNNING))
        .into_tuple()
        .one(c)
        .await?;
    Ok([pending.flatten(), leases.flatten()].into_iter().flatten().min())
}

/// Is an effect with this lock key in flight: running, or due to run within `margin_ms`?
/// (A grant's expiry, due later, is not.)
pub async fn in_flight(c: &impl ConnectionTrait, lock_key: &str, margin_ms: i64) -> Result<bool, StoreError> {
    Ok(jobs::Entity::find()
        .filter(jobs::Column::LockKey.eq(lock_key))
        .filter(
            Condition::any()
                .add(jobs::Column::Status.eq(RUNNING))
                .add(jobs::Column::Status.eq(PENDING).and(jobs::Column::DueAt.lte(now() + margin_ms))),
        )
        .one(c)
        .await?
        .is_some())
}

pub async fn for_grant(c: &impl ConnectionTrait, grant_id: &str) -> Result<Vec<Job>, StoreError> {
    Ok(jobs::Entity::find().filter(jobs::Column::GrantId.eq(grant_id)).order_by_asc(jobs::Column::Id).all(c).await?)
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
            count(Condition::all().add(jobs::Column::Status.eq(PENDING)).add(jobs::Column::DueAt.lte(now()))).await?,
        ),
        ("running", count(Condition::all().add(jobs::Column::Status.eq(RUNNING))).await?),
        ("failed", count(Condition::all().add(jobs::Column::Status.eq(FAILED))).await?),
    ])
}
