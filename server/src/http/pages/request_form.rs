//! `/requests/new`: the request form (only the profiles the user may request; a duration
//! picker bounded by the profile; justification and ticket where the profile asks for them;
//! errors next to the field, values kept) and `/requests`: the user's own requests.
use actix_web::{HttpResponse, get, http::StatusCode, post, web};
use askama::Template;
use serde::Deserialize;

use super::{AppState, CsrfForm, Visitor, message, refused, render, see_other};
use crate::{
    domain::format_millis,
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
    profile: String,
    duration_seconds: Option<String>,
    justification: Option<String>,
    ticket: Option<String>,
    /// The "break the glass" box (profiles with `break_glass`, for the users they name).
    break_glass: Option<String>,
    /// "Start at" as typed (`datetime-local`): the viewer's wall-clock time, read as UTC when
    /// the page's script did not send `start_at_utc` beside it.
    start_at: Option<String>,
    /// The same instant in UTC (RFC 3339), filled in by the page's script from the viewer's
    /// time zone.
    start_at_utc: Option<String>,
}

impl RequestForm {
    /// The instant the window should open, if one was given.
    fn start_at(&self) -> Result<Option<i64>, crate::domain::InvalidValue> {
        let given = |v: &Option<String>| v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
        match (given(&self.start_at_utc), given(&self.start_at)) {
            (Some(utc), _) => crate::domain::parse_rfc3339("start_at", &utc).map(Some),
            (None, Some(typed)) => crate::domain::parse_instant("start_at", &typed).map(Some),
            (None, None) => Ok(None),
        }
    }
}

/// The form as shown: the profile, the values typed so far, and what was wrong with them.
#[derive(Template)]
#[template(path = "pages/request_new.html")]
struct NewRequestPage<'a> {
    signed_in: Option<&'a Visitor>,
    csrf: String,
    /// (key, title, risk) of every profile the user may request, when none is chosen yet.
    choices: Vec<(String, String)>,
    profile: Option<FormProfile>,
    durations: Vec<(i64, String)>,
    duration: i64,
    justification: String,
    ticket: String,
    start_at: String,
    errors: Vec<(String, String)>,
}

struct FormProfile {
    key: String,
    title: String,
    require_justification: bool,
    require_ticket: bool,
    /// The visitor is one of the profile's break-glass users.
    may_break_glass: bool,
    /// How far ahead the window may open, in words; `None` when the profile does not schedule.
    max_advance: Option<String>,
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
    signed_in: Option<&'a Visitor>,
    /// (id, profile, status, filed, expires or "")
    rows: Vec<(String, String, String, String, String)>,
}

/// A profile that requires MFA, asked for by a session signed in without it.
#[derive(Template)]
#[template(path = "pages/mfa.html")]
struct MfaPage<'a> {
    signed_in: Option<&'a Visitor>,
    title: String,
    sign_in_url: String,
}

/// The page that sends the visitor to sign in again with MFA and back to the profile's form.
fn mfa_first(visitor: &Visitor, profile: &Profile) -> HttpResponse {
    let back = format!("/requests/new?profile={}", profile.key);
    let next = percent_encoding::utf8_percent_encode(&back, percent_encoding::NON_ALPHANUMERIC);
    let page = MfaPage {
        signed_in: Some(visitor),
        title: profile.title.clone(),
        sign_in_url: format!("/signin?mfa=1&login_hint={}&next={next}", visitor.user),
    };
    render(StatusCode::FORBIDDEN, &page)
}

/// The profile, when it asks for a multi-factor sign-in the visitor has not made recently
/// (the workflow's own rule, checked again when the request is filed).
fn needs_mfa<'p>(state: &AppState, visitor: &Visitor, profile: Option<&'p Profile>) -> Option<&'p Profile> {
    profile.filter(|p| request_access::require_mfa(&state.broker, &visitor.caller(), p, &visitor.user).is_err())
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

async fn form_page<'v>(
    state: &AppState,
    visitor: &'v Visitor,
    chosen: Option<&str>,
    typed: Option<&RequestForm>,
    errors: Vec<(String, String)>,
) -> Result<NewRequestPage<'v>, WorkflowError> {
    let profiles = queries::requestable_profiles(&state.broker, &visitor.caller()).await?;
    let profile = chosen.and_then(|key| profiles.iter().find(|p| p.key.as_str() == key)).copied();
    let choices = profiles.iter().map(|p| (p.key.to_string(), p.title.clone())).collect();
    let typed_duration = typed.and_then(|t| t.duration_seconds.as_deref()).and_then(|d| d.parse().ok());
    Ok(NewRequestPage {
        signed_in: Some(visitor),
        csrf: visitor.csrf.clone(),
        choices,
        durations: profile.map(durations).unwrap_or_default(),
        duration: typed_duration.or(profile.map(|p| p.default_duration.as_secs())).unwrap_or(0),
        justification: typed.and_then(|t| t.justification.clone()).unwrap_or_default(),
        ticket: typed.and_then(|t| t.ticket.clone()).unwrap_or_default(),
        start_at: typed.and_then(|t| t.start_at.clone()).unwrap_or_default(),
        profile: profile.map(|p| FormProfile {
            key: p.key.to_string(),
            title: p.title.clone(),
            require_justification: p.require_justification,
            require_ticket: p.require_ticket,
            may_break_glass: p.break_glass.as_ref().is_some_and(|users| users.contains(&visitor.user)),
            max_advance: (p.max_advance.as_secs() > 0).then(|| p.max_advance.to_string()),
        }),
        errors,
    })
}

#[get("/requests/new")]
pub(super) async fn new_form(
    state: web::Data<AppState>,
    visitor: Visitor,
    q: web::Query<ProfileQuery>,
) -> HttpResponse {
    match form_page(&state, &visitor, q.profile.as_deref(), None, Vec::new()).await {
        Ok(page) if q.profile.is_some() && page.profile.is_none() => {
            message(StatusCode::NOT_FOUND, "No such profile", "You may not request that profile.", Some(&visitor))
        }
        Ok(page) => match needs_mfa(&state, &visitor, q.profile.as_deref().and_then(|k| state.broker.policy.find(k))) {
            Some(profile) => mfa_first(&visitor, profile),
            None => render(StatusCode::OK, &page),
        },
        Err(e) => refused(e, "", &visitor),
    }
}

#[post("/requests/new")]
pub(super) async fn submit(
    state: web::Data<AppState>,
    CsrfForm { visitor, form }: CsrfForm<RequestForm>,
) -> HttpResponse {
    if let Some(profile) = needs_mfa(&state, &visitor, state.broker.policy.find(&form.profile)) {
        return mfa_first(&visitor, profile);
    }
    let duration = match form.duration_seconds.as_deref().map(str::parse::<i64>) {
        Some(Ok(d)) => Some(d),
        Some(Err(_)) => {
            let errors = vec![("duration_seconds".to_owned(), "pick one of the offered durations".to_owned())];
            return form_again(&state, &visitor, &form, errors).await;
        }
        None => None,
    };
    let start_at = match form.start_at() {
        Ok(at) => at,
        Err(e) => return form_again(&state, &visitor, &form, vec![(e.field.to_owned(), e.reason)]).await,
    };
    let input = NewRequest {
        profile: form.profile.clone(),
        duration_seconds: duration,
        justification: form.justification.clone(),
        ticket: form.ticket.clone(),
        requester: None,
        break_glass: form.break_glass.is_some(),
        start_at,
    };
    match request_access::request_access(&state.broker, &visitor.caller(), input).await {
        Ok(filed) => see_other(&format!("/requests/{}", filed.request.id)),
        Err(WorkflowError::Invalid(v)) => {
            form_again(&state, &visitor, &form, vec![(v.field.to_owned(), v.reason)]).await
        }
        Err(e @ (WorkflowError::Forbidden(_) | WorkflowError::Conflict(_))) => {
            form_again(&state, &visitor, &form, vec![("form".to_owned(), e.to_string())]).await
        }
        Err(e) => refused(e, "", &visitor),
    }
}

/// The form again, with the values as typed and the errors next to their fields (400).
async fn form_again(
    state: &AppState,
    visitor: &Visitor,
    form: &RequestForm,
    errors: Vec<(String, String)>,
) -> HttpResponse {
    match form_page(state, visitor, Some(&form.profile), Some(form), errors).await {
        Ok(page) => render(StatusCode::BAD_REQUEST, &page),
        Err(e) => refused(e, "", visitor),
    }
}

#[get("/requests")]
pub(super) async fn mine(state: web::Data<AppState>, visitor: Visitor) -> HttpResponse {
    // Only the visitor's own, even for admins (who see everyone's on the grants page).
    let q =
        queries::ListQuery { status: None, requester: Some(visitor.user.to_string()), limit: Some(100), cursor: None };
    match queries::list_requests(&state.broker, &visitor.caller(), q).await {
        Ok(list) => {
            let rows = list
                .into_iter()
                .map(|r| {
                    // A scheduled request ends where its window was approved to.
                    let window_end =
                        r.start_at.map(|start| start.saturating_add(r.duration_seconds.saturating_mul(1000)));
                    let ends = r.ended_at.or(r.expires_at).or(window_end).map(format_millis).unwrap_or_default();
                    (r.id.to_string(), r.profile, r.status.as_str().to_owned(), format_millis(r.created_at), ends)
                })
                .collect();
            render(StatusCode::OK, &MyRequestsPage { signed_in: Some(&visitor), rows })
        }
        Err(e) => refused(e, "", &visitor),
    }
}
