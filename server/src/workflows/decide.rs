//! Approving and denying. Only approvers the profile names for the current stage (or its
//! escalation approvers, once called in) may decide, never the requester, once each; a quorum
//! completes a stage, then the second stage if any. A chat-ops bot (a `delegate` caller with
//! the approver role) decides only for the human approver it names (`on_behalf_of`), who must
//! be entitled to decide; the decision is theirs, and the audit event names the bot as well.
use serde_json::json;

use super::{Broker, Freshness, WorkflowError, apply, is_requester, load_for_update};
use crate::{
    auth::LinkClaims,
    domain::{Caller, Comment, InvalidValue, RequestEvent, RequestId, RequestStatus, Role, Upn, now},
    jobs::{grant, notifications},
    notify::Notice,
    store::{
        audit,
        audit::{NewEvent, Subject},
        decisions,
        decisions::NewDecision,
        link_tokens, requests,
        requests::Request,
    },
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Deny,
}

/// May `caller` decide `request` in its current stage? `Ok(())` or the reason why not.
/// `Freshness::Display` only to show or route (an inbox, a button): a decision asks afresh.
pub async fn may_decide(
    broker: &Broker,
    caller: &Caller,
    request: &Request,
    freshness: Freshness,
) -> Result<(), WorkflowError> {
    if is_requester(caller, request) {
        return Err(WorkflowError::Forbidden("you cannot decide your own request".into()));
    }
    // Whoever can drive the bot that filed a request must not approve it through that bot.
    if caller.upn.as_str() == request.filed_by {
        return Err(WorkflowError::Forbidden("you filed this request: someone else decides it".into()));
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
    if broker.is_among_as(&caller.upn, &stage.approvers, freshness).await? {
        return Ok(());
    }
    if let (Some(_), Some(escalation)) = (request.escalated_at, &profile.escalation)
        && broker.is_among_as(&caller.upn, escalation, freshness).await?
    {
        return Ok(());
    }
    // Names nothing about the request: the caller may not be allowed to see it.
    Err(WorkflowError::Forbidden(format!(
        "{} is not an approver of stage {} of this request",
        caller.upn, request.stage
    )))
}

/// How a decision reached Elevate.
#[derive(Debug, Clone, Copy)]
pub enum Via<'a> {
    /// The API or the web inbox, by the approver themselves.
    Api,
    /// A chat-ops bot, for the approver it named.
    Bot(&'a Upn),
    /// An emailed link: it must still be for the stage and version it was made for, and its
    /// token is spent in the same transaction, so a link decides at most once.
    Link(&'a LinkClaims),
    /// A button pressed in Teams or Slack, by the approver the chat app proved: the card must
    /// still be for the request's stage and version.
    Chat(&'a ChatPress<'a>),
}

/// A press of Approve or Deny in chat: which app, who pressed there (their id in the app), and
/// what the card showed.
#[derive(Debug)]
pub struct ChatPress<'a> {
    pub app: crate::domain::ChatApp,
    pub chat_user: &'a str,
    pub card: &'a crate::notify::cards::CardAction,
}

/// A decision by the caller, or by a bot for the human approver it names (`on_behalf_of`).
pub async fn decide(
    broker: &Broker,
    caller: &Caller,
    id: &str,
    decision: Decision,
    comment: Option<&str>,
    on_behalf_of: Option<&str>,
) -> Result<Request, WorkflowError> {
    match (caller.delegate, on_behalf_of) {
        (false, None) => record(broker, caller, id, decision, comment, Via::Api).await,
        (false, Some(_)) => Err(InvalidValue::new(
            "on_behalf_of",
            "only a bot with the delegate scope decides on behalf of someone; decide as yourself",
        )
        .into()),
        (true, None) => Err(InvalidValue::new(
            "on_behalf_of",
            "a bot decides only for the human approver it names: send their UPN in on_behalf_of",
        )
        .into()),
        (true, Some(name)) => {
            if !caller.has(Role::Approver) {
                return Err(WorkflowError::Forbidden("the approver role is needed to decide requests".into()));
            }
            let name = Upn::parse(name).map_err(|e| InvalidValue::new("on_behalf_of", e.reason))?;
            let human = match broker.directory.resolve_user(name.as_str()).await {
                Ok(user) => user.upn,
                Err(crate::providers::directory::DirectoryError::NotFound(_)) => {
                    return Err(
                        InvalidValue::new("on_behalf_of", format!("{name} is not a user of the directory")).into()
                    );
                }
                Err(e) => return Err(WorkflowError::Directory(e)),
            };
            let approver = Caller { upn: human, roles: vec![Role::Approver], delegate: false, mfa_at: None };
            record(broker, &approver, id, decision, comment, Via::Bot(&caller.upn)).await
        }
    }
}

/// Records `caller`'s decision, as it reached Elevate `via`.
pub(super) async fn record(
    broker: &Broker,
    caller: &Caller,
    id: &str,
    decision: Decision,
    comment: Option<&str>,
    via: Via<'_>,
) -> Result<Request, WorkflowError> {
    let comment = Comment::parse(comment)?;
    let event = match decision {
        Decision::Approve => RequestEvent::Approve,
        Decision::Deny => RequestEvent::Deny,
    };
    // Authorise before the write transaction: the directory may be slow, and a write lock
    // must not wait on it.
    let request_id = RequestId::parse(id)?;
    let seen = requests::get(broker.store.conn(), &request_id)
        .await?
        .ok_or_else(|| WorkflowError::NotFound(format!("request {request_id}")))?;
    // Authorised first: a refusal tells a caller who may not decide nothing about the
    // request's state.
    may_decide(broker, caller, &seen, Freshness::Fresh).await?;
    if let Via::Bot(bot) = via
        && bot.as_str() == seen.filed_by
    {
        return Err(WorkflowError::Forbidden("this bot filed the request: it cannot carry its decision".into()));
    }
    if seen.status != RequestStatus::Pending {
        apply(&seen, event)?;
    }
    let tx = broker.store.begin().await?;
    let request = load_for_update(&tx, id).await?;
    if request.status != RequestStatus::Pending {
        apply(&request, event)?;
    }
    if request.stage != seen.stage {
        return Err(WorkflowError::Conflict("the request moved to another approval stage meanwhile; try again".into()));
    }
    // Past its due time a request is timing out (the sweep ends it soon): deciding it now
    // would, for a scheduled one, approve less of its window than the approvers were shown.
    if now() >= request.decision_due_at {
        return Err(WorkflowError::Conflict(format!(
            "the decision was due by {}: the request is timing out; it can be filed again",
            crate::domain::format_millis(request.decision_due_at)
        )));
    }
    if let Via::Chat(press) = via
        && (press.card.stage, press.card.version) != (request.stage, request.version)
    {
        return Err(WorkflowError::Conflict(
            "the request changed since this card was sent; it now shows where the request stands".into(),
        ));
    }
    if let Via::Link(link) = via {
        if (link.stg, link.ver) != (request.stage, request.version) {
            return Err(WorkflowError::LinkOutdated);
        }
        if !link_tokens::spend(&tx, &link.jti, link.exp * 1000).await? {
            return Err(WorkflowError::LinkUsed);
        }
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
    let subject = Subject::Request(&request.id);
    let (via_name, bot) = match via {
        Via::Api => ("api", None),
        Via::Bot(bot) => ("bot", Some(bot.as_str())),
        Via::Link(_) => ("email_link", None),
        Via::Chat(press) => (press.app.as_str(), None),
    };
    let mut details = json!({ "stage": request.stage, "comment": comment.as_deref(), "via": via_name });
    if let Some(bot) = bot {
        details["bot"] = json!(bot);
    }
    // Who pressed, as the chat app knows them, next to the directory identity (the actor).
    if let Via::Chat(press) = via {
        details["chat_user"] = json!(press.chat_user);
    }
    let at = now();
    let updated = match decision {
        Decision::Deny => {
            audit::append(&tx, NewEvent::new(caller.upn.as_str(), "request.denied", subject, details)).await?;
            let denied = apply(&request, RequestEvent::Deny)?;
            let denied = requests::update(&tx, &request, denied).await?;
            let notice =
                Notice::Denied { approver: caller.upn.to_string(), comment: comment.as_deref().map(str::to_owned) };
            notifications::notify(broker, &tx, &denied, notice, at).await?;
            denied
        }
        Decision::Approve => {
            audit::append(&tx, NewEvent::new(caller.upn.as_str(), "request.approval_given", subject, details)).await?;
            let profile = broker.profile_of(&request)?;
            let required = profile.approval.stage(request.stage).map_or(1, |s| s.required);
            let given = decisions::approvals_at_stage(&tx, &request.id, request.stage).await?;
            let progress = Notice::ApprovalGiven { approver: caller.upn.to_string(), stage: request.stage };
            if given < u64::from(required) {
                // Still short of the quorum. The request itself does not change, so the
                // other approvers' links stay good.
                notifications::notify(broker, &tx, &request, progress, at).await?;
                request
            } else if profile.approval.stage(request.stage + 1).is_some() {
                let next = Request {
                    stage: request.stage + 1,
                    stage_started_at: Some(at),
                    reminded_at: None,
                    escalated_at: None,
                    ..request.clone()
                };
                let details = json!({ "stage": next.stage });
                audit::append(&tx, NewEvent::system("request.stage_advanced", subject, details)).await?;
                let next = requests::update(&tx, &request, next).await?;
                notifications::notify(broker, &tx, &next, progress, at).await?;
                let ask = Notice::ApprovalNeeded { stage: next.stage, version: next.version };
                notifications::notify(broker, &tx, &next, ask, at).await?;
                next
            } else {
                ensure_extended_is_active(&tx, &request).await?;
                let (approved, _) = grant::approve(&tx, &request).await?;
                let details = json!({ "stage": request.stage, "approvals": given });
                audit::append(&tx, NewEvent::system("request.approved", subject, details)).await?;
                notifications::notify(broker, &tx, &approved, Notice::Approved, at).await?;
                approved
            }
        }
    };
    tx.commit().await?;
    let label = if decision == Decision::Approve { "approve" } else { "deny" };
    broker.metrics.decisions.with_label_values(&[label]).inc();
    broker.wake_worker();
    Ok(updated)
}

/// An extension is approved only while the grant it extends is still active: approving it
/// after that grant ended would open a fresh window nobody asked for.
async fn ensure_extended_is_active(tx: &sea_orm::DatabaseTransaction, request: &Request) -> Result<(), WorkflowError> {
    let Some(extended) = &request.extends else { return Ok(()) };
    let status = requests::get(tx, extended).await?.map_or("gone", |r| r.status.as_str());
    if status == RequestStatus::Active.as_str() {
        Ok(())
    } else {
        Err(WorkflowError::Conflict(format!(
            "the request this extends is {status}, no longer active: file a new request instead"
        )))
    }
}
