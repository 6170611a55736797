//! The directory identity cache.
use entity::users;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, ExprTrait, QueryFilter, sea_query::OnConflict,
};

use super::StoreError;
use crate::{domain::now, providers::directory::DirectoryUser};

/// Does `row` record `user` as the directory describes them now?
pub fn records(row: &users::Model, user: &DirectoryUser) -> bool {
    row.id == user.id && row.upn == user.upn.as_str() && row.display_name == user.display_name && row.mail == user.mail
}

/// Records the directory's answer about a user: inserted when new, updated only when it
/// changed. An unchanged user (the common case) is only read, so filings for one user stored
/// in transactions side by side (PostgreSQL's `Store::commit_shared`) never wait for each other.
pub async fn upsert(c: &impl ConnectionTrait, user: &DirectoryUser) -> Result<(), StoreError> {
    let stored = users::Entity::find_by_id(user.id.clone()).one(c).await?;
    if stored.as_ref().is_some_and(|row| records(row, user)) {
        return Ok(());
    }
    let row = users::ActiveModel {
        id: Set(user.id.clone()),
        upn: Set(user.upn.as_str().to_owned()),
        display_name: Set(user.display_name.clone()),
        mail: Set(user.mail.clone()),
        updated_at: Set(now()),
    };
    users::Entity::insert(row)
        .on_conflict(
            OnConflict::column(users::Column::Id)
                .update_columns([
                    users::Column::Upn,
                    users::Column::DisplayName,
                    users::Column::Mail,
                    users::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec(c)
        .await?;
    Ok(())
}

pub async fn by_upn_or_id(c: &impl ConnectionTrait, key: &str) -> Result<Option<users::Model>, StoreError> {
    let lower = key.to_ascii_lowercase();
    Ok(users::Entity::find().filter(users::Column::Upn.eq(lower).or(users::Column::Id.eq(key))).one(c).await?)
}

/// Users whose mail (or, without one, UPN) is `mail`, compared without case.
pub async fn by_mail(c: &impl ConnectionTrait, mail: &str) -> Result<Vec<users::Model>, StoreError> {
    use sea_orm::sea_query::{Expr, Func};
    let lower = mail.to_ascii_lowercase();
    let of = |col: users::Column| Expr::expr(Func::lower(Expr::col(col))).eq(lower.clone());
    let no_mail = users::Column::Mail.is_null().and(of(users::Column::Upn));
    Ok(users::Entity::find().filter(of(users::Column::Mail).or(no_mail)).all(c).await?)
}

pub async fn by_ids(c: &impl ConnectionTrait, ids: Vec<String>) -> Result<Vec<users::Model>, StoreError> {
    Ok(users::Entity::find().filter(users::Column::Id.is_in(ids)).all(c).await?)
}

/// Every known user, by UPN (the demo sign-in page lists them).
pub async fn all(c: &impl ConnectionTrait) -> Result<Vec<users::Model>, StoreError> {
    use sea_orm::QueryOrder;
    Ok(users::Entity::find().order_by_asc(users::Column::Upn).all(c).await?)
}
