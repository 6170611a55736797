//! Indexes for the lookups a mass expiry makes once per grant: a grant's jobs (cancelled when
//! it ends), jobs by membership lock key (drift checks) and extensions of a request. Without
//! them each lookup scans every pending job, and 10,000 simultaneous expiries take quadratic
//! time.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEXES: [(&str, &str, &str); 3] = [
    ("idx_jobs_grant", "jobs", "grant_id"),
    ("idx_jobs_lock_key", "jobs", "lock_key"),
    ("idx_requests_extends", "requests", "extends"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for (name, table, column) in INDEXES {
            m.create_index(Index::create().name(name).table(Alias::new(table)).col(Alias::new(column)).to_owned())
                .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for (name, table, _) in INDEXES {
            m.drop_index(Index::drop().name(name).table(Alias::new(table)).to_owned()).await?;
        }
        Ok(())
    }
}
