//! Profiles, the audit log, health and the OpenAPI document.
use actix_web::{HttpResponse, get, web};
use serde::Deserialize;
use utoipa::OpenApi;

use super::{
    AppState,
    extract::number,
    problem::{ApiError, ListRefusals, SearchRefusals},
    views::{AuditEventView, AuditPage, ProfileView},
};
use crate::{domain::Caller, workflows::queries};

/// The profiles the caller may request.
#[utoipa::path(get, path = "/api/v1/profiles", tag = "profiles",
    responses((status = 200, body = Vec<ProfileView>), ListRefusals))]
#[get("/profiles")]
pub async fn profiles(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    let profiles = queries::requestable_profiles(&state.broker, &caller).await?;
    let views: Vec<_> = profiles.into_iter().map(|p| ProfileView::new(p, state.broker.aws.as_deref())).collect();
    Ok(HttpResponse::Ok().json(views))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    /// Only events after this sequence number.
    #[param(pattern = "^[0-9]{1,18}$")]
    after_seq: Option<String>,
    /// 1 to 1000 (default 100).
    #[param(pattern = "^[0-9]{1,4}$")]
    limit: Option<String>,
}

/// The audit log, oldest first (auditors and admins).
#[utoipa::path(get, path = "/api/v1/audit", params(AuditParams), tag = "audit",
    responses((status = 200, body = AuditPage), SearchRefusals))]
#[get("/audit")]
pub async fn audit(
    state: web::Data<AppState>,
    caller: Caller,
    params: web::Query<AuditParams>,
) -> Result<HttpResponse, ApiError> {
    let after = number::<i64>("after_seq", params.after_seq.as_deref())?;
    let limit = number::<u64>("limit", params.limit.as_deref())?;
    let (events, unsealed) = queries::audit_log(&state.broker, &caller, after, limit).await?;
    let next_after_seq = events.last().map(|e| e.seq);
    let items = events.into_iter().map(AuditEventView::from).collect();
    Ok(HttpResponse::Ok().json(AuditPage { items, next_after_seq, unsealed }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ExportParams {
    /// Only events at or after this instant (RFC 3339, e.g. `2026-11-29T00:00:00Z`).
    #[param(format = DateTime)]
    since: Option<String>,
    /// Only events after this sequence number (to resume an export).
    #[param(pattern = "^[0-9]{1,18}$")]
    after_seq: Option<String>,
}

/// The audit log as JSON lines (`application/x-ndjson`), oldest first, streamed: one event per
/// line, in the shape of `GET /api/v1/audit` items (auditors and admins). What was committed
/// before the export began is in it; header `Elevate-Audit-Unsealed` says how many committed
/// events were still waiting to be chained (they come in a later export).
#[utoipa::path(get, path = "/api/v1/audit/export", params(ExportParams), tag = "audit",
    responses(
        (status = 200, content_type = "application/x-ndjson", body = AuditEventView, description = "one event per line"),
        SearchRefusals))]
#[get("/audit/export")]
pub async fn audit_export(
    state: web::Data<AppState>,
    caller: Caller,
    params: web::Query<ExportParams>,
) -> Result<HttpResponse, ApiError> {
    let after = number::<i64>("after_seq", params.after_seq.as_deref())?.unwrap_or(0);
    let since = params.since.as_deref();
    let (search, first, unsealed) =
        queries::start_export(&state.broker, &caller, since, after, super::audit_export::BATCH).await?;
    Ok(HttpResponse::Ok()
        .content_type(super::audit_export::CONTENT_TYPE)
        .insert_header((super::audit_export::UNSEALED, unsealed.to_string()))
        .streaming(super::audit_export::json_lines(state.into_inner(), caller, search, first)))
}

/// Prometheus metrics.
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let live = queries::live_counts(&state.broker).await?;
    Ok(HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(state.broker.metrics.render(&live)))
}

/// The process is up.
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// The database is reachable and every migration applied.
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    match queries::ready(&state.broker).await {
        Ok(true) => Ok(HttpResponse::Ok().json(serde_json::json!({ "status": "ready" }))),
        Ok(false) => Err(ApiError::Unavailable("database migrations are pending".into())),
        Err(_) => Err(ApiError::Unavailable("the database is unreachable".into())),
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Elevate", description = "Just-in-time privileged access to AWS roles through Entra ID groups."),
    paths(
        profiles, audit, audit_export,
        super::requests::create, super::requests::list, super::requests::get_one,
        super::requests::approve, super::requests::deny, super::requests::cancel_one,
        super::requests::revoke_one, super::requests::extend_one, super::requests::approvals,
        super::requests::review_one, super::requests::reviews, super::activity::get_activity,
    ),
    // Named by the refusals' `$ref`s (`problem::problems`).
    components(schemas(super::problem::Problem)),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
    }
}

/// The OpenAPI 3 document of this API.
#[get("/openapi.json")]
pub async fn openapi_document() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
