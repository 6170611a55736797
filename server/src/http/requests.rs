//! `/api/v1/requests`, `/api/v1/approvals` and `/api/v1/reviews`: extract, call one workflow, map.
use actix_web::{HttpResponse, get, post, web};
use serde::Deserialize;

use super::{
    AppState,
    extract::{JsonBody, admitted, number},
    problem::{ApiError, ChangeRefusals, FilingRefusals, ItemRefusals, ListRefusals, SearchRefusals},
    views::{CreateRequest, DecisionBody, ExtendBody, RequestPage, RequestView, ReviewBody},
};
use crate::{
    domain::{Caller, parse_rfc3339},
    store::requests::Request,
    workflows::{
        Broker, WorkflowError, cancel, decide, extend,
        identify::Claimed,
        queries::{self, ListQuery, RequestDetails},
        request_access::{self, NewRequest},
        review, revoke,
    },
};

async fn view(broker: &Broker, request: Request) -> Result<RequestView, ApiError> {
    Ok(queries::details(broker, request).await?.into())
}

/// A page of requests, each as its view, read in one batch.
async fn page_of(
    broker: &Broker,
    requests: Vec<Request>,
    next_cursor: Option<String>,
) -> Result<HttpResponse, ApiError> {
    let items = queries::details_of(broker, requests).await?.into_iter().map(RequestView::from).collect();
    Ok(HttpResponse::Ok().json(RequestPage { items, next_cursor }))
}

/// File a request for access.
#[utoipa::path(post, path = "/api/v1/requests", request_body = CreateRequest, tag = "requests",
    responses((status = 201, body = RequestView), FilingRefusals))]
#[post("/requests")]
pub async fn create(
    state: web::Data<AppState>,
    claimed: Claimed,
    body: JsonBody<CreateRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.0;
    let input = NewRequest {
        profile: b.profile,
        duration_seconds: b.duration_seconds,
        justification: b.justification,
        ticket: b.ticket,
        requester: b.requester,
        break_glass: b.break_glass,
        start_at: b
            .start_at
            .as_deref()
            .map(|s| parse_rfc3339("start_at", s))
            .transpose()
            .map_err(WorkflowError::from)?,
    };
    let jti = claimed.token().jti.clone();
    let (caller, filed) = request_access::request_access_claimed(&state.broker, claimed, input).await?;
    admitted(&state, &caller, jti);
    Ok(HttpResponse::Created().json(RequestView::from(RequestDetails::from(filed?))))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// pending, approved, scheduled, active, denied, cancelled, timed_out, expired, revoked or failed
    #[param(pattern = "^(pending|approved|scheduled|active|denied|cancelled|timed_out|expired|revoked|failed)$")]
    status: Option<String>,
    /// UPN; defaults to the caller unless admin or auditor
    requester: Option<String>,
    /// 1 to 200 (default 50)
    #[param(pattern = "^[0-9]{1,3}$")]
    limit: Option<String>,
    /// `next_cursor` of the previous page
    #[param(format = Uuid)]
    cursor: Option<String>,
}

/// List requests, newest first.
#[utoipa::path(get, path = "/api/v1/requests", params(ListParams), tag = "requests",
    responses((status = 200, body = RequestPage), SearchRefusals))]
#[get("/requests")]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, ApiError> {
    let p = params.into_inner();
    let limit = number::<u64>("limit", p.limit.as_deref())?;
    let query = ListQuery { status: p.status, requester: p.requester, limit, cursor: p.cursor };
    let page_size = limit.unwrap_or(50) as usize;
    let requests = queries::list_requests(&state.broker, &caller, query).await?;
    let next_cursor = (requests.len() == page_size).then(|| requests.last().map(|r| r.id.to_string())).flatten();
    page_of(&state.broker, requests, next_cursor).await
}

/// One request, with its decisions.
#[utoipa::path(get, path = "/api/v1/requests/{id}", params(("id" = uuid::Uuid, Path, description = "The request's id")), tag = "requests",
    responses((status = 200, body = RequestView), ItemRefusals))]
#[get("/requests/{id}")]
pub async fn get_one(
    state: web::Data<AppState>,
    claimed: Claimed,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let jti = claimed.token().jti.clone();
    let (caller, details) = queries::get_request_claimed(&state.broker, claimed, &id).await?;
    admitted(&state, &caller, jti);
    Ok(HttpResponse::Ok().json(RequestView::from(details?)))
}

/// Optional JSON bodies: none, or `{"comment": "..."}`.
fn comment(body: &web::Bytes) -> Result<DecisionBody, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(DecisionBody::default());
    }
    super::extract::parse_json(body)
}

/// The comment of a body that may carry nothing else (cancel, revoke).
fn only_comment(body: DecisionBody) -> Result<Option<String>, ApiError> {
    match body.on_behalf_of {
        Some(_) => Err(ApiError::bad("on_behalf_of", "applies to approve and deny only")),
        None => Ok(body.comment),
    }
}

macro_rules! decision_route {
    ($name:ident, $path:literal, $doc:literal, |$broker:ident, $caller:ident, $id:ident, $body:ident| $call:expr) => {
        #[doc = $doc]
        #[utoipa::path(post, path = concat!("/api/v1", $path), params(("id" = uuid::Uuid, Path, description = "The request's id")), request_body(content = DecisionBody, description = "optional"), tag = "requests",
            responses((status = 200, body = RequestView), ChangeRefusals))]
        #[post($path)]
        pub async fn $name(state: web::Data<AppState>, $caller: Caller, $id: web::Path<String>, body: web::Bytes) -> Result<HttpResponse, ApiError> {
            let $body = comment(&body)?;
            let $broker = &state.broker;
            let request = $call.await?;
            Ok(HttpResponse::Ok().json(view(&state.broker, request).await?))
        }
    };
}

decision_route!(
    approve,
    "/requests/{id}/approve",
    "Approve a request (approvers of its current stage).",
    |broker, caller, id, b| decide::decide(
        broker,
        &caller,
        &id,
        decide::Decision::Approve,
        b.comment.as_deref(),
        b.on_behalf_of.as_deref()
    )
);
decision_route!(deny, "/requests/{id}/deny", "Deny a request.", |broker, caller, id, b| decide::decide(
    broker,
    &caller,
    &id,
    decide::Decision::Deny,
    b.comment.as_deref(),
    b.on_behalf_of.as_deref()
));
decision_route!(
    cancel_one,
    "/requests/{id}/cancel",
    "Withdraw a pending request (its requester).",
    |broker, caller, id, b| cancel::cancel(broker, &caller, &id, only_comment(b)?.as_deref())
);
decision_route!(
    revoke_one,
    "/requests/{id}/revoke",
    "End access early (the requester or an admin).",
    |broker, caller, id, b| revoke::revoke(broker, &caller, &id, only_comment(b)?.as_deref())
);

/// Ask for more time on an active grant; creates a linked extension request.
#[utoipa::path(post, path = "/api/v1/requests/{id}/extend", request_body = ExtendBody, params(("id" = uuid::Uuid, Path, description = "The request's id")), tag = "requests",
    responses((status = 201, body = RequestView), ChangeRefusals))]
#[post("/requests/{id}/extend")]
pub async fn extend_one(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: JsonBody<ExtendBody>,
) -> Result<HttpResponse, ApiError> {
    let b = body.0;
    let filed = extend::extend(&state.broker, &caller, &id, b.duration_seconds, b.justification.as_deref()).await?;
    Ok(HttpResponse::Created().json(RequestView::from(RequestDetails::from(filed))))
}

/// Requests the caller may decide now.
#[utoipa::path(get, path = "/api/v1/approvals", tag = "requests",
    responses((status = 200, body = RequestPage), ListRefusals))]
#[get("/approvals")]
pub async fn approvals(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    page_of(&state.broker, queries::approvals(&state.broker, &caller).await?, None).await
}

/// Record the after-the-fact review of a break-glass request (its profile's approvers and
/// admins, never its requester; once).
#[utoipa::path(post, path = "/api/v1/requests/{id}/review", request_body = ReviewBody, params(("id" = uuid::Uuid, Path, description = "The request's id")), tag = "requests",
    responses((status = 200, body = RequestView), ChangeRefusals))]
#[post("/requests/{id}/review")]
pub async fn review_one(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: JsonBody<ReviewBody>,
) -> Result<HttpResponse, ApiError> {
    let b = body.0;
    review::review(&state.broker, &caller, &id, &b.outcome, b.comment.as_deref()).await?;
    let details = queries::get_request(&state.broker, &caller, &id).await?;
    Ok(HttpResponse::Ok().json(RequestView::from(details)))
}

/// Break-glass requests awaiting the caller's review.
#[utoipa::path(get, path = "/api/v1/reviews", tag = "requests",
    responses((status = 200, body = RequestPage), ListRefusals))]
#[get("/reviews")]
pub async fn reviews(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    page_of(&state.broker, review::awaiting(&state.broker, &caller).await?, None).await
}
