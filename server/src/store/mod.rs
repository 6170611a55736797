//! Storage: SeaORM queries over SQLite or PostgreSQL. Callers pass a connection or a
//! transaction; a state change, its outbox jobs and its audit event share one transaction.
pub mod activity;
pub mod audit;
pub mod chat_messages;
pub mod credentials;
pub mod decisions;
pub mod grants;
mod group_commit;
pub mod jobs;
pub mod link_tokens;
pub mod local_directory;
pub mod memberships;
pub mod processes;
pub mod request_details;
pub mod requests;
pub mod reviews;
pub mod users;

use std::time::Duration;

use futures_util::future::BoxFuture;
use group_commit::GroupCommit;
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
    /// The state machine refuses the change (`RequestStatus::on`).
    #[error(transparent)]
    Transition(#[from] crate::domain::TransitionError),
    #[error("the database schema is behind this version of Elevate ({0} migration(s) pending): run `elevate migrate`")]
    SchemaBehind(usize),
    #[error(transparent)]
    Shared(#[from] group_commit::SharedCommitFailed),
    #[error("cannot take the migration lock on {path}")]
    MigrationLock {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

#[derive(Clone)]
pub struct Store {
    db: DatabaseConnection,
    /// Where write transactions run: on an SQLite file, a pool of one connection, so writers
    /// queue for it in order (asynchronously) instead of each sleeping in SQLite's busy
    /// handler, which under load left the lock idle while a claim or an approval waited
    /// seconds for it; elsewhere `db`.
    writer: DatabaseConnection,
    /// The SQLite file, when the database is one (its lock serializes migrations).
    sqlite_file: Option<std::path::PathBuf>,
    /// How to open one more connection of its own (PostgreSQL's migration lock lives on one).
    single: ConnectOptions,
    /// How `commit_shared`'s writes commit.
    committer: Committer,
}

/// How `commit_shared`'s small writes commit.
#[derive(Clone)]
enum Committer {
    /// SQLite: writes waiting at the same moment share a transaction (`group_commit`) — its
    /// one writer takes turns, and every commit is a sync to disk.
    Shared(GroupCommit),
    /// PostgreSQL: each write in a transaction of its own, in the caller's task. PostgreSQL
    /// commits transactions side by side and flushes the WAL of those committing at the same
    /// moment together (its own group commit); handing writes to committer tasks cost a wake
    /// of another thread each way (BENCHMARKS.md: grant lag p99 1,039 → 192 ms for 1,536).
    Own,
}

/// PostgreSQL advisory-lock key under which migrations run ("elevate1").
const MIGRATION_LOCK: i64 = 0x656c_6576_6174_6531;
/// How long a command waits for a schema another process is migrating at the same moment.
const SCHEMA_WAIT: Duration = Duration::from_secs(20);

impl Store {
    pub async fn connect(settings: &DatabaseSettings) -> Result<Self, StoreError> {
        let mut options = ConnectOptions::new(settings.url.expose_secret().to_owned());
        options
            .max_connections(settings.max_connections)
            .connect_timeout(Duration::from_secs(10))
            .acquire_timeout(Duration::from_secs(30))
            // A connection used within the last second is handed out as it is: pinging it on
            // every checkout was a round trip per statement (of three, with sqlx's own ping on
            // release). One idle longer is pinged first, so a connection the server, a proxy
            // or a firewall dropped is replaced rather than failing a call (HikariCP's rule).
            .test_before_acquire_if_idle_for(Duration::from_secs(1))
            .sqlx_logging(false)
            // SQLite: write-ahead log (readers never wait for the writer; one sync per commit
            // instead of several), still synced on every commit, so a commit survives a power
            // loss; writers wait for each other instead of failing.
            .map_sqlx_sqlite_opts(|o| {
                o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                    .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Full)
                    .busy_timeout(Duration::from_secs(30))
            });
        let url = settings.url.expose_secret();
        let sqlite_file = sqlite_path(url);
        if let Some(path) = &sqlite_file {
            // The lock file is the database file itself: create it before SQLite does, so a
            // process that starts at the same instant locks the same inode.
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|source| StoreError::MigrationLock { path: path.display().to_string(), source })?;
        }
        let mut single = options.clone();
        single.max_connections(1).min_connections(1);
        let db = Database::connect(options).await?;
        let writer = match &sqlite_file {
            Some(_) => Database::connect(single.clone()).await?,
            None => db.clone(),
        };
        let committer =
            if is_postgres(&db) { Committer::Own } else { Committer::Shared(GroupCommit::start(writer.clone())) };
        Ok(Self { db, writer, sqlite_file, single, committer })
    }

    /// Applies pending migrations, one process at a time: processes that start together on a
    /// fresh database (replicas, the CLI) take turns, and the later ones find nothing to do.
    /// PostgreSQL: an advisory lock held on one connection; SQLite: an exclusive lock on the
    /// database file (separate from SQLite's own locks).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let _lock = self.lock_file(true).await?;
        if is_postgres(&self.db) {
            return self
                .with_advisory_lock("pg_advisory_lock", |db| async move { Migrator::up(&db, None).await })
                .await;
        }
        Ok(Migrator::up(&self.db, None).await?)
    }

    /// For commands that do not migrate: waits while another process migrates (up to a
    /// bound), then refuses if the schema is still behind. Never writes.
    pub async fn require_current(&self) -> Result<(), StoreError> {
        let deadline = tokio::time::Instant::now() + SCHEMA_WAIT;
        loop {
            let pending = {
                let _lock = self.lock_file(false).await?;
                if is_postgres(&self.db) {
                    self.with_advisory_lock(
                        "pg_advisory_lock_shared",
                        |db| async move { pending_migrations(&db).await },
                    )
                    .await?
                } else {
                    pending_migrations(&self.db).await?
                }
            };
            if pending == 0 {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(StoreError::SchemaBehind(pending));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Runs `f` on one connection that holds the migration advisory lock (`lock`: exclusive
    /// or shared), and lets go of it whatever `f` returned.
    async fn with_advisory_lock<T, F, Fut>(&self, lock: &str, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(DatabaseConnection) -> Fut,
        Fut: std::future::Future<Output = Result<T, DbErr>>,
    {
        // A pool of one connection: the lock, the work and the unlock share one session.
        let db = Database::connect(self.single.clone()).await?;
        db.execute_unprepared(&format!("SELECT {lock}({MIGRATION_LOCK})")).await?;
        let result = f(db.clone()).await;
        let unlock = lock.replace("pg_advisory_lock", "pg_advisory_unlock");
        let _ = db.execute_unprepared(&format!("SELECT {unlock}({MIGRATION_LOCK})")).await;
        let _ = db.close().await;
        Ok(result?)
    }

    /// The migration lock on the SQLite file (`exclusive` to migrate, shared to read the
    /// schema's version); none for PostgreSQL or an in-memory database.
    async fn lock_file(&self, exclusive: bool) -> Result<Option<std::fs::File>, StoreError> {
        let Some(path) = self.sqlite_file.clone() else { return Ok(None) };
        let locked = tokio::task::spawn_blocking(move || {
            let file = std::fs::OpenOptions::new().read(true).open(&path)?;
            if exclusive {
                file.lock()?
            } else {
                file.lock_shared()?
            }
            Ok::<_, std::io::Error>(file)
        })
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))
        .and_then(|r| r);
        locked.map(Some).map_err(|source| StoreError::MigrationLock {
            path: self.sqlite_file.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
            source,
        })
    }

    /// Database reachable and every migration applied.
    pub async fn ready(&self) -> Result<bool, StoreError> {
        self.db.ping().await?;
        Ok(pending_migrations(&self.db).await? == 0)
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

    /// A write transaction of its own.
    pub async fn begin(&self) -> Result<DatabaseTransaction, StoreError> {
        begin_write(&self.writer).await
    }

    /// Runs `write` in a transaction — on SQLite one shared with other small writes (see
    /// `group_commit`) — and returns its result once that transaction committed. For writes
    /// made often and at once by many tasks (the worker's outcomes, filings); an `Err` rolls
    /// back `write`'s part only.
    pub async fn commit_shared<T, E, F>(&self, write: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: for<'t> FnOnce(&'t DatabaseTransaction) -> BoxFuture<'t, Result<T, E>> + Send + 'static,
    {
        match &self.committer {
            Committer::Shared(group) => group.run(write).await,
            Committer::Own => {
                let tx = self.begin().await?;
                match write(&tx).await {
                    Ok(written) => {
                        tx.commit().await.map_err(StoreError::from)?;
                        Ok(written)
                    }
                    Err(e) => {
                        let _ = tx.rollback().await;
                        Err(e)
                    }
                }
            }
        }
    }
}

/// A write transaction. On SQLite it takes the write lock at once (`BEGIN IMMEDIATE`), so a
/// transaction that reads and then writes never fails half-way on a busy database.
async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, StoreError> {
    let options =
        TransactionOptions { sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate), ..Default::default() };
    Ok(db.begin_with_options(options).await?)
}

/// The file of an SQLite URL (`sqlite://elevate.db?mode=rwc` → `elevate.db`); `None` for
/// other databases and in-memory ones.
fn sqlite_path(url: &str) -> Option<std::path::PathBuf> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && !path.contains(":memory:") && !rest.contains("mode=memory")).then(|| path.into())
}

pub fn is_postgres(c: &impl ConnectionTrait) -> bool {
    c.get_database_backend() == DatabaseBackend::Postgres
}

/// How many migrations are still to apply, without writing anything: sea-orm-migration's own
/// count first creates its bookkeeping table, and two processes doing that at the same
/// instant on a fresh PostgreSQL database collide (`pg_type_typname_nsp_index`). A database
/// without the table has every migration to apply.
async fn pending_migrations(db: &DatabaseConnection) -> Result<usize, DbErr> {
    let present = match db.get_database_backend() {
        DatabaseBackend::Postgres => "SELECT to_regclass('seaql_migrations') IS NOT NULL AS present",
        _ => "SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'seaql_migrations') AS present",
    };
    let row = db.query_one_raw(sea_orm::Statement::from_string(db.get_database_backend(), present)).await?;
    if !row.map(|r| r.try_get::<bool>("", "present")).transpose()?.unwrap_or(false) {
        return Ok(Migrator::migrations().len());
    }
    Ok(Migrator::get_pending_migrations(db).await?.len())
}

/// True for a unique-constraint violation (on either backend).
pub fn is_unique_violation(err: &DbErr) -> bool {
    matches!(err.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_)))
}
