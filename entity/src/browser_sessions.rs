//! Browser sessions, kept on the server: the cookie holds a random key, this table its
//! SHA-256 (so that reading the table does not let anyone sign in as its users).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "browser_sessions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub key_hash: String,
    /// The user's UPN as the directory named them at sign-in.
    pub subject: String,
    /// The user's directory object id.
    pub user_id: String,
    /// Comma-separated role names, as last read from the directory.
    pub roles: String,
    /// Comma-separated authentication methods of the sign-in.
    pub amr: String,
    pub mfa_at: Option<i64>,
    pub created_at: i64,
    pub expires_at: i64,
    pub roles_checked_at: i64,
    pub ended_at: Option<i64>,
    pub ended_by: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
