//! A PagerDuty REST API v2 test server: `GET /oncalls` as PagerDuty documents it — token
//! authentication (`Authorization: Token token=…`), filters by `schedule_ids[]` and
//! `escalation_policy_ids[]` (brackets percent-encoded or not), the `since`/`until` window
//! (both default to now), `include[]=users` for full user objects with their email, classic
//! offset paging (`limit` 25 by default, at most 100; `more`), and its error bodies: 401 code
//! 2006, 400 code 2004, 429 code 2020 with `ratelimit-*` headers.
use std::sync::Mutex;

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::on_call_peer::Peer;

pub const PD_TOKEN: &str = "y_NbAkKc66ryYTWUXYEu";

/// Someone on call for a schedule (or a level of an escalation policy) over `[start, end)`;
/// `None` ends: a permanent on-call.
#[derive(Debug, Clone)]
pub struct OnCall {
    pub user_id: String,
    pub name: String,
    pub email: String,
    pub schedule: Option<String>,
    pub escalation_policy: String,
    /// 1 for the first responder, 2 for whom a page escalates to, …
    pub level: u32,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
}

#[derive(Debug, Default)]
pub struct State {
    pub oncalls: Vec<OnCall>,
    /// Answer every call with 429 and this `ratelimit-reset`.
    pub rate_limited: Option<u64>,
    /// Answer every call with 500 (an outage).
    pub down: bool,
    /// The query strings of the calls answered, in order.
    pub calls: Vec<String>,
}

/// The server: `Peer`'s URL, state and stop, and the configuration Elevate needs for it.
pub type PagerDutyServer = Peer<State>;

/// The routes, and Elevate's configuration for this server.
impl PagerDutyServer {
    pub async fn start() -> Self {
        Peer::serve(|cfg| {
            cfg.route("/oncalls", web::get().to(oncalls))
                .default_service(web::to(|| async { error(StatusCode::NOT_FOUND, 2100, "Not Found") }));
        })
        .await
    }

    /// `[oncall.pagerduty]` for Elevate's configuration, with this server's token.
    pub fn config(&self) -> String {
        format!("[oncall.pagerduty]\ntoken = \"{PD_TOKEN}\"\nbase_url = \"{}\"\n", self.url)
    }
}

/// PagerDuty's error body.
fn error(status: StatusCode, code: u32, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(json!({ "error": { "message": message, "code": code } }))
}

fn user_json(o: &OnCall, full: bool) -> Value {
    let mut user = json!({
        "id": o.user_id, "type": "user_reference", "summary": o.name,
        "self": format!("https://api.pagerduty.com/users/{}", o.user_id), "html_url": null,
    });
    if full {
        user["type"] = json!("user");
        user["name"] = json!(o.name);
        user["email"] = json!(o.email);
        user["time_zone"] = json!("Etc/UTC");
    }
    user
}

fn reference(kind: &str, id: &str) -> Value {
    json!({ "id": id, "type": format!("{kind}_reference"), "summary": id, "self": null, "html_url": null })
}

fn instant(value: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(value).ok().map(|t| t.with_timezone(&Utc))
}

async fn oncalls(state: web::Data<Mutex<State>>, req: HttpRequest) -> HttpResponse {
    let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
    s.calls.push(req.query_string().to_owned());
    if req.headers().get("Authorization").and_then(|v| v.to_str().ok()) != Some(&format!("Token token={PD_TOKEN}")) {
        return error(StatusCode::UNAUTHORIZED, 2006, "Authentication failed");
    }
    if s.down {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            2000,
            "An internal error has occurred. Please try again later.",
        );
    }
    if let Some(reset) = s.rate_limited {
        let mut response = error(StatusCode::TOO_MANY_REQUESTS, 2020, "Rate Limit Exceeded");
        let headers = response.headers_mut();
        for (name, value) in [("ratelimit-limit", 960), ("ratelimit-remaining", 0), ("ratelimit-reset", reset)] {
            headers.insert(name.parse().expect("name"), value.into());
        }
        return response;
    }
    // Keys may come with their brackets percent-encoded (`schedule_ids%5B%5D`).
    let Ok(url) = reqwest::Url::parse(&format!("http://pagerduty/oncalls?{}", req.query_string())) else {
        return error(StatusCode::BAD_REQUEST, 2001, "Invalid Input Provided");
    };
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let all = |key: &str| pairs.iter().filter(|(k, _)| k == key).map(|(_, v)| v.clone()).collect::<Vec<_>>();
    let one = |key: &str| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    let now = Utc::now();
    let (since, until) = match (one("since").map(|v| instant(&v)), one("until").map(|v| instant(&v))) {
        (Some(None), _) | (_, Some(None)) => {
            return error(StatusCode::BAD_REQUEST, 2004, "Invalid time values in 'since' and/or 'until' parameters");
        }
        (since, until) => (since.flatten().unwrap_or(now), until.flatten().unwrap_or(now)),
    };
    if until < since {
        return error(StatusCode::BAD_REQUEST, 2005, "Invalid Query Date Range");
    }
    let limit = one("limit").and_then(|l| l.parse::<usize>().ok()).unwrap_or(25).clamp(1, 100);
    let offset = one("offset").and_then(|o| o.parse::<usize>().ok()).unwrap_or(0);
    if offset + limit > 10_000 {
        return error(StatusCode::BAD_REQUEST, 2001, "Invalid Input Provided");
    }
    let (schedules, policies) = (all("schedule_ids[]"), all("escalation_policy_ids[]"));
    let full_users = all("include[]").iter().any(|i| i == "users");
    let matching: Vec<&OnCall> = s
        .oncalls
        .iter()
        .filter(|o| schedules.is_empty() || o.schedule.as_ref().is_some_and(|id| schedules.contains(id)))
        .filter(|o| policies.is_empty() || policies.contains(&o.escalation_policy))
        // A period that overlaps the window, as PagerDuty includes it.
        .filter(|o| o.start.is_none_or(|start| start <= until) && o.end.is_none_or(|end| end > since))
        .collect();
    let page: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(limit)
        .map(|o| {
            json!({
                "user": user_json(o, full_users),
                "schedule": o.schedule.as_deref().map(|id| reference("schedule", id)),
                "escalation_policy": reference("escalation_policy", &o.escalation_policy),
                "escalation_level": o.level,
                "start": o.start.map(|t| t.to_rfc3339()),
                "end": o.end.map(|t| t.to_rfc3339()),
            })
        })
        .collect();
    let more = offset + page.len() < matching.len();
    HttpResponse::Ok().json(json!({ "oncalls": page, "limit": limit, "offset": offset, "more": more, "total": null }))
}
