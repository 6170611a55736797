//! Chat notifications: outbound webhooks in Slack's, Teams' or Elevate's own (`generic`,
//! HMAC-signed) format. Which event to send is decided elsewhere; this knows the formats.
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::config::{ConfigError, WebhookFormat, WebhookSettings};

/// Header carrying `v1=<hex HMAC-SHA256 of "<timestamp>.<body>">` (generic format).
pub const SIGNATURE_HEADER: &str = "X-Elevate-Signature";
/// Header carrying the Unix time the signature covers, so receivers can refuse replays.
pub const TIMESTAMP_HEADER: &str = "X-Elevate-Timestamp";

/// What a chat message says, whatever the format.
pub struct ChatMessage {
    /// `approval_needed`, `approved`, …
    pub event: String,
    pub title: String,
    pub text: String,
    /// The request's page in Elevate.
    pub url: String,
    /// Facts about the request, for the generic format.
    pub request: Value,
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("webhook call failed, will retry: {message}")]
    Transient { message: String, retry_after: Option<Duration> },
    #[error("webhook refused the call: {0}")]
    Permanent(String),
}

pub struct Webhook {
    url: String,
    format: WebhookFormat,
    secret: Option<SecretString>,
    http: reqwest::Client,
}

impl Webhook {
    pub fn new(settings: &WebhookSettings) -> Result<Self, ConfigError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ConfigError::Key { key: "notify.webhook", reason: e.to_string() })?;
        Ok(Self { url: settings.url.to_string(), format: settings.format, secret: settings.secret()?, http })
    }

    /// The URL without its path and query (Slack and Teams URLs carry their secret there).
    pub fn host(&self) -> &str {
        let rest = self.url.split_once("://").map_or(self.url.as_str(), |(_, rest)| rest);
        rest.split('/').next().unwrap_or(rest)
    }

    pub async fn post(&self, message: &ChatMessage) -> Result<(), WebhookError> {
        let body = self.body(message).to_string();
        let mut request = self.http.post(&self.url).header("Content-Type", "application/json");
        if let Some(secret) = &self.secret {
            let timestamp = chrono::Utc::now().timestamp().to_string();
            request = request
                .header(TIMESTAMP_HEADER, &timestamp)
                .header(SIGNATURE_HEADER, format!("v1={}", sign(secret, &timestamp, &body)));
        }
        let response = request.body(body).send().await.map_err(|e| WebhookError::Transient {
            message: format!("{}: {}", self.host(), without_url(&e)),
            retry_after: None,
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let retry_after = super::retry_after(response.headers());
        let message = format!("{} answered {status}", self.host());
        if status.as_u16() == 429 || status.as_u16() == 408 || status.is_server_error() {
            Err(WebhookError::Transient { message, retry_after })
        } else {
            Err(WebhookError::Permanent(message))
        }
    }

    fn body(&self, m: &ChatMessage) -> Value {
        match self.format {
            WebhookFormat::Slack => json!({
                "text": format!("*{}*\n{}\n<{}|Open in Elevate>", slack_escape(&m.title), slack_escape(&m.text), m.url),
            }),
            WebhookFormat::Teams => json!({
                "type": "message",
                "attachments": [{
                    "contentType": "application/vnd.microsoft.card.adaptive",
                    "contentUrl": null,
                    "content": {
                        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                        "type": "AdaptiveCard",
                        "version": "1.4",
                        "body": [
                            { "type": "TextBlock", "text": m.title, "weight": "Bolder", "wrap": true },
                            { "type": "TextBlock", "text": m.text, "wrap": true }
                        ],
                        "actions": [{ "type": "Action.OpenUrl", "title": "Open in Elevate", "url": m.url }]
                    }
                }]
            }),
            WebhookFormat::Generic => json!({
                "event": m.event, "title": m.title, "text": m.text, "url": m.url, "request": m.request,
                "sent_at": crate::domain::format_millis(crate::domain::now()),
            }),
        }
    }
}

/// Hex HMAC-SHA256 of `"{timestamp}.{body}"`.
pub fn sign(secret: &SecretString, timestamp: &str, body: &str) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes()) else {
        return String::new(); // HMAC takes keys of any length; unreachable in practice.
    };
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// Slack's mrkdwn treats `&`, `<` and `>` as control characters.
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// reqwest's error text, without the URL (which may carry the webhook's secret).
fn without_url(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    kind.to_owned()
}
