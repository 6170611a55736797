//! `/reviews`: break-glass activations awaiting the visitor's after-the-fact review (as one of
//! the profile's approvers, or an admin), each with a form that records the outcome.
use actix_web::{HttpResponse, get, http::StatusCode, post, web};
use askama::Template;
use serde::Deserialize;

use super::{AppState, CsrfForm, Visitor, activity_panel::ActivityPanel, refused, render, see_other};
use crate::workflows::{activity, review};

#[derive(Template)]
#[template(path = "pages/reviews.html")]
struct ReviewsPage<'a> {
    signed_in: Option<&'a Visitor>,
    csrf: String,
    items: Vec<ReviewItem>,
}

/// A break-glass request to review, with what its grant did in AWS in front of the reviewer.
struct ReviewItem {
    id: String,
    facts: Vec<(&'static str, String)>,
    activity: Option<ActivityPanel>,
}

#[derive(Deserialize)]
struct ReviewForm {
    outcome: Option<String>,
    comment: Option<String>,
}

#[get("/reviews")]
pub(super) async fn awaiting(state: web::Data<AppState>, visitor: Visitor) -> HttpResponse {
    let broker = &state.broker;
    match review::awaiting(broker, &visitor.caller()).await {
        Ok(requests) => {
            let mut items = Vec::new();
            for ((id, facts), request) in super::listed(broker, &requests).into_iter().zip(&requests) {
                match activity::report(broker, request).await {
                    Ok(report) => items.push(ReviewItem { id, facts, activity: ActivityPanel::shown(report) }),
                    Err(e) => return refused(e, "", &visitor),
                }
            }
            render(StatusCode::OK, &ReviewsPage { signed_in: Some(&visitor), csrf: visitor.csrf.clone(), items })
        }
        Err(e) => refused(e, "", &visitor),
    }
}

#[post("/requests/{id}/review")]
pub(super) async fn record(
    state: web::Data<AppState>,
    id: web::Path<String>,
    CsrfForm { visitor, form }: CsrfForm<ReviewForm>,
) -> HttpResponse {
    let comment = form.comment.filter(|c| !c.trim().is_empty());
    let outcome = form.outcome.unwrap_or_default();
    match review::review(&state.broker, &visitor.caller(), &id, &outcome, comment.as_deref()).await {
        Ok(_) => see_other("/reviews"),
        Err(e) => refused(e, "Not recorded", &visitor),
    }
}
