//! The requester (or the bot that filed it) withdraws a pending request.
use serde_json::json;

use super::{Broker, WorkflowError, apply, is_requester, load_for_update};
use crate::{
    domain::{Caller, Comment, RequestEvent},
    store::{audit, audit::NewEvent, requests, requests::Request},
};

pub async fn cancel(
    broker: &Broker,
    caller: &Caller,
    id: &str,
    comment: Option<&str>,
) -> Result<Request, WorkflowError> {
    let comment = Comment::parse(comment)?;
    let tx = broker.store.begin().await?;
    let request = load_for_update(&tx, id).await?;
    let filed_it = caller.delegate && caller.upn.as_str() == request.filed_by;
    if !is_requester(caller, &request) && !filed_it {
        return Err(WorkflowError::Forbidden("only the requester can cancel a request".into()));
    }
    let cancelled = apply(&request, RequestEvent::Cancel)?;
    let cancelled = requests::update(&tx, &request, cancelled).await?;
    let details = json!({ "comment": comment.as_deref() });
    audit::append(
        &tx,
        NewEvent::new(caller.upn.as_str(), "request.cancelled", format!("request:{}", request.id), details),
    )
    .await?;
    tx.commit().await?;
    Ok(cancelled)
}
