//! Break-glass: requests activated without approval are marked, and each gets one
//! after-the-fact review.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter().table(Requests::Table).add_column(boolean(Requests::BreakGlass).default(false)).to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(BreakGlassReviews::Table)
                .col(string(BreakGlassReviews::RequestId).primary_key())
                .col(string(BreakGlassReviews::Outcome))
                .col(string(BreakGlassReviews::Reviewer))
                .col(text_null(BreakGlassReviews::Comment))
                .col(big_integer(BreakGlassReviews::ReviewedAt))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(BreakGlassReviews::Table).to_owned()).await?;
        m.alter_table(Table::alter().table(Requests::Table).drop_column(Requests::BreakGlass).to_owned()).await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Requests {
    Table,
    BreakGlass,
}

#[derive(DeriveIden, Clone, Copy)]
enum BreakGlassReviews {
    Table,
    RequestId,
    Outcome,
    Reviewer,
    Comment,
    ReviewedAt,
}
