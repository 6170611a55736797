//! Notification jobs. A notice is written as one `notify` job in the transaction of the change
//! it reports; that job finds the recipients (through the directory) and fans out into one
//! `send_mail` job per recipient and one `call_webhook` job per webhook, in one transaction
//! that also settles it. Each delivery is retried on its own, so a mail outage delays mail
//! but never blocks or loses a decision, and nobody gets a message twice because of someone
//! else's failure.
use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::effects::{EffectError, Finished};
use crate::{
    broker::Broker,
    domain::{RequestId, RequestStatus, Upn, now},
    notify::{Audience, Notice, messages},
    providers::{
        directory::DirectoryUser,
        mail::{MailError, mailbox},
        webhook::WebhookError,
    },
    store::{
        StoreError, audit,
        audit::{NewEvent, Subject},
        decisions,
        jobs::{self, Job, JobStatus, Lease, NewJob},
        requests::{self, Request},
    },
    telemetry::error_chain,
};

#[derive(Serialize, Deserialize)]
struct NotifyPayload {
    request: RequestId,
    notice: Notice,
}

#[derive(Serialize, Deserialize)]
struct MailPayload {
    request: RequestId,
    notice: Notice,
    to: String,
    name: String,
    address: String,
}

#[derive(Serialize, Deserialize)]
struct WebhookPayload {
    request: RequestId,
    notice: Notice,
    /// Index into `notify.webhook`.
    hook: usize,
}

/// Writes `notice` about `request` to go out at `due_at` (now, or later for a warning).
/// Without mail or webhooks configured nothing is written.
pub async fn notify(
    broker: &Broker,
    c: &impl ConnectionTrait,
    request: &Request,
    notice: Notice,
    due_at: i64,
) -> Result<(), StoreError> {
    if !broker.notifier.is_enabled() {
        return Ok(());
    }
    // A decision, a new stage, an end: the cards that asked about the request show it.
    if notice.asks_decision().is_none() {
        super::chat::refresh_later(broker, c, &request.id).await?;
    }
    let payload = serde_json::to_value(NotifyPayload { request: request.id.clone(), notice })
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    jobs::enqueue(c, NewJob { kind: super::JobKind::Notify, grant_id: None, lock_key: None, payload, due_at }).await
}

pub(super) fn payload<T: serde::de::DeserializeOwned>(job: &Job) -> Result<T, EffectError> {
    serde_json::from_str(&job.payload).map_err(|e| EffectError::permanent(format!("job {}: bad payload: {e}", job.id)))
}

async fn request_of(broker: &Broker, id: &RequestId) -> Result<Option<Request>, EffectError> {
    Ok(requests::get(broker.store.conn(), id).await?)
}

/// Finds the notice's recipients and writes one delivery job each; settles itself in the
/// same transaction, so a crash never fans out twice.
pub async fn fan_out(broker: &Broker, job: &Job, lease: &Lease) -> Result<Finished, EffectError> {
    let NotifyPayload { request: id, notice } = payload(job)?;
    let Some(request) = request_of(broker, &id).await? else { return Ok(Finished::ToRecord) };
    if !notice.is_current(&request) {
        return Ok(Finished::ToRecord);
    }
    let recipients = match notice.audience() {
        Audience::Requester => vec![broker.directory.resolve_user(&request.requester_id).await?],
        audience => deciders(broker, &request, audience).await?,
    };
    let tx = broker.store.begin().await?;
    let at = now();
    let delivery =
        |kind, payload: serde_json::Value| NewJob { kind, grant_id: None, lock_key: None, payload, due_at: at };
    let mut mailed = Vec::new();
    if broker.notifier.mailer.is_some() {
        for user in &recipients {
            let address = user.address();
            mailed.push(address.clone());
            let p = MailPayload {
                request: id.clone(),
                notice: notice.clone(),
                to: user.upn.to_string(),
                name: user.display_name.clone(),
                address,
            };
            jobs::enqueue(&tx, delivery(super::JobKind::SendMail, json!(p))).await?;
        }
    }
    // Cards go to those who decide or review (never to the requester: their news is mailed).
    let deciders = if matches!(notice.audience(), Audience::Requester) { &[][..] } else { &recipients[..] };
    let cards = super::chat::enqueue(broker, &tx, &id, &notice, deciders).await?;
    let hooks = if notice.goes_to_chat() { broker.notifier.webhooks.len() } else { 0 };
    for hook in 0..hooks {
        let p = WebhookPayload { request: id.clone(), notice: notice.clone(), hook };
        jobs::enqueue(&tx, delivery(super::JobKind::CallWebhook, json!(p))).await?;
    }
    let details = json!({ "event": notice.event(), "mail_to": mailed, "webhooks": hooks, "chat": cards });
    audit::append(&tx, NewEvent::system("notification.routed", Subject::Request(&id), details)).await?;
    if !jobs::settle(&tx, lease, JobStatus::Done, job.due_at, None).await? {
        // Another worker took the job over; it will fan out instead.
        return Err(EffectError::Fenced);
    }
    tx.commit().await?;
    broker.wake_worker();
    Ok(Finished::Recorded)
}

/// The people who may decide the request now and have not: the stage's approvers (or the
/// escalation approvers), never the requester.
async fn deciders(broker: &Broker, request: &Request, audience: Audience) -> Result<Vec<DirectoryUser>, EffectError> {
    let profile = broker.profile_of(request).map_err(EffectError::permanent)?;
    let principals = match audience {
        Audience::StageApprovers(stage) => profile.approval.stage(stage).map(|s| &s.approvers),
        Audience::Escalation => profile.escalation.as_ref(),
        Audience::Requester => None,
        Audience::ApproversAndAdmins => return everyone_to_tell(broker, request, profile).await,
    };
    let Some(principals) = principals else { return Ok(Vec::new()) };
    let decided: Vec<String> =
        decisions::for_request(broker.store.conn(), &request.id).await?.into_iter().map(|d| d.approver).collect();
    let requester = Upn::parse(&request.requester).map_err(EffectError::permanent)?;
    let mut people = broker.people_among(principals).await?;
    people.retain(|u| u.upn != requester && !decided.iter().any(|d| d == u.upn.as_str()));
    Ok(people)
}

/// The request and what the notice says about it, while the notice is still worth sending.
pub(super) async fn current_content(
    broker: &Broker,
    request_id: &RequestId,
    notice: &Notice,
) -> Result<Option<(Request, messages::Content)>, EffectError> {
    let Some(request) = request_of(broker, request_id).await? else { return Ok(None) };
    if !notice.is_current(&request) {
        return Ok(None);
    }
    let profile = broker.profile_of(&request).map_err(EffectError::permanent)?;
    let risk = broker.risk_tier(profile);
    let content =
        messages::content(notice, &request, profile, risk.as_deref(), broker.notifier.request_url(&request.id));
    Ok(Some((request, content)))
}

/// Renders and sends one mail; asks for a decision only while the request still waits for it.
pub async fn send_mail(broker: &Broker, job: &Job) -> Result<(), EffectError> {
    let p: MailPayload = payload(job)?;
    let Some(mailer) = &broker.notifier.mailer else { return Ok(()) };
    let Some((request, mut content)) = current_content(broker, &p.request, &p.notice).await? else { return Ok(()) };
    if let Some((stage, version)) = p.notice.asks_decision() {
        let approver = Upn::parse(&p.to).map_err(EffectError::permanent)?;
        let [approve, deny] =
            broker.notifier.approval_links(&request, &approver, stage, version).map_err(EffectError::permanent)?;
        let profile = broker.profile_of(&request).map_err(EffectError::permanent)?;
        content = content.with_links(approve, deny, broker.links_need_sign_in(profile));
    }
    let to = mailbox(&p.name, &p.address).map_err(mail_error)?;
    mailer.send(content.mail(to).map_err(mail_error)?).await.map_err(mail_error)?;
    audit_delivery(broker, &request, "notification.mailed", json!({ "event": p.notice.event(), "to": p.address })).await
}

/// Posts one chat message to one webhook.
pub async fn call_webhook(broker: &Broker, job: &Job) -> Result<(), EffectError> {
    let p: WebhookPayload = payload(job)?;
    let Some(hook) = broker.notifier.webhooks.get(p.hook) else {
        return Err(EffectError::permanent(format!("webhook #{} is no longer configured", p.hook)));
    };
    let Some((request, content)) = current_content(broker, &p.request, &p.notice).await? else { return Ok(()) };
    hook.post(&content.chat(&p.notice, &request)).await.map_err(|e| match e {
        WebhookError::Transient { message, retry_after } => EffectError::Retry { message, after: retry_after },
        WebhookError::Permanent(message) => EffectError::permanent(message),
    })?;
    audit_delivery(
        broker,
        &request,
        "notification.posted",
        json!({ "event": p.notice.event(), "webhook": hook.host() }),
    )
    .await
}

async fn audit_delivery(
    broker: &Broker,
    request: &Request,
    action: &'static str,
    details: serde_json::Value,
) -> Result<(), EffectError> {
    let tx = broker.store.begin().await?;
    audit::append(&tx, NewEvent::system(action, Subject::Request(&request.id), details)).await?;
    tx.commit().await?;
    Ok(())
}

fn mail_error(e: MailError) -> EffectError {
    match e {
        MailError::Transient(_) => EffectError::Retry { message: error_chain(&e), after: None },
        MailError::Permanent(_) => EffectError::permanent(e),
    }
}

/// The notice that tells the requester how their access ended.
pub fn ended(status: RequestStatus) -> Notice {
    Notice::Ended { status: status.as_str().to_owned() }
}

/// For a break-glass activation: every approver of every stage, the escalation approvers and
/// the admins, each once, never the requester.
async fn everyone_to_tell(
    broker: &Broker,
    request: &Request,
    profile: &crate::policy::Profile,
) -> Result<Vec<DirectoryUser>, EffectError> {
    let stages = [profile.approval.stage(1), profile.approval.stage(2)];
    let mut groups: Vec<&crate::policy::Principals> = stages.into_iter().flatten().map(|s| &s.approvers).collect();
    groups.extend(profile.escalation.as_ref());
    groups.push(&broker.staff.admins);
    let mut people: Vec<DirectoryUser> = Vec::new();
    for principals in groups {
        for person in broker.people_among(principals).await? {
            if person.upn.as_str() != request.requester && !people.iter().any(|p| p.upn == person.upn) {
                people.push(person);
            }
        }
    }
    Ok(people)
}
