//! The tamper-evident audit log: an append-only hash chain. Each event's hash is SHA-256 over
//! the previous event's hash and the event's own fields, so changing, removing or reordering
//! any stored event breaks every hash after it.
use std::fmt;

use entity::audit_events as events;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{StoreError, is_postgres};
use crate::domain::{GrantId, RequestId, Upn, now};

/// The `prev_hash` of the first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Serialises appends across replicas on PostgreSQL (SQLite write transactions already are).
const APPEND_LOCK: i64 = 0x0065_6c65_7661_7465;

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
    let (seq, prev_hash) = match head(c).await? {
        Some((seq, hash)) => (seq + 1, hash),
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

/// The newest event's sequence number and hash.
pub async fn head(c: &impl ConnectionTrait) -> Result<Option<(i64, String)>, StoreError> {
    let last = events::Entity::find().order_by_desc(events::Column::Seq).one(c).await?;
    Ok(last.map(|e| (e.seq, e.hash)))
}

/// The newest event with one of `actions`.
pub async fn last_of(c: &impl ConnectionTrait, actions: &[&str]) -> Result<Option<events::Model>, StoreError> {
    Ok(events::Entity::find()
        .filter(events::Column::Action.is_in(actions.iter().copied()))
        .order_by_desc(events::Column::Seq)
        .one(c)
        .await?)
}

/// The hash of event `seq`, if there is one.
pub async fn hash_at(c: &impl ConnectionTrait, seq: i64) -> Result<Option<String>, StoreError> {
    Ok(events::Entity::find_by_id(seq).one(c).await?.map(|e| e.hash))
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
