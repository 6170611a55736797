//! Scheduled access: the job that opens a scheduled request's window at its `start_at`
//! (enqueued by `grant::approve`).
use serde_json::json;

use super::{effects::EffectError, grant, notifications};
use crate::{
    broker::Broker,
    domain::{RequestEvent, RequestId, RequestStatus, format_millis, now},
    providers::directory::DirectoryError,
    store::{
        audit::{self, NewEvent, Subject},
        jobs::Job,
        requests::{self, Request},
    },
    telemetry::error_chain,
};

/// A scheduled request's window opens: its grant starts. What the approval rested on is asked
/// again first, since the window may open weeks later: the profile still maps to the same
/// group, and the requester is still the same directory object and still eligible; if not, the
/// request fails and nothing is granted. The window's end was fixed by the approval
/// (`start_at + duration`, see `grant::open_window`): a late start never lengthens it, and a start
/// later than the whole window ends it without granting anything. A request cancelled or
/// revoked meanwhile is left alone.
pub async fn open(broker: &Broker, job: &Job) -> Result<(), EffectError> {
    #[derive(serde::Deserialize)]
    struct Payload {
        request: RequestId,
    }
    let Payload { request: id } = serde_json::from_str(&job.payload)
        .map_err(|e| EffectError::permanent(format!("job {}: bad payload: {e}", job.id)))?;
    let Some(seen) = requests::get(broker.store.conn(), &id).await? else { return Ok(()) };
    let Some(start_at) = seen.start_at.filter(|_| seen.status == RequestStatus::Scheduled) else { return Ok(()) };
    let ends_at = start_at.saturating_add(seen.duration_seconds.saturating_mul(1000));
    let at = now();
    if at < start_at {
        // This replica's clock runs behind the one that claimed the job: never open early.
        let after = std::time::Duration::from_millis(u64::try_from(start_at - at).unwrap_or(0));
        return Err(EffectError::Retry { message: "the window has not opened yet".into(), after: Some(after) });
    }
    // Asked outside the transaction: a slow directory must not hold the request's lock.
    let refusal = if at < ends_at { still_allowed(broker, &seen).await? } else { None };
    let tx = broker.store.begin().await?;
    let Some(request) = requests::get_for_update(&tx, &id).await? else { return Ok(()) };
    if request.status != RequestStatus::Scheduled {
        return Ok(());
    }
    let subject = Subject::Request(&id);
    let window = json!({ "start_at": format_millis(start_at), "ends_at": format_millis(ends_at) });
    if let Some(reason) = refusal {
        let failed = Request { status_reason: Some(reason.clone()), ..requests::after(&request, RequestEvent::Fail)? };
        let failed = requests::update(&tx, &request, failed).await?;
        notifications::notify(broker, &tx, &failed, notifications::ended(RequestStatus::Failed), now()).await?;
        let details = json!({ "reason": reason, "window": window });
        audit::append(&tx, NewEvent::system("request.failed", subject, details)).await?;
    } else if now() >= ends_at {
        let expired = Request {
            status_reason: Some("its window passed before Elevate could open it".into()),
            ..requests::after(&request, RequestEvent::Expire)?
        };
        let expired = requests::update(&tx, &request, expired).await?;
        notifications::notify(broker, &tx, &expired, notifications::ended(RequestStatus::Expired), now()).await?;
        let details = json!({ "reason": "its window passed before Elevate could open it", "window": window });
        audit::append(&tx, NewEvent::system("request.expired", subject, details)).await?;
    } else {
        let approved = requests::update(&tx, &request, requests::after(&request, RequestEvent::Start)?).await?;
        grant::start(&tx, &approved).await?;
        audit::append(&tx, NewEvent::system("request.started", subject, window)).await?;
    }
    tx.commit().await?;
    broker.wake_worker();
    Ok(())
}

/// Why a scheduled request may no longer start (`None`: it may). A directory that cannot
/// answer now is asked again (the job is retried), never taken for a yes.
async fn still_allowed(broker: &Broker, request: &Request) -> Result<Option<String>, EffectError> {
    let Ok(profile) = broker.profile_of(request) else {
        return Ok(Some(format!("profile {} no longer exists", request.profile)));
    };
    if profile.group.as_str() != request.group_id {
        return Ok(Some(format!("profile {} now maps to another group than the one approved", profile.key)));
    }
    let user = match broker.directory.resolve_user(&request.requester).await {
        Ok(user) => user,
        Err(DirectoryError::NotFound(_)) => {
            return Ok(Some(format!("{} is no longer a user of the directory", request.requester)));
        }
        Err(e) => return Err(EffectError::Retry { message: error_chain(&e), after: None }),
    };
    if user.id != request.requester_id {
        return Ok(Some(format!("{} now names another directory object than the one approved", request.requester)));
    }
    let groups = broker
        .directory
        .groups_of(&user.id)
        .await
        .map_err(|e| EffectError::Retry { message: error_chain(&e), after: None })?;
    if !profile.eligible.include(&user.upn, &groups) {
        return Ok(Some(format!("{} is no longer eligible for profile {}", request.requester, profile.key)));
    }
    Ok(None)
}
