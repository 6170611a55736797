//! Server-rendered pages (templates in `web/templates/pages/`): the confirmation pages of
//! emailed links, a request's page and sign-in. They work without JavaScript; the stylesheet is the only asset.
mod activity_panel;
mod approvals;
mod audit;
mod catalog;
mod csrf_form;
mod grants;
mod links;
mod request_form;
mod request_page;
mod reviews;
mod signin;
mod visitor;

use actix_web::{HttpRequest, HttpResponse, get, http::StatusCode, web};
use askama::Template;
use tracing::error;

use super::{AppState, problem::ApiError};
use crate::telemetry::error_chain;
use csrf_form::CsrfForm;
use visitor::Visitor;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(home)
        .service(stylesheet)
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
        .service(request_page::extend_grant)
        .service(grants::active)
        .service(reviews::awaiting)
        .service(reviews::record)
        .service(audit::log)
        .service(audit::export)
        .service(signin::page)
        .service(signin::callback)
        .service(signin::demo_sign_in)
        .service(signin::sign_out)
        .service(signin::signed_out);
}

/// The front door: one's requests (after signing in, when needed).
#[get("/")]
async fn home() -> HttpResponse {
    see_other("/requests")
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
            error!(error = %error_chain(&e), "page template failed");
            HttpResponse::InternalServerError().content_type("text/plain; charset=utf-8").body("page failed to render")
        }
    }
}

/// The facts of a request as the mails show them (profile, AWS role, risk, duration, …).
fn facts_of(broker: &crate::broker::Broker, request: &crate::store::requests::Request) -> Vec<(&'static str, String)> {
    match broker.profile_of(request) {
        Ok(profile) => crate::notify::messages::facts(request, profile, broker.risk_tier(profile).as_deref()),
        Err(_) => Vec::new(),
    }
}

/// Each request's id and facts, for the lists of requests to act on.
fn listed(
    broker: &crate::broker::Broker,
    requests: &[crate::store::requests::Request],
) -> Vec<(String, Vec<(&'static str, String)>)> {
    requests.iter().map(|r| (r.id.to_string(), facts_of(broker, r))).collect()
}

/// A workflow's refusal, or a failure on our side, as a page with the status, title and
/// detail the API would give (`ApiError::meaning`); `title` names what was not done.
fn refused(e: impl Into<ApiError>, title: &str, visitor: &Visitor) -> HttpResponse {
    let e = e.into();
    e.log_if_ours();
    let (status, _, generic) = e.meaning();
    let title = if title.is_empty() || status.is_server_error() { generic } else { title };
    message(status, title, &e.detail(), Some(visitor))
}

/// After a form: to `location` (303, so a reload does not post again).
fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((actix_web::http::header::LOCATION, location.to_owned())).finish()
}

/// A form may only be posted from Elevate's own pages: browsers send `Origin` with every
/// POST, and a different one means another site is submitting it.
fn from_own_page(state: &AppState, req: &HttpRequest) -> bool {
    match req.headers().get("Origin").and_then(|v| v.to_str().ok()) {
        None => true,
        Some(origin) => Some(origin) == crate::providers::origin_of(&state.broker.notifier.public_url).as_deref(),
    }
}

#[derive(Template)]
#[template(path = "pages/message.html")]
struct MessagePage<'a> {
    title: &'a str,
    message: &'a str,
    signed_in: Option<&'a Visitor>,
}

fn message(status: StatusCode, title: &str, message: &str, signed_in: Option<&Visitor>) -> HttpResponse {
    render(status, &MessagePage { title, message, signed_in })
}

#[cfg(test)]
mod tests {
    #[test]
    fn origin_is_scheme_host_and_port() {
        let origin = |url| crate::providers::origin_of(url).unwrap();
        assert_eq!(origin("https://elevate.example.com/base"), "https://elevate.example.com");
        assert_eq!(origin("https://Elevate.Example.com:443/"), "https://elevate.example.com");
        assert_eq!(origin("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
        assert_eq!(crate::providers::origin_of("not a url"), None);
    }
}
