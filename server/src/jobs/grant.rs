//! A grant's transitions, each written with its request's, its audit event and the membership
//! syncs it calls for, in the caller's transaction. What a transition means for the
//! directory is never decided here: that is `membership::sync`'s job, from the state alone.
use sea_orm::{ConnectionTrait, DatabaseTransaction};
use serde_json::json;

use super::{JobKind, identity_center_jobs, notifications, sync};
use crate::{
    broker::Broker,
    domain::{GrantId, RequestEvent, RequestStatus, format_millis, now},
    notify::Notice,
    store::{
        StoreError,
        audit::{self, NewEvent, Subject},
        grants::{self, Grant, GrantState},
        jobs::{self, NewJob},
        requests::{self, Request},
    },
};

/// What ending a grant did to its membership (`grants.end_outcome`, the API's
/// `membership_outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndOutcome {
    /// Elevate removed the membership.
    Removed,
    /// The user was a member before: the membership stays.
    KeptStanding,
    /// Another active grant of the user covers the same group.
    KeptOverlap,
    /// The grant ended before Elevate tried to add the membership.
    NotAdded,
    /// The group no longer exists, so neither does the membership.
    GroupMissing,
}

impl EndOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Removed => "removed",
            Self::KeptStanding => "kept_standing",
            Self::KeptOverlap => "kept_overlap",
            Self::NotAdded => "not_added",
            Self::GroupMissing => "group_missing",
        }
    }

    /// The audit event's action and the reason it gives.
    fn audited(self) -> (&'static str, &'static str) {
        match self {
            Self::Removed => ("membership.removed", "the grant ended"),
            Self::KeptStanding => {
                ("membership.kept", "the user was a member before the grant: standing membership left in place")
            }
            Self::KeptOverlap => ("membership.kept", "another active grant of the user covers the same group"),
            Self::GroupMissing => ("membership.unchanged", "the group no longer exists in the directory"),
            Self::NotAdded => ("membership.unchanged", "the grant ended before its membership was added"),
        }
    }
}

/// Moves `g` to `after`, or says the stored grant was no longer in `g`'s state.
async fn write(c: &impl ConnectionTrait, g: &Grant, after: Grant) -> Result<Grant, StoreError> {
    if grants::transition(c, g.state, &after).await? {
        Ok(after)
    } else {
        Err(StoreError::Corrupt(format!("grant {} left state {:?} under a locked update", g.id, g.state)))
    }
}

/// The request got every approval it needs: its grant starts now (and is returned with it),
/// or, when its window opens later, it waits as `scheduled` for a job due at `start_at`
/// (`scheduled::open`).
pub async fn approve(c: &impl ConnectionTrait, request: &Request) -> Result<(Request, Option<Grant>), StoreError> {
    let Some(start_at) = request.start_at.filter(|start| *start > now()) else {
        let approved = requests::update(c, request, requests::after(request, RequestEvent::Approve)?).await?;
        let grant = start(c, &approved).await?;
        return Ok((approved, Some(grant)));
    };
    let scheduled = requests::update(c, request, requests::after(request, RequestEvent::Schedule)?).await?;
    let job = NewJob {
        kind: JobKind::StartScheduled,
        grant_id: None,
        lock_key: None,
        payload: json!({ "request": request.id }),
        due_at: start_at,
    };
    jobs::enqueue(c, job).await?;
    Ok((scheduled, None))
}

/// The request was approved: its grant starts, and the membership is synced.
pub async fn start(c: &impl ConnectionTrait, request: &Request) -> Result<Grant, StoreError> {
    let grant = Grant {
        id: GrantId::new(),
        request_id: request.id.clone(),
        user_id: request.requester_id.clone(),
        upn: request.requester.clone(),
        group_id: request.group_id.clone(),
        state: GrantState::Activating,
        standing: None,
        activated_at: None,
        expires_at: None,
        ended_at: None,
        end_outcome: None,
        ic_ended_at: None,
    };
    grants::insert(c, grant.clone()).await?;
    sync::schedule(c, &grant.user_id, &grant.group_id, now()).await?;
    Ok(grant)
}

/// The grant is over (revoked): it stops wanting the membership, and a sync decides what that
/// means for the directory. A grant that ended already stays as it is.
pub async fn end(c: &impl ConnectionTrait, g: Grant) -> Result<Grant, StoreError> {
    let before = g.state;
    let g = stop_wanting(c, g).await?;
    if g.state != before {
        sync::schedule(c, &g.user_id, &g.group_id, now()).await?;
    }
    Ok(g)
}

/// `end` without scheduling a sync: for the sync itself (expired, failed), which passes again
/// once this is committed.
async fn stop_wanting(c: &impl ConnectionTrait, g: Grant) -> Result<Grant, StoreError> {
    if !GrantState::WANTING.contains(&g.state) {
        return Ok(g);
    }
    let g = write(c, &g, Grant { state: GrantState::Ending, ..g.clone() }).await?;
    jobs::cancel_pending(c, &g.id, JobKind::IdentityCenterEnsure).await?;
    Ok(g)
}

/// Fixes the grant's window at the first attempt to add its membership (`at`), before the
/// directory is called: however long the add takes, or a crash after it, access ends at
/// `at + duration` (an extension's end is fixed at filing, a scheduled one's at
/// `start_at + duration`). A sync is due at the end.
pub async fn open_window(tx: &DatabaseTransaction, g: &Grant, at: i64) -> Result<(), StoreError> {
    let Some(request) = requests::get_for_update(tx, &g.request_id).await? else { return Ok(()) };
    // A scheduled window ends where it was approved to, however late it opened.
    let opens = request.start_at.unwrap_or(at);
    let expires_at = match request.extends_until {
        Some(until) => until,
        None => request.duration_seconds.checked_mul(1000).and_then(|d| opens.checked_add(d)).unwrap_or(i64::MAX),
    };
    write(tx, g, Grant { activated_at: Some(at), expires_at: Some(expires_at), ..g.clone() }).await?;
    let windowed = Request {
        expires_at: Some(expires_at),
        coverage_start: Some(request.coverage_start.unwrap_or(at)),
        ..request.clone()
    };
    requests::update(tx, &request, windowed).await?;
    sync::schedule(tx, &g.user_id, &g.group_id, expires_at).await
}

/// The directory confirmed the membership: the request becomes active, with the window fixed
/// at the first attempt. Returns false when the request was revoked meanwhile.
pub async fn confirm(
    broker: &Broker,
    tx: &DatabaseTransaction,
    g: &Grant,
    standing: bool,
    at: i64,
) -> Result<bool, StoreError> {
    let Some(request) = requests::get_for_update(tx, &g.request_id).await? else { return Ok(false) };
    let (Some(activated_at), Some(expires_at)) = (g.activated_at, g.expires_at) else {
        return Err(StoreError::Corrupt(format!("grant {} confirmed without a window", g.id)));
    };
    if request.status != RequestStatus::Approved {
        return Ok(false);
    }
    let approved_at = request.updated_at;
    let active = Request {
        activated_at: Some(activated_at),
        expires_at: Some(expires_at),
        ..requests::after(&request, RequestEvent::Activate)?
    };
    let active = requests::update(tx, &request, active).await?;
    let g = write(tx, g, Grant { state: GrantState::Active, standing: Some(standing), ..g.clone() }).await?;
    notifications::notify(broker, tx, &active, Notice::Activated { expires_at }, at).await?;
    let warn_at = expires_at.saturating_sub(broker.notifier.expiry_warning_ms);
    if warn_at > at {
        notifications::notify(broker, tx, &active, Notice::ExpiringSoon { expires_at }, warn_at).await?;
    }
    if broker.directory.provisions_on_demand() {
        provision(tx, &g).await?;
    }
    identity_center_jobs::schedule(broker, tx, &g, &request.profile, JobKind::IdentityCenterEnsure).await?;
    super::activity::schedule(broker, tx, &g, &request.profile).await?;
    let details = json!({
        "group": g.group_id, "user": g.upn, "grant": g.id, "standing": standing,
        "activated_at": format_millis(activated_at), "expires_at": format_millis(expires_at),
    });
    audit::append(tx, NewEvent::system("grant.activated", Subject::Request(&g.request_id), details)).await?;
    broker.metrics.observe_grant_lag(approved_at, at);
    Ok(true)
}

/// The grant's time is up: its request expires, extensions still waiting for approval lose
/// their purpose, and the grant stops wanting the membership. With `removed` (the sync has
/// already made the directory match: what that took, and when) the grant ends at once, in
/// the same writes; without, it is left ending for a sync to settle.
/// Returns the grant as it is now.
pub async fn expire(
    broker: &Broker,
    tx: &DatabaseTransaction,
    g: &Grant,
    removed: Option<(EndOutcome, i64)>,
) -> Result<Grant, StoreError> {
    let request = match requests::get_ending_for_update(tx, &g.request_id).await? {
        Some((request, extensions)) if matches!(request.status, RequestStatus::Approved | RequestStatus::Active) => {
            let expired = Request {
                ended_at: removed.map(|(_, at)| at).or(request.ended_at),
                ..requests::after(&request, RequestEvent::Expire)?
            };
            let expired = requests::update(tx, &request, expired).await?;
            notifications::notify(broker, tx, &expired, notifications::ended(RequestStatus::Expired), now()).await?;
            cancel_extensions(tx, extensions, "the grant it extends expired").await?;
            Some(expired)
        }
        other => other.map(|(request, _)| request),
    };
    let details = json!({
        "group": g.group_id, "user": g.upn, "grant": g.id,
        "expires_at": g.expires_at.map(format_millis),
    });
    let expired = NewEvent::system("grant.expired", Subject::Request(&g.request_id), details);
    match removed {
        Some((outcome, at)) => finish(broker, tx, g, request.as_ref(), outcome, at, Some(expired)).await,
        None => {
            let g = stop_wanting(tx, g.clone()).await?;
            audit::append(tx, expired).await?;
            Ok(g)
        }
    }
}

/// The directory refused the membership for good: the request fails, and whatever may have
/// landed is taken back by the sync.
pub async fn fail(broker: &Broker, tx: &DatabaseTransaction, g: &Grant, error: &str) -> Result<(), StoreError> {
    let Some((request, extensions)) = requests::get_ending_for_update(tx, &g.request_id).await? else { return Ok(()) };
    if request.status == RequestStatus::Approved {
        let failed = Request {
            status_reason: Some(format!("the directory refused the membership: {error}")),
            ..requests::after(&request, RequestEvent::Fail)?
        };
        let failed = requests::update(tx, &request, failed).await?;
        notifications::notify(broker, tx, &failed, notifications::ended(RequestStatus::Failed), now()).await?;
        cancel_extensions(tx, extensions, "the grant it extends failed").await?;
    }
    let g = stop_wanting(tx, g.clone()).await?;
    let details = json!({ "group": g.group_id, "user": g.upn, "grant": g.id, "error": error });
    audit::append(tx, NewEvent::system("grant.failed", Subject::Request(&g.request_id), details)).await?;
    Ok(())
}

/// The sync has carried out the end of an ending grant: record what it did.
pub async fn settle(
    broker: &Broker,
    tx: &DatabaseTransaction,
    g: &Grant,
    outcome: EndOutcome,
    at: i64,
) -> Result<(), StoreError> {
    let request = requests::get(tx, &g.request_id).await?;
    finish(broker, tx, g, request.as_ref(), outcome, at, None).await.map(drop)
}

/// Ends `g` (ending, or still wanting when its end and the directory's change are recorded
/// together) with what the sync did, and `also` in the audit log before it. With `Removed`,
/// the consequences of "was a member, is not any more" follow: live AWS sessions revoked,
/// Identity Center told now rather than at SCIM's next cycle.
async fn finish(
    broker: &Broker,
    tx: &DatabaseTransaction,
    g: &Grant,
    request: Option<&Request>,
    outcome: EndOutcome,
    at: i64,
    also: Option<NewEvent>,
) -> Result<Grant, StoreError> {
    // An ensure still waiting would find the grant ended and do nothing; cancelled, it is
    // not claimed at all. Only profiles mirrored to Identity Center have one.
    if GrantState::WANTING.contains(&g.state)
        && request.is_none_or(|r| identity_center_jobs::applies(broker, &r.profile))
    {
        jobs::cancel_pending(tx, &g.id, JobKind::IdentityCenterEnsure).await?;
    }
    let ended = Grant {
        state: GrantState::Ended,
        ended_at: Some(at),
        end_outcome: Some(outcome.as_str().to_owned()),
        ..g.clone()
    };
    let g = write(tx, g, ended).await?;
    if let Some(request) = request
        && request.ended_at != Some(at)
    {
        requests::set_ended(tx, &g.request_id, at).await?;
    }
    if outcome == EndOutcome::Removed {
        if broker.directory.provisions_on_demand() {
            provision(tx, &g).await?;
        }
        if let Some(request) = request {
            super::aws_jobs::schedule_revocation(broker, tx, &g, &request.profile, at).await?;
            identity_center_jobs::schedule(broker, tx, &g, &request.profile, JobKind::IdentityCenterRemove).await?;
            broker.metrics.observe_revocation_lag("entra", request.expires_at, at);
        }
    }
    let (action, reason) = outcome.audited();
    let details =
        json!({ "group": g.group_id, "user": g.upn, "grant": g.id, "outcome": outcome.as_str(), "reason": reason });
    let ended = NewEvent::system(action, Subject::Request(&g.request_id), details);
    audit::append_all(tx, also.into_iter().chain([ended]).collect()).await?;
    Ok(g)
}

/// Pending extensions of a request that ended (`requests::get_ending_for_update`): cancelled,
/// since what they extend is gone (approving one later would open a fresh window).
async fn cancel_extensions(c: &impl ConnectionTrait, extensions: Vec<Request>, reason: &str) -> Result<(), StoreError> {
    for ext in extensions {
        let cancelled = requests::after(&ext, RequestEvent::Cancel)?;
        requests::update(c, &ext, cancelled).await?;
        audit::append(c, NewEvent::system("request.cancelled", Subject::Request(&ext.id), json!({ "reason": reason })))
            .await?;
    }
    Ok(())
}

/// Schedules a push of this membership's change to the provisioned app, when there is one.
pub async fn provision(c: &impl ConnectionTrait, grant: &Grant) -> Result<(), StoreError> {
    let job = NewJob {
        kind: JobKind::Provision,
        grant_id: Some(grant.id.clone()),
        lock_key: Some(sync::key(&grant.user_id, &grant.group_id)),
        payload: json!({ "grant": grant.id, "request": grant.request_id }),
        due_at: now(),
    };
    jobs::enqueue(c, job).await
}
