//! The sealer: chains committed entries into the audit log, many per commit, under one lock
//! (PostgreSQL: an advisory lock, so one replica seals at a time and the others skip the
//! round; SQLite: its single writer).
//!
//! Entries are sealed in the order of their numbers, without skipping one: a number that is
//! missing is waited for until no transaction that could still commit it is running, and then
//! recorded in the chain as missing (`audit.entries_missing`). An entry whose MAC does not
//! match its fields, or whose number was already sealed, is chained as found and followed by
//! `audit.entry_suspect`. Either makes `verify` fail, naming the event.
use std::time::Duration;

use entity::{audit_entries as entries, audit_events as events};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Statement,
};
use serde_json::json;

use super::{ENTRIES_MISSING, ENTRY_SUSPECT, chain::Link, mac};
use crate::{
    domain::now,
    store::{Store, StoreError, is_postgres},
};

/// PostgreSQL advisory-lock key of the sealer ("elevseal").
const SEAL_LOCK: i64 = 0x656c_6576_7365_616c;
/// Entries chained per commit at most.
const BATCH: u64 = 1000;

/// A sealer; keeps, between rounds, the number it is waiting for.
#[derive(Default)]
pub struct Sealer {
    waiting: Option<Missing>,
}

/// A number found missing on PostgreSQL, and the first transaction id not yet assigned when it
/// was: once every transaction before that one has ended, the number can no longer commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Missing {
    entry: i64,
    xmax: i64,
}

/// What a round did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Round {
    /// Chained this many events (entries and findings).
    Sealed(usize),
    /// Another process holds the sealer's lock.
    Busy,
}

#[derive(FromQueryResult)]
struct Number {
    n: Option<i64>,
}

#[derive(FromQueryResult)]
struct Horizon {
    xmin: i64,
    xmax: i64,
}

async fn horizon(c: &impl ConnectionTrait) -> Result<Horizon, StoreError> {
    let sql = "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS xmin, \
               pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS xmax";
    Horizon::find_by_statement(Statement::from_string(c.get_database_backend(), sql))
        .one(c)
        .await?
        .ok_or_else(|| StoreError::Corrupt("no snapshot".into()))
}

async fn number(c: &impl ConnectionTrait, sql: &str) -> Result<Option<i64>, StoreError> {
    Ok(Number::find_by_statement(Statement::from_string(c.get_database_backend(), sql)).one(c).await?.and_then(|r| r.n))
}

/// An event about to be chained.
struct Sealing {
    at: i64,
    actor: String,
    action: String,
    subject: String,
    details: String,
    entry: Option<i64>,
}

impl Sealer {
    /// One round: chains up to `BATCH` committed entries in one transaction.
    pub async fn round(&mut self, store: &Store) -> Result<Round, StoreError> {
        // Idle, nothing is locked: on SQLite a round takes the one write lock.
        if unsealed(store.conn()).await? == 0 {
            return Ok(Round::Sealed(0));
        }
        let tx = store.begin().await?;
        let postgres = is_postgres(&tx);
        if postgres
            && number(&tx, &format!("SELECT pg_try_advisory_xact_lock({SEAL_LOCK})::int::bigint AS n")).await?
                != Some(1)
        {
            return Ok(Round::Busy);
        }
        // Taken before the entries are read: a transaction that ended before it is in them.
        let before = if postgres && self.waiting.is_some() { Some(horizon(&tx).await?) } else { None };
        let rows = entries::Entity::find()
            .filter(entries::Column::Entry.is_not_null())
            .order_by_asc(entries::Column::Entry)
            .limit(BATCH)
            .all(&tx)
            .await?;
        if rows.is_empty() {
            return Ok(Round::Sealed(0));
        }
        let head = events::Entity::find().order_by_desc(events::Column::Seq).one(&tx).await?;
        let mut next = number(&tx, "SELECT MAX(entry) AS n FROM audit_events").await?.map(|n| n + 1);
        let mut sealing = Vec::with_capacity(rows.len());
        let mut taken = Vec::with_capacity(rows.len());
        for row in rows {
            let Some(entry) = row.entry else { continue };
            let expected = *next.get_or_insert(entry);
            if entry > expected {
                let waited = self.waiting;
                let gone = match (postgres, waited, &before) {
                    // SQLite: nothing else writes while the sealer does, and a rollback
                    // returns its numbers, so a number missing now never comes.
                    (false, ..) => true,
                    (true, Some(w), Some(now)) => w.entry == expected && now.xmin >= w.xmax,
                    (true, ..) => false,
                };
                if !gone {
                    if waited.map(|w| w.entry) != Some(expected) {
                        let xmax = horizon(&tx).await?.xmax;
                        self.waiting = Some(Missing { entry: expected, xmax });
                    }
                    break;
                }
                self.waiting = None;
                tracing::error!(
                    from = expected,
                    to = entry - 1,
                    "audit entries missing: removed, or lost in a failed commit"
                );
                sealing.push(Sealing::finding(
                    ENTRIES_MISSING,
                    json!({ "from": expected, "to": entry - 1 }),
                    entry - 1,
                ));
            }
            taken.push(row.id);
            let suspect = if entry < expected {
                Some(format!("entry {entry} was sealed already"))
            } else {
                next = Some(entry + 1);
                (mac(row.at, &row.actor, &row.action, &row.subject, &row.details).is_some_and(|m| row.mac != Some(m)))
                    .then(|| format!("entry {entry} is not as it was written"))
            };
            sealing.push(Sealing {
                at: row.at,
                actor: row.actor,
                action: row.action,
                subject: row.subject,
                details: row.details,
                entry: (entry >= expected).then_some(entry),
            });
            if let Some(reason) = suspect {
                tracing::error!(entry, %reason, "a suspect audit entry was sealed");
                sealing.push(Sealing::finding(ENTRY_SUSPECT, json!({ "entry": entry, "reason": reason }), None));
            }
        }
        if sealing.is_empty() {
            return Ok(Round::Sealed(0));
        }
        let (mut seq, mut prev) = head.map_or((0, super::GENESIS.to_owned()), |h| (h.seq, h.hash));
        let mut rows = Vec::with_capacity(sealing.len());
        for e in &sealing {
            seq += 1;
            let link = Link {
                prev: &prev,
                seq,
                at: e.at,
                actor: &e.actor,
                action: &e.action,
                subject: &e.subject,
                details: &e.details,
                entry: e.entry,
            };
            let hash = link.hash();
            rows.push(events::ActiveModel {
                seq: Set(seq),
                at: Set(e.at),
                actor: Set(e.actor.clone()),
                action: Set(e.action.clone()),
                subject: Set(e.subject.clone()),
                details: Set(e.details.clone()),
                prev_hash: Set(std::mem::replace(&mut prev, hash.clone())),
                hash: Set(hash),
                entry: Set(e.entry),
            });
        }
        for chunk in rows.chunks(500) {
            events::Entity::insert_many(chunk.to_vec()).exec_without_returning(&tx).await?;
        }
        entries::Entity::delete_many().filter(entries::Column::Id.is_in(taken)).exec(&tx).await?;
        tx.commit().await?;
        Ok(Round::Sealed(sealing.len()))
    }

    /// `serve`'s sealer: a round every `every` (at once again after a full batch) until `stop`
    /// says so, then rounds until what was committed meanwhile is sealed.
    pub async fn run(mut self, store: Store, every: Duration, mut stop: tokio::sync::watch::Receiver<bool>) {
        while !*stop.borrow() {
            let full = match self.round(&store).await {
                Ok(Round::Sealed(n)) => n == BATCH as usize,
                Ok(Round::Busy) => false,
                Err(e) => {
                    tracing::error!(error = %crate::telemetry::error_chain(&e), "sealing the audit log failed; trying again");
                    false
                }
            };
            if !full {
                tokio::select! {
                    () = tokio::time::sleep(every) => {}
                    _ = stop.changed() => {}
                }
            }
        }
        if let Err(e) = self.seal_committed(&store, Duration::from_secs(10)).await {
            tracing::error!(error = %crate::telemetry::error_chain(&e), "sealing the audit log on the way out failed");
        }
    }

    /// Rounds until every entry committed before the call is sealed (by this process or by
    /// another that holds the lock), or `within` has passed: whether it was.
    pub async fn seal_committed(&mut self, store: &Store, within: Duration) -> Result<bool, StoreError> {
        let deadline = tokio::time::Instant::now() + within;
        let Some(target) = number(store.conn(), "SELECT MAX(entry) AS n FROM audit_entries").await? else {
            return Ok(true);
        };
        loop {
            if sealed_through(store.conn(), target).await? {
                return Ok(true);
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(false);
            }
            if self.round(store).await? != Round::Sealed(BATCH as usize) {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

impl Sealing {
    /// The sealer's own event about what it found.
    fn finding(action: &str, details: serde_json::Value, entry: impl Into<Option<i64>>) -> Self {
        Self {
            at: now(),
            actor: "system".into(),
            action: action.into(),
            subject: "audit".into(),
            details: details.to_string(),
            entry: entry.into(),
        }
    }
}

/// Whether no entry numbered `target` or lower waits to be sealed.
async fn sealed_through(c: &impl ConnectionTrait, target: i64) -> Result<bool, StoreError> {
    let waiting = entries::Entity::find().filter(entries::Column::Entry.lte(target)).count(c).await?;
    Ok(waiting == 0)
}

/// Waits (reading only) until the entries committed before the call are sealed by the
/// process that seals, up to `within`: readers of the log see what was done before they asked.
/// The number of entries still waiting then.
pub async fn wait_for_seal(c: &impl ConnectionTrait, within: Duration) -> Result<u64, StoreError> {
    let deadline = tokio::time::Instant::now() + within;
    let Some(target) = number(c, "SELECT MAX(entry) AS n FROM audit_entries").await? else {
        return Ok(0);
    };
    while !sealed_through(c, target).await? && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    unsealed(c).await
}

/// How many committed entries wait to be sealed.
pub async fn unsealed(c: &impl ConnectionTrait) -> Result<u64, StoreError> {
    Ok(entries::Entity::find().filter(entries::Column::Entry.is_not_null()).count(c).await?)
}
