//! Each grant's CloudTrail activity (`grant_activity`): written whole by every collection.
use entity::grant_activity;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter};

use super::StoreError;
use crate::domain::{GrantId, RequestId};

pub use grant_activity::Model as GrantActivity;

pub async fn of_request(c: &impl ConnectionTrait, id: &RequestId) -> Result<Option<GrantActivity>, StoreError> {
    Ok(grant_activity::Entity::find().filter(grant_activity::Column::RequestId.eq(id.clone())).one(c).await?)
}

pub async fn of_grant(c: &impl ConnectionTrait, id: &GrantId) -> Result<Option<GrantActivity>, StoreError> {
    Ok(grant_activity::Entity::find_by_id(id.clone()).one(c).await?)
}

/// Inserts or replaces the grant's row (one collection runs per grant at a time: its job's
/// lock key).
pub async fn save(c: &impl ConnectionTrait, row: GrantActivity) -> Result<(), StoreError> {
    if of_grant(c, &row.grant_id).await?.is_some() {
        row.into_active_model().reset_all().update(c).await?;
    } else {
        grant_activity::Entity::insert(row.into_active_model()).exec_without_returning(c).await?;
    }
    Ok(())
}
