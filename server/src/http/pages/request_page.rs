//! `/requests/{id}`: where the links in mail and chat lead. A signed-in user sees the request
//! if the API would show it to them (requester, filer, the profile's approvers); the full web
//! UI builds on this page.
use actix_web::{HttpRequest, HttpResponse, get, http::StatusCode, web};
use askama::Template;

use super::{AppState, message, render, signed_in};
use crate::{
    domain::{Caller, Role, Upn, format_millis},
    notify::messages,
    workflows::{WorkflowError, queries},
};

#[derive(Template)]
#[template(path = "pages/request.html")]
struct RequestPage<'a> {
    status: &'a str,
    facts: Vec<(&'static str, String)>,
    decisions: Vec<(String, String, String)>,
    signed_in: Option<&'a Upn>,
}

#[get("/requests/{id}")]
pub(super) async fn show(state: web::Data<AppState>, req: HttpRequest, id: web::Path<String>) -> HttpResponse {
    let Some(user) = signed_in(&state, &req) else { return super::sign_in_first(&req) };
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
    render(StatusCode::OK, &RequestPage { status: &request.status, facts, decisions, signed_in: Some(&user) })
}
