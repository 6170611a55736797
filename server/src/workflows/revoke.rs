//! Ending access early (or before a scheduled window opens): the requester gives it back, or
//! an admin takes it away. Revoking one
//! request ends its whole extension chain: every approved or active request of it is revoked
//! and every pending one cancelled, so no extension keeps the access the revoke took away.
use serde_json::json;

use super::{Broker, WorkflowError, apply, authz::Action, change_status, is_requester};
use crate::{
    domain::{Caller, Comment, RequestEvent, RequestId, RequestStatus, now},
    jobs::{grant, notifications},
    store::{
        StoreError, audit,
        audit::{NewEvent, Subject},
        grants, requests,
        requests::Request,
    },
};

pub async fn revoke(
    broker: &Broker,
    caller: &Caller,
    id: &str,
    comment: Option<&str>,
) -> Result<Request, WorkflowError> {
    let comment = Comment::parse(comment)?;
    let tx = broker.store.begin().await?;
    // The whole extension chain is locked first, in id order, before any other lock (the
    // audit log's among them): a revoke of another link of the chain, or a change holding one
    // of its rows and waiting for the audit log, then waits here instead of deadlocking.
    let chain = lock_chain(&tx, &RequestId::parse(id)?).await?;
    let (request, revoked) = change_status(broker, &tx, caller, id, (Action::Revoke, RequestEvent::Revoke)).await?;
    notifications::notify(broker, &tx, &revoked, notifications::ended(RequestStatus::Revoked), now()).await?;
    end_grant(&tx, &request).await?;
    let subject = Subject::Request(&request.id);
    let details = json!({ "comment": comment.as_deref(), "as_admin": !is_requester(caller, &request) });
    audit::append(&tx, NewEvent::new(caller.upn.as_str(), "request.revoked", subject, details)).await?;
    for other in chain.into_iter().filter(|r| r.id != request.id) {
        // Read again under the lock taken above.
        let Some(other) = requests::get(&tx, &other.id).await? else { continue };
        let (event, action) = match other.status {
            RequestStatus::Approved | RequestStatus::Active => (RequestEvent::Revoke, "request.revoked"),
            RequestStatus::Pending => (RequestEvent::Cancel, "request.cancelled"),
            _ => continue,
        };
        let after = apply(&other, event)?;
        requests::update(&tx, &other, after).await?;
        if event == RequestEvent::Revoke {
            end_grant(&tx, &other).await?;
        }
        let details =
            json!({ "reason": "its extension chain was revoked", "revoked": request.id, "by": caller.upn.as_str() });
        audit::append(&tx, NewEvent::system(action, Subject::Request(&other.id), details)).await?;
    }
    tx.commit().await?;
    broker.wake_worker();
    Ok(revoked)
}

/// The request's extension chain, every link of it locked. An extension is filed only while
/// the request it extends is locked, so once every link is, the chain cannot grow: links
/// filed while it was being locked are found by reading it again.
async fn lock_chain(tx: &sea_orm::DatabaseTransaction, id: &RequestId) -> Result<Vec<Request>, WorkflowError> {
    let mut locked: Vec<RequestId> = Vec::new();
    loop {
        let chain = requests::chain_of(tx, id).await?;
        let new: Vec<&Request> = chain.iter().filter(|r| !locked.contains(&r.id)).collect();
        if new.is_empty() {
            return Ok(chain);
        }
        for link in new {
            requests::get_for_update(tx, &link.id).await?;
            locked.push(link.id.clone());
        }
    }
}

/// Ends the request's grant; a scheduled request has none yet (its start job then finds it
/// revoked and starts nothing).
async fn end_grant(tx: &sea_orm::DatabaseTransaction, request: &Request) -> Result<(), WorkflowError> {
    match grants::for_request(tx, &request.id).await? {
        Some(g) => {
            grant::end(tx, g).await?;
        }
        None if request.status == RequestStatus::Scheduled => {}
        None => return Err(StoreError::Corrupt(format!("approved request {} has no grant", request.id)).into()),
    }
    Ok(())
}
