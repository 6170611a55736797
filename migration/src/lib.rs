//! Database migrations, run at start-up and by `elevate migrate`.
pub use sea_orm_migration::prelude::*;

mod m20261129_000001_create_tables;
mod m20261129_000002_identity_center;
mod m20261129_000003_approval_reminders;
mod m20261129_000004_lookup_indexes;
mod m20261129_000005_break_glass;
mod m20261129_000006_audit_forwarding;
mod m20261201_000007_membership_sync;
mod m20261203_000008_credentials;
mod m20261203_000009_scheduled_access;
mod m20261203_000010_grant_activity;
mod m20261203_000011_chat_messages;
mod m20261204_000012_audit_sealing;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261129_000001_create_tables::Migration),
            Box::new(m20261129_000002_identity_center::Migration),
            Box::new(m20261129_000003_approval_reminders::Migration),
            Box::new(m20261129_000004_lookup_indexes::Migration),
            Box::new(m20261129_000005_break_glass::Migration),
            Box::new(m20261129_000006_audit_forwarding::Migration),
            Box::new(m20261201_000007_membership_sync::Migration),
            Box::new(m20261203_000008_credentials::Migration),
            Box::new(m20261203_000009_scheduled_access::Migration),
            Box::new(m20261203_000010_grant_activity::Migration),
            Box::new(m20261203_000011_chat_messages::Migration),
            Box::new(m20261204_000012_audit_sealing::Migration),
        ]
    }
}
