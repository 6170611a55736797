//! What a membership sync job is: the key it locks (one user in one group), why it was asked
//! for, and how transitions and reconciliation schedule one. `membership::sync` runs it.
use sea_orm::ConnectionTrait;
use serde_json::json;

use super::{JobKind, effects::EffectError};
use crate::{
    domain::now,
    store::{
        StoreError,
        jobs::{self, Job, NewJob},
    },
};

/// The lock key of one user's membership in one group: syncs of one key run one at a time.
pub fn key(user_id: &str, group_id: &str) -> String {
    format!("membership:{group_id}:{user_id}")
}

/// Why a sync was asked for, beyond "the grants changed".
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Purpose {
    Converge,
    /// Reconciliation saw an active grant's member missing: check and put it back.
    Restore,
    /// Reconciliation saw a member that no grant or permanent entry accounts for (enforce mode).
    RemoveDrift {
        upn: String,
    },
    /// A worker that lost its lease had its add land after all: undo it unless wanted.
    LateAdd,
}

impl Purpose {
    fn payload(&self, user_id: &str, group_id: &str) -> serde_json::Value {
        let mut p = json!({ "user_id": user_id, "group_id": group_id });
        match self {
            Self::Converge => {}
            Self::Restore => p["purpose"] = "restore".into(),
            Self::RemoveDrift { upn } => {
                p["purpose"] = "remove_drift".into();
                p["upn"] = upn.as_str().into();
            }
            Self::LateAdd => p["purpose"] = "late_add".into(),
        }
        p
    }

    pub(super) fn of(payload: &serde_json::Value) -> Self {
        match payload["purpose"].as_str() {
            Some("restore") => Self::Restore,
            Some("remove_drift") => Self::RemoveDrift { upn: payload["upn"].as_str().unwrap_or_default().to_owned() },
            Some("late_add") => Self::LateAdd,
            _ => Self::Converge,
        }
    }
}

pub(super) async fn enqueue(
    c: &impl ConnectionTrait,
    user_id: &str,
    group_id: &str,
    purpose: Purpose,
    due_at: i64,
) -> Result<(), StoreError> {
    let job = NewJob {
        kind: JobKind::SyncMembership,
        grant_id: None,
        lock_key: Some(key(user_id, group_id)),
        payload: purpose.payload(user_id, group_id),
        due_at,
    };
    jobs::enqueue(c, job).await
}

/// Schedules a sync of the membership at `due_at` (now, or a grant's end). A sync already
/// waiting to run by then serves this one too: it reads the state when it runs.
pub async fn schedule(c: &impl ConnectionTrait, user_id: &str, group_id: &str, due_at: i64) -> Result<(), StoreError> {
    let key = key(user_id, group_id);
    if jobs::pending_by(c, JobKind::SyncMembership, &key, due_at).await? {
        return Ok(());
    }
    enqueue(c, user_id, group_id, Purpose::Converge, due_at).await
}

/// Schedules a check that puts an active grant's missing membership back.
pub async fn schedule_restore(c: &impl ConnectionTrait, user_id: &str, group_id: &str) -> Result<(), StoreError> {
    enqueue(c, user_id, group_id, Purpose::Restore, now()).await
}

/// Schedules the removal of a member nothing accounts for, unless a grant does by then.
pub async fn schedule_drift_removal(
    c: &impl ConnectionTrait,
    user_id: &str,
    group_id: &str,
    upn: &str,
) -> Result<(), StoreError> {
    enqueue(c, user_id, group_id, Purpose::RemoveDrift { upn: upn.to_owned() }, now()).await
}

/// The user and group a sync job is about: from its payload, or (jobs from before the
/// membership sync) from its lock key, `membership:{group}:{user}` (user ids hold no colon).
pub(super) fn target(job: &Job) -> Result<(String, String), EffectError> {
    let payload: serde_json::Value = serde_json::from_str(&job.payload).unwrap_or_default();
    if let (Some(user), Some(group)) = (payload["user_id"].as_str(), payload["group_id"].as_str()) {
        return Ok((user.to_owned(), group.to_owned()));
    }
    job.lock_key
        .as_deref()
        .and_then(|k| k.strip_prefix("membership:"))
        .and_then(|k| k.rsplit_once(':'))
        .map(|(group, user)| (user.to_owned(), group.to_owned()))
        .ok_or_else(|| EffectError::permanent(format!("sync job {} names no membership", job.id)))
}
