//! Requests nobody decided before their profile's `decision_timeout` end as `timed_out`.
use serde_json::json;

use super::{Broker, WorkflowError, apply};
use crate::{
    domain::{RequestEvent, RequestStatus, now},
    jobs::notifications,
    notify::Notice,
    store::{
        audit,
        audit::{NewEvent, Subject},
        requests,
    },
};

/// Times out every overdue pending request; returns how many. Safe to run on every replica.
pub async fn time_out_undecided(broker: &Broker) -> Result<usize, WorkflowError> {
    let mut count = 0;
    for id in requests::ids_pending_past_due(broker.store.conn(), now()).await? {
        let tx = broker.store.begin().await?;
        let Some(request) = requests::get_for_update(&tx, &id).await? else { continue };
        if request.status != RequestStatus::Pending {
            continue;
        }
        let timed_out = apply(&request, RequestEvent::Timeout)?;
        let timed_out = requests::update(&tx, &request, timed_out).await?;
        notifications::notify(broker, &tx, &timed_out, Notice::TimedOut, now()).await?;
        let details = json!({ "decision_due_at": crate::domain::format_millis(request.decision_due_at) });
        audit::append(&tx, NewEvent::system("request.timed_out", Subject::Request(&id), details)).await?;
        tx.commit().await?;
        count += 1;
    }
    if count > 0 {
        broker.wake_worker();
    }
    Ok(count)
}
