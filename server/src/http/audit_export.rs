//! The audit log as JSON lines, streamed batch by batch: the download of the audit page and
//! `GET /api/v1/audit/export`. Each line is an event as the API shows it, hashes included, so
//! an export can be checked against the chain.
use std::sync::Arc;

use actix_web::web;

use super::{AppState, views::AuditEventView};
use crate::{
    domain::Caller,
    store::audit::{Page, Search},
    telemetry::error_chain,
    workflows::queries,
};

pub const CONTENT_TYPE: &str = "application/x-ndjson";
/// The header that says how many committed events were not chained yet when the export began.
pub const UNSEALED: &str = "Elevate-Audit-Unsealed";
/// Events read per query.
pub const BATCH: u64 = 500;

/// Where an export stands between two chunks.
enum Export {
    Batch(Vec<entity::audit_events::Model>),
    /// Reading the next batch failed after some were sent.
    Failed,
}

/// The events as JSON lines, one batch at a time. A failure mid-way is logged and aborts the
/// transfer (the client sees an incomplete download, never a short one that looks whole).
pub fn json_lines(
    state: Arc<AppState>,
    caller: Caller,
    search: Search,
    first: Vec<entity::audit_events::Model>,
) -> impl futures_util::Stream<Item = Result<web::Bytes, std::io::Error>> {
    futures_util::stream::unfold(Some(Export::Batch(first)), move |step| {
        let (state, caller, search) = (state.clone(), caller.clone(), search.clone());
        async move {
            let batch = match step? {
                Export::Batch(batch) if batch.is_empty() => return None,
                Export::Batch(batch) => batch,
                Export::Failed => return Some((Err(std::io::Error::other("the audit export failed")), None)),
            };
            let full = batch.len() as u64 == BATCH;
            let last = batch.last().map_or(0, |e| e.seq);
            let mut out = Vec::new();
            for event in batch {
                if let Err(e) = serde_json::to_writer(&mut out, &AuditEventView::from(event)) {
                    return Some((Err(std::io::Error::other(e)), None));
                }
                out.push(b'\n');
            }
            let next = if full {
                match queries::search_audit(&state.broker, &caller, &search, Page::After(last), BATCH).await {
                    Ok((next, _)) => Export::Batch(next),
                    Err(e) => {
                        tracing::error!(error = %error_chain(&e), "an audit export failed part-way");
                        Export::Failed
                    }
                }
            } else {
                Export::Batch(Vec::new())
            };
            Some((Ok(web::Bytes::from(out)), Some(next)))
        }
    })
}
