//! `GET /api/v1/requests/{id}/activity`: what the grant's AWS role session did, from CloudTrail.
use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::{AppState, problem::ApiError, problem::ItemRefusals};
use crate::{
    domain::{Caller, format_millis},
    workflows::activity::{self, Activity, ActivityReport},
};

#[derive(Debug, Serialize, ToSchema)]
pub struct ActivityView {
    /// `unavailable` (never collected: `reason` says why), `pending` (not collected yet),
    /// `partial` (more may come: the grant lasts, or CloudTrail's delivery delay since its end
    /// has not passed) or `complete`.
    #[schema(pattern = "^(unavailable|pending|partial|complete)$")]
    pub status: String,
    pub reason: Option<String>,
    /// The window read: the grant's start, and its end (or the last collection's time).
    pub window_from: Option<String>,
    pub window_to: Option<String>,
    pub collected_at: Option<String>,
    /// Why the last attempt could not read the logs (it is tried again), and when.
    pub last_error: Option<String>,
    pub failed_at: Option<String>,
    pub summary: Option<SummaryView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SummaryView {
    pub calls: u64,
    pub reads: u64,
    pub writes: u64,
    pub console_sign_ins: u64,
    /// Writes to IAM, Organizations, CloudTrail or a KMS key policy.
    pub sensitive_writes: u64,
    pub first_call_at: Option<String>,
    pub last_call_at: Option<String>,
    /// By calls, most first.
    pub actions: Vec<ActionView>,
    pub errors: Vec<CountView>,
    pub source_ips: Vec<CountView>,
    /// Minutes with calls: `key` is the minute's start.
    pub calls_per_minute: Vec<CountView>,
    /// The write calls, each the CloudTrail record as logged, up to the configured bound.
    #[schema(value_type = Vec<Object>)]
    pub write_records: Vec<serde_json::Value>,
    /// Write calls beyond that bound, counted only.
    pub write_records_omitted: u64,
    pub files_read: u64,
    /// Log files that were not CloudTrail JSON, skipped.
    pub unreadable_files: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ActionView {
    pub service: String,
    pub action: String,
    pub calls: u64,
    pub errors: u64,
    pub read_only: bool,
    pub sensitive: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CountView {
    pub key: String,
    pub calls: u64,
}

fn counts<K: ToString>(map: impl IntoIterator<Item = (K, u64)>) -> Vec<CountView> {
    map.into_iter().map(|(k, calls)| CountView { key: k.to_string(), calls }).collect()
}

impl From<Activity> for SummaryView {
    fn from(a: Activity) -> Self {
        Self {
            sensitive_writes: a.sensitive_writes(),
            calls: a.calls,
            reads: a.reads,
            writes: a.writes,
            console_sign_ins: a.console_sign_ins,
            first_call_at: a.first_call_at.map(format_millis),
            last_call_at: a.last_call_at.map(format_millis),
            actions: a
                .actions
                .into_iter()
                .map(|x| ActionView {
                    service: x.service,
                    action: x.action,
                    calls: x.calls,
                    errors: x.errors,
                    read_only: x.read_only,
                    sensitive: x.sensitive,
                })
                .collect(),
            errors: counts(a.errors),
            source_ips: counts(a.source_ips),
            calls_per_minute: counts(a.calls_per_minute.into_iter().map(|(m, n)| (format_millis(m), n))),
            write_records: a.write_records,
            write_records_omitted: a.write_records_omitted,
            files_read: a.files_read,
            unreadable_files: a.unreadable_files,
        }
    }
}

impl From<ActivityReport> for ActivityView {
    fn from(r: ActivityReport) -> Self {
        Self {
            status: r.status.as_str().to_owned(),
            reason: r.reason,
            window_from: r.window_from.map(format_millis),
            window_to: r.window_to.map(format_millis),
            collected_at: r.collected_at.map(format_millis),
            last_error: r.last_error,
            failed_at: r.failed_at.map(format_millis),
            summary: r.activity.map(SummaryView::from),
        }
    }
}

/// What the request's grant did in AWS while it lasted, from the CloudTrail trail: the calls
/// of its role session inside its window (whoever may see the request).
#[utoipa::path(get, path = "/api/v1/requests/{id}/activity", params(("id" = uuid::Uuid, Path, description = "The request's id")), tag = "requests",
    responses((status = 200, body = ActivityView), ItemRefusals))]
#[get("/requests/{id}/activity")]
pub async fn get_activity(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let report = activity::of_request(&state.broker, &caller, &id).await?;
    Ok(HttpResponse::Ok().json(ActivityView::from(report)))
}
