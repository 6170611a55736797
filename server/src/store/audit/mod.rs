//! The tamper-evident audit log: an append-only hash chain. Each event's hash is SHA-256 over
//! the previous event's hash and the event's own fields, so changing, removing or reordering
//! any stored event breaks every hash after it.
//!
//! A change records its event as an *entry* in its own transaction, without a global lock
//! ([`append`]); the sealer ([`seal`]) chains committed entries in batches, so commits do not
//! queue behind one lock held through each other's disk flush. An entry is numbered without
//! gaps as it commits, and authenticated with a key derived from `auth.token_secret`, so an
//! entry removed, altered or forged before it was sealed is found when it is, and recorded
//! in the chain itself (`audit.entries_missing`, `audit.entry_suspect`), which `verify` then
//! reports.
mod chain;
pub mod seal;

use std::{fmt, sync::OnceLock};

use entity::{audit_entries as entries, audit_events as events};
use hmac::{Hmac, KeyInit, Mac};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use sha2::Sha256;

pub use chain::{GENESIS, Verification, verify};

use super::StoreError;
use crate::domain::{GrantId, RequestId, Upn, now};

/// The sealer's record of entries that never reached it (removed, or lost in a failed commit).
pub const ENTRIES_MISSING: &str = "audit.entries_missing";
/// The sealer's record of an entry that is not as it was written (altered, forged, renumbered).
pub const ENTRY_SUSPECT: &str = "audit.entry_suspect";

/// An event about to be written: who did what, about what (`subject`, written `kind:id` as
/// the log is searched by it), with details.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub actor: String,
    pub action: &'static str,
    pub subject: String,
    pub details: serde_json::Value,
}

/// What an audit event is about.
#[derive(Debug, Clone, Copy)]
pub enum Subject<'a> {
    Request(&'a RequestId),
    Grant(&'a GrantId),
    /// A group of the directory, by id.
    Group(&'a str),
    /// A group of IAM Identity Center, by id.
    IdentityCenterGroup(&'a str),
    User(&'a Upn),
    /// An API token, by its id (`jti`).
    Token(&'a str),
    Job(i64),
    /// The audit chain at this sequence number.
    Audit(i64),
    /// The configuration in force.
    Config,
    /// A subject written earlier in this form (a job's lock key, a payload's subject).
    Written(&'a str),
}

impl fmt::Display for Subject<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Request(id) => write!(f, "request:{id}"),
            Self::Grant(id) => write!(f, "grant:{id}"),
            Self::Group(id) => write!(f, "group:{id}"),
            Self::IdentityCenterGroup(id) => write!(f, "identity-center:{id}"),
            Self::User(upn) => write!(f, "user:{upn}"),
            Self::Token(jti) => write!(f, "token:{jti}"),
            Self::Job(id) => write!(f, "job:{id}"),
            Self::Audit(seq) => write!(f, "audit:{seq}"),
            Self::Config => f.write_str("config"),
            Self::Written(subject) => f.write_str(subject),
        }
    }
}

impl NewEvent {
    /// An event of a person (or a bot, or the command line: `cli:<user>`).
    pub fn new(actor: impl Into<String>, action: &'static str, subject: Subject<'_>, details: Value) -> Self {
        Self { actor: actor.into(), action, subject: subject.to_string(), details }
    }

    /// An event of Elevate itself (the worker, the sweeps, start-up).
    pub fn system(action: &'static str, subject: Subject<'_>, details: Value) -> Self {
        Self::new("system", action, subject, details)
    }
}

/// The key that authenticates entries: one per process, derived from `auth.token_secret`
/// (which every process of one deployment shares) and never stored in the database. Set once
/// at start-up; a process without it writes unauthenticated entries, which a sealer that has
/// the key records as suspect.
static ENTRY_KEY: OnceLock<Hmac<Sha256>> = OnceLock::new();

pub fn authenticate_entries_with(secret: &SecretString) {
    // HMAC takes a key of any length: neither step can fail.
    let Ok(mut derive) = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes()) else { return };
    derive.update(b"elevate audit entries v1");
    if let Ok(key) = Hmac::<Sha256>::new_from_slice(&derive.finalize().into_bytes()) {
        let _ = ENTRY_KEY.set(key);
    }
}

/// The MAC of an entry's fields (as a JSON array, like the chain's hash), if this process has
/// the key.
fn mac(at: i64, actor: &str, action: &str, subject: &str, details: &str) -> Option<String> {
    let mut mac = ENTRY_KEY.get()?.clone();
    mac.update(serde_json::json!([at, actor, action, subject, details]).to_string().as_bytes());
    Some(mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect())
}

/// Records one event. Must run inside the transaction of the change it records; the event is
/// chained once that transaction has committed and the sealer has run (within
/// `audit.seal_interval`).
pub async fn append(c: &impl ConnectionTrait, event: NewEvent) -> Result<(), StoreError> {
    append_all(c, vec![event]).await
}

/// Records events of one change in one statement, in this order.
pub async fn append_all(c: &impl ConnectionTrait, events: Vec<NewEvent>) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    let at = now();
    let rows = events.into_iter().map(|event| {
        let details = event.details.to_string();
        entries::ActiveModel {
            mac: Set(mac(at, &event.actor, event.action, &event.subject, &details)),
            at: Set(at),
            actor: Set(event.actor),
            action: Set(event.action.to_owned()),
            subject: Set(event.subject),
            details: Set(details),
            ..Default::default()
        }
    });
    entries::Entity::insert_many(rows).exec_without_returning(c).await?;
    Ok(())
}

pub async fn list(c: &impl ConnectionTrait, after_seq: i64, limit: u64) -> Result<Vec<events::Model>, StoreError> {
    Ok(events::Entity::find()
        .filter(events::Column::Seq.gt(after_seq))
        .order_by_asc(events::Column::Seq)
        .limit(limit)
        .all(c)
        .await?)
}

/// Which events to read: every field narrows the search, `None` leaves it open.
#[derive(Debug, Default, Clone)]
pub struct Search {
    /// Events by this user, about them (`user:`), or about requests for them.
    pub user: Option<String>,
    /// Events about requests for this profile.
    pub profile: Option<String>,
    /// This action (`request.approved`), or every action under a prefix (`request`).
    pub action: Option<String>,
    /// From this instant (ms, inclusive) …
    pub from: Option<i64>,
    /// … to this one (ms, exclusive).
    pub to: Option<i64>,
}

/// Where a page of a search starts, and which way it reads.
#[derive(Debug, Clone, Copy)]
pub enum Page {
    /// Oldest first, after this sequence number (0: from the start).
    After(i64),
    /// Newest first, before this sequence number (`None`: from the newest).
    Before(Option<i64>),
}

pub async fn search(
    c: &impl ConnectionTrait,
    search: &Search,
    page: Page,
    limit: u64,
) -> Result<Vec<events::Model>, StoreError> {
    use entity::requests;
    use sea_orm::{
        Condition,
        sea_query::{Expr, Query},
    };
    // Subjects of requests are `request:<id>`; the request table says whose and which profile.
    let about_requests = |column: requests::Column, value: &str| {
        let subjects = Query::select()
            .expr(Expr::cust("'request:' || id"))
            .from(requests::Entity)
            .and_where(column.eq(value))
            .to_owned();
        events::Column::Subject.in_subquery(subjects)
    };
    let mut filter = Condition::all();
    if let Some(user) = &search.user {
        filter = filter.add(
            Condition::any()
                .add(events::Column::Actor.eq(user.as_str()))
                .add(events::Column::Subject.eq(format!("user:{user}")))
                .add(about_requests(requests::Column::Requester, user)),
        );
    }
    if let Some(profile) = &search.profile {
        filter = filter.add(about_requests(requests::Column::Profile, profile));
    }
    if let Some(action) = &search.action {
        filter = filter.add(
            Condition::any()
                .add(events::Column::Action.eq(action.as_str()))
                .add(events::Column::Action.starts_with(format!("{action}."))),
        );
    }
    if let Some(from) = search.from {
        filter = filter.add(events::Column::At.gte(from));
    }
    if let Some(to) = search.to {
        filter = filter.add(events::Column::At.lt(to));
    }
    let query = events::Entity::find().filter(filter);
    let query = match page {
        Page::After(seq) => query.filter(events::Column::Seq.gt(seq)).order_by_asc(events::Column::Seq),
        Page::Before(Some(seq)) => query.filter(events::Column::Seq.lt(seq)).order_by_desc(events::Column::Seq),
        Page::Before(None) => query.order_by_desc(events::Column::Seq),
    };
    Ok(query.limit(limit).all(c).await?)
}

/// The newest sealed event: the chain's head.
pub async fn head(c: &impl ConnectionTrait) -> Result<Option<events::Model>, StoreError> {
    Ok(events::Entity::find().order_by_desc(events::Column::Seq).one(c).await?)
}

/// The newest event with one of `actions`, sealed or not: its action and details.
pub async fn last_of(c: &impl ConnectionTrait, actions: &[&str]) -> Result<Option<(String, String)>, StoreError> {
    let pending = entries::Entity::find()
        .filter(entries::Column::Action.is_in(actions.iter().copied()))
        .order_by_desc(entries::Column::Id)
        .one(c)
        .await?;
    if let Some(e) = pending {
        return Ok(Some((e.action, e.details)));
    }
    Ok(events::Entity::find()
        .filter(events::Column::Action.is_in(actions.iter().copied()))
        .order_by_desc(events::Column::Seq)
        .one(c)
        .await?
        .map(|e| (e.action, e.details)))
}

/// The hash of event `seq`, if there is one.
pub async fn hash_at(c: &impl ConnectionTrait, seq: i64) -> Result<Option<String>, StoreError> {
    Ok(events::Entity::find_by_id(seq).one(c).await?.map(|e| e.hash))
}

/// One event about a subject, as a timeline shows it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub at: i64,
    pub actor: String,
    pub action: String,
}

/// Every event about `subject`, oldest first: the sealed ones in chain order, then those
/// still waiting for the sealer.
pub async fn for_subject(c: &impl ConnectionTrait, subject: &str) -> Result<Vec<Recorded>, StoreError> {
    let sealed = events::Entity::find()
        .filter(events::Column::Subject.eq(subject))
        .order_by_asc(events::Column::Seq)
        .all(c)
        .await?;
    let pending = entries::Entity::find()
        .filter(entries::Column::Subject.eq(subject))
        .order_by_asc(entries::Column::Id)
        .all(c)
        .await?;
    let sealed = sealed.into_iter().map(|e| Recorded { at: e.at, actor: e.actor, action: e.action });
    Ok(sealed.chain(pending.into_iter().map(|e| Recorded { at: e.at, actor: e.actor, action: e.action })).collect())
}
