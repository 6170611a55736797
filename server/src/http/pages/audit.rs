//! `/audit`: the audit log for auditors and admins, newest first, filtered by user, profile,
//! action and time; `/audit/export.jsonl` downloads the same search as JSON lines, oldest
//! first, streamed batch by batch (the API's event format, hashes included, so a download can
//! be checked against the chain).
use actix_web::{HttpResponse, get, http::StatusCode, web};
use askama::Template;
use serde::Deserialize;

use super::{AppState, Visitor, refused, render};
use crate::{
    domain::format_millis,
    http::audit_export,
    store::audit::Page,
    workflows::{WorkflowError, queries},
};

const PAGE: u64 = 100;

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
            Ok((events, _)) => events,
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
        Err(e) => return refused(WorkflowError::from(e), "Not exported", &visitor),
    };
    // The first batch before the response starts: a refusal still gets its status.
    let caller = visitor.caller();
    let first = match queries::search_audit(&state.broker, &caller, &search, Page::After(0), audit_export::BATCH).await
    {
        Ok(first) => first,
        Err(e) => return refused(e, "Not exported", &visitor),
    };
    let (first, unsealed) = first;
    HttpResponse::Ok()
        .insert_header((audit_export::UNSEALED, unsealed.to_string()))
        .insert_header(("Content-Disposition", "attachment; filename=\"elevate-audit.jsonl\""))
        .content_type(audit_export::CONTENT_TYPE)
        .streaming(audit_export::json_lines(state.into_inner(), caller, search, first))
}
