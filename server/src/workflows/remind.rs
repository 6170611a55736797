//! Undecided requests: after `notify.remind_after` in a stage its approvers are reminded
//! (once); after `notify.escalate_after` the profile's escalation approvers are called in and
//! may decide from then on. Safe to run on every replica: each step is recorded under the
//! request's row lock and happens once.
use serde_json::json;

use super::{Broker, WorkflowError};
use crate::{
    domain::{RequestStatus, now},
    jobs::notifications,
    notify::Notice,
    store::{
        audit,
        audit::{NewEvent, Subject},
        requests::{self, Nudge, Request},
    },
};

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Nudged {
    pub reminded: usize,
    pub escalated: usize,
}

pub async fn remind_and_escalate(broker: &Broker) -> Result<Nudged, WorkflowError> {
    let mut nudged = Nudged::default();
    let notifier = &broker.notifier;
    let at = now();
    for request in requests::pending(broker.store.conn()).await? {
        let since = request.stage_started_at.unwrap_or(request.created_at);
        if request.reminded_at.is_none()
            && at >= since + notifier.remind_after_ms
            && nudge(broker, &request, Nudge::Reminded).await?
        {
            nudged.reminded += 1;
        }
        let escalates = broker.profile_of(&request).is_ok_and(|p| p.escalation.is_some());
        if escalates
            && request.escalated_at.is_none()
            && at >= since + notifier.escalate_after_ms
            && nudge(broker, &request, Nudge::Escalated).await?
        {
            nudged.escalated += 1;
        }
    }
    Ok(nudged)
}

/// Records the nudge and writes its notice, unless the request moved on meanwhile.
async fn nudge(broker: &Broker, seen: &Request, nudge: Nudge) -> Result<bool, WorkflowError> {
    let tx = broker.store.begin().await?;
    let Some(request) = requests::get_for_update(&tx, &seen.id).await? else { return Ok(false) };
    let done_before = match nudge {
        Nudge::Reminded => request.reminded_at.is_some(),
        Nudge::Escalated => request.escalated_at.is_some(),
    };
    if request.status != RequestStatus::Pending || request.stage != seen.stage || done_before {
        return Ok(false);
    }
    let at = now();
    requests::record_nudge(&tx, &request.id, nudge, at).await?;
    let (stage, version) = (request.stage, request.version);
    let (action, notice) = match nudge {
        Nudge::Reminded => ("request.reminder_sent", Notice::Reminder { stage, version }),
        Nudge::Escalated => ("request.escalated", Notice::Escalated { stage, version }),
    };
    let details = json!({ "stage": stage });
    audit::append(&tx, NewEvent::system(action, Subject::Request(&request.id), details)).await?;
    notifications::notify(broker, &tx, &request, notice, at).await?;
    tx.commit().await?;
    broker.wake_worker();
    Ok(true)
}
