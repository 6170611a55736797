//! Starting and ending grants: the state change plus the outbox jobs that carry it out.
//! Always called inside the transaction of the request's transition.
use sea_orm::ConnectionTrait;

use crate::store::{
    StoreError,
    grants::{self, ACTIVATING, ENDING, Grant},
    jobs::{self, NewJob},
    requests::Request,
};

/// Jobs about one user's membership in one group share this key, so they never overtake
/// each other (an add and a remove of the same membership run one after the other).
pub fn membership_key(user_id: &str, group_id: &str) -> String {
    format!("membership:{group_id}:{user_id}")
}

pub fn job_for(kind: &'static str, grant: &Grant, due_at: i64) -> NewJob {
    NewJob {
        kind,
        grant_id: Some(grant.id.clone()),
        lock_key: Some(membership_key(&grant.user_id, &grant.group_id)),
        payload: serde_json::json!({ "grant": grant.id, "request": grant.request_id }),
        due_at,
    }
}

/// Schedules a push of this membership's change to the provisioned app, when there is one.
pub async fn provision(c: &impl ConnectionTrait, grant: &Grant) -> Result<(), StoreError> {
    jobs::enqueue(c, job_for(super::PROVISION, grant, crate::domain::now())).await
}

/// The request was approved: create its grant and schedule the membership.
pub async fn start(c: &impl ConnectionTrait, request: &Request) -> Result<Grant, StoreError> {
    let grant = Grant {
        id: uuid::Uuid::now_v7().to_string(),
        request_id: request.id.clone(),
        user_id: request.requester_id.clone(),
        upn: request.requester.clone(),
        group_id: request.group_id.clone(),
        state: ACTIVATING.to_owned(),
        standing: None,
        activated_at: None,
        expires_at: None,
        ended_at: None,
        end_outcome: None,
        ic_ended_at: None,
    };
    grants::insert(c, grant.clone()).await?;
    jobs::enqueue(c, job_for(super::ACTIVATE, &grant, crate::domain::now())).await?;
    Ok(grant)
}

/// The grant is over (expired, revoked, failed): stop its pending activation and expiry and
/// schedule the removal, which decides whether the membership really goes.
pub async fn end(c: &impl ConnectionTrait, mut grant: Grant) -> Result<Grant, StoreError> {
    grant.state = ENDING.to_owned();
    let grant = grants::save(c, grant).await?;
    jobs::cancel_pending(c, &grant.id, super::EXPIRE).await?;
    jobs::cancel_pending(c, &grant.id, super::ACTIVATE).await?;
    jobs::cancel_pending(c, &grant.id, super::IC_ENSURE).await?;
    jobs::enqueue(c, job_for(super::REMOVE, &grant, crate::domain::now())).await?;
    Ok(grant)
}
