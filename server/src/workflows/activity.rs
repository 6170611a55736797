//! Reading what a grant's AWS role session did (`jobs::activity` collects it): for the
//! request's page, the break-glass review and `GET /api/v1/requests/{id}/activity`. Whoever
//! may see the request may see its activity.
use super::{Broker, WorkflowError, queries};
pub use crate::providers::aws::activity::Activity;
use crate::{
    domain::{Caller, RequestId, now},
    store::{activity, requests, requests::Request},
};

/// How far the collection of a grant's activity has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActivityStatus {
    /// Nothing will be collected (the reason says why).
    Unavailable,
    /// Not collected yet.
    Pending,
    /// Collected while the grant lasts, or before CloudTrail's delivery delay has passed since
    /// its end: more may come.
    Partial,
    /// Collected after the grant's end and the delivery delay: final.
    Complete,
}

impl ActivityStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unavailable => "unavailable",
            Self::Pending => "pending",
            Self::Partial => "partial",
            Self::Complete => "complete",
        }
    }
}

pub struct ActivityReport {
    pub status: ActivityStatus,
    /// Whether there is anything to say on a page: CloudTrail is read here, the profile grants
    /// an AWS role and access was granted.
    pub applies: bool,
    /// Why it is unavailable or pending, in words.
    pub reason: Option<String>,
    pub window_from: Option<i64>,
    pub window_to: Option<i64>,
    pub collected_at: Option<i64>,
    pub activity: Option<Activity>,
    /// Why the last attempt could not read the logs; it is tried again.
    pub last_error: Option<String>,
    pub failed_at: Option<i64>,
}

impl ActivityReport {
    fn without(status: ActivityStatus, applies: bool, reason: &str) -> Self {
        Self {
            status,
            applies,
            reason: Some(reason.to_owned()),
            window_from: None,
            window_to: None,
            collected_at: None,
            activity: None,
            last_error: None,
            failed_at: None,
        }
    }
}

/// The activity of a request's grant, for a caller who may see the request.
pub async fn of_request(broker: &Broker, caller: &Caller, id: &str) -> Result<ActivityReport, WorkflowError> {
    let id = RequestId::parse(id)?;
    match requests::get(broker.store.conn(), &id).await? {
        Some(r) if queries::may_see(broker, caller, &r).await? => report(broker, &r).await,
        _ => Err(WorkflowError::NotFound(format!("request {id}"))),
    }
}

/// The activity of a request already shown to the caller.
pub async fn report(broker: &Broker, request: &Request) -> Result<ActivityReport, WorkflowError> {
    use ActivityStatus::*;
    let row = activity::of_request(broker.store.conn(), &request.id).await?;
    let Some(row) = row else {
        let reads = broker.aws.as_ref().is_some_and(|aws| aws.activity.is_some());
        let maps_role = broker.profile_of(request).is_ok_and(|p| p.aws_role_arn.is_some());
        // The first collection is due `collect_every` after the grant became active; a grant
        // that is well past that without one began before `[aws.activity]` was configured.
        let first_due = broker
            .aws
            .as_ref()
            .and_then(|aws| aws.activity.as_ref())
            .map(|logs| logs.collect_every_ms())
            .zip(request.activated_at)
            .map(|(every, at)| at.saturating_add(every.saturating_mul(2)).saturating_add(60_000));
        let (status, applies, reason) = match (reads, maps_role, first_due) {
            (false, _, _) => {
                (Unavailable, false, "Elevate does not read CloudTrail here ([aws.activity] is not configured)")
            }
            (true, false, _) => (Unavailable, false, "the profile grants no AWS role"),
            (true, true, None) => (Unavailable, false, "access was not granted"),
            (true, true, Some(due)) if due < now() => {
                (Unavailable, true, "not collected: the grant began before [aws.activity] was configured")
            }
            (true, true, Some(_)) => (Pending, true, "the first collection is not due yet"),
        };
        return Ok(ActivityReport::without(status, applies, reason));
    };
    let activity = row.summary.as_deref().and_then(|s| serde_json::from_str(s).ok());
    let status = match (&activity, row.complete) {
        (None, _) => Pending,
        (Some(_), false) => Partial,
        (Some(_), true) => Complete,
    };
    Ok(ActivityReport {
        status,
        applies: true,
        reason: match status {
            Partial => Some("more may come: CloudTrail delivers its logs minutes after the calls".to_owned()),
            Pending => Some("not collected yet".to_owned()),
            _ => None,
        },
        window_from: Some(row.window_from),
        window_to: Some(row.window_to),
        collected_at: row.collected_at,
        activity,
        last_error: row.last_error,
        failed_at: row.failed_at,
    })
}
