//! The chat messages that asked approvers to decide (`chat_messages`), to update them later.
use entity::chat_messages;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};

use super::StoreError;
use crate::domain::{ChatApp, RequestId, now};

pub use chat_messages::Model as ChatMessage;

/// Where a message went and what it asked about.
pub struct NewChatMessage<'a> {
    pub request_id: &'a RequestId,
    pub app: ChatApp,
    pub recipient: Option<&'a str>,
    pub conversation: &'a str,
    pub message_id: &'a str,
    pub stage: i32,
    pub version: i32,
    pub shown: String,
}

pub async fn insert(c: &impl ConnectionTrait, m: NewChatMessage<'_>) -> Result<(), StoreError> {
    let at = now();
    let row = chat_messages::ActiveModel {
        request_id: Set(m.request_id.clone()),
        app: Set(m.app.as_str().to_owned()),
        recipient: Set(m.recipient.map(str::to_owned)),
        conversation: Set(m.conversation.to_owned()),
        message_id: Set(m.message_id.to_owned()),
        stage: Set(m.stage),
        version: Set(m.version),
        shown: Set(m.shown),
        created_at: Set(at),
        updated_at: Set(at),
        ..Default::default()
    };
    chat_messages::Entity::insert(row).exec_without_returning(c).await?;
    Ok(())
}

pub async fn for_request(c: &impl ConnectionTrait, id: &RequestId) -> Result<Vec<ChatMessage>, StoreError> {
    Ok(chat_messages::Entity::find()
        .filter(chat_messages::Column::RequestId.eq(id.clone()))
        .order_by_asc(chat_messages::Column::Id)
        .all(c)
        .await?)
}

/// Records what a message shows after an update.
pub async fn mark_shown(c: &impl ConnectionTrait, id: i64, shown: &str) -> Result<(), StoreError> {
    let row = chat_messages::ActiveModel {
        id: Set(id),
        shown: Set(shown.to_owned()),
        updated_at: Set(now()),
        ..Default::default()
    };
    chat_messages::Entity::update(row).exec(c).await?;
    Ok(())
}
