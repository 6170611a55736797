//! Chat approvals' jobs. A notice's fan-out writes one `send_chat` job per approver and chat
//! app (a card in their personal chat) and one per configured channel; every change of a
//! request that was asked about in chat writes one `refresh_chat` job, which brings each of its
//! cards to what it should show now (decided by whom, or still waiting) and updates only the
//! cards whose standing changed. Both take the request's chat lock key, so a card being sent
//! is never refreshed half-way: the refresh runs after it and sees it. Delivery is at least
//! once: a card posted just before a crash (its row not yet written) is posted again, and
//! only the second one is kept up to date.
use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{JobKind, effects::EffectError, notifications};
use crate::{
    broker::Broker,
    domain::{ChatApp, RequestId, RequestStatus, Upn, now},
    notify::{
        Notice,
        cards::{Buttons, Card, CardAction, Rendered},
        messages,
    },
    providers::{chat::ChatError, directory::DirectoryUser},
    store::{
        StoreError, audit,
        audit::{NewEvent, Subject},
        chat_messages::{self, NewChatMessage},
        decisions,
        jobs::{self, Job, NewJob},
        requests::{self, Request},
    },
};

#[derive(Serialize, Deserialize)]
struct SendPayload {
    request: RequestId,
    notice: Notice,
    app: ChatApp,
    /// The approver's personal chat; `None`: the app's channel.
    to: Option<Recipient>,
}

#[derive(Serialize, Deserialize)]
struct Recipient {
    upn: String,
    /// The Entra object id (Teams addresses people by it).
    object_id: String,
    /// Their mail (Slack finds people by it).
    address: String,
}

#[derive(Serialize, Deserialize)]
struct RefreshPayload {
    request: RequestId,
}

fn lock_key(request: &RequestId) -> String {
    format!("chat:{request}")
}

/// The configured chat apps.
fn apps(broker: &Broker) -> Vec<ChatApp> {
    let n = &broker.notifier;
    [n.teams.as_ref().map(|_| ChatApp::Teams), n.slack.as_ref().map(|_| ChatApp::Slack)].into_iter().flatten().collect()
}

/// Writes the chat deliveries of a notice (inside the fan-out's transaction): a card to each
/// of `deciders` for what they are asked or must review, and a message to each app's channel
/// for what goes to chat. Returns how many.
pub async fn enqueue(
    broker: &Broker,
    c: &impl ConnectionTrait,
    request: &RequestId,
    notice: &Notice,
    deciders: &[DirectoryUser],
) -> Result<usize, StoreError> {
    let mut sends = Vec::new();
    for app in apps(broker) {
        for user in deciders {
            let to = Recipient { upn: user.upn.to_string(), object_id: user.id.clone(), address: user.address() };
            sends.push(SendPayload { request: request.clone(), notice: notice.clone(), app, to: Some(to) });
        }
        if notice.goes_to_chat() && channel_of(broker, app).is_some() {
            sends.push(SendPayload { request: request.clone(), notice: notice.clone(), app, to: None });
        }
    }
    let count = sends.len();
    for p in sends {
        let payload = json!(p);
        let job = NewJob {
            kind: JobKind::SendChat,
            grant_id: None,
            lock_key: Some(lock_key(request)),
            payload,
            due_at: now(),
        };
        jobs::enqueue(c, job).await?;
    }
    Ok(count)
}

/// Asks for the request's cards to be brought up to date (in the transaction that changed it).
pub async fn refresh_later(broker: &Broker, c: &impl ConnectionTrait, request: &RequestId) -> Result<(), StoreError> {
    if !broker.notifier.has_chat_apps() {
        return Ok(());
    }
    let key = lock_key(request);
    let at = now();
    if jobs::pending_by(c, JobKind::RefreshChat, &key, at).await? {
        return Ok(()); // One waiting refresh reads the latest state anyway.
    }
    let payload = json!(RefreshPayload { request: request.clone() });
    jobs::enqueue(c, NewJob { kind: JobKind::RefreshChat, grant_id: None, lock_key: Some(key), payload, due_at: at })
        .await
}

fn channel_of(broker: &Broker, app: ChatApp) -> Option<String> {
    match app {
        ChatApp::Teams => broker.notifier.teams.as_ref()?.channel_id.clone(),
        ChatApp::Slack => broker.notifier.slack.as_ref()?.channel_id.clone(),
    }
}

/// Sends one card, while the notice still matters; keeps the cards that ask for a decision.
pub async fn send(broker: &Broker, job: &Job) -> Result<(), EffectError> {
    let p: SendPayload = notifications::payload(job)?;
    let Some((request, content)) = notifications::current_content(broker, &p.request, &p.notice).await? else {
        return Ok(());
    };
    let asked = p.notice.asks_decision();
    let recipient = p.to.as_ref().map(|to| Upn::parse(&to.upn)).transpose().map_err(EffectError::permanent)?;
    // An ask shows where the request stands as it goes out (someone may have decided since
    // the fan-out), and is kept with that standing for the refreshes.
    let (card, shown) = match asked {
        Some((stage, version)) => {
            let now = card_now(broker, &request, recipient.as_ref(), stage, version).await?;
            let shown = now.shown.clone();
            (now.render(p.app), shown)
        }
        None => (Card { content: &content, status: None, buttons: Buttons::Open }.render(p.app), String::new()),
    };
    let (conversation, message_id) = post(broker, &p, &card).await.map_err(chat_error)?;
    let tx = broker.store.begin().await?;
    if let Some((stage, version)) = asked {
        let row = NewChatMessage {
            request_id: &request.id,
            app: p.app,
            recipient: p.to.as_ref().map(|to| to.upn.as_str()),
            conversation: &conversation,
            message_id: &message_id,
            stage,
            version,
            shown,
        };
        chat_messages::insert(&tx, row).await?;
    }
    let to = p.to.as_ref().map_or("channel", |to| to.upn.as_str());
    let details = json!({ "event": p.notice.event(), "app": p.app.as_str(), "to": to });
    audit::append(&tx, NewEvent::system("notification.chat", Subject::Request(&request.id), details)).await?;
    tx.commit().await?;
    Ok(())
}

/// Posts the card where the payload says; returns (conversation, message id).
async fn post(broker: &Broker, p: &SendPayload, card: &Rendered) -> Result<(String, String), ChatError> {
    let not_configured = |app: ChatApp| ChatError::Permanent {
        service: app.title(),
        message: "is no longer configured (or has no channel)".into(),
    };
    match p.app {
        ChatApp::Teams => {
            let bot = broker.notifier.teams.as_ref().ok_or(not_configured(p.app))?;
            let conversation = match &p.to {
                Some(to) => bot.personal_conversation(&to.object_id).await?,
                None => bot.channel_id.clone().ok_or(not_configured(p.app))?,
            };
            let id = bot.send(&conversation, &card.body).await?;
            Ok((conversation, id))
        }
        ChatApp::Slack => {
            let app = broker.notifier.slack.as_ref().ok_or(not_configured(p.app))?;
            let channel = match &p.to {
                Some(to) => app.direct_channel(&to.address).await?,
                None => app.channel_id.clone().ok_or(not_configured(p.app))?,
            };
            let ts = app.post(&channel, &card.text, &card.body).await?;
            Ok((channel, ts))
        }
    }
}

/// The buttons of a card that asks `recipient` (or a channel) to decide: decide in chat, or
/// the approver's own confirmation links where the profile wants a signed-in decision (a
/// channel then gets only the request's page).
fn buttons(
    broker: &Broker,
    request: &Request,
    recipient: Option<&Upn>,
    stage: i32,
    version: i32,
) -> Result<Buttons, EffectError> {
    let profile = broker.profile_of(request).map_err(EffectError::permanent)?;
    if !broker.chat_needs_sign_in(profile) {
        return Ok(Buttons::Decide(CardAction { request: request.id.clone(), stage, version }));
    }
    let Some(approver) = recipient else { return Ok(Buttons::Open) };
    let [approve, deny] =
        broker.notifier.approval_links(request, approver, stage, version).map_err(EffectError::permanent)?;
    Ok(Buttons::Links { approve, deny })
}

/// Updates every card of the request whose standing changed since it was last shown.
pub async fn refresh(broker: &Broker, job: &Job) -> Result<(), EffectError> {
    let p: RefreshPayload = notifications::payload(job)?;
    let conn = broker.store.conn();
    let Some(request) = requests::get(conn, &p.request).await? else { return Ok(()) };
    let messages = chat_messages::for_request(conn, &request.id).await?;
    let decisions = decisions::for_request(conn, &request.id).await?;
    for message in messages {
        let ask = Ask { recipient: message.recipient.as_deref(), stage: message.stage, version: message.version };
        let (open, status) = standing(&request, &decisions, &ask);
        if standing_key(open, status.as_deref()) == message.shown {
            continue;
        }
        let Some(app) = ChatApp::parse(&message.app) else { continue };
        let now = card_for(broker, &request, &ask, open, status)?;
        let key = now.shown.clone();
        let card = now.render(app);
        let updated = match app {
            ChatApp::Teams => match &broker.notifier.teams {
                Some(bot) => bot.update(&message.conversation, &message.message_id, &card.body).await,
                None => continue,
            },
            ChatApp::Slack => match &broker.notifier.slack {
                Some(slack) => slack.update(&message.conversation, &message.message_id, &card.text, &card.body).await,
                None => continue,
            },
        };
        match updated {
            Ok(()) => chat_messages::mark_shown(conn, message.id, &key).await?,
            // A message deleted in chat (or a chat the bot left) cannot be updated: it is
            // passed over. Any other refusal (a credential) fails the job, audited.
            Err(ChatError::Gone { .. }) => chat_messages::mark_shown(conn, message.id, &key).await?,
            Err(e) => return Err(chat_error(e)),
        }
    }
    Ok(())
}

/// What a card asked, and of whom (`None`: a channel).
struct Ask<'a> {
    recipient: Option<&'a str>,
    stage: i32,
    version: i32,
}

/// The card that asked `ask` should show now.
fn card_for(
    broker: &Broker,
    request: &Request,
    ask: &Ask<'_>,
    open: bool,
    status: Option<String>,
) -> Result<CardNow, EffectError> {
    let profile = broker.profile_of(request).map_err(EffectError::permanent)?;
    let risk = broker.risk_tier(profile);
    let notice = Notice::ApprovalNeeded { stage: ask.stage, version: ask.version };
    let content =
        messages::content(&notice, request, profile, risk.as_deref(), broker.notifier.request_url(&request.id));
    let recipient = ask.recipient.map(Upn::parse).transpose().map_err(EffectError::permanent)?;
    let buttons =
        if open { buttons(broker, request, recipient.as_ref(), ask.stage, ask.version)? } else { Buttons::Open };
    let shown = standing_key(open, status.as_deref());
    Ok(CardNow { content, status, buttons, shown })
}

/// A card's content as owned values (`Card` borrows them).
pub struct CardNow {
    content: messages::Content,
    status: Option<String>,
    buttons: Buttons,
    /// Its standing, as `chat_messages.shown` keeps it.
    shown: String,
}

impl CardNow {
    /// The same card with another line on where the request stands (when `status` is some).
    pub fn with_status(mut self, status: Option<String>) -> Self {
        if status.is_some() {
            self.status = status;
        }
        self
    }

    pub fn render(self, app: ChatApp) -> Rendered {
        Card { content: &self.content, status: self.status, buttons: self.buttons }.render(app)
    }
}

/// The card that `approver` should see now for a card about (stage, version) of `request`:
/// what a press is answered with.
pub async fn card_now(
    broker: &Broker,
    request: &Request,
    approver: Option<&Upn>,
    stage: i32,
    version: i32,
) -> Result<CardNow, EffectError> {
    let decisions = decisions::for_request(broker.store.conn(), &request.id).await?;
    let ask = Ask { recipient: approver.map(Upn::as_str), stage, version };
    let (open, status) = standing(request, &decisions, &ask);
    card_for(broker, request, &ask, open, status)
}

/// Whether the card still asks its recipient to decide, and the line on where the request
/// stands (none while nothing happened since it was asked).
fn standing(request: &Request, decisions: &[decisions::Decision], ask: &Ask<'_>) -> (bool, Option<String>) {
    let names = |approve: bool, stage: Option<i32>| {
        let names: Vec<&str> = decisions
            .iter()
            .filter(|d| decisions::is_approval(d) == approve && stage.is_none_or(|s| d.stage == s))
            .map(|d| d.approver.as_str())
            .collect();
        if names.is_empty() { "nobody".to_owned() } else { names.join(", ") }
    };
    let same_ask =
        request.status == RequestStatus::Pending && request.stage == ask.stage && request.version == ask.version;
    if same_ask {
        let decided = ask.recipient.is_some_and(|r| decisions.iter().any(|d| d.approver == r));
        if decided {
            return (false, Some("You have decided; the request waits for other approvers.".to_owned()));
        }
        let given = decisions.iter().any(|d| d.stage == ask.stage && decisions::is_approval(d));
        let line =
            given.then(|| format!("Approved so far by {}; more approvals are needed.", names(true, Some(ask.stage))));
        return (true, line);
    }
    let line = match request.status {
        RequestStatus::Pending if request.stage != ask.stage => format!(
            "Stage {} approved by {}; the request now waits for stage {}.",
            ask.stage,
            names(true, Some(ask.stage)),
            request.stage
        ),
        RequestStatus::Pending => "The request changed since this was sent: open it in Elevate.".to_owned(),
        RequestStatus::Denied => format!("Denied by {}.", names(false, None)),
        RequestStatus::Cancelled => "Cancelled by the requester: nothing to decide any more.".to_owned(),
        RequestStatus::TimedOut => "Timed out: nobody decided in time.".to_owned(),
        status => format!("Approved by {}. The request is {status}.", names(true, None)),
    };
    (false, Some(line))
}

/// What a card's standing is stored as (it changes exactly when the card must be updated).
fn standing_key(open: bool, status: Option<&str>) -> String {
    format!("{}|{}", if open { "open" } else { "closed" }, status.unwrap_or_default())
}

fn chat_error(e: ChatError) -> EffectError {
    match e {
        ChatError::Transient { ref message, retry_after, service } => {
            EffectError::Retry { message: format!("{service}: {message}"), after: retry_after }
        }
        permanent @ (ChatError::Permanent { .. } | ChatError::Gone { .. }) => EffectError::permanent(permanent),
    }
}
