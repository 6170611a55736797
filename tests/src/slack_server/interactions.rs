//! Slack's side of interactivity: a button press posted to the app's Request URL as Slack does
//! it ("Handling user interaction": a `block_actions` payload, form-encoded as `payload=…`,
//! signed as in "Verifying requests from Slack"), and the `response_url` the payload carries,
//! through which the app may replace, delete or answer the message.
use std::time::Duration;

use actix_web::{HttpResponse, http::StatusCode, web};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::{
    APP_ID, Posted, SLACK_SIGNING_SECRET, Shared, SlackServer, TEAM_DOMAIN, TEAM_ID, VERIFICATION_TOKEN, lock,
    message_json, next_ts, now_ts, parse_blocks,
};

/// Where Elevate hears interactions: the app's Request URL (Interactivity & Shortcuts).
pub const INTERACTIONS_PATH: &str = "/api/v1/slack/interactions";

/// `X-Slack-Signature` for a body sent at `timestamp`: `v0=` and the hex HMAC-SHA256 of
/// `v0:{timestamp}:{body}` under the signing secret.
pub fn sign(body: &str, timestamp: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SLACK_SIGNING_SECRET.as_bytes()).expect("HMAC takes any key");
    mac.update(format!("v0:{timestamp}:{body}").as_bytes());
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    format!("v0={hex}")
}

/// Posts a body to Elevate's Request URL the way Slack does; the status and body of the answer.
pub async fn post_interaction(app_url: &str, body: &str, timestamp: i64, signature: Option<&str>) -> (u16, String) {
    let mut request = reqwest::Client::new()
        .post(format!("{}{INTERACTIONS_PATH}", app_url.trim_end_matches('/')))
        .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(reqwest::header::USER_AGENT, "Slackbot 1.0 (+https://api.slack.com/robots)")
        .header("X-Slack-Request-Timestamp", timestamp.to_string())
        // Slack gives up on an app that does not answer within 3 seconds; tests wait longer.
        .timeout(Duration::from_secs(10))
        .body(body.to_owned());
    if let Some(signature) = signature {
        request = request.header("X-Slack-Signature", signature);
    }
    let response = request.send().await.expect("the interaction request reaches Elevate");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

/// The button with `action_id` in an `actions` block's elements or a `section`'s accessory,
/// with the id of the block it is in.
fn find_button<'a>(blocks: &'a Value, action_id: &str) -> Option<(String, &'a Value)> {
    let is_it = |e: &Value| {
        e.get("type").and_then(Value::as_str) == Some("button")
            && e.get("action_id").and_then(Value::as_str) == Some(action_id)
    };
    blocks.as_array()?.iter().find_map(|block| {
        let candidates: Vec<&Value> = match block.get("type").and_then(Value::as_str) {
            Some("actions") => block.get("elements").and_then(Value::as_array).map(|e| e.iter().collect()),
            Some("section") => block.get("accessory").map(|a| vec![a]),
            _ => None,
        }
        .unwrap_or_default();
        let button = candidates.into_iter().find(|&e| is_it(e))?;
        Some((block.get("block_id").and_then(Value::as_str).unwrap_or_default().to_owned(), button))
    })
}

impl SlackServer {
    /// The form body Slack posts when `user_id` presses the button `action_id` of `message`:
    /// `payload=` and the URL-encoded JSON of a `block_actions` payload. Each body carries a
    /// fresh `response_url` on this server.
    pub fn press_body(&self, user_id: &str, message: &Posted, action_id: &str) -> String {
        let Some((block_id, button)) = find_button(&message.blocks, action_id) else {
            panic!(
                "no button with action_id {action_id:?} in message {} of {}; its blocks: {}",
                message.ts, message.channel, message.blocks
            );
        };
        let mut s = self.state();
        let name = s.users.iter().find(|u| u.id == user_id).map_or_else(|| user_id.to_owned(), |u| u.name.clone());
        let response_id = uuid::Uuid::new_v4().simple().to_string();
        let response_url = format!("{}/response/{response_id}", s.url);
        s.response_urls.insert(response_id, (message.channel.clone(), message.ts.clone()));
        // Slack names a direct conversation "directmessage"; a channel here is named by its id.
        let channel_name = if s.dms.values().any(|d| *d == message.channel) {
            "directmessage".to_owned()
        } else {
            message.channel.to_lowercase()
        };
        drop(s);
        let mut action = json!({
            "action_id": action_id, "block_id": block_id, "text": button.get("text").cloned().unwrap_or(Value::Null),
            "type": "button", "action_ts": now_ts(),
        });
        // A button without a value sends none.
        if let Some(value) = button.get("value") {
            action["value"] = value.clone();
        }
        let trigger_id =
            format!("{}.{}.{}", chrono::Utc::now().timestamp_millis(), 4_242_424_242u64, uuid::Uuid::new_v4().simple());
        let payload = json!({
            "type": "block_actions",
            "user": { "id": user_id, "username": name, "name": name, "team_id": TEAM_ID },
            "api_app_id": APP_ID,
            "token": VERIFICATION_TOKEN,
            "container": {
                "type": "message", "message_ts": message.ts, "channel_id": message.channel, "is_ephemeral": false,
            },
            "trigger_id": trigger_id,
            "team": { "id": TEAM_ID, "domain": TEAM_DOMAIN },
            "enterprise": null,
            "is_enterprise_install": false,
            "channel": { "id": message.channel, "name": channel_name },
            "message": message_json(message),
            "state": { "values": {} },
            "response_url": response_url,
            "actions": [action],
        });
        serde_urlencoded::to_string(vec![("payload", payload.to_string())]).expect("a form of one field")
    }

    /// `user_id` presses `action_id` on the latest message in their DM with the bot: the body
    /// of `press_body`, signed now, posted to Elevate at `app_url`.
    pub async fn press(&self, app_url: &str, user_id: &str, action_id: &str) -> (u16, String) {
        let message = self.dm_of(user_id).unwrap_or_else(|| panic!("the bot posted nothing in a DM with {user_id}"));
        let body = self.press_body(user_id, &message, action_id);
        let timestamp = chrono::Utc::now().timestamp();
        let signature = sign(&body, timestamp);
        post_interaction(app_url, &body, timestamp, Some(&signature)).await
    }
}

/// A `response_url` answers like an incoming webhook: plain text, `ok` or an error code.
fn plain(status: StatusCode, body: &'static str) -> HttpResponse {
    HttpResponse::build(status).content_type("text/plain; charset=utf-8").body(body)
}

/// `POST /response/{id}`, a `response_url`: JSON with `replace_original` (the message becomes
/// `text` and `blocks`), `delete_original`, or neither (a new message: `ephemeral`, Slack's
/// default, or `in_channel` for `response_type`).
pub(super) async fn respond(state: Shared, id: web::Path<String>, body: web::Bytes) -> HttpResponse {
    let mut s = lock(&state);
    let Some((channel, ts)) = s.response_urls.get(id.as_str()).cloned() else {
        return plain(StatusCode::NOT_FOUND, "no_service");
    };
    let Ok(Value::Object(reply)) = serde_json::from_slice::<Value>(&body) else {
        return plain(StatusCode::BAD_REQUEST, "invalid_payload");
    };
    // Slack's examples send these flags as booleans and as the string "true".
    let flag = |name: &str| match reply.get(name) {
        Some(Value::Bool(on)) => *on,
        Some(Value::String(on)) => on == "true",
        _ => false,
    };
    if flag("delete_original") {
        s.messages.retain(|m| !(m.channel == channel && m.ts == ts));
        return plain(StatusCode::OK, "ok");
    }
    let Ok(blocks) = parse_blocks(reply.get("blocks")) else {
        return plain(StatusCode::BAD_REQUEST, "invalid_blocks");
    };
    let text = reply.get("text").and_then(Value::as_str).filter(|t| !t.is_empty()).map(str::to_owned);
    if text.is_none() && blocks.as_ref().and_then(Value::as_array).is_none_or(Vec::is_empty) {
        return plain(StatusCode::BAD_REQUEST, "no_text");
    }
    let (text, blocks) = (text.unwrap_or_default(), blocks.unwrap_or_else(|| json!([])));
    if flag("replace_original") {
        // The whole message is replaced: what the reply leaves out is gone.
        let Some(message) = s.messages.iter_mut().find(|m| m.channel == channel && m.ts == ts) else {
            // Deleted meanwhile (a case Slack does not document).
            return plain(StatusCode::NOT_FOUND, "message_not_found");
        };
        message.text = text;
        message.blocks = blocks;
        message.updates += 1;
    } else {
        let posted = Posted { channel, ts: next_ts(&mut s), text, blocks, updates: 0 };
        if reply.get("response_type").and_then(Value::as_str) == Some("in_channel") {
            s.messages.push(posted);
        } else {
            s.ephemeral.push(posted);
        }
    }
    plain(StatusCode::OK, "ok")
}
