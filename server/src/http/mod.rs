//! The REST API under `/api/v1`: routes, extractors and the one error mapping.
mod activity;
mod audit_export;
mod chat;
mod extract;
pub mod limits;
mod meta;
mod pages;
pub mod problem;
mod requests;
mod views;

use actix_web::{HttpRequest, HttpResponse, middleware::DefaultHeaders, web};

use crate::{
    auth::{Sessions, TokenAuthority},
    broker::Broker,
};

pub use meta::ApiDoc;

pub struct AppState {
    pub broker: Broker,
    pub tokens: TokenAuthority,
    /// Browser sessions (signed cookies).
    pub sessions: Sessions,
    /// The demo sign-in page (`auth.demo_sign_in`, loopback only).
    pub demo_sign_in: bool,
    /// Sign-in with OpenID Connect (`[oidc]`).
    pub oidc: Option<crate::auth::oidc::OidcProvider>,
    /// Which API tokens were used lately (their use is audited now and then).
    pub token_use: crate::auth::TokenUse,
    /// Requests per client address and per API caller.
    pub limits: limits::Limits,
    /// Entra ID access tokens for the API (`[auth.entra]`).
    pub entra: Option<crate::auth::entra::EntraTokens>,
}

/// Registers every route; shared by `serve` and `demo`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::PayloadConfig::new(extract::MAX_BODY))
        .app_data(web::QueryConfig::default().error_handler(|err, _| {
            problem::ApiError::BadRequest { field: None, detail: format!("bad query string: {err}") }.into()
        }))
        .app_data(web::PathConfig::default().error_handler(|err, _| {
            problem::ApiError::BadRequest { field: Some("id".into()), detail: format!("bad path: {err}") }.into()
        }))
        .service(meta::healthz)
        .service(meta::readyz)
        .service(meta::metrics)
        .configure(pages::configure)
        .service(
            web::scope("/api/v1")
                .service(meta::openapi_document)
                .service(meta::profiles)
                .service(meta::audit_export)
                .service(meta::audit)
                .service(requests::create)
                .service(requests::list)
                .service(requests::approvals)
                .service(requests::get_one)
                .service(activity::get_activity)
                .service(requests::approve)
                .service(requests::deny)
                .service(requests::cancel_one)
                .service(requests::revoke_one)
                .service(requests::extend_one)
                .service(requests::review_one)
                .service(requests::reviews)
                .service(chat::teams_messages)
                .service(chat::slack_interactions),
        )
        .default_service(web::to(not_found));
}

/// Response headers on everything: nothing is cached, sniffed or framed.
pub fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add(("Cache-Control", "no-store"))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("X-Frame-Options", "DENY"))
        // Same-origin: form POSTs carry their real `Origin` (with `no-referrer` Chromium sends
        // `Origin: null`), while no URL, with a link's token in it, ever reaches another site.
        .add(("Referrer-Policy", "same-origin"))
        // Pages load their stylesheet and script from here and nothing else: no inline script
        // or style.
        .add((
            "Content-Security-Policy",
            "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ))
}

async fn not_found(req: HttpRequest) -> Result<HttpResponse, problem::ApiError> {
    Err(problem::ApiError::NotFound(format!("no route {} {}", req.method(), req.path())))
}
