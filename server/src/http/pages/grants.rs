//! `/grants`: the access in force now. Everyone sees their own; admins and auditors see
//! everyone's, and admins get a Revoke button on each (the revoke workflow checks it again).
use actix_web::{HttpResponse, get, http::StatusCode, web};
use askama::Template;

use super::{AppState, Visitor, refused, render};
use crate::{domain::format_millis, workflows::queries};

struct Row {
    id: String,
    requester: String,
    profile: String,
    ends: String,
    revoke: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "pages/grants.html")]
struct GrantsPage<'a> {
    signed_in: Option<&'a Visitor>,
    everyone: bool,
    rows: Vec<Row>,
    csrf: String,
}

#[get("/grants")]
pub(super) async fn active(state: web::Data<AppState>, visitor: Visitor) -> HttpResponse {
    let caller = visitor.caller();
    let q = queries::ListQuery {
        status: Some("active".into()),
        requester: None,
        limit: Some(queries::MAX_PAGE),
        cursor: None,
    };
    let grants = match queries::list_requests(&state.broker, &caller, q).await {
        Ok(grants) => grants,
        Err(e) => return refused(e, "", &visitor),
    };
    let rows = grants
        .into_iter()
        .map(|r| {
            let own = r.requester == visitor.user.as_str();
            Row {
                revoke: match (own, visitor.is_admin()) {
                    (true, _) => Some("End my access now"),
                    (false, true) => Some("Revoke"),
                    (false, false) => None,
                },
                ends: r.expires_at.map(format_millis).unwrap_or_default(),
                id: r.id.to_string(),
                requester: r.requester,
                profile: r.profile,
            }
        })
        .collect();
    let everyone = visitor.is_admin() || visitor.reads_audit();
    render(StatusCode::OK, &GrantsPage { signed_in: Some(&visitor), everyone, rows, csrf: visitor.csrf.clone() })
}
