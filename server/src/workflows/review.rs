//! The after-the-fact review of a break-glass activation: one of the profile's approvers or an
//! admin (never the requester) records whether it was justified. Once, audited.
use serde_json::json;

use super::{
    Broker, WorkflowError,
    authz::{self, Action},
};
use crate::{
    domain::{Caller, Comment, InvalidValue, RequestId, now},
    store::{
        audit,
        audit::{NewEvent, Subject},
        requests,
        requests::Request,
        reviews,
        reviews::Review,
    },
};

fn outcome(s: &str) -> Result<&'static str, InvalidValue> {
    match s {
        "justified" => Ok("justified"),
        "unjustified" => Ok("unjustified"),
        other => Err(InvalidValue::new("outcome", format!("{other:?} is neither \"justified\" nor \"unjustified\""))),
    }
}

pub async fn review(
    broker: &Broker,
    caller: &Caller,
    id: &str,
    outcome_text: &str,
    comment: Option<&str>,
) -> Result<Review, WorkflowError> {
    let id = RequestId::parse(id)?;
    let outcome = outcome(outcome_text)?;
    let comment = Comment::parse(comment)?;
    let request = requests::get(broker.store.conn(), &id)
        .await?
        .ok_or_else(|| WorkflowError::NotFound(format!("request {id}")))?;
    if caller.upn.as_str() == request.requester {
        return Err(WorkflowError::Forbidden("nobody reviews their own break-glass access".into()));
    }
    authz::check(broker, caller, Action::Review, Some(&request)).await?;
    if !request.break_glass {
        return Err(WorkflowError::Conflict(format!(
            "request {id} was not a break-glass activation: nothing to review"
        )));
    }
    let review = Review {
        request_id: id.clone(),
        outcome: outcome.to_owned(),
        reviewer: caller.upn.to_string(),
        comment: comment.as_deref().map(str::to_owned),
        reviewed_at: now(),
    };
    let tx = broker.store.begin().await?;
    if !reviews::insert(&tx, review.clone()).await? {
        let done = reviews::get(&tx, &id).await?;
        let by = done.map(|r| format!(" by {} ({})", r.reviewer, r.outcome)).unwrap_or_default();
        return Err(WorkflowError::Conflict(format!("request {id} has been reviewed already{by}")));
    }
    let details = json!({ "outcome": outcome, "comment": review.comment });
    audit::append(
        &tx,
        NewEvent::new(caller.upn.as_str(), "request.break_glass_reviewed", Subject::Request(&id), details),
    )
    .await?;
    tx.commit().await?;
    Ok(review)
}

/// The break-glass requests awaiting a review that `caller` may give.
pub async fn awaiting(broker: &Broker, caller: &Caller) -> Result<Vec<Request>, WorkflowError> {
    let mut mine = Vec::new();
    for request in reviews::unreviewed(broker.store.conn()).await? {
        if request.requester != caller.upn.as_str()
            && authz::check(broker, caller, Action::Review, Some(&request)).await.is_ok()
        {
            mine.push(request);
        }
    }
    Ok(mine)
}
