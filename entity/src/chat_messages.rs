//! A chat message that asked someone to decide a request: where it is (app, conversation,
//! message id) and what it showed last, so that it is updated when the request moves on.
use sea_orm::entity::prelude::*;

pub use crate::ids::RequestId;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "chat_messages")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub request_id: RequestId,
    /// `teams` or `slack`.
    pub app: String,
    /// The approver (UPN) it went to; `None` for a channel.
    pub recipient: Option<String>,
    /// The Teams conversation id, or the Slack channel id.
    pub conversation: String,
    /// The Teams activity id, or the Slack message's `ts`.
    pub message_id: String,
    /// The stage and version of the request it asked about.
    pub stage: i32,
    pub version: i32,
    /// Its standing as shown now (still asking, and the line on where the request stands): an
    /// update is sent only when that changes.
    pub shown: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
