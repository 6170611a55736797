//! Credentials that can be taken back: issued API tokens, per-subject token cut-offs, and
//! browser sessions.
use entity::{api_tokens, browser_sessions, token_cutoffs};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, EntityTrait, ExprTrait, QueryFilter, QueryOrder,
    sea_query::{Alias, Expr, OnConflict, Query},
};

use super::StoreError;

pub use entity::{api_tokens::Model as IssuedToken, browser_sessions::Model as Session};

pub async fn record_token(c: &impl ConnectionTrait, token: IssuedToken) -> Result<(), StoreError> {
    api_tokens::Entity::insert(api_tokens::ActiveModel::from(token)).exec(c).await?;
    Ok(())
}

/// The tokens issued (to `subject`, when given), newest first.
pub async fn tokens(c: &impl ConnectionTrait, subject: Option<&str>) -> Result<Vec<IssuedToken>, StoreError> {
    let mut query = api_tokens::Entity::find().order_by_desc(api_tokens::Column::IssuedAt);
    if let Some(subject) = subject {
        query = query.filter(api_tokens::Column::Subject.eq(subject));
    }
    Ok(query.all(c).await?)
}

/// Marks one token revoked; the token as it now stands (`None`: Elevate never issued it).
pub async fn revoke_token(
    c: &impl ConnectionTrait,
    jti: &str,
    by: &str,
    at: i64,
) -> Result<Option<IssuedToken>, StoreError> {
    api_tokens::Entity::update_many()
        .col_expr(api_tokens::Column::RevokedAt, Expr::value(at))
        .col_expr(api_tokens::Column::RevokedBy, Expr::value(by))
        .filter(api_tokens::Column::Jti.eq(jti))
        .filter(api_tokens::Column::RevokedAt.is_null())
        .exec(c)
        .await?;
    Ok(api_tokens::Entity::find_by_id(jti).one(c).await?)
}

/// Refuses every token of `subject` issued before `at` (those Elevate issued are also marked
/// revoked); how many of Elevate's own were still live.
pub async fn cut_off(c: &impl ConnectionTrait, subject: &str, by: &str, at: i64) -> Result<u64, StoreError> {
    let row = token_cutoffs::ActiveModel { subject: Set(subject.to_owned()), not_before: Set(at) };
    token_cutoffs::Entity::insert(row)
        .on_conflict(
            OnConflict::column(token_cutoffs::Column::Subject)
                .update_column(token_cutoffs::Column::NotBefore)
                .to_owned(),
        )
        .exec(c)
        .await?;
    let revoked = api_tokens::Entity::update_many()
        .col_expr(api_tokens::Column::RevokedAt, Expr::value(at))
        .col_expr(api_tokens::Column::RevokedBy, Expr::value(by))
        .filter(api_tokens::Column::Subject.eq(subject))
        .filter(api_tokens::Column::RevokedAt.is_null())
        .filter(api_tokens::Column::ExpiresAt.gt(at))
        .exec(c)
        .await?;
    Ok(revoked.rows_affected)
}

/// A token presented to Elevate, as the revocation check needs it: its id, whose it is, and
/// when it was issued (ms; `None` when it does not say).
pub struct Presented<'a> {
    pub jti: &'a str,
    pub subject: &'a str,
    pub issued_at: Option<i64>,
}

impl Presented<'_> {
    /// True when the token is revoked or cut off; a token without an issue time is cut off by
    /// any cut-off. An expression, so that a read can carry the check in its own statement.
    pub fn refused(&self) -> Expr {
        let revoked = Query::select()
            .expr(Expr::val(1))
            .from(api_tokens::Entity)
            .and_where(Expr::col(api_tokens::Column::Jti).eq(self.jti))
            .and_where(Expr::col(api_tokens::Column::RevokedAt).is_not_null())
            .to_owned();
        let cut_off = Query::select()
            .expr(Expr::val(1))
            .from(token_cutoffs::Entity)
            .and_where(Expr::col(token_cutoffs::Column::Subject).eq(self.subject))
            .and_where(Expr::col(token_cutoffs::Column::NotBefore).gt(self.issued_at.unwrap_or(i64::MIN)))
            .to_owned();
        Expr::exists(revoked).or(Expr::exists(cut_off))
    }
}

/// Is `token` revoked or cut off? One statement: it runs on every API call.
pub async fn is_revoked(c: &impl ConnectionTrait, token: &Presented<'_>) -> Result<bool, StoreError> {
    let query = Query::select().expr_as(token.refused(), Alias::new("refused")).to_owned();
    let row = c.query_one(&query).await?;
    Ok(row.map(|r| r.try_get::<bool>("", "refused")).transpose()?.unwrap_or(false))
}

pub async fn insert_session(c: &impl ConnectionTrait, session: Session) -> Result<(), StoreError> {
    browser_sessions::Entity::insert(browser_sessions::ActiveModel::from(session)).exec(c).await?;
    Ok(())
}

/// The session with this key hash, while it has neither ended nor expired.
pub async fn live_session(c: &impl ConnectionTrait, key_hash: &str, now: i64) -> Result<Option<Session>, StoreError> {
    Ok(browser_sessions::Entity::find_by_id(key_hash)
        .filter(browser_sessions::Column::EndedAt.is_null())
        .filter(browser_sessions::Column::ExpiresAt.gt(now))
        .one(c)
        .await?)
}

pub async fn set_session_roles(
    c: &impl ConnectionTrait,
    key_hash: &str,
    roles: &str,
    at: i64,
) -> Result<(), StoreError> {
    browser_sessions::Entity::update_many()
        .col_expr(browser_sessions::Column::Roles, Expr::value(roles))
        .col_expr(browser_sessions::Column::RolesCheckedAt, Expr::value(at))
        .filter(browser_sessions::Column::KeyHash.eq(key_hash))
        .exec(c)
        .await?;
    Ok(())
}

/// Ends the live sessions with this key hash, or of this subject; how many there were.
pub async fn end_sessions(
    c: &impl ConnectionTrait,
    which: SessionsOf<'_>,
    by: &str,
    at: i64,
) -> Result<u64, StoreError> {
    let (column, value) = match which {
        SessionsOf::Key(hash) => (browser_sessions::Column::KeyHash, hash),
        SessionsOf::Subject(upn) => (browser_sessions::Column::Subject, upn),
    };
    let ended = browser_sessions::Entity::update_many()
        .col_expr(browser_sessions::Column::EndedAt, Expr::value(at))
        .col_expr(browser_sessions::Column::EndedBy, Expr::value(by))
        .filter(column.eq(value))
        .filter(browser_sessions::Column::EndedAt.is_null())
        .filter(browser_sessions::Column::ExpiresAt.gt(at))
        .exec(c)
        .await?;
    Ok(ended.rows_affected)
}

/// Which sessions to end.
#[derive(Debug, Clone, Copy)]
pub enum SessionsOf<'a> {
    Key(&'a str),
    Subject(&'a str),
}

/// Forgets sessions that ended or expired more than a day ago.
pub async fn forget_old_sessions(c: &impl ConnectionTrait, now: i64) -> Result<u64, StoreError> {
    let day_ago = now - 24 * 3600 * 1000;
    let gone = browser_sessions::Entity::delete_many()
        .filter(browser_sessions::Column::ExpiresAt.lt(day_ago).or(browser_sessions::Column::EndedAt.lt(day_ago)))
        .exec(c)
        .await?;
    Ok(gone.rows_affected)
}
