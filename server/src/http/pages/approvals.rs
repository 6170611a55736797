//! `/approvals`: the requests the signed-in approver may decide now, each with Approve and
//! Deny buttons (POST, with the session's form token).
use actix_web::{HttpResponse, get, http::StatusCode, post, web};
use askama::Template;
use serde::Deserialize;

use super::{AppState, CsrfForm, Visitor, message, refused, render, see_other};
use crate::workflows::{decide, queries};

#[derive(Template)]
#[template(path = "pages/approvals.html")]
struct InboxPage<'a> {
    signed_in: Option<&'a Visitor>,
    csrf: String,
    /// (request id, facts)
    items: Vec<(String, Vec<(&'static str, String)>)>,
}

#[derive(Deserialize)]
struct DecisionForm {
    decision: String,
    comment: Option<String>,
    /// `request` when sent from the request's page.
    back: Option<String>,
}

#[get("/approvals")]
pub(super) async fn inbox(state: web::Data<AppState>, visitor: Visitor) -> HttpResponse {
    let broker = &state.broker;
    // Approver rights are checked against the profile's approvers, request by request.
    match queries::approvals(broker, &visitor.caller()).await {
        Ok(pending) => {
            let items = super::listed(broker, &pending);
            let csrf = visitor.csrf.clone();
            render(StatusCode::OK, &InboxPage { signed_in: Some(&visitor), csrf, items })
        }
        Err(e) => super::refused(e, "", &visitor),
    }
}

#[post("/requests/{id}/decide")]
pub(super) async fn decide_form(
    state: web::Data<AppState>,
    id: web::Path<String>,
    CsrfForm { visitor, form }: CsrfForm<DecisionForm>,
) -> HttpResponse {
    let decision = match form.decision.as_str() {
        "approve" => decide::Decision::Approve,
        "deny" => decide::Decision::Deny,
        _ => return message(StatusCode::BAD_REQUEST, "Unknown decision", "Approve or deny.", Some(&visitor)),
    };
    let comment = form.comment.filter(|c| !c.trim().is_empty());
    match decide::decide(&state.broker, &visitor.caller(), &id, decision, comment.as_deref(), None).await {
        // Back to where the button was: the inbox, or the request's own page.
        Ok(_) if form.back.as_deref() == Some("request") => see_other(&format!("/requests/{id}")),
        Ok(_) => see_other("/approvals"),
        Err(e) => refused(e, "Not decided", &visitor),
    }
}
