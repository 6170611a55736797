//! Signing in and out. For now the only way in is the demo sign-in (`auth.demo_sign_in`,
//! loopback only): pick a user of the local directory. The session cookie it sets is the
//! same one every sign-in method will set.
use actix_web::{HttpRequest, HttpResponse, get, http::StatusCode, http::header, post, web};
use askama::Template;
use serde::Deserialize;
use serde_json::json;

use super::{AppState, from_own_page, message, render, signed_in};
use crate::{
    domain::Upn,
    store::{audit, audit::NewEvent, users},
};

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

#[derive(Deserialize)]
struct DemoForm {
    upn: String,
    next: Option<String>,
}

#[derive(Template)]
#[template(path = "pages/signin.html")]
struct SignInPage<'a> {
    users: Vec<(String, String)>,
    next: &'a str,
    signed_in: Option<&'a Upn>,
}

/// Only a path on this site: never an absolute or scheme-relative URL (open redirect).
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.starts_with("/\\") => n,
        _ => "/signin",
    }
}

#[get("/signin")]
pub(super) async fn page(state: web::Data<AppState>, req: HttpRequest, query: web::Query<NextQuery>) -> HttpResponse {
    let user = signed_in(&state, &req);
    if !state.demo_sign_in {
        return message(
            StatusCode::NOT_FOUND,
            "Sign-in is not configured",
            "This Elevate has no browser sign-in configured yet; ask your administrator.",
            user.as_ref(),
        );
    }
    let users = match users::all(state.broker.store.conn()).await {
        Ok(rows) => rows.into_iter().map(|u| (u.upn, u.display_name)).collect(),
        Err(e) => {
            tracing::error!(error = %e, "listing the demo users failed");
            Vec::new()
        }
    };
    let next = safe_next(query.next.as_deref());
    render(StatusCode::OK, &SignInPage { users, next, signed_in: user.as_ref() })
}

#[post("/signin/demo")]
pub(super) async fn demo_sign_in(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<DemoForm>,
) -> HttpResponse {
    if !state.demo_sign_in {
        return message(StatusCode::NOT_FOUND, "Not found", "The demo sign-in is not enabled.", None);
    }
    if !from_own_page(&state, &req) {
        return message(StatusCode::FORBIDDEN, "Not allowed", "This form was sent from another site.", None);
    }
    let form = form.into_inner();
    let known = users::by_upn_or_id(state.broker.store.conn(), &form.upn).await.ok().flatten();
    let (Some(known), Ok(upn)) = (known, Upn::parse(&form.upn)) else {
        return message(StatusCode::BAD_REQUEST, "Unknown user", "Pick one of the listed users.", None);
    };
    let cookie = match state.sessions.sign_in(&upn, vec!["demo".into()]) {
        Ok(cookie) => cookie,
        Err(e) => {
            tracing::error!(error = %e, "signing the session failed");
            return message(StatusCode::INTERNAL_SERVER_ERROR, "Sign-in failed", "It has been logged.", None);
        }
    };
    if let Ok(tx) = state.broker.store.begin().await {
        let event = NewEvent::new(
            known.upn.as_str(),
            "user.signed_in",
            format!("user:{}", known.upn),
            json!({ "method": "demo" }),
        );
        if audit::append(&tx, event).await.is_ok() && tx.commit().await.is_ok() {
            let next = safe_next(form.next.as_deref()).to_owned();
            return HttpResponse::SeeOther().cookie(cookie).insert_header((header::LOCATION, next)).finish();
        }
    }
    message(StatusCode::SERVICE_UNAVAILABLE, "Sign-in failed", "The sign-in could not be recorded; try again.", None)
}

#[post("/signout")]
pub(super) async fn sign_out(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    if !from_own_page(&state, &req) {
        return message(StatusCode::FORBIDDEN, "Not allowed", "This form was sent from another site.", None);
    }
    HttpResponse::SeeOther().cookie(state.sessions.sign_out()).insert_header((header::LOCATION, "/signin")).finish()
}
