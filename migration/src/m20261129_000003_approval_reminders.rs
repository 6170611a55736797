//! When a request's current approval stage began, and whether its approvers were reminded
//! and the profile's escalation approvers called in (reminders and escalation).
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        for column in [Requests::StageStartedAt, Requests::RemindedAt, Requests::EscalatedAt] {
            m.alter_table(Table::alter().table(Requests::Table).add_column(big_integer_null(column)).to_owned())
                .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for column in [Requests::StageStartedAt, Requests::RemindedAt, Requests::EscalatedAt] {
            m.alter_table(Table::alter().table(Requests::Table).drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Requests {
    Table,
    StageStartedAt,
    RemindedAt,
    EscalatedAt,
}
