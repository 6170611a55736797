//! Approval decisions: one per approver and request.
use sea_orm::entity::prelude::*;

pub use crate::ids::RequestId;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "decisions")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub request_id: RequestId,
    pub approver: String,
    pub stage: i32,
    /// `approve` or `deny`.
    pub decision: String,
    pub comment: Option<String>,
    pub decided_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
