//! Extending an active grant. The extension is a request of its own, linked to the grant it
//! extends and ending at a fixed instant: it needs approval exactly when the profile does,
//! and while both are active the membership stays until the last one ends.
use super::{
    Broker, WorkflowError,
    authz::{self, Action},
    request_access,
};
use crate::{
    domain::{Caller, InvalidValue, RequestId, RequestStatus},
    store::{requests, requests::Request},
};

pub async fn extend(
    broker: &Broker,
    caller: &Caller,
    id: &str,
    duration_seconds: i64,
    justification: Option<&str>,
) -> Result<Request, WorkflowError> {
    let id = RequestId::parse(id)?;
    let target = requests::get(broker.store.conn(), &id)
        .await?
        .ok_or_else(|| WorkflowError::NotFound(format!("request {id}")))?;
    authz::check(broker, caller, Action::Extend, Some(&target)).await?;
    if target.status != RequestStatus::Active {
        return Err(WorkflowError::Conflict(format!("a request that is {} cannot be extended", target.status)));
    }
    let profile = broker.profile_of(&target)?.clone();
    if duration_seconds < 1 {
        return Err(InvalidValue::new("duration_seconds", "must be at least 1 second").into());
    }
    let (Some(expires_at), Some(start)) = (target.expires_at, target.coverage_start.or(target.activated_at)) else {
        return Err(WorkflowError::Conflict("the grant has not started yet".into()));
    };
    let until = duration_seconds
        .checked_mul(1000)
        .and_then(|d| expires_at.checked_add(d))
        .ok_or_else(|| InvalidValue::new("duration_seconds", "is far too large"))?;
    let max = profile.max_duration.as_millis();
    if until - start > max {
        return Err(InvalidValue::new(
            "duration_seconds",
            format!(
                "the grant would last {} seconds in all; profile {} allows at most {} (at most {} more)",
                (until - start) / 1000,
                profile.key,
                max / 1000,
                (max - (expires_at - start)).max(0) / 1000
            ),
        )
        .into());
    }
    let justification = justification.or(target.justification.as_deref());
    let (justification, ticket) = request_access::check_texts(&profile, justification, target.ticket.as_deref())?;
    let requester = request_access::requester_for(caller, Some(&target.requester))?;
    let user = request_access::resolve(broker, &requester).await?;
    let extension = request_access::Extension { extends: target.id.clone(), until, coverage_start: start };
    let kind = request_access::Kind::Extend(extension);
    request_access::file(broker, caller, &user, &profile, duration_seconds, justification, ticket, kind).await
}
