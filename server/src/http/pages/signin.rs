//! Signing in and out: with OpenID Connect (`[oidc]`, Entra ID), or in the demo by picking
//! a user of the local directory (`auth.demo_sign_in`, loopback only). Both set the same
//! session cookie.
use actix_web::{HttpRequest, HttpResponse, get, http::StatusCode, http::header, post, web};
use askama::Template;
use serde::Deserialize;

use super::{AppState, Visitor, from_own_page, message, render};
use crate::{
    auth::oidc::Claimed,
    domain::Upn,
    telemetry::error_chain,
    workflows::{
        WorkflowError,
        sign_in::{self, Method},
    },
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
    /// The demo's stand-in for a multi-factor sign-in (asked for by `require_mfa` profiles).
    mfa: Option<String>,
}

#[derive(Template)]
#[template(path = "pages/signin.html")]
struct SignInPage<'a> {
    users: Vec<(String, String)>,
    next: &'a str,
    mfa: bool,
    signed_in: Option<&'a Visitor>,
}

/// Only a path on this site, never an absolute or scheme-relative URL (open redirect): `/`
/// not followed by `/`, then printable ASCII without `\`. Browsers drop tabs and line breaks
/// from a `Location` and read `\` as `/`, so `/<TAB>/evil.example` or `/\evil.example` would
/// leave the site; anything else a browser sends here is percent-encoded.
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n)
            if n.starts_with('/') && !n.starts_with("//") && n.bytes().all(|b| b.is_ascii_graphic() && b != b'\\') =>
        {
            n
        }
        _ => "/requests",
    }
}

#[get("/signin")]
pub(super) async fn page(state: web::Data<AppState>, req: HttpRequest, query: web::Query<NextQuery>) -> HttpResponse {
    let visitor = Visitor::of(&state, &req).await;
    let user = visitor.as_ref();
    let next = safe_next(query.next.as_deref());
    if let Some(oidc) = &state.oidc {
        let provider = match oidc.get().await {
            Ok(provider) => provider,
            Err(e) => {
                tracing::error!(error = %error_chain(&e), "OpenID Connect discovery failed");
                let text = "The identity provider cannot be reached right now; try again shortly.";
                return message(StatusCode::BAD_GATEWAY, "Sign-in unavailable", text, user);
            }
        };
        let hint = query.login_hint.as_deref().filter(|h| Upn::parse(h).is_ok());
        let (url, pending) = provider.begin(next, hint, query.mfa.is_some());
        return match state.sessions.seal_pending(pending) {
            Ok(cookie) => HttpResponse::SeeOther().cookie(cookie).insert_header((header::LOCATION, url)).finish(),
            Err(e) => {
                tracing::error!(error = %error_chain(&e), "sealing the sign-in state failed");
                message(StatusCode::INTERNAL_SERVER_ERROR, "Sign-in failed", "It has been logged.", user)
            }
        };
    }
    if !state.demo_sign_in {
        return message(
            StatusCode::NOT_FOUND,
            "Sign-in is not configured",
            "This Elevate has no browser sign-in configured yet; ask your administrator.",
            user,
        );
    }
    let users = match sign_in::demo_users(&state.broker).await {
        Ok(users) => users,
        Err(e) => {
            tracing::error!(error = %error_chain(&e), "listing the demo users failed");
            Vec::new()
        }
    };
    render(StatusCode::OK, &SignInPage { users, next, mfa: query.mfa.is_some(), signed_in: user })
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
    let pending = req
        .cookie(&state.sessions.cookie_name(crate::auth::PENDING_COOKIE))
        .and_then(|c| state.sessions.open_pending(c.value()));
    let (Some(pending), Some(code), Some(returned_state)) = (pending, query.code, query.state) else {
        return refuse(StatusCode::BAD_REQUEST, "This sign-in was not started here, or took too long; start again.");
    };
    if returned_state != pending.state {
        return refuse(StatusCode::BAD_REQUEST, "The sign-in's state does not match; start again.");
    }
    let provider = match oidc.get().await {
        Ok(provider) => provider,
        Err(e) => {
            tracing::error!(error = %error_chain(&e), "OpenID Connect discovery failed");
            return refuse(StatusCode::BAD_GATEWAY, "The identity provider cannot be reached right now.");
        }
    };
    let user = match provider.finish(&code, &pending).await {
        Ok(user) => user,
        Err(e) => {
            tracing::warn!(error = %error_chain(&e), "an OpenID Connect sign-in was refused");
            return refuse(StatusCode::UNAUTHORIZED, &e.to_string());
        }
    };
    let method = Method::Oidc { amr: &user.amr };
    start_session(&state, &user.claimed, method, user.mfa_at, &pending.next).await
}

/// Finds the user in the directory, reads their roles and records the sign-in (the
/// workflow), then sets the session cookie and goes on to `next`.
async fn start_session(
    state: &AppState,
    claimed: &Claimed,
    method: Method<'_>,
    mfa_at: Option<i64>,
    next: &str,
) -> HttpResponse {
    let user = match sign_in::user_of(&state.broker, claimed).await {
        Ok(user) => user,
        Err(WorkflowError::Forbidden(why)) => {
            tracing::warn!(reason = %why, "a sign-in named no user of the directory");
            return message(StatusCode::FORBIDDEN, "Sign-in failed", &why, None);
        }
        Err(e) => {
            tracing::error!(error = %error_chain(&e), "the directory could not name a signed-in user");
            let text = "The directory cannot be asked right now; try again.";
            return message(StatusCode::SERVICE_UNAVAILABLE, "Sign-in failed", text, None);
        }
    };
    let key = state.sessions.new_key();
    if let Err(e) = sign_in::sign_in(&state.broker, &user, method, &key, state.sessions.ttl(), mfa_at).await {
        tracing::error!(error = %error_chain(&e), "a sign-in could not be recorded");
        let text = "The sign-in could not be recorded; try again.";
        return message(StatusCode::SERVICE_UNAVAILABLE, "Sign-in failed", text, None);
    }
    HttpResponse::SeeOther()
        .cookie(key.cookie)
        .cookie(state.sessions.clear_pending())
        .insert_header((header::LOCATION, safe_next(Some(next)).to_owned()))
        .finish()
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
    let Ok(upn) = Upn::parse(&form.upn) else {
        return message(StatusCode::BAD_REQUEST, "Unknown user", "Pick one of the listed users.", None);
    };
    let mut amr = vec!["demo".to_owned()];
    let mfa_at = form.mfa.is_some().then(crate::domain::now);
    if mfa_at.is_some() {
        amr.push("mfa".into());
    }
    let next = safe_next(form.next.as_deref());
    start_session(&state, &Claimed::Name(upn), Method::Demo { amr: &amr }, mfa_at, next).await
}

#[derive(Deserialize)]
struct SignOutForm {
    csrf: Option<String>,
}

/// Ends the session, on the server (the cookie alone opens nothing afterwards). The form's
/// token must be this session's: another site cannot sign people out (a session already gone
/// just shows the signed-out page).
#[post("/signout")]
pub(super) async fn sign_out(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<SignOutForm>,
) -> HttpResponse {
    if let Some(visitor) = Visitor::of(&state, &req).await {
        if let Some(refusal) = visitor.refuse_forged(&state, form.csrf.as_deref()) {
            return refusal;
        }
        if let Err(e) = sign_in::sign_out(&state.broker, visitor.cookie()).await {
            tracing::error!(error = %error_chain(&e), "a session could not be ended");
            let text = "Your session could not be ended; try again.";
            return message(StatusCode::SERVICE_UNAVAILABLE, "Sign-out failed", text, Some(&visitor));
        }
    }
    // Not straight to `/signin`: with single sign-on the identity provider would sign the
    // user in again at once.
    HttpResponse::SeeOther().cookie(state.sessions.sign_out()).insert_header((header::LOCATION, "/signedout")).finish()
}

#[get("/signedout")]
pub(super) async fn signed_out() -> HttpResponse {
    let text = "You are signed out of Elevate. Access you were granted stays until it ends or is revoked.";
    message(StatusCode::OK, "Signed out", text, None)
}
