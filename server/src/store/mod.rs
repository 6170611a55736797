//! Storage: SeaORM queries over SQLite or PostgreSQL. Callers pass a connection or a
//! transaction; a state change, its outbox jobs and its audit event share one transaction.
pub mod audit;
pub mod decisions;
pub mod grants;
pub mod jobs;
pub mod link_tokens;
pub mod local_directory;
pub mod requests;
pub mod reviews;
pub mod users;

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::{
    AccessMode, ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection, DatabaseTransaction,
    DbErr, IsolationLevel, SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
use secrecy::ExposeSecret;

use crate::config::DatabaseSettings;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error")]
    Db(#[from] DbErr),
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
}

#[derive(Clone)]
pub struct Store {
    db: DatabaseConnection,
}

impl Store {
    pub async fn connect(settings: &DatabaseSettings) -> Result<Self, StoreError> {
        let mut options = ConnectOptions::new(settings.url.expose_secret().to_owned());
        options
            .max_connections(settings.max_connections)
            .connect_timeout(Duration::from_secs(10))
            .acquire_timeout(Duration::from_secs(30))
            .sqlx_logging(false)
            // SQLite: write-ahead log (readers never wait for the writer; one sync per commit
            // instead of several), still synced on every commit, so a commit survives a power
            // loss; writers wait for each other instead of failing.
            .map_sqlx_sqlite_opts(|o| {
                o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                    .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Full)
                    .busy_timeout(Duration::from_secs(30))
            });
        Ok(Self { db: Database::connect(options).await? })
    }

    pub async fn migrate(&self) -> Result<(), StoreError> {
        Ok(Migrator::up(&self.db, None).await?)
    }

    /// Database reachable and every migration applied.
    pub async fn ready(&self) -> Result<bool, StoreError> {
        self.db.ping().await?;
        Ok(Migrator::get_pending_migrations(&self.db).await?.is_empty())
    }

    pub fn conn(&self) -> &DatabaseConnection {
        &self.db
    }

    /// A read-only transaction that sees one consistent snapshot (repeatable read on
    /// PostgreSQL; an SQLite read transaction is one).
    pub async fn snapshot(&self) -> Result<DatabaseTransaction, StoreError> {
        if is_postgres(&self.db) {
            Ok(self.db.begin_with_config(Some(IsolationLevel::RepeatableRead), Some(AccessMode::ReadOnly)).await?)
        } else {
            Ok(self.db.begin().await?)
        }
    }

    /// A write transaction. On SQLite it takes the write lock at once (`BEGIN IMMEDIATE`), so
    /// a transaction that reads and then writes never fails half-way on a busy database.
    pub async fn begin(&self) -> Result<DatabaseTransaction, StoreError> {
        let options = TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        };
        Ok(self.db.begin_with_options(options).await?)
    }
}

pub fn is_postgres(c: &impl ConnectionTrait) -> bool {
    c.get_database_backend() == DatabaseBackend::Postgres
}

/// True for a unique-constraint violation (on either backend).
pub fn is_unique_violation(err: &DbErr) -> bool {
    matches!(err.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_)))
}
