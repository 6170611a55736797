//! Audit events sealed in batches. A change records its event in `audit_entries` without any
//! global lock; a sealer later chains many entries into `audit_events` under one lock and one
//! commit. Each entry is numbered (`entry`) without gaps as its transaction commits, so an
//! entry removed before it was sealed leaves a hole the sealer sees: on SQLite an
//! autoincrement key numbered in the writing transaction (a rollback returns its numbers); on
//! PostgreSQL a sequence taken by a deferred trigger at commit, after which only a failed
//! commit can still lose the number.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const SQLITE: &[&str] = &[
    "CREATE TABLE audit_entries (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        entry BIGINT NULL,
        at BIGINT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        subject TEXT NOT NULL,
        details TEXT NOT NULL,
        mac TEXT NULL
    )",
    "CREATE TRIGGER audit_entry_number AFTER INSERT ON audit_entries
     BEGIN UPDATE audit_entries SET entry = NEW.id WHERE id = NEW.id; END",
];

const POSTGRES: &[&str] = &[
    "CREATE TABLE audit_entries (
        id BIGSERIAL PRIMARY KEY,
        entry BIGINT NULL,
        at BIGINT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        subject TEXT NOT NULL,
        details TEXT NOT NULL,
        mac TEXT NULL
    )",
    "CREATE SEQUENCE audit_entry_numbers",
    "CREATE FUNCTION audit_entry_number() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
         UPDATE audit_entries SET entry = nextval('audit_entry_numbers') WHERE id = NEW.id;
         RETURN NULL;
     END $$",
    "CREATE CONSTRAINT TRIGGER audit_entry_number AFTER INSERT ON audit_entries
     DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION audit_entry_number()",
];

const BOTH: &[&str] = &[
    "CREATE INDEX audit_entries_entry ON audit_entries (entry)",
    "ALTER TABLE audit_events ADD COLUMN entry BIGINT NULL",
    "CREATE INDEX audit_events_entry ON audit_events (entry)",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let own = match m.get_database_backend() {
            sea_orm::DatabaseBackend::Postgres => POSTGRES,
            _ => SQLITE,
        };
        for sql in own.iter().chain(BOTH) {
            m.get_connection().execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let c = m.get_connection();
        c.execute_unprepared("DROP INDEX audit_events_entry").await?;
        c.execute_unprepared("ALTER TABLE audit_events DROP COLUMN entry").await?;
        c.execute_unprepared("DROP TABLE audit_entries").await?;
        if m.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            c.execute_unprepared("DROP FUNCTION audit_entry_number()").await?;
            c.execute_unprepared("DROP SEQUENCE audit_entry_numbers").await?;
        }
        Ok(())
    }
}
