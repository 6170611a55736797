//! The requester (or the bot that filed it) withdraws a pending request.
use serde_json::json;

use super::{Broker, WorkflowError, authz::Action, change_status};
use crate::{
    domain::{Caller, Comment, RequestEvent},
    store::{
        audit,
        audit::{NewEvent, Subject},
        requests::Request,
    },
};

pub async fn cancel(
    broker: &Broker,
    caller: &Caller,
    id: &str,
    comment: Option<&str>,
) -> Result<Request, WorkflowError> {
    let comment = Comment::parse(comment)?;
    let tx = broker.store.begin().await?;
    let (request, cancelled) = change_status(broker, &tx, caller, id, (Action::Cancel, RequestEvent::Cancel)).await?;
    let details = json!({ "comment": comment.as_deref() });
    audit::append(&tx, NewEvent::new(caller.upn.as_str(), "request.cancelled", Subject::Request(&request.id), details))
        .await?;
    crate::jobs::chat::refresh_later(broker, &tx, &request.id).await?;
    tx.commit().await?;
    broker.wake_worker();
    Ok(cancelled)
}
