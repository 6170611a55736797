//! Approvals in chat: Microsoft Teams as a Bot Framework bot (`[teams]`) and Slack as a Slack
//! app (`[slack]`). Each sends approvers a card with Approve and Deny, and hears the presses.
use std::path::PathBuf;

use secrecy::SecretString;
use serde::Deserialize;

use super::{
    ConfigError, HttpsUrl,
    directory::{CredentialKeys, EntraCredential, default_authority_url, entra_credential},
    values::read_secret_file,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamsSettings {
    /// The bot's Microsoft App ID (its Entra app registration's client id).
    pub app_id: String,
    /// The tenant of the bot's app registration (a single-tenant bot) and of its users.
    pub tenant_id: String,
    pub client_secret: Option<SecretString>,
    pub client_secret_file: Option<PathBuf>,
    /// PEM file with the app's certificate and its private key (instead of a secret).
    pub certificate_file: Option<PathBuf>,
    #[serde(default = "default_authority_url")]
    pub authority_url: HttpsUrl,
    /// Where the Bot Connector publishes the keys that sign its requests to the bot.
    #[serde(default = "default_openid_metadata_url")]
    pub openid_metadata_url: HttpsUrl,
    /// The Bot Connector's service URL for proactive messages (Teams' public cloud by default).
    #[serde(default = "default_service_url")]
    pub service_url: HttpsUrl,
    /// A channel conversation (`19:…@thread.tacv2`) that also gets every notice.
    pub channel_id: Option<String>,
}

fn default_openid_metadata_url() -> HttpsUrl {
    HttpsUrl::known("https://login.botframework.com/v1/.well-known/openidconfiguration")
}

fn default_service_url() -> HttpsUrl {
    HttpsUrl::known("https://smba.trafficmanager.net/teams/")
}

impl TeamsSettings {
    pub fn credential(&self) -> Result<EntraCredential, ConfigError> {
        let keys = CredentialKeys {
            secret: "teams.client_secret",
            secret_file: "teams.client_secret_file",
            certificate_file: "teams.certificate_file",
        };
        entra_credential(&keys, &self.client_secret, &self.client_secret_file, &self.certificate_file)
    }

    fn check(&self) -> Result<(), ConfigError> {
        for (key, value) in [("teams.app_id", &self.app_id), ("teams.tenant_id", &self.tenant_id)] {
            if uuid::Uuid::parse_str(value).is_err() {
                return Err(ConfigError::Key { key, reason: format!("{value:?} is not a GUID") });
            }
        }
        self.credential().map(drop)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackSettings {
    /// File holding the bot token (`xoxb-…`).
    pub bot_token_file: PathBuf,
    /// File holding the app's signing secret (the interactivity requests are signed with it).
    pub signing_secret_file: PathBuf,
    #[serde(default = "default_slack_api_url")]
    pub api_url: HttpsUrl,
    /// A channel id (`C…`) that also gets every notice; the app must be a member.
    pub channel_id: Option<String>,
}

fn default_slack_api_url() -> HttpsUrl {
    HttpsUrl::known("https://slack.com/api")
}

impl SlackSettings {
    pub fn bot_token(&self) -> Result<SecretString, ConfigError> {
        use secrecy::ExposeSecret;
        let token = read_secret_file("slack.bot_token_file", &self.bot_token_file)?;
        if !token.expose_secret().starts_with("xoxb-") {
            return Err(ConfigError::Key {
                key: "slack.bot_token_file",
                reason: "does not hold a bot token (xoxb-…): install the app and copy its Bot User OAuth Token".into(),
            });
        }
        Ok(token)
    }

    pub fn signing_secret(&self) -> Result<SecretString, ConfigError> {
        use secrecy::ExposeSecret;
        let secret = read_secret_file("slack.signing_secret_file", &self.signing_secret_file)?;
        if secret.expose_secret().len() < 16 {
            return Err(ConfigError::Key {
                key: "slack.signing_secret_file",
                reason: "is too short for the app's signing secret (Basic Information → Signing Secret)".into(),
            });
        }
        Ok(secret)
    }

    fn check(&self) -> Result<(), ConfigError> {
        self.bot_token()?;
        self.signing_secret().map(drop)
    }
}

pub(super) fn check(teams: Option<&TeamsSettings>, slack: Option<&SlackSettings>) -> Result<(), ConfigError> {
    if let Some(teams) = teams {
        teams.check()?;
    }
    if let Some(slack) = slack {
        slack.check()?;
    }
    Ok(())
}
