//! An Opsgenie REST API v2 test server: who is on call in a schedule
//! (`GET /v2/schedules/{identifier}/on-calls`), as Opsgenie documents it — `GenieKey`
//! authentication (401 "Could not authenticate"), `scheduleIdentifierType` id or name, a
//! point in time `date` (default now), `flat=true` for the users' names (their emails) in
//! `onCallRecipients`, otherwise `onCallParticipants`; 404 for an unknown schedule, 429 with
//! `X-RateLimit-*` headers; every body carries `took` and `requestId`.
use std::sync::Mutex;

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::on_call_peer::Peer;

pub const OG_KEY: &str = "eb24a1f5-faa2-4ba2-a551-1a1f565c889a";

/// Someone on call in a schedule over `[start, end)`.
#[derive(Debug, Clone)]
pub struct Rotation {
    pub schedule_id: String,
    pub schedule_name: String,
    pub email: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

#[derive(Debug, Default)]
pub struct State {
    pub rotations: Vec<Rotation>,
    /// Answer every call with 429.
    pub rate_limited: bool,
    /// Answer every call with 500.
    pub down: bool,
    /// The paths and queries of the calls answered, in order.
    pub calls: Vec<String>,
}

/// The server: `Peer`'s URL, state and stop, and the configuration Elevate needs for it.
pub type OpsgenieServer = Peer<State>;

/// The routes, and Elevate's configuration for this server.
impl OpsgenieServer {
    pub async fn start() -> Self {
        Peer::serve(|cfg| {
            cfg.route("/v2/schedules/{identifier}/on-calls", web::get().to(on_calls))
                .default_service(web::to(|| async { error(StatusCode::NOT_FOUND, "Resource or handler not found") }));
        })
        .await
    }

    /// `[oncall.opsgenie]` for Elevate's configuration, with this server's key.
    pub fn config(&self) -> String {
        format!("[oncall.opsgenie]\napi_key = \"{OG_KEY}\"\nbase_url = \"{}\"\n", self.url)
    }
}

/// Opsgenie's error body.
fn error(status: StatusCode, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(json!({ "message": message, "took": 0.001, "requestId": request_id() }))
}

fn request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

async fn on_calls(state: web::Data<Mutex<State>>, req: HttpRequest, identifier: web::Path<String>) -> HttpResponse {
    let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
    s.calls.push(format!("{}?{}", req.path(), req.query_string()));
    if req.headers().get("Authorization").and_then(|v| v.to_str().ok()) != Some(&format!("GenieKey {OG_KEY}")) {
        return error(StatusCode::UNAUTHORIZED, "Could not authenticate");
    }
    if s.down {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
    }
    if s.rate_limited {
        let mut response = error(StatusCode::TOO_MANY_REQUESTS, "TooManyRequests");
        let headers = response.headers_mut();
        for (name, value) in
            [("X-RateLimit-State", "THROTTLED"), ("X-RateLimit-Reason", "ACCOUNT"), ("X-RateLimit-Period-In-Sec", "60")]
        {
            headers.insert(name.parse().expect("name"), value.parse().expect("value"));
        }
        return response;
    }
    let Ok(url) = reqwest::Url::parse(&format!("http://opsgenie/x?{}", req.query_string())) else {
        return error(StatusCode::UNPROCESSABLE_ENTITY, "Invalid query");
    };
    let one = |key: &str| url.query_pairs().find(|(k, _)| k == key).map(|(_, v)| v.into_owned());
    let by_name = match one("scheduleIdentifierType").as_deref() {
        None | Some("id") => false,
        Some("name") => true,
        Some(other) => {
            return error(StatusCode::UNPROCESSABLE_ENTITY, &format!("Invalid scheduleIdentifierType: {other}"));
        }
    };
    let at = match one("date") {
        // An unescaped `+` of an offset arrives as a space.
        Some(date) => match DateTime::parse_from_rfc3339(&date.replace(' ', "+")) {
            Ok(at) => at.with_timezone(&Utc),
            Err(_) => return error(StatusCode::UNPROCESSABLE_ENTITY, "Invalid date"),
        },
        None => Utc::now(),
    };
    let flat = one("flat").as_deref() == Some("true");
    let schedule = |r: &&Rotation| if by_name { r.schedule_name == *identifier } else { r.schedule_id == *identifier };
    let Some(parent) = s.rotations.iter().find(schedule) else {
        return error(StatusCode::NOT_FOUND, &format!("No schedule exists with identifier [{identifier}]"));
    };
    let parent = json!({ "id": parent.schedule_id, "name": parent.schedule_name, "enabled": true });
    let on_call: Vec<&Rotation> = s.rotations.iter().filter(schedule).filter(|r| r.start <= at && at < r.end).collect();
    let data = if flat {
        let names: Vec<&str> = on_call.iter().map(|r| r.email.as_str()).collect();
        json!({ "_parent": parent, "onCallRecipients": names })
    } else {
        let people: Vec<Value> =
            on_call.iter().map(|r| json!({ "id": request_id(), "name": r.email, "type": "user" })).collect();
        json!({ "_parent": parent, "onCallParticipants": people })
    };
    HttpResponse::Ok().json(json!({ "data": data, "took": 0.101, "requestId": request_id() }))
}
