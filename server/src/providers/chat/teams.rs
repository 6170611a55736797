//! Microsoft Teams through the Bot Framework: proactive messages to an approver's personal chat
//! (create or reuse the 1:1 conversation, then post an activity carrying an Adaptive Card),
//! card updates, and the authentication of what the Bot Connector sends to the bot, as
//! "Authentication with the Bot Connector API" prescribes.
use jsonwebtoken::{Algorithm, Validation, errors::ErrorKind};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ChatError, http_client, network_error, status_error};
use crate::{
    config::{ConfigError, TeamsSettings},
    providers::{
        entra_app::{TokenError, TokenSource},
        signing_keys::{KeyError, SigningKeys},
    },
};

const SERVICE: &str = "Teams";
/// The scope of the Bot Connector's tokens.
const CONNECTOR_SCOPE: &str = "https://api.botframework.com/.default";
/// Who signs the Bot Connector's requests to a bot.
const CHANNEL_ISSUER: &str = "https://api.botframework.com";
/// The Bot Framework channel of Teams: the only one whose activities name people by their
/// Entra object id on Microsoft's word (Web Chat and Direct Line let the client say who it is).
pub const TEAMS_CHANNEL: &str = "msteams";
/// The clock skew the Bot Connector's documentation allows.
const LEEWAY_SECS: u64 = 300;

pub struct TeamsBot {
    http: reqwest::Client,
    tokens: TokenSource,
    pub app_id: String,
    pub tenant_id: String,
    /// Without a trailing slash.
    service_url: String,
    pub channel_id: Option<String>,
    channel_auth: ChannelAuth,
}

#[derive(Deserialize)]
struct ResourceResponse {
    id: String,
}

impl TeamsBot {
    pub fn new(settings: &TeamsSettings) -> Result<Self, ConfigError> {
        let http = http_client();
        let credential = settings.credential()?;
        let tokens = TokenSource::new(
            http.clone(),
            &settings.authority_url,
            &settings.tenant_id,
            &settings.app_id,
            CONNECTOR_SCOPE,
            credential,
            "teams.certificate_file",
        )
        .map_err(|e| ConfigError::Key { key: "teams.certificate_file", reason: e.to_string() })?;
        Ok(Self {
            http,
            tokens,
            app_id: settings.app_id.clone(),
            tenant_id: settings.tenant_id.clone(),
            service_url: settings.service_url.trim_end_matches('/').to_owned(),
            channel_id: settings.channel_id.clone(),
            channel_auth: ChannelAuth {
                app_id: settings.app_id.clone(),
                keys: SigningKeys::from_openid_metadata(&settings.openid_metadata_url),
            },
        })
    }

    pub fn channel_auth(&self) -> &ChannelAuth {
        &self.channel_auth
    }

    /// The bot's token for the Bot Connector (what `elevate chat check` proves first).
    pub async fn check(&self) -> Result<(), ChatError> {
        self.tokens.get().await.map(drop).map_err(token_error)
    }

    /// The personal conversation with the user of this Entra object id (Teams creates it, or
    /// returns the one that exists). The bot must be installed for the user.
    pub async fn personal_conversation(&self, object_id: &str) -> Result<String, ChatError> {
        let body = json!({
            "bot": { "id": format!("28:{}", self.app_id) },
            "members": [{ "id": object_id }],
            "channelData": { "tenant": { "id": self.tenant_id } },
            "tenantId": self.tenant_id,
            "isGroup": false,
        });
        let url = format!("{}/v3/conversations", self.service_url);
        Ok(self.call(reqwest::Method::POST, &url, &body, "creating the personal chat").await?.id)
    }

    /// Posts an Adaptive Card to a conversation; returns the activity's id.
    pub async fn send(&self, conversation: &str, card: &Value) -> Result<String, ChatError> {
        let url = format!("{}/v3/conversations/{}/activities", self.service_url, segment(conversation));
        Ok(self.call(reqwest::Method::POST, &url, &activity(card), "posting the card").await?.id)
    }

    /// Replaces the card of an activity sent before.
    pub async fn update(&self, conversation: &str, activity_id: &str, card: &Value) -> Result<(), ChatError> {
        let url = format!(
            "{}/v3/conversations/{}/activities/{}",
            self.service_url,
            segment(conversation),
            segment(activity_id)
        );
        let mut body = activity(card);
        body["id"] = json!(activity_id);
        self.call(reqwest::Method::PUT, &url, &body, "updating the card").await.map(drop)
    }

    async fn call(
        &self,
        method: reqwest::Method,
        url: &str,
        body: &Value,
        what: &str,
    ) -> Result<ResourceResponse, ChatError> {
        let token = self.tokens.get().await.map_err(token_error)?;
        let response = self
            .http
            .request(method, url)
            .bearer_auth(token.expose_secret())
            .json(body)
            .send()
            .await
            .map_err(|e| network_error(SERVICE, &e))?;
        if response.status().as_u16() == 401 {
            // The token may have been revoked: the next attempt fetches another.
            self.tokens.invalidate().await;
        }
        if !response.status().is_success() {
            let gone = response.status() == reqwest::StatusCode::NOT_FOUND;
            let mut error = status_error(SERVICE, &response, format!("the Bot Connector, {what},"));
            if gone && let ChatError::Permanent { service, message } = error {
                error = ChatError::Gone { service, message };
            }
            let body: Value = response.json().await.unwrap_or_default();
            if let Some(code) = body["error"]["code"].as_str() {
                let detail = format!(": {code}: {}", body["error"]["message"].as_str().unwrap_or_default());
                match &mut error {
                    ChatError::Transient { message, .. }
                    | ChatError::Permanent { message, .. }
                    | ChatError::Gone { message, .. } => message.push_str(&detail),
                }
            }
            return Err(error);
        }
        response.json().await.map_err(|e| ChatError::Permanent {
            service: SERVICE,
            message: format!("the Bot Connector's answer to {what} does not decode: {e}"),
        })
    }
}

/// A message activity carrying one Adaptive Card.
fn activity(card: &Value) -> Value {
    json!({
        "type": "message",
        "attachments": [{ "contentType": "application/vnd.microsoft.card.adaptive", "content": card }],
    })
}

/// Conversation and activity ids hold `:`, `;` and `@`: percent-encoded as a path segment.
fn segment(id: &str) -> String {
    percent_encoding::utf8_percent_encode(id, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn token_error(e: TokenError) -> ChatError {
    match e {
        TokenError::Network(e) => network_error(SERVICE, &e),
        TokenError::Refused { status, .. } if status == 429 || status >= 500 => {
            ChatError::Transient { service: SERVICE, message: e.to_string(), retry_after: None }
        }
        other => ChatError::Permanent { service: SERVICE, message: other.to_string() },
    }
}

/// Verifies that a request to the bot's endpoint came from the Bot Connector, for this bot.
pub struct ChannelAuth {
    app_id: String,
    keys: SigningKeys,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ChannelAuthError {
    #[error("no bearer token")]
    Missing,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not the Bot Connector's: {0}")]
    Invalid(String),
    #[error("the Bot Connector's keys cannot be fetched right now")]
    KeysUnavailable,
}

#[derive(Deserialize)]
struct ChannelClaims {
    #[serde(rename = "serviceurl", alias = "serviceUrl")]
    service_url: Option<String>,
}

impl ChannelAuth {
    /// Reads the Bot Connector's signing keys now: how many it publishes.
    pub async fn check(&self) -> Result<usize, KeyError> {
        self.keys.refresh().await
    }

    pub fn keys_url(&self) -> &str {
        self.keys.url()
    }

    /// The checks, in the documentation's order, for activities of Teams' channel only: a
    /// bearer JWT, signed (RS256) by a key of the OpenID metadata that is endorsed for Teams'
    /// channel, issued by the Bot
    /// Connector for this bot (`aud` = its app id), within its validity (5 minutes of skew),
    /// and carrying a `serviceurl` claim (as the SDKs spell it) equal to the activity's `serviceUrl`.
    pub async fn verify(
        &self,
        authorization: Option<&str>,
        channel_id: &str,
        service_url: &str,
    ) -> Result<(), ChannelAuthError> {
        let invalid = |why: &str| ChannelAuthError::Invalid(why.to_owned());
        if channel_id != TEAMS_CHANNEL {
            return Err(invalid("only Microsoft Teams' channel (msteams) may call this bot"));
        }
        let token = authorization.and_then(|h| h.strip_prefix("Bearer ")).ok_or(ChannelAuthError::Missing)?;
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid("malformed token"))?;
        if header.alg != Algorithm::RS256 {
            return Err(invalid("algorithm not accepted"));
        }
        let kid = header.kid.as_deref().ok_or_else(|| invalid("the token names no key (kid)"))?;
        let key = self.keys.get(kid).await.map_err(|e| match e {
            KeyError::Unknown => invalid("signed by an unknown key"),
            other => {
                tracing::warn!(error = %crate::telemetry::error_chain(&other), url = %self.keys.url(), "fetching the Bot Connector's keys failed");
                ChannelAuthError::KeysUnavailable
            }
        })?;
        if !key.endorsements.iter().any(|e| e == TEAMS_CHANNEL) {
            return Err(invalid("the signing key is not endorsed for this channel"));
        }
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[CHANNEL_ISSUER]);
        validation.set_audience(&[&self.app_id]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECS;
        let claims = jsonwebtoken::decode::<ChannelClaims>(token, &key.key, &validation)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => ChannelAuthError::Expired,
                ErrorKind::InvalidAudience => invalid("issued for another bot"),
                ErrorKind::InvalidIssuer => invalid("issued by someone else"),
                ErrorKind::InvalidSignature => invalid("bad signature"),
                ErrorKind::ImmatureSignature => invalid("not valid yet"),
                _ => invalid("malformed token"),
            })?
            .claims;
        // The bot answers at the activity's service URL: a token for another must not carry it.
        let same = |a: &str, b: &str| a.trim_end_matches('/').eq_ignore_ascii_case(b.trim_end_matches('/'));
        match claims.service_url {
            Some(claimed) if same(&claimed, service_url) => Ok(()),
            _ => Err(invalid("its serviceUrl is not the activity's")),
        }
    }
}
