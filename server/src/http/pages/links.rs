//! `/act?token=…`: an emailed Approve or Deny link. `GET` shows what the link would do and
//! one button; only the `POST` of that button decides.
use actix_web::{HttpRequest, HttpResponse, get, http::StatusCode, post, web};
use askama::Template;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;

use super::{AppState, Visitor, from_own_page, message, render};
use crate::{
    auth::{LinkAction, LinkError},
    http::problem::ApiError,
    workflows::link_decision::{self, LinkRefusal},
};

#[derive(Deserialize)]
struct LinkQuery {
    token: Option<String>,
}

#[derive(Deserialize)]
struct LinkForm {
    token: Option<String>,
    comment: Option<String>,
}

#[derive(Template)]
#[template(path = "pages/confirm.html")]
struct ConfirmPage<'a> {
    approve: bool,
    requester: &'a str,
    facts: Vec<(&'static str, String)>,
    token: &'a str,
    approver: &'a str,
    signed_in: Option<&'a Visitor>,
}

#[derive(Template)]
#[template(path = "pages/refused.html")]
struct RefusedPage<'a> {
    reason: String,
    sign_in_url: Option<String>,
    signed_in: Option<&'a Visitor>,
}

#[get("/act")]
pub(super) async fn show(state: web::Data<AppState>, req: HttpRequest, query: web::Query<LinkQuery>) -> HttpResponse {
    let visitor = Visitor::of(&state, &req).await;
    let user = visitor.as_ref().map(|v| &v.user);
    let token = query.into_inner().token.unwrap_or_default();
    let broker = &state.broker;
    match link_decision::inspect(broker, &token, user).await {
        Ok(link) => {
            let facts = super::facts_of(broker, &link.request);
            render(
                StatusCode::OK,
                &ConfirmPage {
                    approve: link.claims.act == LinkAction::Approve,
                    requester: &link.request.requester,
                    facts,
                    token: &token,
                    approver: link.approver.upn.as_str(),
                    signed_in: visitor.as_ref(),
                },
            )
        }
        Err(refusal) => refused(refusal, &token, visitor.as_ref()),
    }
}

#[post("/act")]
pub(super) async fn confirm(state: web::Data<AppState>, req: HttpRequest, form: web::Form<LinkForm>) -> HttpResponse {
    let visitor = Visitor::of(&state, &req).await;
    if !from_own_page(&state, &req) {
        return message(
            StatusCode::FORBIDDEN,
            "Not allowed",
            "This form was sent from another site.",
            visitor.as_ref(),
        );
    }
    let LinkForm { token, comment } = form.into_inner();
    let token = token.unwrap_or_default();
    let comment = comment.filter(|c| !c.trim().is_empty());
    match link_decision::decide_by_link(&state.broker, &token, visitor.as_ref().map(|v| &v.user), comment.as_deref())
        .await
    {
        Ok(request) => {
            let text = match request.status.as_str() {
                "approved" => {
                    format!("You approved the request of {}. Elevate is granting the access now.", request.requester)
                }
                "scheduled" => format!(
                    "You approved the request of {}. Its access starts at {} and ends {} later.",
                    request.requester,
                    request.start_at.map(crate::domain::format_millis).unwrap_or_default(),
                    crate::domain::HumanDuration::from_secs(u64::try_from(request.duration_seconds).unwrap_or(0)),
                ),
                "denied" => format!("You denied the request of {}. They have been told.", request.requester),
                _ => format!(
                    "Your approval of {}'s request is recorded; it waits for more approvals (stage {}).",
                    request.requester, request.stage
                ),
            };
            message(StatusCode::OK, "Decision recorded", &text, visitor.as_ref())
        }
        Err(refusal) => refused(refusal, &token, visitor.as_ref()),
    }
}

/// The page that says why a link cannot be used, with the matching status code.
fn refused(refusal: LinkRefusal, token: &str, user: Option<&Visitor>) -> HttpResponse {
    // Sign in as the approver the link was sent to (the identity provider pre-fills them).
    let sign_in_as = match &refusal {
        LinkRefusal::SignInRequired(approver) | LinkRefusal::OtherApprover { sent_to: approver, .. } => Some(approver),
        _ => None,
    };
    let sign_in_url = sign_in_as.map(|approver| {
        let back = format!("/act?token={token}");
        let hint = utf8_percent_encode(approver, NON_ALPHANUMERIC);
        format!("/signin?login_hint={hint}&next={}", utf8_percent_encode(&back, NON_ALPHANUMERIC))
    });
    let (status, reason) = match refusal {
        // What the API would answer, from the one table; internal detail stays in the log.
        LinkRefusal::Workflow(e) => {
            let api = ApiError::Workflow(e);
            api.log_if_ours();
            (api.meaning().0, api.detail())
        }
        other => {
            let status = match &other {
                LinkRefusal::Token(LinkError::Expired) => StatusCode::GONE,
                LinkRefusal::Token(LinkError::Invalid) => StatusCode::BAD_REQUEST,
                LinkRefusal::OtherApprover { .. } | LinkRefusal::OwnRequest => StatusCode::FORBIDDEN,
                LinkRefusal::SignInRequired(_) => StatusCode::UNAUTHORIZED,
                _ => StatusCode::CONFLICT,
            };
            (status, other.to_string())
        }
    };
    render(status, &RefusedPage { reason, sign_in_url, signed_in: user })
}
