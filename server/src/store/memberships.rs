//! What Elevate knows of one user's membership in one group (see `entity::memberships`).
use entity::memberships;
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, IntoActiveModel, sea_query::OnConflict};

use super::StoreError;

pub use memberships::Model as Membership;

pub async fn get(c: &impl ConnectionTrait, user_id: &str, group_id: &str) -> Result<Option<Membership>, StoreError> {
    Ok(memberships::Entity::find_by_id((user_id.to_owned(), group_id.to_owned())).one(c).await?)
}

/// Writes the row whole, creating it when it is new.
pub async fn save(c: &impl ConnectionTrait, m: Membership) -> Result<(), StoreError> {
    let row = m.into_active_model().reset_all();
    memberships::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([memberships::Column::UserId, memberships::Column::GroupId])
                .update_columns([
                    memberships::Column::Upn,
                    memberships::Column::Standing,
                    memberships::Column::AddedAt,
                    memberships::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(c)
        .await?;
    Ok(())
}
