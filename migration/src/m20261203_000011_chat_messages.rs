//! The chat messages that asked approvers to decide (Teams cards, Slack messages): kept so that
//! each can be updated once the request is decided, wherever that happened.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(ChatMessages::Table)
                .col(pk_auto(ChatMessages::Id).big_integer())
                .col(string(ChatMessages::RequestId))
                .col(string(ChatMessages::App))
                .col(string_null(ChatMessages::Recipient))
                .col(string(ChatMessages::Conversation))
                .col(string(ChatMessages::MessageId))
                .col(integer(ChatMessages::Stage))
                .col(integer(ChatMessages::Version))
                .col(string(ChatMessages::Shown))
                .col(big_integer(ChatMessages::CreatedAt))
                .col(big_integer(ChatMessages::UpdatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("chat_messages_request")
                .table(ChatMessages::Table)
                .col(ChatMessages::RequestId)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(ChatMessages::Table).to_owned()).await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum ChatMessages {
    Table,
    Id,
    RequestId,
    App,
    Recipient,
    Conversation,
    MessageId,
    Stage,
    Version,
    Shown,
    CreatedAt,
    UpdatedAt,
}
