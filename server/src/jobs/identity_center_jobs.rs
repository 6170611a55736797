//! IAM Identity Center effects. Entra ID provisions memberships to Identity Center over SCIM,
//! but removals wait for the ~40-minute cycle: Elevate removes the Identity Center membership
//! itself when a grant ends, and adds it itself if SCIM has not after a grace period.
use sea_orm::ConnectionTrait;
use serde_json::json;

use super::{JobKind, effects::EffectError, sync};
use crate::{
    broker::Broker,
    domain::now,
    policy::{IdentityCenterTarget, ReconcileMode},
    providers::aws::{AwsError, identity_center::IdentityCenter},
    store::{
        StoreError,
        audit::{self, NewEvent, Subject},
        grants::{self, Grant, GrantState},
        jobs::{self, Job, NewJob},
        requests,
    },
};

/// Schedules `kind` (ensure or remove) for a grant of an Identity Center profile.
pub async fn schedule(
    broker: &Broker,
    c: &impl ConnectionTrait,
    g: &Grant,
    profile: &str,
    kind: JobKind,
) -> Result<(), StoreError> {
    let Some(aws) = broker.aws.as_ref().filter(|_| applies(broker, profile)) else { return Ok(()) };
    let due = if kind == JobKind::IdentityCenterEnsure { now() + aws.identity_center_wait_ms } else { now() };
    let job = NewJob {
        kind,
        grant_id: Some(g.id.clone()),
        lock_key: Some(sync::key(&g.user_id, &g.group_id)),
        payload: json!({ "grant": g.id, "request": g.request_id }),
        due_at: due,
    };
    jobs::enqueue(c, job).await
}

/// Whether grants of `profile` are mirrored to Identity Center (it has a target, and AWS is
/// configured): other grants have no Identity Center jobs to schedule or cancel.
pub fn applies(broker: &Broker, profile: &str) -> bool {
    broker.aws.is_some() && broker.policy.find(profile).is_some_and(|p| p.identity_center.is_some())
}

/// The grant's profile's Identity Center target and the store client.
fn target<'a>(
    broker: &'a Broker,
    profile: &str,
) -> Result<(&'a IdentityCenter, &'a IdentityCenterTarget), EffectError> {
    let store = broker.aws.as_ref().and_then(|a| a.identity_center.as_ref());
    let target = broker.policy.find(profile).and_then(|p| p.identity_center.as_ref());
    match (store, target) {
        (Some(s), Some(t)) => Ok((s, t)),
        _ => Err(EffectError::permanent(format!("profile {profile} no longer targets IAM Identity Center"))),
    }
}

async fn grant_and_profile(broker: &Broker, job: &Job) -> Result<Option<(Grant, String)>, EffectError> {
    let Some(id) = &job.grant_id else { return Ok(None) };
    let Some(g) = grants::get(broker.store.conn(), id).await? else { return Ok(None) };
    let Some(r) = requests::get(broker.store.conn(), &g.request_id).await? else { return Ok(None) };
    Ok(Some((g, r.profile)))
}

/// After the grace period: if the user is still not in the Identity Center group, add them.
pub async fn ensure(broker: &Broker, job: &Job) -> Result<(), EffectError> {
    let Some((g, profile)) = grant_and_profile(broker, job).await? else { return Ok(()) };
    if g.state != GrantState::Active {
        return Ok(());
    }
    let (store, t) = target(broker, &profile)?;
    let group = store.group_id(t).await?;
    let Some(user) = store.user_id(t, &g.upn).await? else {
        return Err(EffectError::Retry {
            message: format!("{} is not in the identity store yet (SCIM)", g.upn),
            after: None,
        });
    };
    let added = store.add(t, &group, &user).await?;
    let tx = broker.store.begin().await?;
    let details =
        json!({ "identity_store": t.identity_store_id, "group": group, "user": g.upn, "added_by_elevate": added });
    audit::append(&tx, NewEvent::system("identity_center.member_present", Subject::Request(&g.request_id), details))
        .await?;
    tx.commit().await?;
    Ok(())
}

/// The grant ended and its Entra membership went: remove the Identity Center one now.
pub async fn remove(broker: &Broker, job: &Job) -> Result<(), EffectError> {
    let Some((mut g, profile)) = grant_and_profile(broker, job).await? else { return Ok(()) };
    if g.ic_ended_at.is_some() {
        return Ok(());
    }
    let (store, t) = target(broker, &profile)?;
    let group = store.group_id(t).await?;
    let removed = match store.user_id(t, &g.upn).await? {
        Some(user) => store.remove(t, &group, &user).await?,
        None => false,
    };
    let at = now();
    let tx = broker.store.begin().await?;
    g.ic_ended_at = Some(at);
    let g = grants::save(&tx, g).await?;
    let details =
        json!({ "identity_store": t.identity_store_id, "group": group, "user": g.upn, "was_member": removed });
    audit::append(&tx, NewEvent::system("identity_center.member_removed", Subject::Request(&g.request_id), details))
        .await?;
    tx.commit().await?;
    if let Ok(Some(r)) = requests::get(broker.store.conn(), &g.request_id).await {
        broker.metrics.observe_revocation_lag("identity_center", r.expires_at, at);
    }
    Ok(())
}

/// Drift in the Identity Center groups: members no grant and no permanent entry account for.
/// Returns how many were found.
pub async fn reconcile(broker: &Broker) -> Result<usize, EffectError> {
    let Some(store) = broker.aws.as_ref().and_then(|a| a.identity_center.as_ref()) else { return Ok(0) };
    let mut found = 0;
    for p in broker.policy.profiles().filter(|p| p.reconcile != ReconcileMode::Off) {
        let Some(t) = &p.identity_center else { continue };
        let group = store.group_id(t).await?;
        let mut allowed = std::collections::BTreeSet::new();
        let held = grants::in_group(broker.store.conn(), p.group.as_str(), &GrantState::OPEN).await?;
        for name in held.iter().map(|g| g.upn.clone()).chain(p.permanent_members.iter().map(|u| u.to_string())) {
            if let Some(id) = store.user_id(t, &name).await? {
                allowed.insert(id);
            }
        }
        let tx = broker.store.begin().await?;
        for member in store.members(t, &group).await?.into_iter().filter(|m| !allowed.contains(m)) {
            let key = format!("identity-center:{}:{group}:{member}", t.identity_store_id);
            if jobs::in_flight(&tx, &key, 5_000).await? {
                continue;
            }
            let enforce = p.reconcile == ReconcileMode::Enforce;
            let mode = if enforce { "enforce" } else { "report" };
            if !enforce && !broker.first_report(&key) {
                continue;
            }
            found += 1;
            broker.metrics.drift_found.with_label_values(&[group.as_str(), mode]).inc();
            let details = json!({ "identity_store": t.identity_store_id, "group": group, "user_id": member, "mode": mode, "side": "identity_center" });
            audit::append(&tx, NewEvent::system("drift.found", Subject::IdentityCenterGroup(&group), details)).await?;
            if enforce {
                let payload = json!({ "profile": p.key.as_str(), "group": group, "user_id": member });
                let job = NewJob {
                    kind: JobKind::IdentityCenterRemoveDrift,
                    grant_id: None,
                    lock_key: Some(key),
                    payload,
                    due_at: now(),
                };
                jobs::enqueue(&tx, job).await?;
            }
        }
        tx.commit().await?;
    }
    if found > 0 {
        broker.wake_worker();
    }
    Ok(found)
}

pub async fn remove_drift(broker: &Broker, job: &Job) -> Result<(), EffectError> {
    let payload: serde_json::Value = serde_json::from_str(&job.payload).map_err(EffectError::permanent)?;
    let get = |k: &str| {
        payload[k].as_str().map(str::to_owned).ok_or_else(|| EffectError::permanent(format!("payload without {k}")))
    };
    let (profile, group, user) = (get("profile")?, get("group")?, get("user_id")?);
    let (store, t) = target(broker, &profile)?;
    let removed = match store.remove(t, &group, &user).await {
        Ok(removed) => removed,
        Err(AwsError::NotFound(_)) => false,
        Err(e) => return Err(e.into()),
    };
    let tx = broker.store.begin().await?;
    let details = json!({ "identity_store": t.identity_store_id, "group": group, "user_id": user, "was_member": removed, "side": "identity_center" });
    audit::append(&tx, NewEvent::system("drift.removed", Subject::IdentityCenterGroup(&group), details)).await?;
    tx.commit().await?;
    Ok(())
}
