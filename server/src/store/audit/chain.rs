//! The chain itself: how an event's hash is made, and the walk that checks every link.
use entity::audit_events as events;
use sea_orm::ConnectionTrait;
use sha2::{Digest, Sha256};

use super::{ENTRIES_MISSING, ENTRY_SUSPECT, list};
use crate::store::StoreError;

/// The `prev_hash` of the first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// An event's fields as the chain covers them.
pub(super) struct Link<'a> {
    pub prev: &'a str,
    pub seq: i64,
    pub at: i64,
    pub actor: &'a str,
    pub action: &'a str,
    pub subject: &'a str,
    pub details: &'a str,
    pub entry: Option<i64>,
}

impl Link<'_> {
    pub fn hash(&self) -> String {
        // A JSON array is an unambiguous encoding of the fields (no separator can be forged).
        // Events chained before batched sealing have no entry, and their hashes stay as made.
        let Self { prev, seq, at, actor, action, subject, details, entry } = self;
        let canonical = match entry {
            None => serde_json::json!([prev, seq, at, actor, action, subject, details]),
            Some(entry) => serde_json::json!([prev, seq, at, actor, action, subject, details, entry]),
        };
        Sha256::digest(canonical.to_string().as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
    }

    fn of(e: &events::Model) -> Link<'_> {
        Link {
            prev: &e.prev_hash,
            seq: e.seq,
            at: e.at,
            actor: &e.actor,
            action: &e.action,
            subject: &e.subject,
            details: &e.details,
            entry: e.entry,
        }
    }
}

/// The outcome of walking the chain.
#[derive(Debug, PartialEq, Eq)]
pub enum Verification {
    Intact { events: u64 },
    Broken { seq: i64, reason: String },
}

/// Walks the whole chain in pages and reports the first event that does not verify: a broken
/// link, or the sealer's record of an entry lost or forged before it was sealed.
pub async fn verify(c: &impl ConnectionTrait) -> Result<Verification, StoreError> {
    let mut prev_seq = 0;
    let mut prev_hash = GENESIS.to_owned();
    let mut last_entry: Option<i64> = None;
    let mut count = 0;
    loop {
        let page = list(c, prev_seq, 1000).await?;
        if page.is_empty() {
            return Ok(Verification::Intact { events: count });
        }
        for e in page {
            let broken = |reason: String| Ok(Verification::Broken { seq: e.seq, reason });
            if e.seq != prev_seq + 1 {
                return Ok(Verification::Broken {
                    seq: prev_seq + 1,
                    reason: format!("event missing (next stored event is {})", e.seq),
                });
            }
            if e.prev_hash != prev_hash {
                return broken("prev_hash does not match the previous event's hash".into());
            }
            if e.hash != Link::of(&e).hash() {
                return broken("hash does not match the event's contents".into());
            }
            if e.actor == "system" && (e.action == ENTRIES_MISSING || e.action == ENTRY_SUSPECT) {
                return broken(format!("the sealer found tampering before sealing: {} {}", e.action, e.details));
            }
            if let Some(entry) = e.entry {
                if let Some(last) = last_entry
                    && entry != last + 1
                {
                    return broken(format!("sealed from entry {entry}, but the previous event from entry {last}"));
                }
                last_entry = Some(entry);
            }
            prev_seq = e.seq;
            prev_hash = e.hash;
            count += 1;
        }
    }
}
