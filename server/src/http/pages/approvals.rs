//! `/approvals`: the requests the signed-in approver may decide now, each with Approve and
//! Deny buttons (POST, with the session's form token).
use actix_web::{HttpRequest, HttpResponse, get, http::StatusCode, http::header, post, web};
use askama::Template;
use serde::Deserialize;

use super::{AppState, message, render, session_of};
use crate::{
    domain::{Caller, Role, Upn},
    notify::messages,
    workflows::{WorkflowError, decide, queries},
};

#[derive(Template)]
#[template(path = "pages/approvals.html")]
struct InboxPage<'a> {
    signed_in: Option<&'a Upn>,
    csrf: String,
    /// (request id, facts)
    items: Vec<(String, Vec<(&'static str, String)>)>,
}

#[derive(Deserialize)]
struct DecisionForm {
    csrf: Option<String>,
    decision: String,
    comment: Option<String>,
}

/// Approver rights are checked against the profile's approvers, request by request.
fn approver(upn: &Upn) -> Caller {
    Caller { upn: upn.clone(), roles: vec![Role::Requester, Role::Approver], delegate: false }
}

#[get("/approvals")]
pub(super) async fn inbox(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let Some((user, cookie)) = session_of(&state, &req) else { return super::sign_in_first(&req) };
    let broker = &state.broker;
    match queries::approvals(broker, &approver(&user)).await {
        Ok(pending) => {
            let items = pending
                .iter()
                .map(|r| {
                    let facts = match broker.profile_of(r) {
                        Ok(p) => messages::facts(r, p, broker.risk_tier(p).as_deref()),
                        Err(_) => Vec::new(),
                    };
                    (r.id.clone(), facts)
                })
                .collect();
            let csrf = state.sessions.csrf_token(&cookie);
            render(StatusCode::OK, &InboxPage { signed_in: Some(&user), csrf, items })
        }
        Err(e) => super::unavailable(e, &user),
    }
}

#[post("/requests/{id}/decide")]
pub(super) async fn decide_form(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    form: web::Form<DecisionForm>,
) -> HttpResponse {
    let Some((user, cookie)) = session_of(&state, &req) else { return super::sign_in_first(&req) };
    let form = form.into_inner();
    if !state.sessions.csrf_matches(&cookie, form.csrf.as_deref().unwrap_or_default()) {
        return message(
            StatusCode::FORBIDDEN,
            "Not allowed",
            "This form did not come from your session; reload it.",
            Some(&user),
        );
    }
    let decision = match form.decision.as_str() {
        "approve" => decide::Decision::Approve,
        "deny" => decide::Decision::Deny,
        _ => return message(StatusCode::BAD_REQUEST, "Unknown decision", "Approve or deny.", Some(&user)),
    };
    let comment = form.comment.filter(|c| !c.trim().is_empty());
    match decide::decide(&state.broker, &approver(&user), &id, decision, comment.as_deref()).await {
        Ok(_) => HttpResponse::SeeOther().insert_header((header::LOCATION, "/approvals")).finish(),
        Err(e @ (WorkflowError::Forbidden(_) | WorkflowError::NotFound(_))) => {
            message(StatusCode::FORBIDDEN, "Not allowed", &e.to_string(), Some(&user))
        }
        Err(e @ (WorkflowError::Conflict(_) | WorkflowError::Transition(_) | WorkflowError::Invalid(_))) => {
            message(StatusCode::CONFLICT, "Not decided", &e.to_string(), Some(&user))
        }
        Err(e) => super::unavailable(e, &user),
    }
}
