//! Each grant's CloudTrail activity: what its role session did, collected from the trail's
//! log files while the grant lasts and once more after CloudTrail's delivery delay.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(GrantActivity::Table)
                .col(string(GrantActivity::GrantId).primary_key())
                .col(string(GrantActivity::RequestId).unique_key())
                .col(big_integer(GrantActivity::WindowFrom))
                .col(big_integer(GrantActivity::WindowTo))
                .col(big_integer_null(GrantActivity::CollectedAt))
                .col(boolean(GrantActivity::Complete).default(false))
                .col(text_null(GrantActivity::Summary))
                .col(text_null(GrantActivity::Progress))
                .col(text_null(GrantActivity::LastError))
                .col(big_integer_null(GrantActivity::FailedAt))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(GrantActivity::Table).to_owned()).await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum GrantActivity {
    Table,
    GrantId,
    RequestId,
    WindowFrom,
    WindowTo,
    CollectedAt,
    Complete,
    Summary,
    Progress,
    LastError,
    FailedAt,
}
