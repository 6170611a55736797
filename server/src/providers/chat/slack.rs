//! Slack through its Web API, as a Slack app with a bot token: direct messages to approvers
//! (`users.lookupByEmail`, `conversations.open`, `chat.postMessage`), message updates
//! (`chat.update`), who pressed a button (`users.info`), and the verification of Slack's
//! signed requests ("Verifying requests from Slack").
use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use sha2::Sha256;

use super::{ChatError, http_client, network_error, status_error};
use crate::config::{ConfigError, SlackSettings};

const SERVICE: &str = "Slack";
/// How old a signed request may be (Slack's documentation: five minutes).
pub const MAX_SIGNATURE_AGE_SECS: i64 = 300;
/// The bot token's scopes Elevate uses: DMs (`im:write`, `chat:write`), people by email
/// (`users:read`, `users:read.email`).
pub const REQUIRED_SCOPES: [&str; 4] = ["chat:write", "im:write", "users:read", "users:read.email"];

pub struct SlackApp {
    http: reqwest::Client,
    /// Without a trailing slash.
    api_url: String,
    token: SecretString,
    signing_secret: SecretString,
    pub channel_id: Option<String>,
    team_id: tokio::sync::OnceCell<String>,
}

/// A Slack user as `users.info` describes them.
#[derive(Debug, Clone)]
pub struct SlackUser {
    pub id: String,
    /// Their email, only when Slack has confirmed it.
    pub confirmed_email: Option<String>,
    /// Deactivated, a bot, a guest, or someone of another workspace (Slack Connect): never an
    /// approver.
    pub outsider: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("the request is not signed (X-Slack-Signature and X-Slack-Request-Timestamp)")]
    Missing,
    #[error("the request's timestamp is more than five minutes from now")]
    Stale,
    #[error("the signature does not match the request")]
    Mismatch,
}

impl SlackApp {
    pub fn new(settings: &SlackSettings) -> Result<Self, ConfigError> {
        Ok(Self {
            http: http_client(),
            api_url: settings.api_url.trim_end_matches('/').to_owned(),
            token: settings.bot_token()?,
            signing_secret: settings.signing_secret()?,
            channel_id: settings.channel_id.clone(),
            team_id: tokio::sync::OnceCell::new(),
        })
    }

    /// Checks a request Slack signed: `v0=` and the hex HMAC-SHA256 of
    /// `v0:{timestamp}:{raw body}` under the signing secret, compared in constant time, with a
    /// timestamp within five minutes of `now_secs`. Replays inside that window are the
    /// caller's to refuse: it remembers the signatures it accepted, as returned (lower-case hex).
    pub fn verify(
        &self,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
        now_secs: i64,
    ) -> Result<String, SignatureError> {
        let (Some(timestamp), Some(signature)) = (timestamp, signature) else { return Err(SignatureError::Missing) };
        let at: i64 = timestamp.trim().parse().map_err(|_| SignatureError::Missing)?;
        if now_secs.abs_diff(at) > MAX_SIGNATURE_AGE_SECS.unsigned_abs() {
            return Err(SignatureError::Stale);
        }
        let expected = signature.strip_prefix("v0=").ok_or(SignatureError::Mismatch)?;
        let expected = hex_decode(expected).ok_or(SignatureError::Mismatch)?;
        let mut mac = Hmac::<Sha256>::new_from_slice(self.signing_secret.expose_secret().as_bytes())
            .map_err(|_| SignatureError::Mismatch)?;
        mac.update(b"v0:");
        mac.update(timestamp.trim().as_bytes());
        mac.update(b":");
        mac.update(body);
        // `verify_slice` compares in constant time.
        mac.verify_slice(&expected).map_err(|_| SignatureError::Mismatch)?;
        // One spelling per signature, so that a replay cannot pass in another letter case.
        Ok(expected.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// The workspace the token belongs to, and the scopes Elevate needs that it lacks (what
    /// `elevate chat check` proves).
    pub async fn check(&self) -> Result<(String, Vec<&'static str>), ChatError> {
        let (answer, headers) = self.call_with_headers("auth.test", &[]).await?;
        let team = format!(
            "{} ({})",
            answer["team"].as_str().unwrap_or_default(),
            answer["team_id"].as_str().unwrap_or_default()
        );
        let granted = headers.get("x-oauth-scopes").and_then(|h| h.to_str().ok()).unwrap_or_default();
        let granted: Vec<&str> = granted.split(',').map(str::trim).collect();
        let missing = REQUIRED_SCOPES.iter().copied().filter(|s| !granted.contains(s)).collect();
        Ok((team, missing))
    }

    /// The direct-message channel with the Slack user of this email.
    pub async fn direct_channel(&self, email: &str) -> Result<String, ChatError> {
        let user = self.call("users.lookupByEmail", &[("email", email)]).await?;
        let user_id = user["user"]["id"].as_str().unwrap_or_default();
        let channel = self.call("conversations.open", &[("users", user_id)]).await?;
        string(&channel["channel"]["id"], "conversations.open")
    }

    /// Posts a message; returns its `ts` (its id in the channel).
    pub async fn post(&self, channel: &str, text: &str, blocks: &Value) -> Result<String, ChatError> {
        let blocks = blocks.to_string();
        let answer =
            self.call("chat.postMessage", &[("channel", channel), ("text", text), ("blocks", &blocks)]).await?;
        string(&answer["ts"], "chat.postMessage")
    }

    pub async fn update(&self, channel: &str, ts: &str, text: &str, blocks: &Value) -> Result<(), ChatError> {
        let blocks = blocks.to_string();
        self.call("chat.update", &[("channel", channel), ("ts", ts), ("text", text), ("blocks", &blocks)])
            .await
            .map(drop)
    }

    pub async fn user(&self, user_id: &str) -> Result<SlackUser, ChatError> {
        let answer = self.call("users.info", &[("user", user_id)]).await?;
        let user = &answer["user"];
        let confirmed = user["is_email_confirmed"].as_bool() == Some(true);
        let flag = |name: &str| user[name].as_bool() == Some(true);
        let team = self.team_id().await?;
        Ok(SlackUser {
            id: user_id.to_owned(),
            confirmed_email: user["profile"]["email"].as_str().filter(|_| confirmed).map(str::to_owned),
            outsider: user["deleted"].as_bool() != Some(false)
                || ["is_bot", "is_restricted", "is_ultra_restricted", "is_stranger"].into_iter().any(flag)
                || user["team_id"].as_str() != Some(team.as_str()),
        })
    }

    /// The workspace of the bot token (asked once).
    async fn team_id(&self) -> Result<String, ChatError> {
        let team = self
            .team_id
            .get_or_try_init(|| async {
                let answer = self.call("auth.test", &[]).await?;
                string(&answer["team_id"], "auth.test")
            })
            .await?;
        Ok(team.clone())
    }

    /// Tells only the presser, through the interaction's `response_url` (an ephemeral reply).
    /// Only Slack's own hooks host (or the configured API's host) is called: the URL comes in
    /// a request, and Elevate must not be made to post elsewhere. Best effort.
    pub async fn reply_privately(&self, response_url: &str, text: &str) {
        use crate::providers::origin_of;
        let origin = origin_of(response_url);
        let allowed = origin.as_deref() == Some("https://hooks.slack.com") || origin == origin_of(&self.api_url);
        if !allowed {
            tracing::warn!("a Slack interaction's response_url is not Slack's: no reply sent");
            return;
        }
        let body = json!({ "response_type": "ephemeral", "replace_original": false, "text": text });
        let sent = self.http.post(response_url).json(&body).send().await;
        if let Err(e) = sent.and_then(reqwest::Response::error_for_status) {
            tracing::warn!(error = %network_error(SERVICE, &e), "replying to a Slack interaction failed");
        }
    }

    /// One Web API method, its arguments form-encoded; `{"ok": false, "error": …}` becomes an
    /// error naming Slack's code (retried only for Slack's own failures).
    async fn call(&self, method: &str, args: &[(&str, &str)]) -> Result<Value, ChatError> {
        self.call_with_headers(method, args).await.map(|(answer, _)| answer)
    }

    async fn call_with_headers(
        &self,
        method: &str,
        args: &[(&str, &str)],
    ) -> Result<(Value, reqwest::header::HeaderMap), ChatError> {
        let response = self
            .http
            .post(format!("{}/{method}", self.api_url))
            .bearer_auth(self.token.expose_secret())
            .form(args)
            .send()
            .await
            .map_err(|e| network_error(SERVICE, &e))?;
        if !response.status().is_success() {
            return Err(status_error(SERVICE, &response, method.to_owned()));
        }
        let headers = response.headers().clone();
        let answer: Value = response.json().await.map_err(|e| ChatError::Permanent {
            service: SERVICE,
            message: format!("{method}'s answer does not decode: {e}"),
        })?;
        if answer["ok"].as_bool() == Some(true) {
            return Ok((answer, headers));
        }
        let code = answer["error"].as_str().unwrap_or("unknown_error");
        let message = format!("{method}: {code}{}", hint(code));
        match code {
            "ratelimited" | "internal_error" | "fatal_error" | "service_unavailable" | "request_timeout" => {
                Err(ChatError::Transient { service: SERVICE, message, retry_after: None })
            }
            "message_not_found" | "cant_update_message" | "is_archived" if method == "chat.update" => {
                Err(ChatError::Gone { service: SERVICE, message })
            }
            _ => Err(ChatError::Permanent { service: SERVICE, message }),
        }
    }
}

/// What to do about the errors a configuration causes.
fn hint(code: &str) -> &'static str {
    match code {
        "not_authed" | "invalid_auth" | "token_revoked" | "account_inactive" => {
            " (the bot token in slack.bot_token_file is not valid: reinstall the app and copy its token)"
        }
        "missing_scope" => " (the app lacks a scope: chat:write, im:write, users:read and users:read.email are needed)",
        "users_not_found" => " (nobody in the workspace has this email)",
        "channel_not_found" | "not_in_channel" => " (invite the app to the channel)",
        _ => "",
    }
}

fn string(value: &Value, method: &str) -> Result<String, ChatError> {
    value.as_str().map(str::to_owned).ok_or_else(|| ChatError::Permanent {
        service: SERVICE,
        message: format!("{method} answered without the id Elevate needs"),
    })
}

fn hex_decode(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok()).collect()
}

/// The Block Kit text object of plain text, as Slack wants it in buttons and headers.
pub fn plain(text: &str) -> Value {
    json!({ "type": "plain_text", "text": text, "emoji": false })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app() -> SlackApp {
        SlackApp {
            http: reqwest::Client::new(),
            api_url: String::new(),
            token: SecretString::from("xoxb-x"),
            signing_secret: SecretString::from("8f742231b10e8888abcd99yyyzzz85a5"),
            channel_id: None,
            team_id: tokio::sync::OnceCell::new(),
        }
    }

    #[test]
    fn slacks_documented_example_verifies_and_any_change_does_not() {
        // The example of "Verifying requests from Slack".
        let body = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        let signature = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
        let ts = 1_531_420_618;
        let spent = app().verify(Some("1531420618"), Some(signature), body, ts + 60);
        assert_eq!(spent.as_deref(), Ok(signature.trim_start_matches("v0=")));
        let shouted = format!("v0={}", signature.trim_start_matches("v0=").to_uppercase());
        assert_eq!(app().verify(Some("1531420618"), Some(&shouted), body, ts), spent, "one spelling per signature");
        assert_eq!(app().verify(Some("1531420618"), Some(signature), body, ts + 301), Err(SignatureError::Stale));
        let mut altered = body.to_vec();
        altered[6] = b'X';
        assert_eq!(app().verify(Some("1531420618"), Some(signature), &altered, ts), Err(SignatureError::Mismatch));
        assert_eq!(app().verify(Some("1531420619"), Some(signature), body, ts), Err(SignatureError::Mismatch));
        assert_eq!(app().verify(None, Some(signature), body, ts), Err(SignatureError::Missing));
        let far = i64::MIN.to_string();
        assert_eq!(app().verify(Some(&far), Some(signature), body, ts), Err(SignatureError::Stale));
    }
}
