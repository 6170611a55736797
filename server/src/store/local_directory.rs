//! Groups and memberships of the built-in `local` directory.
use entity::{local_group_members as members, local_groups as groups};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, sea_query::OnConflict,
};

use super::StoreError;
use crate::domain::now;

pub async fn upsert_group(c: &impl ConnectionTrait, id: &str, display_name: &str) -> Result<(), StoreError> {
    let row = groups::ActiveModel { id: Set(id.to_owned()), display_name: Set(display_name.to_owned()) };
    groups::Entity::insert(row)
        .on_conflict(OnConflict::column(groups::Column::Id).update_column(groups::Column::DisplayName).to_owned())
        .exec(c)
        .await?;
    Ok(())
}

pub async fn group_exists(c: &impl ConnectionTrait, id: &str) -> Result<bool, StoreError> {
    Ok(group_name(c, id).await?.is_some())
}

pub async fn group_name(c: &impl ConnectionTrait, id: &str) -> Result<Option<String>, StoreError> {
    Ok(groups::Entity::find_by_id(id.to_owned()).one(c).await?.map(|g| g.display_name))
}

pub async fn is_member(c: &impl ConnectionTrait, group: &str, user: &str) -> Result<bool, StoreError> {
    Ok(members::Entity::find_by_id((group.to_owned(), user.to_owned())).one(c).await?.is_some())
}

/// Adds the membership; returns false when it was already there.
pub async fn add_member(c: &impl ConnectionTrait, group: &str, user: &str) -> Result<bool, StoreError> {
    let row =
        members::ActiveModel { group_id: Set(group.to_owned()), user_id: Set(user.to_owned()), added_at: Set(now()) };
    let inserted = members::Entity::insert(row)
        .on_conflict(OnConflict::columns([members::Column::GroupId, members::Column::UserId]).do_nothing().to_owned())
        .exec_without_returning(c)
        .await?;
    Ok(inserted > 0)
}

/// Removes the membership; returns false when there was none.
pub async fn remove_member(c: &impl ConnectionTrait, group: &str, user: &str) -> Result<bool, StoreError> {
    let res = members::Entity::delete_many()
        .filter(members::Column::GroupId.eq(group))
        .filter(members::Column::UserId.eq(user))
        .exec(c)
        .await?;
    Ok(res.rows_affected > 0)
}

pub async fn member_ids(c: &impl ConnectionTrait, group: &str) -> Result<Vec<String>, StoreError> {
    Ok(members::Entity::find()
        .select_only()
        .column(members::Column::UserId)
        .filter(members::Column::GroupId.eq(group))
        .into_tuple()
        .all(c)
        .await?)
}

pub async fn group_ids_of(c: &impl ConnectionTrait, user: &str) -> Result<Vec<String>, StoreError> {
    Ok(members::Entity::find()
        .select_only()
        .column(members::Column::GroupId)
        .filter(members::Column::UserId.eq(user))
        .into_tuple()
        .all(c)
        .await?)
}
