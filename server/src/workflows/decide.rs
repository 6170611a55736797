//! Approving and denying. Only approvers the profile names for the current stage may decide,
//! never the requester, once each; a quorum completes a stage, then the second stage if any.
use serde_json::json;

use super::{Broker, WorkflowError, apply, is_requester, load_for_update};
use crate::{
    domain::{Caller, Comment, RequestEvent, RequestId, RequestStatus, Role},
    jobs::grant,
    store::{audit, audit::NewEvent, decisions, decisions::NewDecision, requests, requests::Request},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Deny,
}

/// May `caller` decide `request` in its current stage? `Ok(())` or the reason why not.
pub async fn may_decide(broker: &Broker, caller: &Caller, request: &Request) -> Result<(), WorkflowError> {
    if is_requester(caller, request) {
        return Err(WorkflowError::Forbidden("you cannot decide your own request".into()));
    }
    if !caller.has(Role::Approver) {
        return Err(WorkflowError::Forbidden("the approver role is needed to decide requests".into()));
    }
    let profile = broker.profile_of(request)?;
    let Some(stage) = profile.approval.stage(request.stage) else {
        return Err(WorkflowError::Conflict(format!(
            "profile {} has no approval stage {}",
            profile.key, request.stage
        )));
    };
    if !broker.is_among(&caller.upn, &stage.approvers).await? {
        return Err(WorkflowError::Forbidden(format!(
            "{} is not an approver of stage {} of profile {}",
            caller.upn, request.stage, profile.key
        )));
    }
    Ok(())
}

pub async fn decide(
    broker: &Broker,
    caller: &Caller,
    id: &str,
    decision: Decision,
    comment: Option<&str>,
) -> Result<Request, WorkflowError> {
    let comment = Comment::parse(comment)?;
    let event = match decision {
        Decision::Approve => RequestEvent::Approve,
        Decision::Deny => RequestEvent::Deny,
    };
    // Authorise before the write transaction: the directory may be slow, and a write lock
    // must not wait on it.
    let request_id = RequestId::parse(id)?.to_string();
    let seen = requests::get(broker.store.conn(), &request_id)
        .await?
        .ok_or_else(|| WorkflowError::NotFound(format!("request {request_id}")))?;
    if seen.status != RequestStatus::Pending.as_str() {
        apply(&seen, event)?;
    }
    may_decide(broker, caller, &seen).await?;
    let tx = broker.store.begin().await?;
    let request = load_for_update(&tx, id).await?;
    if request.status != RequestStatus::Pending.as_str() {
        apply(&request, event)?;
    }
    if request.stage != seen.stage {
        return Err(WorkflowError::Conflict("the request moved to another approval stage meanwhile; try again".into()));
    }
    if decisions::has_decided(&tx, &request.id, caller.upn.as_str()).await? {
        return Err(WorkflowError::Conflict(format!("{} has already decided this request", caller.upn)));
    }
    decisions::insert(
        &tx,
        NewDecision {
            request_id: &request.id,
            approver: caller.upn.as_str(),
            stage: request.stage,
            approve: decision == Decision::Approve,
            comment: comment.as_deref(),
        },
    )
    .await?;
    let subject = format!("request:{}", request.id);
    let details = json!({ "stage": request.stage, "comment": comment.as_deref() });
    let updated = match decision {
        Decision::Deny => {
            audit::append(&tx, NewEvent::new(caller.upn.as_str(), "request.denied", &subject, details)).await?;
            let denied = apply(&request, RequestEvent::Deny)?;
            requests::update(&tx, &request, denied).await?
        }
        Decision::Approve => {
            audit::append(&tx, NewEvent::new(caller.upn.as_str(), "request.approval_given", &subject, details)).await?;
            let profile = broker.profile_of(&request)?;
            let required = profile.approval.stage(request.stage).map_or(1, |s| s.required);
            let given = decisions::approvals_at_stage(&tx, &request.id, request.stage).await?;
            if given < u64::from(required) {
                // Still short of the quorum: the version bump invalidates links for the old state.
                requests::update(&tx, &request, request.clone()).await?
            } else if profile.approval.stage(request.stage + 1).is_some() {
                let next = Request { stage: request.stage + 1, ..request.clone() };
                let details = json!({ "stage": next.stage });
                audit::append(&tx, NewEvent::new("system", "request.stage_advanced", &subject, details)).await?;
                requests::update(&tx, &request, next).await?
            } else {
                let approved = apply(&request, RequestEvent::Approve)?;
                let approved = requests::update(&tx, &request, approved).await?;
                grant::start(&tx, &approved).await?;
                let details = json!({ "stage": request.stage, "approvals": given });
                audit::append(&tx, NewEvent::new("system", "request.approved", &subject, details)).await?;
                approved
            }
        }
    };
    tx.commit().await?;
    broker.wake_worker();
    Ok(updated)
}
