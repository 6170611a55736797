//! Decisions pressed in Teams or Slack. The chat app proves who pressed — the Bot Connector's
//! signed activity names an Entra object id; a signed Slack request names a Slack user whose
//! confirmed email the directory must know — and the directory gives the approver. Then the
//! same rules as the API decide (`decide::record`): the approver of the stage, never the
//! requester or the bot's driver, once, for the stage and version the card showed. Profiles
//! that want a signed-in decision (high-risk roles, `require_sign_in_for_links = true`) are
//! never decided in chat: their cards open Elevate's confirmation page instead.
use super::{Broker, WorkflowError, decide};
use crate::{
    domain::{Caller, ChatApp, RequestId, Role, Upn},
    jobs::chat::{CardNow, card_now},
    notify::cards::CardAction,
    providers::{chat::ChatError, directory::DirectoryError},
    store::{requests, requests::Request},
};

/// Who pressed, as the chat app proved it.
pub enum Presser<'a> {
    /// A Teams user: the activity's `from.id` and `from.aadObjectId`.
    Teams { chat_user: &'a str, object_id: &'a str },
    /// A Slack user id (`U…`).
    Slack { user_id: &'a str },
}

impl Presser<'_> {
    fn app(&self) -> ChatApp {
        match self {
            Self::Teams { .. } => ChatApp::Teams,
            Self::Slack { .. } => ChatApp::Slack,
        }
    }

    fn chat_user(&self) -> &str {
        match self {
            Self::Teams { chat_user, .. } => chat_user,
            Self::Slack { user_id } => user_id,
        }
    }
}

/// What became of a press.
pub struct PressResult {
    /// The decision, or why none was made.
    pub outcome: Result<Request, WorkflowError>,
    /// The card as the presser should now see it (when the request exists).
    pub card: Option<CardNow>,
}

/// Decides as pressed. The refusal, if any, is in `outcome`; the card shows the presser where
/// the request stands either way.
pub async fn press(broker: &Broker, presser: Presser<'_>, card: &CardAction, approve: bool) -> PressResult {
    let approver = match identify(broker, &presser).await {
        Ok(upn) => upn,
        Err(e) => return PressResult { outcome: Err(e), card: None },
    };
    let outcome = decide_as(broker, &presser, &approver, card, approve).await;
    // The card is shown again only to whom may see it: after a decision, or a refusal that
    // came after the presser was found entitled (the request moved on meanwhile).
    let request = match &outcome {
        Ok(request) => Some(request.clone()),
        Err(WorkflowError::Conflict(_) | WorkflowError::Transition(_)) => {
            requests::get(broker.store.conn(), &card.request).await.ok().flatten()
        }
        Err(_) => None,
    };
    let card = match request {
        Some(request) => card_now(broker, &request, Some(&approver), card.stage, card.version).await.ok(),
        None => None,
    };
    PressResult { outcome, card }
}

async fn decide_as(
    broker: &Broker,
    presser: &Presser<'_>,
    approver: &Upn,
    card: &CardAction,
    approve: bool,
) -> Result<Request, WorkflowError> {
    let request = requests::get(broker.store.conn(), &card.request)
        .await?
        .ok_or_else(|| WorkflowError::NotFound(format!("request {}", card.request)))?;
    let profile = broker.profile_of(&request)?;
    if broker.chat_needs_sign_in(profile) {
        return Err(WorkflowError::Forbidden(
            "this request is decided only in Elevate, signed in: open it there".into(),
        ));
    }
    let caller = Caller { upn: approver.clone(), roles: vec![Role::Approver], delegate: false, mfa_at: None };
    let decision = if approve { decide::Decision::Approve } else { decide::Decision::Deny };
    let press = decide::ChatPress { app: presser.app(), chat_user: presser.chat_user(), card };
    decide::record(broker, &caller, card.request.as_str(), decision, None, decide::Via::Chat(&press)).await
}

/// The directory user who pressed: by Entra object id (Teams), or by the confirmed email of
/// the Slack user. Anyone else is refused.
async fn identify(broker: &Broker, presser: &Presser<'_>) -> Result<Upn, WorkflowError> {
    let unknown = || WorkflowError::Forbidden("you are not a user Elevate's directory knows".into());
    match presser {
        Presser::Teams { object_id, .. } => match broker.directory.resolve_user(object_id).await {
            Ok(user) => Ok(user.upn),
            Err(DirectoryError::NotFound(_)) => Err(unknown()),
            Err(e) => Err(WorkflowError::Directory(e)),
        },
        Presser::Slack { user_id } => {
            let slack = broker.notifier.slack.as_ref().ok_or_else(|| WorkflowError::NotFound("Slack".into()))?;
            let user = slack.user(user_id).await.map_err(|e| match e {
                ChatError::Transient { .. } => WorkflowError::Conflict(format!("{e}: press again in a moment")),
                ChatError::Permanent { .. } | ChatError::Gone { .. } => WorkflowError::Forbidden(e.to_string()),
            })?;
            if user.outsider {
                return Err(WorkflowError::Forbidden(
                    "only full members of Elevate's Slack workspace decide here (not guests, bots or other workspaces)"
                        .into(),
                ));
            }
            let Some(email) = &user.confirmed_email else {
                return Err(WorkflowError::Forbidden(
                    "Slack has no confirmed email for you, so Elevate cannot tell who you are".into(),
                ));
            };
            match broker.directory.find_by_mail(email).await {
                Ok(Some(user)) => Ok(user.upn),
                Ok(None) => Err(unknown()),
                Err(e) => Err(WorkflowError::Directory(e)),
            }
        }
    }
}

/// Tells a Slack presser alone why nothing was decided (through the interaction's
/// `response_url`), after Slack has been answered: it waits 3 seconds at most.
pub fn tell_slack_presser(broker: &Broker, response_url: Option<&str>, text: String) {
    let (Some(url), Some(_)) = (response_url, &broker.notifier.slack) else { return };
    let (notifier, url) = (broker.notifier.clone(), url.to_owned());
    tokio::spawn(async move {
        if let Some(slack) = &notifier.slack {
            slack.reply_privately(&url, &text).await;
        }
    });
}

/// The request a card is about, parsed from what the chat app sent back.
pub fn card_action(value: &serde_json::Value) -> Result<CardAction, WorkflowError> {
    let action: CardAction = serde_json::from_value(value.clone()).map_err(|_| {
        WorkflowError::Invalid(crate::domain::InvalidValue::new("action", "not one of Elevate's cards"))
    })?;
    RequestId::parse(action.request.as_str())?;
    Ok(action)
}

/// A request to the bot's endpoint must be the Bot Connector's, for this bot, about this
/// tenant's users.
pub async fn accept_teams(
    broker: &Broker,
    authorization: Option<&str>,
    channel_id: &str,
    service_url: &str,
    tenant_id: Option<&str>,
) -> Result<(), WorkflowError> {
    let bot = broker.notifier.teams.as_ref().ok_or_else(|| WorkflowError::NotFound("the Teams bot".into()))?;
    bot.channel_auth().verify(authorization, channel_id, service_url).await.map_err(|e| {
        tracing::warn!(error = %e, "a request to the Teams endpoint was refused");
        WorkflowError::Unauthenticated(format!("Bot Framework authentication failed: {e}"))
    })?;
    if !tenant_id.is_some_and(|t| t.eq_ignore_ascii_case(&bot.tenant_id)) {
        return Err(WorkflowError::Forbidden("this bot serves only its own tenant".into()));
    }
    Ok(())
}

/// A request to the interactivity endpoint must be signed by Slack with the app's signing
/// secret, recently, and be seen once: a signature accepted before is refused (replicas share
/// the record of spent ones).
pub async fn accept_slack(
    broker: &Broker,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
) -> Result<(), WorkflowError> {
    use crate::providers::chat::slack::MAX_SIGNATURE_AGE_SECS;
    let slack = broker.notifier.slack.as_ref().ok_or_else(|| WorkflowError::NotFound("the Slack app".into()))?;
    let refused = |why: String| {
        tracing::warn!(reason = %why, "a request to the Slack endpoint was refused");
        WorkflowError::Unauthenticated(format!("Slack signature refused: {why}"))
    };
    let now_secs = crate::domain::now() / 1000;
    let signature = slack.verify(timestamp, signature, body, now_secs).map_err(|e| refused(e.to_string()))?;
    // Spent until it would be refused as stale anyway.
    let expires_at = (now_secs + 2 * MAX_SIGNATURE_AGE_SECS) * 1000;
    let key = format!("slack:{signature}");
    if !crate::store::link_tokens::spend(broker.store.conn(), &key, expires_at).await? {
        return Err(refused("this request was received before (a replay)".into()));
    }
    Ok(())
}
