//! `/requests/{id}`: where the links in mail and chat lead. A signed-in user sees the request
//! if the API would show it to them (requester, filer, the profile's approvers); the full web
//! UI builds on this page.
use actix_web::{HttpRequest, HttpResponse, get, http::StatusCode, http::header, post, web};
use askama::Template;
use serde::Deserialize;

use super::{AppState, message, render, session_of};
use crate::{
    domain::{Caller, Role, Upn, format_millis},
    notify::messages,
    workflows::{WorkflowError, cancel, queries, revoke},
};

#[derive(Template)]
#[template(path = "pages/request.html")]
struct RequestPage<'a> {
    id: &'a str,
    status: &'a str,
    facts: Vec<(&'static str, String)>,
    decisions: Vec<(String, String, String)>,
    /// (instant, who, what) of every audit event about the request.
    timeline: Vec<(String, String, String)>,
    /// Which buttons the viewer gets: cancel (own, pending), revoke (own, approved or active).
    can_cancel: bool,
    can_revoke: bool,
    csrf: String,
    signed_in: Option<&'a Upn>,
}

#[derive(Deserialize)]
struct ActionForm {
    csrf: Option<String>,
    comment: Option<String>,
}

#[get("/requests/{id}")]
pub(super) async fn show(state: web::Data<AppState>, req: HttpRequest, id: web::Path<String>) -> HttpResponse {
    let Some((user, cookie)) = session_of(&state, &req) else { return super::sign_in_first(&req) };
    // Approver rights are still checked against the profile's approvers, request by request.
    let caller = Caller { upn: user.clone(), roles: vec![Role::Requester, Role::Approver], delegate: false };
    let broker = &state.broker;
    let details = match queries::get_request(broker, &caller, &id).await {
        Ok(details) => details,
        Err(WorkflowError::NotFound(_) | WorkflowError::Invalid(_)) => {
            return message(StatusCode::NOT_FOUND, "Not found", "There is no such request you may see.", Some(&user));
        }
        Err(e) => {
            tracing::error!(error = %e, "showing a request failed");
            return message(StatusCode::SERVICE_UNAVAILABLE, "Unavailable", "Try again shortly.", Some(&user));
        }
    };
    let request = &details.request;
    let mut facts = match broker.profile_of(request) {
        Ok(profile) => messages::facts(request, profile, broker.risk_tier(profile).as_deref()),
        Err(_) => Vec::new(),
    };
    facts.push(("Filed", format_millis(request.created_at)));
    if let Some(at) = request.expires_at {
        facts.push(("Expires", format_millis(at)));
    }
    if let Some(at) = request.ended_at {
        facts.push(("Ended", format_millis(at)));
    }
    let decisions = details
        .decisions
        .iter()
        .map(|d| (d.approver.clone(), d.decision.clone(), format_millis(d.decided_at)))
        .collect();
    let timeline = match queries::timeline(broker, &request.id).await {
        Ok(events) => events.into_iter().map(|e| (format_millis(e.at), e.actor, e.action)).collect(),
        Err(e) => return super::unavailable(e, &user),
    };
    let own = request.requester == user.as_str();
    render(
        StatusCode::OK,
        &RequestPage {
            id: &request.id,
            status: &request.status,
            facts,
            decisions,
            timeline,
            can_cancel: own && request.status == "pending",
            can_revoke: own && (request.status == "approved" || request.status == "active"),
            csrf: state.sessions.csrf_token(&cookie),
            signed_in: Some(&user),
        },
    )
}

/// Cancel (own pending request) or revoke (own grant) from the request's page.
#[post("/requests/{id}/{action:cancel|revoke}")]
pub(super) async fn act(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    form: web::Form<ActionForm>,
) -> HttpResponse {
    let Some((user, cookie)) = session_of(&state, &req) else { return super::sign_in_first(&req) };
    let (id, action) = path.into_inner();
    let form = form.into_inner();
    if !state.sessions.csrf_matches(&cookie, form.csrf.as_deref().unwrap_or_default()) {
        return message(
            StatusCode::FORBIDDEN,
            "Not allowed",
            "This form did not come from your session; reload it.",
            Some(&user),
        );
    }
    let caller = Caller { upn: user.clone(), roles: vec![Role::Requester], delegate: false };
    let comment = form.comment.filter(|c| !c.trim().is_empty());
    let done = if action == "cancel" {
        cancel::cancel(&state.broker, &caller, &id, comment.as_deref()).await
    } else {
        revoke::revoke(&state.broker, &caller, &id, comment.as_deref()).await
    };
    match done {
        Ok(_) => HttpResponse::SeeOther().insert_header((header::LOCATION, format!("/requests/{id}"))).finish(),
        Err(e @ (WorkflowError::Forbidden(_) | WorkflowError::NotFound(_))) => {
            message(StatusCode::FORBIDDEN, "Not allowed", &e.to_string(), Some(&user))
        }
        Err(e @ (WorkflowError::Conflict(_) | WorkflowError::Transition(_) | WorkflowError::Invalid(_))) => {
            message(StatusCode::CONFLICT, "Not done", &e.to_string(), Some(&user))
        }
        Err(e) => super::unavailable(e, &user),
    }
}
