//! The tamper-evident audit log: an append-only hash chain. Each event's hash is SHA-256 over
//! the previous event's hash and the event's own fields, so changing, removing or reordering
//! any stored event breaks every hash after it.
use entity::audit_events as events;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use sha2::{Digest, Sha256};

use super::{StoreError, is_postgres};
use crate::domain::now;

/// The `prev_hash` of the first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Serialises appends across replicas on PostgreSQL (SQLite write transactions already are).
const APPEND_LOCK: i64 = 0x0065_6c65_7661_7465;

/// An event about to be written; `subject` is what it is about (`request:<id>`, `grant:<id>`).
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub actor: String,
    pub action: &'static str,
    pub subject: String,
    pub details: serde_json::Value,
}

impl NewEvent {
    pub fn new(
        actor: impl Into<String>,
        action: &'static str,
        subject: impl Into<String>,
        details: serde_json::Value,
    ) -> Self {
        Self { actor: actor.into(), action, subject: subject.into(), details }
    }
}

fn hash(prev: &str, seq: i64, at: i64, actor: &str, action: &str, subject: &str, details: &str) -> String {
    // A JSON array is an unambiguous encoding of the fields (no separator can be forged).
    let canonical = serde_json::json!([prev, seq, at, actor, action, subject, details]).to_string();
    Sha256::digest(canonical.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Appends one event. Must run inside the transaction of the change it records.
pub async fn append(c: &impl ConnectionTrait, event: NewEvent) -> Result<i64, StoreError> {
    if is_postgres(c) {
        c.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({APPEND_LOCK})")).await?;
    }
    let last = events::Entity::find().order_by_desc(events::Column::Seq).one(c).await?;
    let (seq, prev_hash) = match last {
        Some(last) => (last.seq + 1, last.hash),
        None => (1, GENESIS.to_owned()),
    };
    let at = now();
    let details = event.details.to_string();
    let row = events::ActiveModel {
        seq: Set(seq),
        at: Set(at),
        hash: Set(hash(&prev_hash, seq, at, &event.actor, event.action, &event.subject, &details)),
        actor: Set(event.actor),
        action: Set(event.action.to_owned()),
        subject: Set(event.subject),
        details: Set(details),
        prev_hash: Set(prev_hash),
    };
    events::Entity::insert(row).exec_without_returning(c).await?;
    Ok(seq)
}

pub async fn list(c: &impl ConnectionTrait, after_seq: i64, limit: u64) -> Result<Vec<events::Model>, StoreError> {
    Ok(events::Entity::find()
        .filter(events::Column::Seq.gt(after_seq))
        .order_by_asc(events::Column::Seq)
        .limit(limit)
        .all(c)
        .await?)
}

pub async fn for_subject(c: &impl ConnectionTrait, subject: &str) -> Result<Vec<events::Model>, StoreError> {
    Ok(events::Entity::find()
        .filter(events::Column::Subject.eq(subject))
        .order_by_asc(events::Column::Seq)
        .all(c)
        .await?)
}

/// The outcome of walking the chain.
#[derive(Debug, PartialEq, Eq)]
pub enum Verification {
    Intact { events: u64 },
    Broken { seq: i64, reason: String },
}

/// Walks the whole chain in pages and reports the first event that does not verify.
pub async fn verify(c: &impl ConnectionTrait) -> Result<Verification, StoreError> {
    let mut prev_seq = 0;
    let mut prev_hash = GENESIS.to_owned();
    let mut count = 0;
    loop {
        let page = list(c, prev_seq, 1000).await?;
        if page.is_empty() {
            return Ok(Verification::Intact { events: count });
        }
        for e in page {
            let broken = |reason: &str| Ok(Verification::Broken { seq: e.seq, reason: reason.to_owned() });
            if e.seq != prev_seq + 1 {
                return Ok(Verification::Broken {
                    seq: prev_seq + 1,
                    reason: format!("event missing (next stored event is {})", e.seq),
                });
            }
            if e.prev_hash != prev_hash {
                return broken("prev_hash does not match the previous event's hash");
            }
            if e.hash != hash(&e.prev_hash, e.seq, e.at, &e.actor, &e.action, &e.subject, &e.details) {
                return broken("hash does not match the event's contents");
            }
            prev_seq = e.seq;
            prev_hash = e.hash;
            count += 1;
        }
    }
}
