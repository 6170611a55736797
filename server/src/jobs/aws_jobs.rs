//! AWS effects as outbox jobs: revoking a user's live role sessions when their grant ends,
//! and pruning revocations that can no longer match a session. Jobs on one role share a lock
//! key, so the read-modify-write of its inline policy never races.
use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use serde_json::json;

use super::effects::EffectError;
use crate::{
    broker::{AwsMapping, Broker},
    config::SessionNameClaim,
    domain::{GrantId, now},
    policy::Profile,
    providers::aws::AwsError,
    store::{
        StoreError,
        audit::{self, NewEvent, Subject},
        grants::Grant,
        jobs::{self, Job, NewJob},
        users,
    },
    telemetry::error_chain,
};

impl From<AwsError> for EffectError {
    fn from(e: AwsError) -> Self {
        match e {
            AwsError::Transient { .. } => EffectError::Retry { message: error_chain(&e), after: None },
            other => EffectError::permanent(other),
        }
    }
}

fn role_key(arn: &str) -> String {
    format!("aws-role:{arn}")
}

/// After a grant's membership was removed: when its profile revokes sessions, schedule the
/// deny of the user's sessions issued before `ended_at`.
pub async fn schedule_revocation(
    broker: &Broker,
    c: &impl ConnectionTrait,
    g: &Grant,
    profile: &str,
    ended_at: i64,
) -> Result<(), StoreError> {
    let Some(profile) = broker.policy.find(profile) else { return Ok(()) };
    let user = Revoked {
        user_id: &g.user_id,
        upn: &g.upn,
        grant_id: Some(&g.id),
        subject: Subject::Request(&g.request_id).to_string(),
    };
    revoke_for(broker, c, profile, user, ended_at).await
}

/// After drift was removed from `group`: the same, for every profile that maps the group.
pub async fn schedule_drift_revocations(
    broker: &Broker,
    c: &impl ConnectionTrait,
    group: &str,
    user_id: &str,
    upn: &str,
    removed_at: i64,
) -> Result<(), StoreError> {
    for profile in broker.policy.profiles().filter(|p| p.group.as_str() == group) {
        let user = Revoked { user_id, upn, grant_id: None, subject: Subject::Group(group).to_string() };
        revoke_for(broker, c, profile, user, removed_at).await?;
    }
    Ok(())
}

/// Whose sessions to revoke, and what the audit event will be about.
struct Revoked<'a> {
    user_id: &'a str,
    upn: &'a str,
    grant_id: Option<&'a GrantId>,
    subject: String,
}

async fn revoke_for(
    broker: &Broker,
    c: &impl ConnectionTrait,
    profile: &Profile,
    user: Revoked<'_>,
    before: i64,
) -> Result<(), StoreError> {
    let Some(aws) = &broker.aws else { return Ok(()) };
    let (Some(role_arn), true) = (&profile.aws_role_arn, aws.revokes_sessions(profile)) else { return Ok(()) };
    let session_name = session_name(aws, c, user.user_id, user.upn).await?;
    let payload =
        json!({ "role_arn": role_arn, "session_name": session_name, "before": before, "subject": user.subject });
    let job = NewJob {
        kind: super::JobKind::RevokeSessions,
        grant_id: user.grant_id.cloned(),
        lock_key: Some(role_key(role_arn)),
        payload,
        due_at: now(),
    };
    jobs::enqueue(c, job).await
}

/// The `RoleSessionName` the user's SAML sign-ins carry (`[aws] session_name`).
pub async fn session_name(
    aws: &AwsMapping,
    c: &impl ConnectionTrait,
    user_id: &str,
    upn: &str,
) -> Result<String, StoreError> {
    Ok(match aws.session_name {
        SessionNameClaim::Upn => upn.to_owned(),
        SessionNameClaim::Mail => {
            users::by_upn_or_id(c, user_id).await?.and_then(|u| u.mail).unwrap_or_else(|| upn.to_owned())
        }
    })
}

fn field<'a>(payload: &'a serde_json::Value, key: &str) -> Result<&'a str, EffectError> {
    payload[key].as_str().ok_or_else(|| EffectError::permanent(format!("payload without {key}")))
}

pub async fn revoke_sessions(broker: &Broker, job: &Job) -> Result<(), EffectError> {
    let Some(aws) = &broker.aws else { return Err(EffectError::permanent("[aws] is no longer configured")) };
    let payload: serde_json::Value = serde_json::from_str(&job.payload).map_err(EffectError::permanent)?;
    let (role_arn, session_name) = (field(&payload, "role_arn")?, field(&payload, "session_name")?);
    let before_ms = payload["before"].as_i64().unwrap_or_else(now);
    let before = DateTime::<Utc>::from_timestamp_millis(before_ms).unwrap_or_else(Utc::now);
    let (outcome, statements) = match aws.iam.revoke_sessions(role_arn, session_name, before).await {
        Ok(n) => ("denied", n),
        // No role, no session to end.
        Err(AwsError::NotFound(_)) => ("role_missing", 0),
        Err(e) => return Err(e.into()),
    };
    let tx = broker.store.begin().await?;
    let details = json!({
        "role": role_arn, "session_name": session_name, "issued_before": crate::domain::format_millis(before_ms),
        "outcome": outcome, "statements": statements,
    });
    audit::append(
        &tx,
        NewEvent::system("aws.sessions_revoked", Subject::Written(field(&payload, "subject")?), details),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Schedules a prune of every role whose sessions Elevate revokes (one job per role).
pub async fn schedule_prunes(broker: &Broker) -> Result<usize, StoreError> {
    let Some(aws) = &broker.aws else { return Ok(0) };
    let tx = broker.store.begin().await?;
    let mut scheduled = 0;
    let mut roles: Vec<&String> =
        broker.policy.profiles().filter(|p| aws.revokes_sessions(p)).filter_map(|p| p.aws_role_arn.as_ref()).collect();
    roles.sort();
    roles.dedup();
    for arn in roles {
        if jobs::in_flight(&tx, &role_key(arn), 0).await? {
            continue;
        }
        let job = NewJob {
            kind: super::JobKind::PruneRevocations,
            grant_id: None,
            lock_key: Some(role_key(arn)),
            payload: json!({ "role_arn": arn }),
            due_at: now(),
        };
        jobs::enqueue(&tx, job).await?;
        scheduled += 1;
    }
    tx.commit().await?;
    broker.wake_worker();
    Ok(scheduled)
}

pub async fn prune(broker: &Broker, job: &Job) -> Result<(), EffectError> {
    let Some(aws) = &broker.aws else { return Ok(()) };
    let payload: serde_json::Value = serde_json::from_str(&job.payload).map_err(EffectError::permanent)?;
    match aws.iam.prune(field(&payload, "role_arn")?).await {
        Ok(_) | Err(AwsError::NotFound(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
