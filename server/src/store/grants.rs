//! Grants: one user's membership in one group on behalf of one request.
use entity::grants;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter};

use super::StoreError;

pub use grants::Model as Grant;

/// Grant states. `activating`: the add job is pending; `active`: membership confirmed;
/// `ending`: the grant is over and the remove job decides what to do with the membership;
/// `ended`: done.
pub const ACTIVATING: &str = "activating";
pub const ACTIVE: &str = "active";
pub const ENDING: &str = "ending";
pub const ENDED: &str = "ended";

pub async fn insert(c: &impl ConnectionTrait, grant: Grant) -> Result<(), StoreError> {
    grants::Entity::insert(grant.into_active_model()).exec_without_returning(c).await?;
    Ok(())
}

pub async fn get(c: &impl ConnectionTrait, id: &str) -> Result<Option<Grant>, StoreError> {
    Ok(grants::Entity::find_by_id(id.to_owned()).one(c).await?)
}

pub async fn for_request(c: &impl ConnectionTrait, request_id: &str) -> Result<Option<Grant>, StoreError> {
    Ok(grants::Entity::find().filter(grants::Column::RequestId.eq(request_id)).one(c).await?)
}

pub async fn save(c: &impl ConnectionTrait, grant: Grant) -> Result<Grant, StoreError> {
    Ok(grant.into_active_model().reset_all().update(c).await?)
}

/// Every grant on `group` that is in one of `states`.
pub async fn in_group(c: &impl ConnectionTrait, group_id: &str, states: &[&str]) -> Result<Vec<Grant>, StoreError> {
    Ok(grants::Entity::find()
        .filter(grants::Column::GroupId.eq(group_id))
        .filter(grants::Column::State.is_in(states.iter().copied()))
        .all(c)
        .await?)
}

/// This user's other grants in this group that are in one of `states`.
async fn others(
    c: &impl ConnectionTrait,
    user_id: &str,
    group_id: &str,
    except: &str,
    states: &[&str],
) -> Result<Vec<Grant>, StoreError> {
    Ok(grants::Entity::find()
        .filter(grants::Column::UserId.eq(user_id))
        .filter(grants::Column::GroupId.eq(group_id))
        .filter(grants::Column::State.is_in(states.iter().copied()))
        .filter(grants::Column::Id.ne(except))
        .all(c)
        .await?)
}

/// Other grants of this user in this group that still hold (or are about to hold) the
/// membership: while one exists, ending a grant must not remove it.
pub async fn covering(
    c: &impl ConnectionTrait,
    user_id: &str,
    group_id: &str,
    except: &str,
) -> Result<Vec<Grant>, StoreError> {
    others(c, user_id, group_id, except, &[ACTIVATING, ACTIVE]).await
}

/// Grants of this user in this group whose membership Elevate still holds or is still
/// deciding about (`ending` included), once they know whether it was standing: a new grant
/// inherits their `standing`.
pub async fn holding(
    c: &impl ConnectionTrait,
    user_id: &str,
    group_id: &str,
    except: &str,
) -> Result<Vec<Grant>, StoreError> {
    let mut found = others(c, user_id, group_id, except, &[ACTIVE, ENDING]).await?;
    found.retain(|g| g.standing.is_some());
    Ok(found)
}

pub async fn count_active(c: &impl ConnectionTrait) -> Result<i64, StoreError> {
    use sea_orm::PaginatorTrait;
    let n = grants::Entity::find().filter(grants::Column::State.eq(ACTIVE)).count(c).await?;
    Ok(i64::try_from(n).unwrap_or(i64::MAX))
}
