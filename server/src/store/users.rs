//! The directory identity cache.
use entity::users;
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, EntityTrait, ExprTrait, QueryFilter,
    sea_query::{Expr, OnConflict},
};

use super::StoreError;
use crate::{domain::now, providers::directory::DirectoryUser};

/// Does `row` record `user` as the directory describes them now?
pub fn records(row: &users::Model, user: &DirectoryUser) -> bool {
    row.id == user.id && row.upn == user.upn.as_str() && row.display_name == user.display_name && row.mail == user.mail
}

/// Records the directory's answer about a user in one statement: inserted when new, updated
/// only when it changed (an unchanged row keeps its `updated_at`). A filing calls it only for
/// a user its read beside the directory lookup did not find recorded as-is, so filings for a
/// known user (the common case) never write, nor wait for each other, here.
pub async fn upsert(c: &impl ConnectionTrait, user: &DirectoryUser) -> Result<(), StoreError> {
    let row = users::ActiveModel {
        id: Set(user.id.clone()),
        upn: Set(user.upn.as_str().to_owned()),
        display_name: Set(user.display_name.clone()),
        mail: Set(user.mail.clone()),
        updated_at: Set(now()),
    };
    // `IS DISTINCT FROM` (PostgreSQL, and SQLite since 3.39): `mail` may be null.
    let changed = Expr::cust(
        r#""users"."upn" IS DISTINCT FROM "excluded"."upn"
        OR "users"."display_name" IS DISTINCT FROM "excluded"."display_name"
        OR "users"."mail" IS DISTINCT FROM "excluded"."mail""#,
    );
    users::Entity::insert(row)
        .on_conflict(
            OnConflict::column(users::Column::Id)
                .update_columns([
                    users::Column::Upn,
                    users::Column::DisplayName,
                    users::Column::Mail,
                    users::Column::UpdatedAt,
                ])
                .action_and_where(changed)
                .to_owned(),
        )
        .exec_without_returning(c)
        .await?;
    Ok(())
}

pub async fn by_upn_or_id(c: &impl ConnectionTrait, key: &str) -> Result<Option<users::Model>, StoreError> {
    let lower = key.to_ascii_lowercase();
    Ok(users::Entity::find().filter(users::Column::Upn.eq(lower).or(users::Column::Id.eq(key))).one(c).await?)
}

/// Users whose mail (or, without one, UPN) is `mail`, compared without case.
pub async fn by_mail(c: &impl ConnectionTrait, mail: &str) -> Result<Vec<users::Model>, StoreError> {
    use sea_orm::sea_query::Func;
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
