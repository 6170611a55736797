//! Access requests.
use entity::requests;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, ExprTrait, IntoActiveModel, Iterable, QueryFilter,
    QueryOrder, QuerySelect,
    sea_query::{Asterisk, Expr, Query, SubQueryStatement},
};

use super::{StoreError, is_postgres};
use crate::domain::{Lifecycle, RequestEvent, RequestId, RequestStatus, now};

pub use requests::Model as Request;

/// The first key of the per-requester advisory locks ("PEND"; the second is the requester's hash).
const PENDING_LOCK: i32 = 0x5045_4e44;

pub async fn insert(c: &impl ConnectionTrait, row: Request) -> Result<(), StoreError> {
    requests::Entity::insert(row.into_active_model()).exec_without_returning(c).await?;
    Ok(())
}

/// Files `row` unless its requester already has `cap` requests pending (0: no cap); `false`
/// when refused. The count is the insert's own condition (`INSERT … SELECT … WHERE`), so
/// the two are one step: SQLite's write lock serializes it; on PostgreSQL a lock per
/// requester taken first (a transaction-scoped advisory lock in a key space of its own, let
/// go at commit) does, and the insert's snapshot, taken after the lock, counts what the
/// requester's other filings committed.
pub async fn insert_within_cap(c: &impl ConnectionTrait, row: Request, cap: u32) -> Result<bool, StoreError> {
    if cap == 0 {
        insert(c, row).await?;
        return Ok(true);
    }
    if is_postgres(c) {
        lock_pending_of(c, &row.requester).await?;
    }
    let pending = Query::select()
        .expr(Expr::col(Asterisk).count())
        .from(requests::Entity)
        .and_where(requests::Column::Status.eq(RequestStatus::Pending))
        .and_where(requests::Column::Requester.eq(row.requester.as_str()))
        .to_owned();
    let model = row.into_active_model();
    let columns: Vec<requests::Column> = requests::Column::iter().collect();
    let mut values = Query::select();
    for column in &columns {
        let value = model.get(*column).into_value().ok_or_else(|| StoreError::Corrupt(format!("{column:?} unset")))?;
        values.expr(Expr::val(value));
    }
    values.and_where(Expr::SubQuery(None, Box::new(SubQueryStatement::SelectStatement(pending))).lt(i64::from(cap)));
    let mut statement = Query::insert();
    statement.into_table(requests::Entity).columns(columns);
    statement.select_from(values).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let done = c.execute(&statement).await?;
    Ok(done.rows_affected() == 1)
}

/// On PostgreSQL, the lock that makes counting a requester's pending requests and filing the
/// next one a single step.
async fn lock_pending_of(c: &impl ConnectionTrait, requester: &str) -> Result<(), StoreError> {
    c.execute_raw(sea_orm::Statement::from_sql_and_values(
        c.get_database_backend(),
        "SELECT pg_advisory_xact_lock($1, hashtext($2))",
        [PENDING_LOCK.into(), requester.into()],
    ))
    .await?;
    Ok(())
}

pub async fn get(c: &impl ConnectionTrait, id: &RequestId) -> Result<Option<Request>, StoreError> {
    Ok(requests::Entity::find_by_id(id.clone()).one(c).await?)
}

/// The requests of `ids` that exist, in one query.
pub async fn get_many(c: &impl ConnectionTrait, ids: &[RequestId]) -> Result<Vec<Request>, StoreError> {
    Ok(requests::Entity::find().filter(requests::Column::Id.is_in(ids.iter().cloned())).all(c).await?)
}

/// Reads a request for update: on PostgreSQL the row stays locked until the transaction ends,
/// so concurrent decisions on one request are taken one after the other (on SQLite the write
/// transaction already serialises them).
pub async fn get_for_update(c: &impl ConnectionTrait, id: &RequestId) -> Result<Option<Request>, StoreError> {
    let mut query = requests::Entity::find_by_id(id.clone());
    if is_postgres(c) {
        query = query.lock_exclusive();
    }
    Ok(query.one(c).await?)
}

/// `get_for_update` for a transition that ends the request, with the extensions of it still
/// waiting for approval (which lose their purpose), in one statement; on PostgreSQL all of
/// them stay locked until the transaction ends, so no decision on an extension slips in
/// between this read and its cancellation.
pub async fn get_ending_for_update(
    c: &impl ConnectionTrait,
    id: &RequestId,
) -> Result<Option<(Request, Vec<Request>)>, StoreError> {
    let pending_extension =
        requests::Column::Extends.eq(id.clone()).and(requests::Column::Status.eq(RequestStatus::Pending));
    let mut query = requests::Entity::find()
        .filter(requests::Column::Id.eq(id.clone()).or(pending_extension))
        .order_by_asc(requests::Column::Id);
    if is_postgres(c) {
        query = query.lock_exclusive();
    }
    let (mut found, extensions): (Vec<Request>, Vec<Request>) =
        query.all(c).await?.into_iter().partition(|r| r.id == *id);
    Ok(found.pop().map(|request| (request, extensions)))
}

/// The request after `event`: the status the one state machine (`RequestStatus::on`) gives,
/// or its refusal.
pub fn after(request: &Request, event: RequestEvent) -> Result<Request, StoreError> {
    Ok(Request { status: request.status.on(event)?, ..request.clone() })
}

/// Writes `after` only if the stored row still has `before`'s version (optimistic check that
/// makes a lost update impossible even without the row lock); bumps the version.
pub async fn update(c: &impl ConnectionTrait, before: &Request, mut after: Request) -> Result<Request, StoreError> {
    after.version = before.version + 1;
    after.updated_at = now();
    let active = after.clone().into_active_model().reset_all();
    let res = requests::Entity::update_many()
        .set(active)
        .filter(requests::Column::Id.eq(before.id.clone()))
        .filter(requests::Column::Version.eq(before.version))
        .exec(c)
        .await?;
    if res.rows_affected != 1 {
        return Err(StoreError::Corrupt(format!("request {} changed under a locked update", before.id)));
    }
    Ok(after)
}

#[derive(Debug, Default)]
pub struct Filter {
    pub status: Option<RequestStatus>,
    pub requester: Option<String>,
    /// Only requests this caller filed (a delegate bot's own).
    pub filed_by: Option<String>,
    /// Only requests whose id sorts before this one (ids are UUIDv7: newest first).
    pub before_id: Option<String>,
    pub limit: u64,
}

pub async fn list(c: &impl ConnectionTrait, filter: Filter) -> Result<Vec<Request>, StoreError> {
    let mut query = requests::Entity::find().order_by_desc(requests::Column::Id).limit(filter.limit);
    if let Some(status) = filter.status {
        query = query.filter(requests::Column::Status.eq(status.as_str()));
    }
    if let Some(requester) = filter.requester {
        query = query.filter(requests::Column::Requester.eq(requester));
    }
    if let Some(filer) = filter.filed_by {
        query = query.filter(requests::Column::FiledBy.eq(filer));
    }
    if let Some(before) = filter.before_id {
        query = query.filter(requests::Column::Id.lt(before));
    }
    Ok(query.all(c).await?)
}

pub async fn pending(c: &impl ConnectionTrait) -> Result<Vec<Request>, StoreError> {
    Ok(requests::Entity::find()
        .filter(requests::Column::Status.eq(RequestStatus::Pending))
        .order_by_asc(requests::Column::CreatedAt)
        .all(c)
        .await?)
}

pub async fn ids_pending_past_due(c: &impl ConnectionTrait, at: i64) -> Result<Vec<RequestId>, StoreError> {
    Ok(requests::Entity::find()
        .select_only()
        .column(requests::Column::Id)
        .filter(requests::Column::Status.eq(RequestStatus::Pending))
        .filter(requests::Column::DecisionDueAt.lte(at))
        .into_tuple()
        .all(c)
        .await?)
}

/// The extension chain `id` belongs to: its first request and every request that extends it,
/// transitively (`id` included), oldest first.
pub async fn chain_of(c: &impl ConnectionTrait, id: &RequestId) -> Result<Vec<Request>, StoreError> {
    let Some(mut root) = get(c, id).await? else { return Ok(Vec::new()) };
    while let Some(parent) = root.extends.clone() {
        match get(c, &parent).await? {
            Some(p) => root = p,
            None => break,
        }
    }
    let mut frontier = vec![root.id.clone()];
    let mut chain = vec![root];
    while !frontier.is_empty() {
        let next = requests::Entity::find()
            .filter(requests::Column::Extends.is_in(frontier))
            .order_by_asc(requests::Column::Id)
            .all(c)
            .await?;
        frontier = next.iter().map(|r| r.id.clone()).collect();
        chain.extend(next);
    }
    chain.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(chain)
}

/// Marks the request's access as over (membership removed or, for standing or overlapping
/// membership, the grant's end handled). Not a state transition: the status already says why.
/// The version still moves on, so that no write from an older copy can undo it.
pub async fn set_ended(c: &impl ConnectionTrait, id: &RequestId, at: i64) -> Result<(), StoreError> {
    requests::Entity::update_many()
        .col_expr(requests::Column::EndedAt, Expr::value(at))
        .col_expr(requests::Column::UpdatedAt, Expr::value(now()))
        .col_expr(requests::Column::Version, Expr::col(requests::Column::Version).add(1))
        .filter(requests::Column::Id.eq(id.clone()))
        .exec(c)
        .await?;
    Ok(())
}

/// What a reminder sweep records about a pending request.
#[derive(Debug, Clone, Copy)]
pub enum Nudge {
    Reminded,
    Escalated,
}

/// Records that the approvers were reminded, or the escalation approvers called in. Not a
/// change of the request: its version stays, so the links already sent stay good.
pub async fn record_nudge(c: &impl ConnectionTrait, id: &RequestId, nudge: Nudge, at: i64) -> Result<(), StoreError> {
    let column = match nudge {
        Nudge::Reminded => requests::Column::RemindedAt,
        Nudge::Escalated => requests::Column::EscalatedAt,
    };
    requests::Entity::update_many()
        .col_expr(column, Expr::value(at))
        .filter(requests::Column::Id.eq(id.clone()))
        .exec(c)
        .await?;
    Ok(())
}

/// How many requests are in each status.
pub async fn count_by_status(c: &impl ConnectionTrait) -> Result<Vec<(String, i64)>, StoreError> {
    Ok(requests::Entity::find()
        .select_only()
        .column(requests::Column::Status)
        .column_as(requests::Column::Id.count(), "n")
        .group_by(requests::Column::Status)
        .into_tuple()
        .all(c)
        .await?)
}
