//! Server-rendered pages (templates in `web/templates/pages/`): the confirmation pages of
//! emailed links, a request's page and sign-in. They work without JavaScript; the stylesheet is the only asset.
mod approvals;
mod catalog;
mod links;
mod request_form;
mod request_page;
mod signin;

use actix_web::{HttpRequest, HttpResponse, get, http::StatusCode, web};
use askama::Template;
use tracing::error;

use super::AppState;
use crate::domain::Upn;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(stylesheet)
        .service(script)
        .service(links::show)
        .service(links::confirm)
        // `/requests/new` before `/requests/{id}`.
        .service(request_form::new_form)
        .service(request_form::submit)
        .service(request_form::mine)
        .service(approvals::inbox)
        .service(catalog::catalog)
        .service(approvals::decide_form)
        .service(request_page::show)
        .service(request_page::act)
        .service(signin::page)
        .service(signin::callback)
        .service(signin::demo_sign_in)
        .service(signin::sign_out);
}

const STYLESHEET: &str = include_str!("../../../../web/static/elevate.css");
const SCRIPT: &str = include_str!("../../../../web/static/elevate.js");

#[get("/static/elevate.css")]
async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok().content_type("text/css; charset=utf-8").body(STYLESHEET)
}

/// The one script: local times (the pages work without it).
#[get("/static/elevate.js")]
async fn script() -> HttpResponse {
    HttpResponse::Ok().content_type("text/javascript; charset=utf-8").body(SCRIPT)
}

/// A page, or a plain error page when its template fails (logged; never a bare 500 text).
fn render(status: StatusCode, page: &impl Template) -> HttpResponse {
    match page.render() {
        Ok(html) => HttpResponse::build(status).content_type("text/html; charset=utf-8").body(html),
        Err(e) => {
            error!(error = %e, "page template failed");
            HttpResponse::InternalServerError().content_type("text/plain; charset=utf-8").body("page failed to render")
        }
    }
}

/// The user of this browser's session, when signed in.
fn signed_in(state: &AppState, req: &HttpRequest) -> Option<Upn> {
    session_of(state, req).map(|(user, _)| user)
}

/// The signed-in user and the session cookie's value (forms' tokens derive from it).
fn session_of(state: &AppState, req: &HttpRequest) -> Option<(Upn, String)> {
    let cookie = req.cookie(crate::auth::SESSION_COOKIE)?;
    let claims = state.sessions.verify(cookie.value())?;
    Upn::parse(&claims.sub).ok().map(|user| (user, cookie.value().to_owned()))
}

/// Signed out: to the sign-in page, and back here afterwards.
fn sign_in_first(req: &HttpRequest) -> HttpResponse {
    let back = req.uri().path_and_query().map_or("/", |p| p.as_str()).to_owned();
    let next = percent_encoding::utf8_percent_encode(&back, percent_encoding::NON_ALPHANUMERIC);
    HttpResponse::SeeOther().insert_header((actix_web::http::header::LOCATION, format!("/signin?next={next}"))).finish()
}

/// A page that could not be served for a reason on our side (logged; no detail shown).
fn unavailable(e: crate::workflows::WorkflowError, user: &Upn) -> HttpResponse {
    tracing::error!(error = %e, "a page could not be served");
    message(StatusCode::SERVICE_UNAVAILABLE, "Unavailable", "Try again shortly.", Some(user))
}

/// A form may only be posted from Elevate's own pages: browsers send `Origin` with every
/// POST, and a different one means another site is submitting it.
fn from_own_page(state: &AppState, req: &HttpRequest) -> bool {
    match req.headers().get("Origin").and_then(|v| v.to_str().ok()) {
        None => true,
        Some(origin) => origin == origin_of(&state.broker.notifier.public_url),
    }
}

fn origin_of(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(i) => &url[..after_scheme + i],
        None => url,
    }
}

#[derive(Template)]
#[template(path = "pages/message.html")]
struct MessagePage<'a> {
    title: &'a str,
    message: &'a str,
    signed_in: Option<&'a Upn>,
}

fn message(status: StatusCode, title: &str, message: &str, signed_in: Option<&Upn>) -> HttpResponse {
    render(status, &MessagePage { title, message, signed_in })
}

#[cfg(test)]
mod tests {
    #[test]
    fn origin_is_scheme_host_and_port() {
        assert_eq!(super::origin_of("https://elevate.example.com/base"), "https://elevate.example.com");
        assert_eq!(super::origin_of("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
    }
}
