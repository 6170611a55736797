//! Extending an active grant. The extension is a request of its own, linked to the grant it
//! extends and ending at a fixed instant: it needs approval exactly when the profile does,
//! and while both are active the membership stays until the last one ends.
use super::{
    Broker, WorkflowError,
    authz::{self, Action},
    request_access,
};
use crate::{
    domain::{Caller, GrantDuration, HumanDuration, InvalidValue, RequestId, RequestStatus},
    store::requests,
};

pub async fn extend(
    broker: &Broker,
    caller: &Caller,
    id: &str,
    duration_seconds: i64,
    justification: Option<&str>,
) -> Result<request_access::Filed, WorkflowError> {
    let id = RequestId::parse(id)?;
    let target = requests::get(broker.store.conn(), &id)
        .await?
        .ok_or_else(|| WorkflowError::NotFound(format!("request {id}")))?;
    authz::check(broker, caller, Action::Extend, Some(&target)).await?;
    if target.status != RequestStatus::Active {
        return Err(WorkflowError::Conflict(format!("a request that is {} cannot be extended", target.status)));
    }
    let profile = broker.profile_of(&target)?.clone();
    let (Some(expires_at), Some(start)) = (target.expires_at, target.coverage_start.or(target.activated_at)) else {
        return Err(WorkflowError::Conflict("the grant has not started yet".into()));
    };
    // Never past the profile's longest grant, counted from the chain's start.
    let (max, so_far) = (profile.max_duration.as_millis(), expires_at - start);
    let more = GrantDuration::within(duration_seconds, HumanDuration::from_secs(1), profile.max_duration)
        .filter(|d| so_far + d.as_millis() <= max)
        .ok_or_else(|| {
            InvalidValue::new(
                "duration_seconds",
                format!(
                    "must be between 1 and {} seconds: profile {} allows at most {} seconds in all, {} of them already granted",
                    (max - so_far).max(0) / 1000,
                    profile.key,
                    max / 1000,
                    so_far / 1000
                ),
            )
        })?;
    let until = expires_at + more.as_millis();
    let justification = justification.or(target.justification.as_deref());
    let (justification, ticket) = request_access::check_texts(&profile, justification, target.ticket.as_deref())?;
    let requester = request_access::requester_for(caller, Some(&target.requester))?;
    let (user, approvers) = request_access::resolve_with_approvers(broker, &profile, &requester).await?;
    let extension = request_access::Extension { extends: target.id.clone(), until, coverage_start: start };
    let kind = request_access::Kind::Extend(extension);
    let checked = request_access::Checked { profile, kind, user, approvers, duration: more, justification, ticket };
    request_access::file(broker, caller, checked).await
}
