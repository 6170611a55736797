//! A Bot Framework test server standing in for what a Microsoft Teams bot talks to, with the
//! documented behaviour of each part:
//!
//! - Entra's token endpoint for a single-tenant bot: `POST /{tenant}/oauth2/v2.0/token`, the
//!   client-credentials grant with a secret and the `https://api.botframework.com/.default` scope,
//!   Entra's `error`/`AADSTS…` bodies
//!   (<https://learn.microsoft.com/azure/bot-service/rest-api/bot-framework-rest-connector-authentication>).
//! - login.botframework.com's OpenID metadata and signing keys (JWKs with `endorsements`), and
//!   the Connector→bot JWT they verify: RS256 with `kid`/`x5t`, `iss`
//!   `https://api.botframework.com`, `aud` the bot's app id, `serviceurl` (same page; the SDKs
//!   spell the claim in lower case), `nbf`/`exp`.
//! - The Bot Connector's conversations API under the service URL `{url}/teams/`: create a
//!   conversation, send to it, update an activity, with `ResourceResponse`/`ErrorResponse` bodies
//!   (<https://learn.microsoft.com/azure/bot-service/rest-api/bot-framework-rest-connector-api-reference>)
//!   and Teams' codes: 403 when the app is not installed for the user, 404 `ConversationNotFound`
//!   and `ActivityNotFoundInConversation`, 429 `Throttled` with `Retry-After`, 503
//!   (<https://learn.microsoft.com/microsoftteams/platform/bots/how-to/conversations/conversation-messages#status-codes-from-bot-conversational-apis>,
//!   <https://learn.microsoft.com/microsoftteams/platform/bots/how-to/conversations/send-proactive-messages>).
//! - Teams itself on the other side: the `adaptiveCard/action` invoke it posts to the bot when a
//!   user presses an `Action.Execute` button
//!   (<https://learn.microsoft.com/adaptive-cards/authoring-cards/universal-action-model#request-format>).
use std::{
    collections::{BTreeMap, HashSet},
    sync::{Mutex, MutexGuard},
};

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use crate::{graph_server::TENANT, on_call_peer::Peer};

mod connector;
mod keys;

/// The bot's Microsoft App ID (its Entra application).
pub const BOT_APP_ID: &str = "b0770000-0000-4000-8000-0000000000b1";
pub const BOT_SECRET: &str = "bot-framework-test-secret";
const BOT_SCOPE: &str = "https://api.botframework.com/.default";
/// The issuer of the tokens the Bot Connector sends to bots.
const ISSUER: &str = "https://api.botframework.com";
const ADAPTIVE_CARD: &str = "application/vnd.microsoft.card.adaptive";

/// An activity the bot sent, as it stands now.
struct Posted {
    conversation: String,
    id: String,
    activity: Value,
    updates: usize,
}

#[derive(Default)]
struct State {
    /// This server's URL, for the metadata's `jwks_uri`.
    url: String,
    /// The JWKs `/v1/.well-known/keys` publishes.
    published: Vec<Value>,
    jwks_fetches: usize,
    tokens: HashSet<String>,
    tokens_issued: usize,
    /// Object ids of the users who installed the app (personal scope).
    installed: HashSet<String>,
    /// Object id → the `29:` id Teams gives that user for this bot.
    teams_ids: BTreeMap<String, String>,
    /// Conversation id → the member's object id (personal), or none (a channel's).
    conversations: BTreeMap<String, Option<String>>,
    posted: Vec<Posted>,
    last_activity_id: i64,
    throttle_next: usize,
    outage: bool,
    throttled: usize,
}

impl State {
    fn conversation_of(&self, aad_object_id: &str) -> Option<String> {
        self.conversations.iter().find(|(_, member)| member.as_deref() == Some(aad_object_id)).map(|(id, _)| id.clone())
    }

    fn teams_id(&mut self, aad_object_id: &str) -> String {
        self.teams_ids.entry(aad_object_id.to_owned()).or_insert_with(|| format!("29:1{}", random_text(3))).clone()
    }
}

type Shared = web::Data<Mutex<State>>;

fn lock(state: &Shared) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

/// Random base64url text, 16 bytes per uuid: the shape of Teams' opaque ids.
fn random_text(uuids: usize) -> String {
    let bytes: Vec<u8> = (0..uuids).flat_map(|_| *uuid::Uuid::new_v4().as_bytes()).collect();
    keys::base64url(&bytes)
}

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/.well-known/openidconfiguration", web::get().to(keys::openid_configuration))
        .route("/v1/.well-known/keys", web::get().to(keys::keys))
        .route("/{tenant}/oauth2/v2.0/token", web::post().to(keys::token))
        .route("/teams/v3/conversations", web::post().to(connector::create_conversation))
        .route("/teams/v3/conversations/{conversation}/activities", web::post().to(connector::send_to_conversation))
        .route(
            "/teams/v3/conversations/{conversation}/activities/{activity}",
            web::post().to(connector::reply_to_activity),
        )
        .route(
            "/teams/v3/conversations/{conversation}/activities/{activity}",
            web::put().to(connector::update_activity),
        )
        .default_service(web::to(|req: HttpRequest| async move {
            // ASP.NET Web API's answer for a route it does not have.
            let message = format!("No HTTP resource was found that matches the request URI '{}'.", req.uri());
            HttpResponse::NotFound().json(json!({ "message": message }))
        }));
}

/// A message the bot sent to a conversation.
#[derive(Debug, Clone)]
pub struct Sent {
    pub conversation: String,
    /// The object id of the personal conversation's user.
    pub member: Option<String>,
    pub activity_id: String,
    /// The latest content (after any updates).
    pub activity: Value,
    pub updates: usize,
}

/// What a Connector→bot token says and who signs it; `genuine` gives what the real one would.
#[derive(Debug, Clone)]
pub struct ChannelToken {
    pub audience: String,
    pub service_url: String,
    /// Negative for a token that has already expired.
    pub lifetime_secs: i64,
    /// Signed by a key the metadata does not publish.
    pub stranger: bool,
    pub issuer: String,
}

impl ChannelToken {
    pub fn genuine(server: &BotFramework) -> Self {
        Self {
            audience: BOT_APP_ID.to_owned(),
            service_url: server.service_url(),
            lifetime_secs: 3600,
            stranger: false,
            issuer: ISSUER.to_owned(),
        }
    }
}

pub struct BotFramework {
    /// e.g. `http://127.0.0.1:PORT`.
    pub url: String,
    peer: Peer<State>,
    genuine: keys::KeyPair,
    stranger: keys::KeyPair,
    client: reqwest::Client,
}

impl BotFramework {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let genuine = keys::generate(dir.path(), "published");
        let stranger = keys::generate(dir.path(), "stranger");
        let peer: Peer<State> = Peer::serve(routes).await;
        {
            let mut s = peer.state();
            s.url = peer.url.clone();
            s.published = vec![genuine.jwk.clone()];
        }
        let client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(30)).build().expect("a client");
        Self { url: peer.url.clone(), peer, genuine, stranger, client }
    }

    pub async fn stop(&self) {
        self.peer.stop().await;
    }

    /// `[teams]` for Elevate's configuration.
    pub fn config(&self) -> String {
        format!(
            "[teams]\napp_id = \"{BOT_APP_ID}\"\ntenant_id = \"{TENANT}\"\nclient_secret = \"{BOT_SECRET}\"\nauthority_url = \"{}\"\nopenid_metadata_url = \"{}\"\nservice_url = \"{}\"\n",
            self.authority_url(),
            self.openid_metadata_url(),
            self.service_url()
        )
    }

    /// The Bot Connector's base URL for Teams (really `https://smba.trafficmanager.net/teams/`).
    pub fn service_url(&self) -> String {
        format!("{}/teams/", self.url)
    }

    pub fn openid_metadata_url(&self) -> String {
        format!("{}/v1/.well-known/openidconfiguration", self.url)
    }

    /// Entra's authority: the token URL is `{authority}/{tenant}/oauth2/v2.0/token`.
    pub fn authority_url(&self) -> String {
        self.url.clone()
    }

    /// The user installs the app in their personal scope: the bot may now open a chat with them.
    pub fn install_for(&self, aad_object_id: &str) {
        self.peer.state().installed.insert(aad_object_id.to_owned());
    }

    /// A channel conversation (`19:…@thread.tacv2`) of a team the app is installed in.
    pub fn add_channel(&self, conversation_id: &str) {
        self.peer.state().conversations.insert(conversation_id.to_owned(), None);
    }

    /// Every message the bot sent, in the order sent, as it stands now.
    pub fn sent(&self) -> Vec<Sent> {
        let s = self.peer.state();
        s.posted
            .iter()
            .map(|p| Sent {
                conversation: p.conversation.clone(),
                member: s.conversations.get(&p.conversation).cloned().flatten(),
                activity_id: p.id.clone(),
                activity: p.activity.clone(),
                updates: p.updates,
            })
            .collect()
    }

    pub fn conversation_of(&self, aad_object_id: &str) -> Option<String> {
        self.peer.state().conversation_of(aad_object_id)
    }

    /// The card of the latest message carrying one in the user's personal conversation.
    pub fn card_for(&self, aad_object_id: &str) -> Option<Value> {
        let s = self.peer.state();
        let conversation = s.conversation_of(aad_object_id)?;
        s.posted
            .iter()
            .rev()
            .filter(|p| p.conversation == conversation)
            .find_map(|p| adaptive_card(&p.activity))
            .cloned()
    }

    /// Answers the next `n` connector calls with 429.
    pub fn throttle_next(&self, n: usize) {
        self.peer.state().throttle_next = n;
    }

    /// Every connector call is answered 503 while on.
    pub fn set_outage(&self, on: bool) {
        self.peer.state().outage = on;
    }

    /// How many calls were answered 429.
    pub fn throttled(&self) -> usize {
        self.peer.state().throttled
    }

    pub fn tokens_issued(&self) -> usize {
        self.peer.state().tokens_issued
    }

    /// Forgets every token issued, as a rotated secret would make them useless.
    pub fn revoke_tokens(&self) {
        self.peer.state().tokens.clear();
    }

    /// How many times the signing keys were fetched (the bot should cache them).
    pub fn jwks_fetches(&self) -> usize {
        self.peer.state().jwks_fetches
    }

    /// Publishes the stranger's key too, as when Microsoft adds a key: its tokens now verify.
    pub fn publish_stranger_key(&self) {
        self.peer.state().published.push(self.stranger.jwk.clone());
    }

    /// A JWT like the one the Bot Connector puts in `Authorization` when it calls the bot.
    pub fn channel_token(&self, t: ChannelToken) -> String {
        let signer = if t.stranger { &self.stranger } else { &self.genuine };
        let now = chrono::Utc::now().timestamp();
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = Some(signer.kid.clone());
        header.x5t = Some(signer.kid.clone());
        let claims = json!({
            "iss": t.issuer, "aud": t.audience, "serviceurl": t.service_url,
            "nbf": now - 10, "iat": now - 10, "exp": now + t.lifetime_secs,
        });
        jsonwebtoken::encode(&header, &claims, &signer.signing).expect("an RS256 signature")
    }

    /// The invoke Teams posts when the user presses the card's `Action.Execute` with `verb`.
    pub fn invoke(&self, from_aad_object_id: &str, conversation_id: &str, card: &Value, verb: &str) -> Value {
        let found = execute_action(card, verb)
            .unwrap_or_else(|| panic!("the card has no Action.Execute with verb {verb:?}: {card}"));
        // `value.action` is a copy of the card's action.
        let action = found.clone();
        let mut s = self.peer.state();
        let user_id = s.teams_id(from_aad_object_id);
        let name = format!("User {}", from_aad_object_id.get(..8).unwrap_or(from_aad_object_id));
        let mut activity = json!({
            "type": "invoke",
            "name": "adaptiveCard/action",
            "id": uuid::Uuid::new_v4().to_string(),
            "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "serviceUrl": self.service_url(),
            "channelId": "msteams",
            "from": { "id": user_id, "name": name, "aadObjectId": from_aad_object_id },
            "conversation": { "conversationType": "personal", "tenantId": TENANT, "id": conversation_id },
            "recipient": { "id": format!("28:{BOT_APP_ID}"), "name": "Elevate" },
            "locale": "en-US",
            "channelData": { "tenant": { "id": TENANT } },
            "value": { "action": action, "trigger": "manual" },
        });
        // The message that carries the card.
        let carrier = s
            .posted
            .iter()
            .rev()
            .find(|p| p.conversation == conversation_id && adaptive_card(&p.activity) == Some(card));
        if let Some(carrier) = carrier {
            activity["replyToId"] = json!(carrier.id);
        }
        activity
    }

    /// POSTs an activity to the bot's messaging endpoint, with `Authorization: Bearer token` if
    /// given: the status and the JSON body (`Null` if not JSON).
    pub async fn post_activity(&self, bot_endpoint: &str, token: Option<&str>, activity: &Value) -> (u16, Value) {
        let mut request = self.client.post(bot_endpoint).json(activity);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("the bot's endpoint answers");
        let status = response.status().as_u16();
        let body = response.bytes().await.ok().and_then(|b| serde_json::from_slice::<Value>(&b).ok());
        (status, body.unwrap_or(Value::Null))
    }

    /// The user presses `verb` on the latest card in their personal conversation, as Teams
    /// delivers it: an invoke with a genuine token.
    pub async fn press(&self, bot_endpoint: &str, aad_object_id: &str, verb: &str) -> (u16, Value) {
        let card = self.card_for(aad_object_id).unwrap_or_else(|| panic!("no card was sent to {aad_object_id}"));
        let conversation = self.conversation_of(aad_object_id).unwrap_or_default();
        let activity = self.invoke(aad_object_id, &conversation, &card, verb);
        let token = self.channel_token(ChannelToken::genuine(self));
        self.post_activity(bot_endpoint, Some(&token), &activity).await
    }
}

/// The first Adaptive Card attached to an activity.
fn adaptive_card(activity: &Value) -> Option<&Value> {
    activity["attachments"].as_array()?.iter().find(|a| a["contentType"] == ADAPTIVE_CARD).map(|a| &a["content"])
}

/// The `Action.Execute` with `verb` anywhere a user can press it: the card's actions, `ActionSet`s
/// and containers in its body, `selectAction`s, `Action.ShowCard` cards; not the `refresh` action.
fn execute_action<'a>(node: &'a Value, verb: &str) -> Option<&'a Value> {
    match node {
        Value::Object(fields) => {
            let is = |key: &str, value: &str| fields.get(key).and_then(Value::as_str) == Some(value);
            if is("type", "Action.Execute") && is("verb", verb) {
                return Some(node);
            }
            fields
                .iter()
                .filter(|(key, _)| key.as_str() != "refresh")
                .find_map(|(_, child)| execute_action(child, verb))
        }
        Value::Array(items) => items.iter().find_map(|item| execute_action(item, verb)),
        _ => None,
    }
}
