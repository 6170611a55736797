//! A Slack test server: the Web API methods Elevate calls and Slack's side of interactivity,
//! as Slack documents them.
//!
//! - Web API (`{url}/api/{method}`, really `https://slack.com/api/{method}`;
//!   <https://docs.slack.dev/apis/web-api>): `auth.test`, `users.lookupByEmail`, `users.info`,
//!   `conversations.open`, `chat.postMessage`, `chat.update`
//!   (<https://docs.slack.dev/reference/methods/chat.postMessage> and its siblings). Arguments
//!   come in the query string, a form body, or (for the methods Slack lets take JSON) a JSON
//!   body; the bot token in `Authorization: Bearer` (or a form body's `token`). Every answer is
//!   HTTP 200 with `{"ok": …}` and Slack's error codes, except a rate limit (429 with
//!   `Retry-After`, <https://docs.slack.dev/apis/web-api/rate-limits>) and an outage (503), both
//!   switchable.
//! - Interactivity: a button press the way Slack posts it to the app's Request URL — a
//!   `block_actions` payload form-encoded as `payload=…`
//!   (<https://docs.slack.dev/interactivity/handling-user-interaction>,
//!   <https://docs.slack.dev/reference/interaction-payloads/block_actions-payload>), signed with
//!   the signing secret (`X-Slack-Signature`, `X-Slack-Request-Timestamp`;
//!   <https://api.slack.com/docs/verifying-requests-from-slack>) — and the `response_url` it
//!   carries (<https://docs.slack.dev/messaging/modifying-messages>).
//!
//! Users, conversations and messages live in memory; tests add users and read what was posted.
use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    path::Path,
    sync::{Mutex, MutexGuard},
};

use actix_web::{HttpResponse, web};
use serde_json::{Value, json};

use crate::on_call_peer::Peer;

mod interactions;
mod web_api;

pub use interactions::{INTERACTIONS_PATH, post_interaction, sign};

pub const SLACK_BOT_TOKEN: &str = "xoxb-1111111111-2222222222-elevatetestbottoken";
/// The signing secret of Slack's own example in "Verifying requests from Slack".
pub const SLACK_SIGNING_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
pub const TEAM_ID: &str = "T0ELEVATE";
const TEAM_NAME: &str = "Elevate Test";
/// The workspace's subdomain: `https://elevate-test.slack.com/`.
const TEAM_DOMAIN: &str = "elevate-test";
/// The app's bot user, which posts every message.
const BOT_USER_ID: &str = "U0BOT";
const BOT_USER_NAME: &str = "elevate";
const BOT_ID: &str = "B0BOT";
const APP_ID: &str = "A0ELEVATE";
/// The deprecated verification token Slack still puts in every interaction payload (signing
/// replaced it; an app must not rely on it).
const VERIFICATION_TOKEN: &str = "Rp4ELEVATEtestVerificationTkn";

/// A member of the workspace.
#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub email: String,
    /// The email's local part: Slack's `name`, real name and display name here.
    pub name: String,
    /// Whether they confirmed their email (`is_email_confirmed`).
    pub email_confirmed: bool,
    /// Deactivated (`deleted`).
    pub deleted: bool,
}

/// A message the bot posted, as it reads now.
#[derive(Debug, Clone, PartialEq)]
pub struct Posted {
    pub channel: String,
    pub ts: String,
    pub text: String,
    /// The Block Kit blocks (`[]` for none), with the `block_id`s Slack generated.
    pub blocks: Value,
    /// How many times it was changed since (`chat.update`, `response_url`).
    pub updates: usize,
}

#[derive(Debug, Default)]
pub struct State {
    /// This server's base URL, for the `response_url`s it hands out.
    pub url: String,
    pub users: Vec<User>,
    /// The members of a direct conversation (a user id, or several comma separated) → its id.
    pub dms: BTreeMap<String, String>,
    /// The channels the bot is a member of, by id.
    pub channels: BTreeSet<String>,
    /// Every message in a conversation, in the order posted.
    pub messages: Vec<Posted>,
    /// What went through a `response_url` as an ephemeral message (only the presser sees it).
    pub ephemeral: Vec<Posted>,
    /// Answer the next this many Web API calls with 429 (`ratelimited`, `Retry-After: 1`).
    pub throttle_next: usize,
    /// How many 429s were answered.
    pub throttled: usize,
    /// Answer every Web API call with 503.
    pub outage: bool,
    /// The Web API methods called, in order (whatever the answer).
    pub calls: Vec<String>,
    /// The scopes the bot token was granted (each answer names them in `x-oauth-scopes`).
    pub scopes: Vec<String>,
    /// `response_url` id → the message (channel, ts) whose button was pressed.
    response_urls: HashMap<String, (String, String)>,
    /// The last message `ts` handed out, in microseconds: each is later than the one before.
    last_ts: i64,
}

/// The server: `Peer`'s URL, state and stop, what tests set up and read, and the
/// configuration Elevate needs for it.
pub type SlackServer = Peer<State>;

impl SlackServer {
    pub async fn start() -> Self {
        let peer: Self = Peer::serve(|cfg| {
            cfg.route("/api/{method}", web::route().to(web_api::call))
                .route("/response/{id}", web::post().to(interactions::respond))
                .default_service(web::to(|| async { HttpResponse::NotFound().body("not_found") }));
        })
        .await;
        peer.state().url = peer.url.clone();
        peer.state().scopes = ["chat:write", "im:write", "users:read", "users:read.email"].map(String::from).to_vec();
        peer
    }

    /// The Web API's base URL, `{url}/api` (Slack's is `https://slack.com/api`).
    pub fn api_url(&self) -> String {
        format!("{}/api", self.url)
    }

    /// Writes the bot token and the signing secret into `dir` and returns Elevate's `[slack]`.
    pub fn config(&self, dir: &Path) -> String {
        let token = dir.join("slack-bot-token");
        let secret = dir.join("slack-signing-secret");
        std::fs::write(&token, SLACK_BOT_TOKEN).expect("write the Slack bot token");
        std::fs::write(&secret, SLACK_SIGNING_SECRET).expect("write the Slack signing secret");
        format!(
            "[slack]\nbot_token_file = \"{}\"\nsigning_secret_file = \"{}\"\napi_url = \"{}\"\n",
            token.display(),
            secret.display(),
            self.api_url()
        )
    }

    /// Adds a member with a fresh `U…` id, which it returns; their name is the email's local part.
    pub fn add_user(&self, email: &str, email_confirmed: bool) -> String {
        let id = new_id('U');
        let name = email.split('@').next().unwrap_or(email).to_owned();
        let user = User { id: id.clone(), email: email.to_owned(), name, email_confirmed, deleted: false };
        self.state().users.push(user);
        id
    }

    /// A public channel the bot is a member of, so it can post there.
    pub fn add_channel(&self, id: &str) {
        self.state().channels.insert(id.to_owned());
    }

    pub fn posted(&self) -> Vec<Posted> {
        self.state().messages.clone()
    }

    /// The latest message in the bot's direct conversation with the user.
    pub fn dm_of(&self, user_id: &str) -> Option<Posted> {
        let s = self.state();
        let channel = s.dms.get(user_id)?;
        s.messages.iter().rev().find(|m| m.channel == *channel).cloned()
    }

    pub fn in_channel(&self, channel: &str) -> Vec<Posted> {
        self.state().messages.iter().filter(|m| m.channel == channel).cloned().collect()
    }

    pub fn throttle_next(&self, n: usize) {
        self.state().throttle_next = n;
    }

    pub fn set_outage(&self, on: bool) {
        self.state().outage = on;
    }

    pub fn throttled(&self) -> usize {
        self.state().throttled
    }

    pub fn calls(&self) -> Vec<String> {
        self.state().calls.clone()
    }
}

type Shared = web::Data<Mutex<State>>;

fn lock(state: &Shared) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

/// A Slack-like id: the kind's letter (`U` user, `D` direct message, …) and ten characters.
fn new_id(kind: char) -> String {
    let hex = uuid::Uuid::new_v4().simple().to_string().to_uppercase();
    format!("{kind}{}", &hex[..10])
}

/// Slack's timestamp format, `<seconds>.<6 digits>`.
fn slack_ts(micros: i64) -> String {
    format!("{}.{:06}", micros.div_euclid(1_000_000), micros.rem_euclid(1_000_000))
}

/// A message's `ts`: it identifies the message in its channel, so no two are alike.
fn next_ts(s: &mut State) -> String {
    let micros = chrono::Utc::now().timestamp_micros().max(s.last_ts + 1);
    s.last_ts = micros;
    slack_ts(micros)
}

fn now_ts() -> String {
    slack_ts(chrono::Utc::now().timestamp_micros())
}

/// A message as Slack returns it from `chat.postMessage` and puts it in interaction payloads.
fn message_json(p: &Posted) -> Value {
    let mut message = json!({
        "type": "message", "text": p.text, "user": BOT_USER_ID, "bot_id": BOT_ID, "app_id": APP_ID,
        "ts": p.ts, "team": TEAM_ID,
    });
    if p.blocks.as_array().is_some_and(|b| !b.is_empty()) {
        message["blocks"] = p.blocks.clone();
    }
    message
}

/// `blocks` as an argument: a JSON array, or (in a form body) a string holding one. Each block
/// must be an object with a `type`; one without a `block_id` gets one generated, as Slack does
/// ("If not specified, a block_id will be generated"). `None` when absent.
fn parse_blocks(value: Option<&Value>) -> Result<Option<Value>, &'static str> {
    let parsed = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => return Ok(None),
        Some(Value::String(s)) => serde_json::from_str::<Value>(s).map_err(|_| "invalid_blocks_format")?,
        Some(v) => v.clone(),
    };
    let Value::Array(mut blocks) = parsed else {
        return Err("invalid_blocks_format");
    };
    for block in &mut blocks {
        let Some(object) = block.as_object_mut() else {
            return Err("invalid_blocks");
        };
        if !object.get("type").is_some_and(Value::is_string) {
            return Err("invalid_blocks");
        }
        if !object.contains_key("block_id") {
            let generated = uuid::Uuid::new_v4().simple().to_string();
            object.insert("block_id".into(), json!(&generated[..5]));
        }
    }
    Ok(Some(Value::Array(blocks)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_like_slacks_documented_example() {
        // The example of "Verifying requests from Slack" (same signing secret).
        let body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        assert_eq!(sign(body, 1_531_420_618), "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503");
    }

    #[test]
    fn timestamps_keep_six_digits_and_increase() {
        assert_eq!(slack_ts(1_503_435_956_000_247), "1503435956.000247");
        let mut s = State::default();
        let (a, b) = (next_ts(&mut s), next_ts(&mut s));
        assert!(b > a, "{b} after {a}");
    }
}
