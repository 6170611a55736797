//! When a grant's Identity Center membership was removed (IAM Identity Center profiles).
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table(Grants::Table).add_column(big_integer_null(Grants::IcEndedAt)).to_owned())
            .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table(Grants::Table).drop_column(Grants::IcEndedAt).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum Grants {
    Table,
    IcEndedAt,
}
