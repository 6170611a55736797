//! Audit events recorded but not yet sealed into the chain (`audit_events`). `entry` numbers
//! them without gaps as their transaction commits (NULL until then); `mac` authenticates the
//! fields with a key the database never holds.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_entries")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub entry: Option<i64>,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub subject: String,
    /// JSON text, exactly as it will be hashed.
    pub details: String,
    pub mac: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
