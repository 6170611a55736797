//! Signing in and out: with OpenID Connect (`[oidc]`, Entra ID), or in the demo by picking
//! a user of the local directory (`auth.demo_sign_in`, loopback only). Both set the same
//! session cookie.
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
    /// Pre-fills the account at the identity provider.
    login_hint: Option<String>,
    /// Ask the identity provider for multi-factor authentication.
    mfa: Option<String>,
}

#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
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
        _ => "/requests",
    }
}

#[get("/signin")]
pub(super) async fn page(state: web::Data<AppState>, req: HttpRequest, query: web::Query<NextQuery>) -> HttpResponse {
    let user = signed_in(&state, &req);
    let next = safe_next(query.next.as_deref());
    if let Some(oidc) = &state.oidc {
        let provider = match oidc.get().await {
            Ok(provider) => provider,
            Err(e) => {
                tracing::error!(error = %e, "OpenID Connect discovery failed");
                let text = "The identity provider cannot be reached right now; try again shortly.";
                return message(StatusCode::BAD_GATEWAY, "Sign-in unavailable", text, user.as_ref());
            }
        };
        let hint = query.login_hint.as_deref().filter(|h| Upn::parse(h).is_ok());
        let (url, pending) = provider.begin(next, hint, query.mfa.is_some());
        return match state.sessions.seal_pending(pending) {
            Ok(cookie) => HttpResponse::SeeOther().cookie(cookie).insert_header((header::LOCATION, url)).finish(),
            Err(e) => {
                tracing::error!(error = %e, "sealing the sign-in state failed");
                message(StatusCode::INTERNAL_SERVER_ERROR, "Sign-in failed", "It has been logged.", user.as_ref())
            }
        };
    }
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
    render(StatusCode::OK, &SignInPage { users, next, signed_in: user.as_ref() })
}

/// Where the identity provider sends the browser back: the code is exchanged (with the PKCE
/// verifier from the sign-in cookie), the ID token checked, and the session cookie set.
#[get("/signin/callback")]
pub(super) async fn callback(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<CallbackQuery>,
) -> HttpResponse {
    let refuse = |status, text: &str| message(status, "Sign-in failed", text, None);
    let Some(oidc) = &state.oidc else {
        return refuse(StatusCode::NOT_FOUND, "Sign-in with an identity provider is not configured.");
    };
    let query = query.into_inner();
    if let Some(error) = query.error {
        let detail = query.error_description.unwrap_or_default();
        return refuse(
            StatusCode::UNAUTHORIZED,
            &format!("The identity provider refused the sign-in: {error} {detail}"),
        );
    }
    let pending = req.cookie(crate::auth::PENDING_COOKIE).and_then(|c| state.sessions.open_pending(c.value()));
    let (Some(pending), Some(code), Some(returned_state)) = (pending, query.code, query.state) else {
        return refuse(StatusCode::BAD_REQUEST, "This sign-in was not started here, or took too long; start again.");
    };
    if returned_state != pending.state {
        return refuse(StatusCode::BAD_REQUEST, "The sign-in's state does not match; start again.");
    }
    let provider = match oidc.get().await {
        Ok(provider) => provider,
        Err(e) => {
            tracing::error!(error = %e, "OpenID Connect discovery failed");
            return refuse(StatusCode::BAD_GATEWAY, "The identity provider cannot be reached right now.");
        }
    };
    let user = match provider.finish(&code, &pending).await {
        Ok(user) => user,
        Err(e) => {
            tracing::warn!(error = %e, "an OpenID Connect sign-in was refused");
            return refuse(StatusCode::UNAUTHORIZED, &e.to_string());
        }
    };
    let details = json!({ "method": "oidc", "amr": user.amr });
    let cookie = match state.sessions.sign_in(&user.upn, user.amr) {
        Ok(cookie) => cookie,
        Err(e) => {
            tracing::error!(error = %e, "signing the session failed");
            return refuse(StatusCode::INTERNAL_SERVER_ERROR, "It has been logged.");
        }
    };
    audited_sign_in(&state, &user.upn, details, cookie, &pending.next).await
}

/// Records the sign-in in the audit log, then sets the session and goes on to `next`.
async fn audited_sign_in(
    state: &AppState,
    upn: &Upn,
    details: serde_json::Value,
    cookie: actix_web::cookie::Cookie<'static>,
    next: &str,
) -> HttpResponse {
    if let Ok(tx) = state.broker.store.begin().await {
        let event = NewEvent::new(upn.as_str(), "user.signed_in", format!("user:{upn}"), details);
        if audit::append(&tx, event).await.is_ok() && tx.commit().await.is_ok() {
            return HttpResponse::SeeOther()
                .cookie(cookie)
                .cookie(state.sessions.clear_pending())
                .insert_header((header::LOCATION, safe_next(Some(next)).to_owned()))
                .finish();
        }
    }
    message(StatusCode::SERVICE_UNAVAILABLE, "Sign-in failed", "The sign-in could not be recorded; try again.", None)
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
    // The directory's spelling of the UPN, not the form's.
    let upn = Upn::parse(&known.upn).unwrap_or(upn);
    audited_sign_in(&state, &upn, json!({ "method": "demo" }), cookie, safe_next(form.next.as_deref())).await
}

#[post("/signout")]
pub(super) async fn sign_out(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    if !from_own_page(&state, &req) {
        return message(StatusCode::FORBIDDEN, "Not allowed", "This form was sent from another site.", None);
    }
    HttpResponse::SeeOther().cookie(state.sessions.sign_out()).insert_header((header::LOCATION, "/signin")).finish()
}
