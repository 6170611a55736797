//! The outbox: every effect on the outside world is a durable job row.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "jobs")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub kind: String,
    pub grant_id: Option<String>,
    /// Jobs with the same key (one user in one group) never run at the same time, so that an
    /// add and a remove of one membership cannot overtake each other.
    pub lock_key: Option<String>,
    /// Job-specific arguments as JSON text.
    pub payload: String,
    /// `pending`, `running`, `done`, `failed`, `cancelled`.
    pub status: String,
    pub due_at: i64,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub lease_owner: Option<String>,
    pub lease_until: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
