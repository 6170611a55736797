//! What Elevate knows of one user's membership in one group (see `entity::memberships`).
use entity::{grants, memberships};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, JoinType, QueryFilter, QueryOrder,
    QuerySelect, RelationTrait, sea_query::OnConflict,
};

use super::{
    StoreError,
    grants::{Grant, GrantState},
};

pub use memberships::Model as Membership;

async fn get(c: &impl ConnectionTrait, user_id: &str, group_id: &str) -> Result<Option<Membership>, StoreError> {
    Ok(memberships::Entity::find_by_id((user_id.to_owned(), group_id.to_owned())).one(c).await?)
}

/// The membership's row (when there is one) and its grants in one of `states`, oldest first:
/// what a sync reads before each pass, in one statement while any grant is in those states.
pub async fn with_grants(
    c: &impl ConnectionTrait,
    user_id: &str,
    group_id: &str,
    states: &[GrantState],
) -> Result<(Option<Membership>, Vec<Grant>), StoreError> {
    let rows = grants::Entity::find()
        .join(JoinType::LeftJoin, grants::Relation::Membership.def())
        .select_also(memberships::Entity)
        .filter(grants::Column::UserId.eq(user_id))
        .filter(grants::Column::GroupId.eq(group_id))
        .filter(grants::Column::State.is_in(states.iter().copied()))
        .order_by_asc(grants::Column::Id)
        .all(c)
        .await?;
    let Some(membership) = rows.first().map(|(_, m)| m.clone()) else {
        return Ok((get(c, user_id, group_id).await?, Vec::new()));
    };
    Ok((membership, rows.into_iter().map(|(g, _)| g).collect()))
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
