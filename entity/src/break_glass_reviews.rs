//! The after-the-fact review of a break-glass request: one per request.
use sea_orm::entity::prelude::*;

pub use crate::ids::RequestId;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "break_glass_reviews")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub request_id: RequestId,
    /// `justified` or `unjustified`.
    pub outcome: String,
    pub reviewer: String,
    pub comment: Option<String>,
    pub reviewed_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
