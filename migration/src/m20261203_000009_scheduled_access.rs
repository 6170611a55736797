//! Scheduled access: the instant an approved request's window opens (`None`: at approval).
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table(Requests::Table).add_column(big_integer_null(Requests::StartAt)).to_owned())
            .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table(Requests::Table).drop_column(Requests::StartAt).to_owned()).await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Requests {
    Table,
    StartAt,
}
