//! `/requests/{id}`: a request's facts, decisions and timeline (every audit event about it),
//! with the buttons the visitor may use: approve/deny (its approvers), cancel (the requester,
//! while pending or scheduled), give back or revoke (the requester or an admin), extend (the
//! requester, while active). Every button goes through the same workflow, and checks, as the API.
use actix_web::{HttpResponse, get, http::StatusCode, post, web};
use askama::Template;
use serde::Deserialize;

use super::{AppState, CsrfForm, Visitor, activity_panel::ActivityPanel, message, refused, render, see_other};
use crate::{
    domain::{HumanDuration, RequestStatus, format_millis, now},
    store::requests::Request,
    workflows::{WorkflowError, activity, cancel, decide, extend, queries, revoke},
};

#[derive(Template)]
#[template(path = "pages/request.html")]
struct RequestPage<'a> {
    id: &'a str,
    status: &'a str,
    facts: Vec<(&'static str, String)>,
    /// When the access ends (the page counts down).
    ends_at: Option<String>,
    /// For a break-glass request: its review so far, in words.
    break_glass: Option<String>,
    decisions: Vec<(String, String, String)>,
    /// Who can decide it now, (name, mail), while it is pending and the directory answers.
    deciders: Option<Vec<(String, String)>>,
    /// When the profile's escalation approvers will be called in, while that is ahead.
    escalates_at: Option<String>,
    /// (instant, who, what) of every audit event about the request.
    timeline: Vec<(String, String, String)>,
    /// What the grant's AWS role session did, when Elevate collects it for this request.
    activity: Option<ActivityPanel>,
    can_decide: bool,
    can_cancel: bool,
    /// "End my access now" for the requester, "Revoke" for an admin.
    revoke_label: Option<&'static str>,
    /// The extensions the profile still allows, (seconds, label); empty when none.
    extensions: Vec<(i64, String)>,
    csrf: String,
    signed_in: Option<&'a Visitor>,
}

#[derive(Deserialize)]
struct ActionForm {
    comment: Option<String>,
    /// `grants` when sent from the active grants page.
    back: Option<String>,
}

#[derive(Deserialize)]
struct ExtendForm {
    duration_seconds: Option<String>,
    justification: Option<String>,
}

#[get("/requests/{id}")]
pub(super) async fn show(state: web::Data<AppState>, visitor: Visitor, id: web::Path<String>) -> HttpResponse {
    let broker = &state.broker;
    let caller = visitor.caller();
    let details = match queries::get_request(broker, &caller, &id).await {
        Ok(details) => details,
        Err(WorkflowError::NotFound(_) | WorkflowError::Invalid(_) | WorkflowError::Forbidden(_)) => {
            return message(
                StatusCode::NOT_FOUND,
                "Not found",
                "There is no such request you may see.",
                Some(&visitor),
            );
        }
        Err(e) => return refused(e, "", &visitor),
    };
    let request = &details.request;
    let mut facts = super::facts_of(broker, request);
    facts.push(("Filed", format_millis(request.created_at)));
    if let Some(at) = request.ended_at {
        facts.push(("Ended", format_millis(at)));
    }
    let decisions = details
        .decisions
        .iter()
        .map(|d| (d.approver.clone(), d.decision.clone(), format_millis(d.decided_at)))
        .collect();
    let timeline = match queries::timeline(broker, &request.id).await {
        Ok(events) => events.into_iter().map(|e| (format_millis(e.at), e.actor, e.action)).collect(),
        Err(e) => return refused(e, "", &visitor),
    };
    let activity = match activity::report(broker, request).await {
        Ok(report) => ActivityPanel::shown(report),
        Err(e) => return refused(e, "", &visitor),
    };
    let own = request.requester == visitor.user.as_str();
    let pending = request.status == RequestStatus::Pending;
    let scheduled = request.status == RequestStatus::Scheduled;
    let live = matches!(request.status, RequestStatus::Approved | RequestStatus::Active) || scheduled;
    let can_decide = pending
        && decide::may_decide(broker, &caller, request, crate::workflows::Freshness::Display).await.is_ok()
        && !details.decisions.iter().any(|d| d.approver == visitor.user.as_str());
    render(
        StatusCode::OK,
        &RequestPage {
            id: request.id.as_str(),
            status: request.status.as_str(),
            facts,
            ends_at: request.expires_at.map(format_millis),
            break_glass: request.break_glass.then(|| match &details.review {
                Some(r) => format!("reviewed by {} as {}", r.reviewer, r.outcome),
                None => "awaiting review".to_owned(),
            }),
            decisions,
            deciders: details
                .deciders
                .as_ref()
                .map(|d| d.people.iter().map(|p| (p.display_name.clone(), p.address())).collect()),
            escalates_at: details.deciders.as_ref().and_then(|d| d.escalates_at).map(format_millis),
            timeline,
            activity,
            can_decide,
            can_cancel: own && (pending || scheduled),
            revoke_label: match (live, own, visitor.is_admin()) {
                // A requester withdraws a scheduled request with "Cancel" above.
                (true, true, _) if !scheduled => Some("End my access now"),
                (true, false, true) if scheduled => Some("Revoke this scheduled grant"),
                (true, false, true) => Some("Revoke this grant"),
                _ => None,
            },
            extensions: if own { extensions(&state, request) } else { Vec::new() },
            csrf: visitor.csrf.clone(),
            signed_in: Some(&visitor),
        },
    )
}

/// How much longer an active grant may be made: steps up to what the profile's maximum leaves.
fn extensions(state: &AppState, request: &Request) -> Vec<(i64, String)> {
    let (Some(expires_at), Some(start), Ok(profile)) =
        (request.expires_at, request.coverage_start.or(request.activated_at), state.broker.profile_of(request))
    else {
        return Vec::new();
    };
    if request.status != RequestStatus::Active || expires_at <= now() {
        return Vec::new();
    }
    let left = (profile.max_duration.as_millis() - (expires_at - start)) / 1000;
    [300, 900, 1800, 3600, 7200, 14400]
        .into_iter()
        .filter(|s| *s <= left)
        .chain((left > 0 && left < 300).then_some(left))
        .map(|s| (s, HumanDuration::from_secs(u64::try_from(s).unwrap_or(0)).to_string()))
        .collect()
}

/// Cancel (own pending or scheduled request) or revoke (own grant, or any grant for an admin).
#[post("/requests/{id}/{action:cancel|revoke}")]
pub(super) async fn act(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    CsrfForm { visitor, form }: CsrfForm<ActionForm>,
) -> HttpResponse {
    let (id, action) = path.into_inner();
    let caller = visitor.caller();
    let comment = form.comment.filter(|c| !c.trim().is_empty());
    let done = if action == "cancel" {
        cancel::cancel(&state.broker, &caller, &id, comment.as_deref()).await
    } else {
        revoke::revoke(&state.broker, &caller, &id, comment.as_deref()).await
    };
    match done {
        Ok(_) if form.back.as_deref() == Some("grants") => see_other("/grants"),
        Ok(_) => see_other(&format!("/requests/{id}")),
        Err(e) => refused(e, "Not done", &visitor),
    }
}

/// Extend an active grant: files the extension (a request of its own) and shows it.
#[post("/requests/{id}/extend")]
pub(super) async fn extend_grant(
    state: web::Data<AppState>,
    id: web::Path<String>,
    CsrfForm { visitor, form }: CsrfForm<ExtendForm>,
) -> HttpResponse {
    let Some(seconds) = form.duration_seconds.as_deref().and_then(|d| d.parse::<i64>().ok()) else {
        let text = "Pick one of the offered durations.";
        return message(StatusCode::BAD_REQUEST, "Not extended", text, Some(&visitor));
    };
    let justification = form.justification.filter(|j| !j.trim().is_empty());
    match extend::extend(&state.broker, &visitor.caller(), &id, seconds, justification.as_deref()).await {
        Ok(extension) => see_other(&format!("/requests/{}", extension.request.id)),
        Err(e) => refused(e, "Not extended", &visitor),
    }
}
