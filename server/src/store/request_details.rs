//! One request with its grant, review and decisions, in one statement: a request's page is
//! the most frequent read, and one statement is one round trip and one consistent snapshot on
//! both databases (no transaction to open and close around four reads). The API's read also
//! asks, in the same statement, whether its caller's token was revoked.
use entity::{break_glass_reviews as reviews, decisions, grants, requests};
use sea_orm::{
    ConnectionTrait, EntityTrait, ExprTrait, FromQueryResult, IdenStatic, Iterable, QueryResult,
    sea_query::{Alias, Expr, Order, Query, SelectStatement},
};

use super::{StoreError, credentials::Presented};
use crate::domain::RequestId;

/// What `one` found: the request, and what belongs to it.
pub struct Found {
    pub request: requests::Model,
    pub grant: Option<grants::Model>,
    pub review: Option<reviews::Model>,
    /// In the order they were made.
    pub decisions: Vec<decisions::Model>,
}

/// The request `id` joined to its grant, its review and its decisions: one row per decision
/// (or one row without any), each carrying the request, grant and review again.
pub async fn one(c: &impl ConnectionTrait, id: &RequestId) -> Result<Option<Found>, StoreError> {
    Ok(read(c, id, Expr::val(false)).await?.1)
}

/// [`one`], and whether `token` is revoked, in the same statement: the API's most frequent
/// call checks its caller's token and reads in one round trip instead of two.
pub async fn one_for(
    c: &impl ConnectionTrait,
    id: &RequestId,
    token: &Presented<'_>,
) -> Result<(bool, Option<Found>), StoreError> {
    read(c, id, token.refused()).await
}

/// `refused`, then the request joined to what belongs to it: the joins hang off a one-row
/// table, so the statement answers `refused` even when there is no such request.
async fn read(c: &impl ConnectionTrait, id: &RequestId, refused: Expr) -> Result<(bool, Option<Found>), StoreError> {
    let flag = Alias::new("t");
    let mut query = Query::select();
    query
        .from_subquery(Query::select().expr_as(refused, Alias::new("refused")).to_owned(), flag.clone())
        .expr_as(Expr::col((flag, Alias::new("refused"))), Alias::new("refused"));
    prefixed::<requests::Entity>(&mut query, "r_");
    prefixed::<grants::Entity>(&mut query, "g_");
    prefixed::<reviews::Entity>(&mut query, "v_");
    prefixed::<decisions::Entity>(&mut query, "d_");
    query
        .left_join(requests::Entity, Expr::col((requests::Entity, requests::Column::Id)).eq(id.clone()))
        .left_join(
            grants::Entity,
            Expr::col((grants::Entity, grants::Column::RequestId)).equals((requests::Entity, requests::Column::Id)),
        )
        .left_join(
            reviews::Entity,
            Expr::col((reviews::Entity, reviews::Column::RequestId)).equals((requests::Entity, requests::Column::Id)),
        )
        .left_join(
            decisions::Entity,
            Expr::col((decisions::Entity, decisions::Column::RequestId))
                .equals((requests::Entity, requests::Column::Id)),
        )
        .order_by((decisions::Entity, decisions::Column::Id), Order::Asc);
    let rows = c.query_all(&query).await?;
    let first = rows.first().ok_or_else(|| StoreError::Corrupt("a one-row table answered no row".into()))?;
    let refused = first.try_get::<bool>("", "refused")?;
    let Some(request) = present::<requests::Model>(first, "r_", "id")? else { return Ok((refused, None)) };
    let mut decisions = Vec::new();
    for row in &rows {
        decisions.extend(present(row, "d_", "request_id")?);
    }
    let found = Found {
        request,
        grant: present(first, "g_", "request_id")?,
        review: present(first, "v_", "request_id")?,
        decisions,
    };
    Ok((refused, Some(found)))
}

/// Selects every column of `E` as `{prefix}{column}`.
fn prefixed<E: EntityTrait>(query: &mut SelectStatement, prefix: &str) {
    for column in E::Column::iter() {
        query.expr_as(Expr::col((E::default(), column)), Alias::new(format!("{prefix}{}", column.as_str())));
    }
}

/// The model under `prefix` in `row`, or `None` when the left join found none (its `key`
/// column, text and never null in a stored row, is null).
fn present<M: FromQueryResult>(row: &QueryResult, prefix: &str, key: &str) -> Result<Option<M>, sea_orm::DbErr> {
    let key: Option<String> = row.try_get(prefix, key)?;
    key.map(|_| M::from_query_result(row, prefix)).transpose()
}
