//! Credentials Elevate can take back: the API tokens it issued (listed, revoked one by one),
//! cut-offs that refuse every token of a subject issued before an instant (also tokens issued
//! before this table, and Entra ID's), and browser sessions kept on the server (a cookie is
//! only the key to one; sign-out and `elevate session revoke` end it at once).
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(ApiTokens::Table)
                .col(string(ApiTokens::Jti).primary_key())
                .col(string(ApiTokens::Subject))
                .col(string(ApiTokens::Roles))
                .col(boolean(ApiTokens::Delegate))
                .col(string(ApiTokens::IssuedBy))
                .col(big_integer(ApiTokens::IssuedAt))
                .col(big_integer(ApiTokens::ExpiresAt))
                .col(big_integer_null(ApiTokens::RevokedAt))
                .col(string_null(ApiTokens::RevokedBy))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create().name("idx_api_tokens_subject").table(ApiTokens::Table).col(ApiTokens::Subject).to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(TokenCutoffs::Table)
                .col(string(TokenCutoffs::Subject).primary_key())
                .col(big_integer(TokenCutoffs::NotBefore))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(BrowserSessions::Table)
                .col(string(BrowserSessions::KeyHash).primary_key())
                .col(string(BrowserSessions::Subject))
                .col(string(BrowserSessions::UserId))
                .col(string(BrowserSessions::Roles))
                .col(string(BrowserSessions::Amr))
                .col(big_integer_null(BrowserSessions::MfaAt))
                .col(big_integer(BrowserSessions::CreatedAt))
                .col(big_integer(BrowserSessions::ExpiresAt))
                .col(big_integer(BrowserSessions::RolesCheckedAt))
                .col(big_integer_null(BrowserSessions::EndedAt))
                .col(string_null(BrowserSessions::EndedBy))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_browser_sessions_subject")
                .table(BrowserSessions::Table)
                .col(BrowserSessions::Subject)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(BrowserSessions::Table).to_owned()).await?;
        m.drop_table(Table::drop().table(TokenCutoffs::Table).to_owned()).await?;
        m.drop_table(Table::drop().table(ApiTokens::Table).to_owned()).await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum ApiTokens {
    Table,
    Jti,
    Subject,
    Roles,
    Delegate,
    IssuedBy,
    IssuedAt,
    ExpiresAt,
    RevokedAt,
    RevokedBy,
}

#[derive(DeriveIden, Clone, Copy)]
enum TokenCutoffs {
    Table,
    Subject,
    NotBefore,
}

#[derive(DeriveIden, Clone, Copy)]
enum BrowserSessions {
    Table,
    KeyHash,
    Subject,
    UserId,
    Roles,
    Amr,
    MfaAt,
    CreatedAt,
    ExpiresAt,
    RolesCheckedAt,
    EndedAt,
    EndedBy,
}
