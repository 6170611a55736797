//! Forwards the audit log to syslog, in order, from where it left off (the cursor is in the
//! database, so a restart neither skips nor repeats a delivered batch). Among replicas one
//! forwards at a time (an advisory lock on PostgreSQL); a batch that was sent but whose cursor
//! could not be saved is sent again: delivery is at-least-once, and `cs1` (the sequence
//! number) lets the collector drop repeats.
//!
//! The forwarder never holds the database while it talks to the collector: it reads, sends
//! (bounded by the provider's timeouts), then moves the cursor in one short statement. On
//! SQLite a transaction held across the send would hold the only write lock, and every grant,
//! revoke and filing would wait for a slow collector.
use entity::audit_forwarding as cursor;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, TransactionTrait, sea_query::Expr,
};

use crate::{
    broker::Broker,
    domain::format_millis,
    providers::syslog::{Event, Syslog, SyslogError},
    store::{StoreError, audit, is_postgres},
};

const SINK: &str = "syslog";
const BATCH: u64 = 500;
/// Held by the replica forwarding now.
const FORWARD_LOCK: i64 = 0x0065_6c65_7666_7764;

#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Syslog(#[from] SyslogError),
}

impl From<sea_orm::DbErr> for ForwardError {
    fn from(e: sea_orm::DbErr) -> Self {
        Self::Store(e.into())
    }
}

/// Sends the next batches until the collector has everything; how many events went out.
/// Call it from one task at a time (the sweeps do).
pub async fn forward(broker: &Broker, syslog: &Syslog) -> Result<usize, ForwardError> {
    let store = &broker.store;
    // PostgreSQL: the replica whose transaction holds the advisory lock forwards (the
    // transaction writes nothing, so it locks no row). SQLite: one process, no transaction.
    let turn = if is_postgres(store.conn()) {
        let turn = store.conn().begin().await?;
        let row = turn
            .query_one_raw(sea_orm::Statement::from_string(
                turn.get_database_backend(),
                format!("SELECT pg_try_advisory_xact_lock({FORWARD_LOCK}) AS locked"),
            ))
            .await?;
        if !row.map(|r| r.try_get::<bool>("", "locked")).transpose()?.unwrap_or(false) {
            return Ok(0);
        }
        Some(turn)
    } else {
        None
    };
    let mut sent = 0;
    loop {
        let from = cursor::Entity::find_by_id(SINK).one(store.conn()).await?.map_or(0, |c| c.last_seq);
        let events = audit::list(store.conn(), from, BATCH).await?;
        let Some(last) = events.last().map(|e| e.seq) else { break };
        let messages: Vec<String> = events
            .iter()
            .map(|e| {
                let at = format_millis(e.at);
                syslog.message(&Event {
                    seq: e.seq,
                    at: &at,
                    actor: &e.actor,
                    action: &e.action,
                    subject: &e.subject,
                    details: &e.details,
                    hash: &e.hash,
                })
            })
            .collect();
        syslog.send(&messages).await?;
        advance(store.conn(), from, last).await?;
        sent += events.len();
        if (events.len() as u64) < BATCH {
            break;
        }
    }
    if let Some(turn) = turn {
        turn.commit().await.map_err(StoreError::from)?;
    }
    Ok(sent)
}

/// Moves the cursor from `from` to `to` (only from where this run found it).
async fn advance(c: &impl ConnectionTrait, from: i64, to: i64) -> Result<(), StoreError> {
    let moved = cursor::Entity::update_many()
        .col_expr(cursor::Column::LastSeq, Expr::value(to))
        .filter(cursor::Column::Sink.eq(SINK))
        .filter(cursor::Column::LastSeq.eq(from))
        .exec(c)
        .await?;
    if moved.rows_affected == 0 && from == 0 {
        let row = cursor::ActiveModel { sink: Set(SINK.into()), last_seq: Set(to) };
        cursor::Entity::insert(row).on_conflict_do_nothing().exec_without_returning(c).await?;
    }
    Ok(())
}
