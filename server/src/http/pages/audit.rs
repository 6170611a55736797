//! `/audit`: the audit log for auditors and admins, newest first, filtered by user, profile,
//! action and time; `/audit/export.jsonl` downloads the same search as JSON lines, oldest
//! first, streamed page by page (the API's event format, hashes included, so a download can
//! be checked against the chain).
use actix_web::{HttpResponse, get, http::StatusCode, web};
use askama::Template;
use serde::Deserialize;

use super::{AppState, Visitor, refused, render};
use crate::{
    domain::format_millis,
    http::views::AuditEventView,
    store::audit::{Page, Search},
    workflows::{WorkflowError, queries},
};

const PAGE: u64 = 100;
const EXPORT_BATCH: u64 = 500;

#[derive(Deserialize)]
struct AuditQuery {
    #[serde(flatten)]
    search: queries::AuditSearch,
    /// The next page: events before this sequence number.
    before: Option<i64>,
}

struct Row {
    seq: i64,
    at: String,
    actor: String,
    action: String,
    subject: String,
    /// `/requests/<id>` for events about a request.
    link: Option<String>,
    details: String,
}

#[derive(Template)]
#[template(path = "pages/audit.html")]
struct AuditPage<'a> {
    signed_in: Option<&'a Visitor>,
    typed: &'a queries::AuditSearch,
    profiles: Vec<String>,
    error: Option<(&'static str, String)>,
    rows: Vec<Row>,
    /// The query string of this search (for the download and the next page).
    query: String,
    older: Option<i64>,
}

impl AuditPage<'_> {
    fn error(&self, field: &str) -> Option<&str> {
        self.error.as_ref().filter(|(f, _)| *f == field).map(|(_, m)| m.as_str())
    }
}

/// The search as a query string, for links that keep it.
fn query_string(typed: &queries::AuditSearch) -> String {
    let fields = [
        ("user", &typed.user),
        ("profile", &typed.profile),
        ("action", &typed.action),
        ("from", &typed.from),
        ("to", &typed.to),
    ];
    fields
        .iter()
        .filter_map(|(k, v)| v.as_deref().filter(|v| !v.trim().is_empty()).map(|v| (k, v)))
        .map(|(k, v)| format!("{k}={}", percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)))
        .collect::<Vec<_>>()
        .join("&")
}

#[get("/audit")]
pub(super) async fn log(state: web::Data<AppState>, visitor: Visitor, q: web::Query<AuditQuery>) -> HttpResponse {
    let q = q.into_inner();
    let mut page = AuditPage {
        signed_in: Some(&visitor),
        typed: &q.search,
        profiles: state.broker.policy.profiles().map(|p| p.key.to_string()).collect(),
        error: None,
        rows: Vec::new(),
        query: query_string(&q.search),
        older: None,
    };
    let search = match q.search.parse() {
        Ok(search) => search,
        Err(e) => {
            page.error = Some((e.field, e.reason));
            // Still only for those who may read the log.
            if !visitor.reads_audit() {
                return refused(WorkflowError::Forbidden("the auditor or admin role is needed".into()), "", &visitor);
            }
            return render(StatusCode::BAD_REQUEST, &page);
        }
    };
    let events =
        match queries::search_audit(&state.broker, &visitor.caller(), &search, Page::Before(q.before), PAGE).await {
            Ok(events) => events,
            Err(e) => return refused(e, "Not shown", &visitor),
        };
    page.older = (events.len() as u64 == PAGE).then(|| events.last().map(|e| e.seq)).flatten();
    page.rows = events
        .into_iter()
        .map(|e| Row {
            seq: e.seq,
            at: format_millis(e.at),
            link: e.subject.strip_prefix("request:").map(|id| format!("/requests/{id}")),
            actor: e.actor,
            action: e.action,
            subject: e.subject,
            details: e.details,
        })
        .collect();
    render(StatusCode::OK, &page)
}

#[get("/audit/export.jsonl")]
pub(super) async fn export(
    state: web::Data<AppState>,
    visitor: Visitor,
    q: web::Query<queries::AuditSearch>,
) -> HttpResponse {
    let search = match q.parse() {
        Ok(search) => search,
        Err(e) => return refused(e.into(), "Not exported", &visitor),
    };
    // The first batch before the response starts: a refusal still gets its status.
    let caller = visitor.caller();
    let first = match queries::search_audit(&state.broker, &caller, &search, Page::After(0), EXPORT_BATCH).await {
        Ok(first) => first,
        Err(e) => return refused(e, "Not exported", &visitor),
    };
    HttpResponse::Ok()
        .content_type("application/x-ndjson")
        .insert_header(("Content-Disposition", "attachment; filename=\"elevate-audit.jsonl\""))
        .streaming(json_lines(state.into_inner(), caller, search, first))
}

/// Where an export stands between two chunks.
enum Export {
    Batch(Vec<entity::audit_events::Model>),
    /// Reading the next batch failed after some were sent.
    Failed,
}

/// The events as JSON lines, one batch at a time. A failure mid-way is logged and aborts the
/// transfer (the client sees an incomplete download, never a short one that looks whole).
fn json_lines(
    state: std::sync::Arc<AppState>,
    caller: crate::domain::Caller,
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
            let full = batch.len() as u64 == EXPORT_BATCH;
            let last = batch.last().map_or(0, |e| e.seq);
            let mut out = Vec::new();
            for event in batch {
                if let Err(e) = serde_json::to_writer(&mut out, &AuditEventView::from(event)) {
                    return Some((Err(std::io::Error::other(e)), None));
                }
                out.push(b'\n');
            }
            let next = if full {
                match queries::search_audit(&state.broker, &caller, &search, Page::After(last), EXPORT_BATCH).await {
                    Ok(next) => Export::Batch(next),
                    Err(e) => {
                        tracing::error!(error = %e, "an audit export failed part-way");
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
