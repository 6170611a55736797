//! What each job kind does. Every handler is idempotent: it may run again after a crash at
//! any point and ends in the same state, so the worker can retry blindly.
use std::time::Duration;

use sea_orm::DatabaseTransaction;
use serde_json::json;

use super::{aws_jobs, grant};
use crate::{
    domain::{GroupId, RequestEvent, RequestStatus, now},
    notify::Notice,
    providers::directory::DirectoryError,
    store::{
        StoreError, audit,
        audit::NewEvent,
        grants::{self, ACTIVATING, ACTIVE, ENDED, ENDING, Grant},
        jobs::{self, Job},
        requests,
    },
    workflows::Broker,
};

#[derive(Debug, thiserror::Error)]
pub enum EffectError {
    #[error("{message}")]
    Retry { message: String, after: Option<Duration> },
    #[error("{0}")]
    Permanent(String),
    #[error("storage failed: {0}")]
    Store(#[from] StoreError),
}

impl From<sea_orm::DbErr> for EffectError {
    fn from(e: sea_orm::DbErr) -> Self {
        Self::Store(e.into())
    }
}

impl From<DirectoryError> for EffectError {
    fn from(e: DirectoryError) -> Self {
        match e {
            DirectoryError::Transient { message, retry_after } => Self::Retry { message, after: retry_after },
            other => Self::Permanent(other.to_string()),
        }
    }
}

async fn grant_of(broker: &Broker, job: &Job) -> Result<Option<Grant>, EffectError> {
    let Some(id) = &job.grant_id else {
        return Err(EffectError::Permanent(format!("job {} names no grant", job.id)));
    };
    Ok(grants::get(broker.store.conn(), id).await?)
}

fn group_of(grant: &Grant) -> Result<GroupId, EffectError> {
    GroupId::parse(&grant.group_id).map_err(|e| EffectError::Permanent(e.to_string()))
}

/// Adds the membership and starts the grant's clock.
pub async fn activate(broker: &Broker, job: &Job) -> Result<(), EffectError> {
    let Some(mut g) = grant_of(broker, job).await? else { return Ok(()) };
    if g.state != ACTIVATING {
        return Ok(());
    }
    let group = group_of(&g)?;
    if g.standing.is_none() {
        // Asked once, before Elevate's first add, and remembered: after a retried add the
        // user is a member because of us, which must not be mistaken for standing access.
        let member = broker.directory.is_member(&group, &g.user_id).await?;
        let holders = grants::holding(broker.store.conn(), &g.user_id, &g.group_id, &g.id).await?;
        let standing = match holders.first() {
            Some(other) => other.standing.unwrap_or(false),
            None => member,
        };
        let tx = broker.store.begin().await?;
        g.standing = Some(standing);
        g = grants::save(&tx, g).await?;
        if standing && holders.is_empty() {
            let details = json!({ "group": g.group_id, "user": g.upn, "grant": g.id });
            audit::append(
                &tx,
                NewEvent::new("system", "membership.standing_found", format!("request:{}", g.request_id), details),
            )
            .await?;
        }
        tx.commit().await?;
    }
    broker.directory.add_member(&group, &g.user_id).await?;

    let tx = broker.store.begin().await?;
    let Some(request) = requests::get_for_update(&tx, &g.request_id).await? else {
        return Err(EffectError::Permanent(format!("grant {} has no request", g.id)));
    };
    let Some(mut g) = grants::get(&tx, &g.id).await? else { return Ok(()) };
    if g.state != ACTIVATING || request.status != RequestStatus::Approved.as_str() {
        // Revoked while we were adding: the removal job scheduled by the revoke follows.
        return Ok(());
    }
    let at = now();
    let expires_at = request.extends_until.unwrap_or(at + request.duration_seconds * 1000);
    let mut active = request.clone();
    active.status = RequestStatus::Approved
        .on(RequestEvent::Activate)
        .map_err(|e| EffectError::Permanent(e.to_string()))?
        .as_str()
        .to_owned();
    active.activated_at = Some(at);
    active.expires_at = Some(expires_at);
    active.coverage_start = Some(request.coverage_start.unwrap_or(at));
    let active = requests::update(&tx, &request, active).await?;
    super::notifications::notify(broker, &tx, &active, Notice::Activated { expires_at }, at).await?;
    let warn_at = expires_at - broker.notifier.expiry_warning_ms;
    if warn_at > at {
        super::notifications::notify(broker, &tx, &active, Notice::ExpiringSoon { expires_at }, warn_at).await?;
    }
    g.state = ACTIVE.to_owned();
    g.activated_at = Some(at);
    g.expires_at = Some(expires_at);
    let g = grants::save(&tx, g).await?;
    jobs::enqueue(&tx, grant::job_for(super::EXPIRE, &g, expires_at)).await?;
    if broker.directory.provisions_on_demand() {
        grant::provision(&tx, &g).await?;
    }
    super::identity_center_jobs::schedule(broker, &tx, &g, &request.profile, super::IC_ENSURE).await?;
    let details = json!({
        "group": g.group_id, "user": g.upn, "grant": g.id, "standing": g.standing,
        "expires_at": crate::domain::format_millis(expires_at),
    });
    audit::append(&tx, NewEvent::new("system", "grant.activated", format!("request:{}", g.request_id), details))
        .await?;
    tx.commit().await?;
    // The activation job was written in the transaction of the final approval.
    broker.metrics.observe_grant_lag(job.created_at, at);
    broker.wake_worker();
    Ok(())
}

/// Ends an active grant whose time is up.
pub async fn expire(broker: &Broker, job: &Job) -> Result<(), EffectError> {
    let Some(g) = grant_of(broker, job).await? else { return Ok(()) };
    let tx = broker.store.begin().await?;
    let Some(request) = requests::get_for_update(&tx, &g.request_id).await? else { return Ok(()) };
    let Some(g) = grants::get(&tx, &g.id).await? else { return Ok(()) };
    if g.state != ACTIVE || request.status != RequestStatus::Active.as_str() {
        return Ok(());
    }
    let expires_at = request.expires_at.unwrap_or_default();
    if expires_at > now() {
        return Err(EffectError::Retry {
            message: "not yet due".into(),
            after: Some(Duration::from_millis(u64::try_from(expires_at - now()).unwrap_or(0))),
        });
    }
    let mut expired = request.clone();
    expired.status = RequestStatus::Active
        .on(RequestEvent::Expire)
        .map_err(|e| EffectError::Permanent(e.to_string()))?
        .as_str()
        .to_owned();
    let expired = requests::update(&tx, &request, expired).await?;
    let ended = super::notifications::ended(RequestStatus::Expired);
    super::notifications::notify(broker, &tx, &expired, ended, now()).await?;
    let g = grant::end(&tx, g).await?;
    let details = json!({ "group": g.group_id, "user": g.upn, "grant": g.id, "expires_at": crate::domain::format_millis(expires_at) });
    audit::append(&tx, NewEvent::new("system", "grant.expired", format!("request:{}", g.request_id), details)).await?;
    tx.commit().await?;
    broker.wake_worker();
    Ok(())
}

/// Removes the membership of an ended grant, unless the user held it before Elevate added
/// them (standing) or another grant of theirs still covers the same group (overlap).
pub async fn remove(broker: &Broker, job: &Job) -> Result<(), EffectError> {
    let Some(g) = grant_of(broker, job).await? else { return Ok(()) };
    if g.state != ENDING {
        return Ok(());
    }
    let covering = grants::covering(broker.store.conn(), &g.user_id, &g.group_id, &g.id).await?;
    let outcome = match g.standing {
        None => "not_added",
        Some(true) => "kept_standing",
        Some(false) if !covering.is_empty() => "kept_overlap",
        Some(false) => match broker.directory.remove_member(&group_of(&g)?, &g.user_id).await {
            Ok(()) => "removed",
            // No group, so no membership left to remove: done, and said in the audit log.
            Err(DirectoryError::NotFound(_)) => "group_missing",
            Err(e) => return Err(e.into()),
        },
    };
    let tx = broker.store.begin().await?;
    let Some(mut g) = grants::get(&tx, &g.id).await? else { return Ok(()) };
    if g.state != ENDING {
        return Ok(());
    }
    let at = now();
    // A covering grant that has not asked the directory yet would find the user a member
    // and take that for standing access: tell it whose membership it is.
    for mut other in covering.into_iter().filter(|o| o.standing.is_none()) {
        other.standing = g.standing;
        grants::save(&tx, other).await?;
    }
    g.state = ENDED.to_owned();
    g.ended_at = Some(at);
    g.end_outcome = Some(outcome.to_owned());
    let g = grants::save(&tx, g).await?;
    requests::set_ended(&tx, &g.request_id, at).await?;
    if outcome == "removed" && broker.directory.provisions_on_demand() {
        grant::provision(&tx, &g).await?;
    }
    if outcome == "removed" {
        aws_jobs::schedule_revocation(broker, &tx, &g, at).await?;
        if let Some(request) = requests::get(&tx, &g.request_id).await? {
            super::identity_center_jobs::schedule(broker, &tx, &g, &request.profile, super::IC_REMOVE).await?;
            broker.metrics.observe_revocation_lag("entra", request.expires_at, at);
        }
    }
    let (action, why) = match outcome {
        "removed" => ("membership.removed", "the grant ended"),
        "kept_standing" => {
            ("membership.kept", "the user was a member before the grant: standing membership left in place")
        }
        "kept_overlap" => ("membership.kept", "another active grant of the user covers the same group"),
        "group_missing" => ("membership.unchanged", "the group no longer exists in the directory"),
        _ => ("membership.unchanged", "the grant ended before its membership was added"),
    };
    let details = json!({ "group": g.group_id, "user": g.upn, "grant": g.id, "outcome": outcome, "reason": why });
    audit::append(&tx, NewEvent::new("system", action, format!("request:{}", g.request_id), details)).await?;
    tx.commit().await?;
    Ok(())
}

/// The activation will not succeed: the request fails and anything that may have landed is
/// taken back. Runs in the transaction that marks the job failed.
pub async fn fail_activation(
    broker: &Broker,
    tx: &DatabaseTransaction,
    job: &Job,
    error: &str,
) -> Result<(), EffectError> {
    let Some(grant_id) = &job.grant_id else { return Ok(()) };
    let Some(g) = grants::get(tx, grant_id).await? else { return Ok(()) };
    let Some(request) = requests::get_for_update(tx, &g.request_id).await? else { return Ok(()) };
    if g.state != ACTIVATING || request.status != RequestStatus::Approved.as_str() {
        return Ok(());
    }
    let mut failed = request.clone();
    failed.status = RequestStatus::Approved
        .on(RequestEvent::Fail)
        .map_err(|e| EffectError::Permanent(e.to_string()))?
        .as_str()
        .to_owned();
    failed.status_reason = Some(format!("the directory refused the membership: {error}"));
    let failed = requests::update(tx, &request, failed).await?;
    let ended = super::notifications::ended(RequestStatus::Failed);
    super::notifications::notify(broker, tx, &failed, ended, crate::domain::now()).await?;
    let g = grant::end(tx, g).await?;
    let details =
        json!({ "group": g.group_id, "user": g.upn, "grant": g.id, "error": error, "attempts": job.attempts });
    audit::append(tx, NewEvent::new("system", "grant.failed", format!("request:{}", g.request_id), details)).await?;
    Ok(())
}

/// Puts back the membership of a grant that is still active (someone removed it by hand).
pub async fn restore(broker: &Broker, job: &Job) -> Result<(), EffectError> {
    let Some(g) = grant_of(broker, job).await? else { return Ok(()) };
    if g.state != ACTIVE {
        return Ok(());
    }
    broker.directory.add_member(&group_of(&g)?, &g.user_id).await?;
    let tx = broker.store.begin().await?;
    let details = json!({ "group": g.group_id, "user": g.upn, "grant": g.id });
    audit::append(&tx, NewEvent::new("system", "membership.restored", format!("request:{}", g.request_id), details))
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Removes a member found by reconciliation, unless a grant or the policy accounts for them
/// by now.
pub async fn remove_drift(broker: &Broker, job: &Job) -> Result<(), EffectError> {
    let payload: serde_json::Value =
        serde_json::from_str(&job.payload).map_err(|e| EffectError::Permanent(e.to_string()))?;
    let field = |k: &str| {
        payload[k].as_str().map(str::to_owned).ok_or_else(|| EffectError::Permanent(format!("payload without {k}")))
    };
    let (group_id, user_id, upn) = (field("group")?, field("user_id")?, field("upn")?);
    let group = GroupId::parse(&group_id).map_err(|e| EffectError::Permanent(e.to_string()))?;
    let granted = !grants::in_group(broker.store.conn(), &group_id, &[ACTIVATING, ACTIVE, ENDING])
        .await?
        .iter()
        .all(|g| g.user_id != user_id);
    let permanent =
        broker.policy.profiles().any(|p| p.group == group && p.permanent_members.iter().any(|m| m.as_str() == upn));
    if granted || permanent {
        return Ok(());
    }
    let outcome = match broker.directory.remove_member(&group, &user_id).await {
        Ok(()) => "removed",
        Err(DirectoryError::NotFound(_)) => "already_gone",
        Err(e) => return Err(e.into()),
    };
    let tx = broker.store.begin().await?;
    let details = json!({ "group": group_id, "user": upn, "outcome": outcome });
    audit::append(&tx, NewEvent::new("system", "drift.removed", format!("group:{group_id}"), details)).await?;
    if outcome == "removed" {
        aws_jobs::schedule_drift_revocations(broker, &tx, &group_id, &user_id, &upn, now()).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Pushes the grant's membership change to the provisioned app now. Best effort: the grant
/// does not wait for it, and the regular provisioning cycle catches up if it fails for good.
pub async fn provision(broker: &Broker, job: &Job) -> Result<(), EffectError> {
    let Some(g) = grant_of(broker, job).await? else { return Ok(()) };
    broker.directory.provision_now(&group_of(&g)?, &g.user_id).await?;
    let tx = broker.store.begin().await?;
    let details = json!({ "group": g.group_id, "user": g.upn, "grant": g.id, "state": g.state });
    audit::append(&tx, NewEvent::new("system", "membership.provisioned", format!("request:{}", g.request_id), details))
        .await?;
    tx.commit().await?;
    Ok(())
}
