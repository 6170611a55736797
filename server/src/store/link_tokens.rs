//! Action-link tokens already spent, by `jti`: a link works once. Slack's request signatures
//! are spent here too (`slack:` and the signature): a signed request is taken once.
use entity::used_link_tokens;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::{StoreError, is_unique_violation};
use crate::domain::now;

/// Spends a token; `Ok(false)` when it was spent before.
pub async fn spend(c: &impl ConnectionTrait, jti: &str, expires_at: i64) -> Result<bool, StoreError> {
    let row =
        used_link_tokens::ActiveModel { jti: Set(jti.to_owned()), used_at: Set(now()), expires_at: Set(expires_at) };
    match used_link_tokens::Entity::insert(row).exec_without_returning(c).await {
        Ok(_) => Ok(true),
        Err(e) if is_unique_violation(&e) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

pub async fn is_spent(c: &impl ConnectionTrait, jti: &str) -> Result<bool, StoreError> {
    Ok(used_link_tokens::Entity::find_by_id(jti.to_owned()).one(c).await?.is_some())
}

/// Forgets tokens that have expired anyway (they are refused for that already).
pub async fn forget_expired(c: &impl ConnectionTrait) -> Result<u64, StoreError> {
    let res = used_link_tokens::Entity::delete_many()
        .filter(used_link_tokens::Column::ExpiresAt.lt(now() - 60_000))
        .exec(c)
        .await?;
    Ok(res.rows_affected)
}
