//! Ending access early: the requester gives it back, or an admin takes it away.
use serde_json::json;

use super::{
    Broker, WorkflowError, apply,
    authz::{self, Action},
    is_requester, load_for_update,
};
use crate::{
    domain::{Caller, Comment, RequestEvent, RequestStatus, now},
    jobs::{grant, notifications},
    store::{StoreError, audit, audit::NewEvent, grants, requests, requests::Request},
};

pub async fn revoke(
    broker: &Broker,
    caller: &Caller,
    id: &str,
    comment: Option<&str>,
) -> Result<Request, WorkflowError> {
    let comment = Comment::parse(comment)?;
    let tx = broker.store.begin().await?;
    let request = load_for_update(&tx, id).await?;
    authz::check(broker, caller, Action::Revoke, Some(&request)).await?;
    let revoked = apply(&request, RequestEvent::Revoke)?;
    let revoked = requests::update(&tx, &request, revoked).await?;
    notifications::notify(broker, &tx, &revoked, notifications::ended(RequestStatus::Revoked), now()).await?;
    let g = grants::for_request(&tx, &request.id)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("approved request {} has no grant", request.id)))?;
    grant::end(&tx, g).await?;
    let subject = format!("request:{}", request.id);
    let details = json!({ "comment": comment.as_deref(), "as_admin": !is_requester(caller, &request) });
    audit::append(&tx, NewEvent::new(caller.upn.as_str(), "request.revoked", &subject, details)).await?;
    // Extensions waiting for approval lose their purpose with the grant they extend.
    for ext in requests::pending_extensions_of(&tx, &request.id).await? {
        let cancelled = apply(&ext, RequestEvent::Cancel)?;
        requests::update(&tx, &ext, cancelled).await?;
        let details = json!({ "reason": "the grant it extends was revoked" });
        audit::append(&tx, NewEvent::new("system", "request.cancelled", format!("request:{}", ext.id), details))
            .await?;
    }
    tx.commit().await?;
    broker.wake_worker();
    Ok(revoked)
}
