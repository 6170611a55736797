//! Grants: one user's membership in one group on behalf of one request.
use entity::grants;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter};

use super::StoreError;
use crate::domain::{GrantId, RequestId};

pub use grants::{GrantState, Model as Grant};

pub async fn insert(c: &impl ConnectionTrait, grant: Grant) -> Result<(), StoreError> {
    grants::Entity::insert(grant.into_active_model()).exec_without_returning(c).await?;
    Ok(())
}

pub async fn get(c: &impl ConnectionTrait, id: &GrantId) -> Result<Option<Grant>, StoreError> {
    Ok(grants::Entity::find_by_id(id.clone()).one(c).await?)
}

pub async fn for_request(c: &impl ConnectionTrait, request_id: &RequestId) -> Result<Option<Grant>, StoreError> {
    Ok(grants::Entity::find().filter(grants::Column::RequestId.eq(request_id.clone())).one(c).await?)
}

/// The grants of `request_ids` (a request has at most one), in one query.
pub async fn for_requests(c: &impl ConnectionTrait, request_ids: &[RequestId]) -> Result<Vec<Grant>, StoreError> {
    Ok(grants::Entity::find().filter(grants::Column::RequestId.is_in(request_ids.iter().cloned())).all(c).await?)
}

pub async fn save(c: &impl ConnectionTrait, grant: Grant) -> Result<Grant, StoreError> {
    Ok(grant.into_active_model().reset_all().update(c).await?)
}

/// Every grant on `group` that is in one of `states`.
pub async fn in_group(
    c: &impl ConnectionTrait,
    group_id: &str,
    states: &[GrantState],
) -> Result<Vec<Grant>, StoreError> {
    Ok(grants::Entity::find()
        .filter(grants::Column::GroupId.eq(group_id))
        .filter(grants::Column::State.is_in(states.iter().copied()))
        .all(c)
        .await?)
}

/// Moves a grant from `from` to `after.state` (writing all of `after`), only if its stored
/// state is still `from`; returns whether it did. Two writers racing can never both win.
pub async fn transition(c: &impl ConnectionTrait, from: GrantState, after: &Grant) -> Result<bool, StoreError> {
    let res = grants::Entity::update_many()
        .set(after.clone().into_active_model().reset_all())
        .filter(grants::Column::Id.eq(after.id.clone()))
        .filter(grants::Column::State.eq(from))
        .exec(c)
        .await?;
    Ok(res.rows_affected == 1)
}

pub async fn count_active(c: &impl ConnectionTrait) -> Result<i64, StoreError> {
    use sea_orm::PaginatorTrait;
    let n = grants::Entity::find().filter(grants::Column::State.eq(GrantState::Active)).count(c).await?;
    Ok(i64::try_from(n).unwrap_or(i64::MAX))
}
