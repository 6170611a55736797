//! `/requests/new`: the request form (only the profiles the user may request; a duration
//! picker bounded by the profile; justification and ticket where the profile asks for them;
//! errors next to the field, values kept) and `/requests`: the user's own requests.
use actix_web::{HttpRequest, HttpResponse, get, http::StatusCode, http::header, post, web};
use askama::Template;
use serde::Deserialize;

use super::{AppState, message, render, session_of, sign_in_first, unavailable};
use crate::{
    domain::{Caller, Role, Upn, format_millis, now},
    policy::Profile,
    workflows::{
        WorkflowError, queries,
        request_access::{self, NewRequest},
    },
};

#[derive(Deserialize)]
struct ProfileQuery {
    profile: Option<String>,
}

#[derive(Deserialize)]
struct RequestForm {
    csrf: Option<String>,
    profile: String,
    duration_seconds: Option<String>,
    justification: Option<String>,
    ticket: Option<String>,
}

/// The form as shown: the profile, the values typed so far, and what was wrong with them.
#[derive(Template)]
#[template(path = "pages/request_new.html")]
struct NewRequestPage<'a> {
    signed_in: Option<&'a Upn>,
    csrf: String,
    /// (key, title, risk) of every profile the user may request, when none is chosen yet.
    choices: Vec<(String, String)>,
    profile: Option<FormProfile>,
    durations: Vec<(i64, String)>,
    duration: i64,
    justification: String,
    ticket: String,
    errors: Vec<(String, String)>,
}

struct FormProfile {
    key: String,
    title: String,
    require_justification: bool,
    require_ticket: bool,
}

impl NewRequestPage<'_> {
    /// The error about `field`, if any (shown next to it).
    fn error(&self, field: &str) -> Option<&str> {
        self.errors.iter().find(|(f, _)| f == field).map(|(_, m)| m.as_str())
    }
}

#[derive(Template)]
#[template(path = "pages/requests.html")]
struct MyRequestsPage<'a> {
    signed_in: Option<&'a Upn>,
    /// (id, profile, status, filed, expires or "")
    rows: Vec<(String, String, String, String, String)>,
}

fn requester(upn: &Upn) -> Caller {
    Caller { upn: upn.clone(), roles: vec![Role::Requester], delegate: false }
}

/// Durations worth offering between the profile's bounds, in seconds.
fn durations(p: &Profile) -> Vec<(i64, String)> {
    let (min, max) = (p.min_duration.as_secs(), p.max_duration.as_secs());
    let steps = [300, 900, 1800, 3600, 7200, 14400, 28800, 43200, 86400];
    let mut offered: Vec<i64> =
        std::iter::once(min).chain(steps.into_iter().filter(|s| *s > min && *s < max)).chain([max]).collect();
    offered.push(p.default_duration.as_secs());
    offered.sort_unstable();
    offered.dedup();
    offered
        .into_iter()
        .map(|s| (s, crate::domain::HumanDuration::from_secs(u64::try_from(s).unwrap_or(0)).to_string()))
        .collect()
}

async fn form_page(
    state: &AppState,
    user: &Upn,
    cookie: &str,
    chosen: Option<&str>,
    typed: Option<&RequestForm>,
    errors: Vec<(String, String)>,
) -> Result<NewRequestPage<'static>, WorkflowError> {
    let profiles = queries::requestable_profiles(&state.broker, &requester(user)).await?;
    let profile = chosen.and_then(|key| profiles.iter().find(|p| p.key.as_str() == key)).copied();
    let choices = profiles.iter().map(|p| (p.key.to_string(), p.title.clone())).collect();
    let typed_duration = typed.and_then(|t| t.duration_seconds.as_deref()).and_then(|d| d.parse().ok());
    Ok(NewRequestPage {
        signed_in: None,
        csrf: state.sessions.csrf_token(cookie),
        choices,
        durations: profile.map(durations).unwrap_or_default(),
        duration: typed_duration.or(profile.map(|p| p.default_duration.as_secs())).unwrap_or(0),
        justification: typed.and_then(|t| t.justification.clone()).unwrap_or_default(),
        ticket: typed.and_then(|t| t.ticket.clone()).unwrap_or_default(),
        profile: profile.map(|p| FormProfile {
            key: p.key.to_string(),
            title: p.title.clone(),
            require_justification: p.require_justification,
            require_ticket: p.require_ticket,
        }),
        errors,
    })
}

#[get("/requests/new")]
pub(super) async fn new_form(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<ProfileQuery>,
) -> HttpResponse {
    let Some((user, cookie)) = session_of(&state, &req) else { return sign_in_first(&req) };
    match form_page(&state, &user, &cookie, q.profile.as_deref(), None, Vec::new()).await {
        Ok(page) if q.profile.is_some() && page.profile.is_none() => {
            message(StatusCode::NOT_FOUND, "No such profile", "You may not request that profile.", Some(&user))
        }
        Ok(page) => render(StatusCode::OK, &NewRequestPage { signed_in: Some(&user), ..page }),
        Err(e) => unavailable(e, &user),
    }
}

#[post("/requests/new")]
pub(super) async fn submit(state: web::Data<AppState>, req: HttpRequest, form: web::Form<RequestForm>) -> HttpResponse {
    let Some((user, cookie)) = session_of(&state, &req) else { return sign_in_first(&req) };
    let form = form.into_inner();
    if !state.sessions.csrf_matches(&cookie, form.csrf.as_deref().unwrap_or_default()) {
        return message(
            StatusCode::FORBIDDEN,
            "Not allowed",
            "This form did not come from your session; reload it.",
            Some(&user),
        );
    }
    let duration = match form.duration_seconds.as_deref().map(str::parse::<i64>) {
        Some(Ok(d)) => Some(d),
        Some(Err(_)) => {
            let errors = vec![("duration_seconds".to_owned(), "pick one of the offered durations".to_owned())];
            return form_again(&state, &user, &cookie, &form, errors).await;
        }
        None => None,
    };
    let input = NewRequest {
        profile: form.profile.clone(),
        duration_seconds: duration,
        justification: form.justification.clone(),
        ticket: form.ticket.clone(),
        requester: None,
    };
    match request_access::request_access(&state.broker, &requester(&user), input).await {
        Ok(request) => {
            HttpResponse::SeeOther().insert_header((header::LOCATION, format!("/requests/{}", request.id))).finish()
        }
        Err(WorkflowError::Invalid(v)) => {
            form_again(&state, &user, &cookie, &form, vec![(v.field.to_owned(), v.reason)]).await
        }
        Err(e @ (WorkflowError::Forbidden(_) | WorkflowError::Conflict(_))) => {
            form_again(&state, &user, &cookie, &form, vec![("form".to_owned(), e.to_string())]).await
        }
        Err(e) => unavailable(e, &user),
    }
}

/// The form again, with the values as typed and the errors next to their fields (400).
async fn form_again(
    state: &AppState,
    user: &Upn,
    cookie: &str,
    form: &RequestForm,
    errors: Vec<(String, String)>,
) -> HttpResponse {
    match form_page(state, user, cookie, Some(&form.profile), Some(form), errors).await {
        Ok(page) => render(StatusCode::BAD_REQUEST, &NewRequestPage { signed_in: Some(user), ..page }),
        Err(e) => unavailable(e, user),
    }
}

#[get("/requests")]
pub(super) async fn mine(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let Some((user, _)) = session_of(&state, &req) else { return sign_in_first(&req) };
    let q = queries::ListQuery { status: None, requester: None, limit: Some(100), cursor: None };
    match queries::list_requests(&state.broker, &requester(&user), q).await {
        Ok(list) => {
            let at = now();
            let rows = list
                .into_iter()
                .map(|r| {
                    let ends = match r.expires_at {
                        Some(e) if e > at && r.status == "active" => {
                            format!("{} (in {} min)", format_millis(e), (e - at) / 60_000)
                        }
                        Some(e) => format_millis(e),
                        None => String::new(),
                    };
                    (r.id, r.profile, r.status, format_millis(r.created_at), ends)
                })
                .collect();
            render(StatusCode::OK, &MyRequestsPage { signed_in: Some(&user), rows })
        }
        Err(e) => unavailable(e, &user),
    }
}
