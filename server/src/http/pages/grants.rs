//! `/grants`: the access in force now, and the access scheduled to start later. Everyone sees
//! their own; admins and auditors see everyone's, and admins get a Revoke button on each (the
//! workflows check it again); a requester ends her own, or cancels it before it starts.
use actix_web::{HttpResponse, get, http::StatusCode, web};
use askama::Template;

use super::{AppState, Visitor, refused, render};
use crate::{
    domain::format_millis,
    workflows::{WorkflowError, queries},
};

struct Row {
    id: String,
    requester: String,
    profile: String,
    /// When a scheduled grant starts ("" for one in force).
    starts: String,
    ends: String,
    /// The button: (the request's action, its label).
    action: Option<(&'static str, &'static str)>,
}

#[derive(Template)]
#[template(path = "pages/grants.html")]
struct GrantsPage<'a> {
    signed_in: Option<&'a Visitor>,
    everyone: bool,
    rows: Vec<Row>,
    scheduled: Vec<Row>,
    csrf: String,
}

#[get("/grants")]
pub(super) async fn active(state: web::Data<AppState>, visitor: Visitor) -> HttpResponse {
    let (rows, scheduled) = match (rows(&state, &visitor, "active").await, rows(&state, &visitor, "scheduled").await) {
        (Ok(rows), Ok(scheduled)) => (rows, scheduled),
        (Err(e), _) | (_, Err(e)) => return refused(e, "", &visitor),
    };
    let everyone = visitor.is_admin() || visitor.reads_audit();
    let page = GrantsPage { signed_in: Some(&visitor), everyone, rows, scheduled, csrf: visitor.csrf.clone() };
    render(StatusCode::OK, &page)
}

/// The requests in `status` the visitor may see, as rows with the button they may press.
async fn rows(state: &AppState, visitor: &Visitor, status: &str) -> Result<Vec<Row>, WorkflowError> {
    let q = queries::ListQuery {
        status: Some(status.into()),
        requester: None,
        limit: Some(queries::MAX_PAGE),
        cursor: None,
    };
    let requests = queries::list_requests(&state.broker, &visitor.caller(), q).await?;
    let scheduled = status == "scheduled";
    Ok(requests
        .into_iter()
        .map(|r| {
            let own = r.requester == visitor.user.as_str();
            Row {
                action: match (own, visitor.is_admin(), scheduled) {
                    (true, _, true) => Some(("cancel", "Cancel")),
                    (true, _, false) => Some(("revoke", "End my access now")),
                    (false, true, _) => Some(("revoke", "Revoke")),
                    (false, false, _) => None,
                },
                starts: r.start_at.filter(|_| scheduled).map(format_millis).unwrap_or_default(),
                ends: match (r.expires_at, r.start_at) {
                    (Some(end), _) => format_millis(end),
                    (None, Some(start)) => format_millis(start.saturating_add(r.duration_seconds.saturating_mul(1000))),
                    (None, None) => String::new(),
                },
                id: r.id.to_string(),
                requester: r.requester,
                profile: r.profile,
            }
        })
        .collect())
}
