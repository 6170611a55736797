//! How far the audit log has been forwarded (to syslog), so a restart neither skips nor
//! floods events.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(AuditForwarding::Table)
                .col(string(AuditForwarding::Sink).primary_key())
                .col(big_integer(AuditForwarding::LastSeq))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(AuditForwarding::Table).to_owned()).await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum AuditForwarding {
    Table,
    Sink,
    LastSeq,
}
