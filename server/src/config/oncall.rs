//! On-call services (`[oncall]`): who is on call now, for profiles that approve them at once.
use std::path::PathBuf;

use secrecy::SecretString;
use serde::Deserialize;

use super::{ConfigError, HttpsUrl, values::secret};
use crate::domain::HumanDuration;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnCallSettings {
    pub pagerduty: Option<PagerDutySettings>,
    pub opsgenie: Option<OpsgenieSettings>,
}

/// PagerDuty's REST API v2, with a read-only API key.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagerDutySettings {
    pub token: Option<SecretString>,
    pub token_file: Option<PathBuf>,
    #[serde(default = "default_pagerduty_url")]
    pub base_url: HttpsUrl,
    /// How long a filing waits for PagerDuty before it asks the approvers instead.
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
}

fn default_pagerduty_url() -> HttpsUrl {
    HttpsUrl::known("https://api.pagerduty.com")
}

fn default_timeout() -> HumanDuration {
    HumanDuration::from_secs(5)
}

impl PagerDutySettings {
    pub fn token(&self) -> Result<SecretString, ConfigError> {
        let key = "oncall.pagerduty.token";
        secret(key, &self.token, "oncall.pagerduty.token_file", &self.token_file)?
            .ok_or(ConfigError::Key { key, reason: "is required (or oncall.pagerduty.token_file)".into() })
    }
}

/// Opsgenie's REST API v2, with an API key that may read schedules.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpsgenieSettings {
    pub api_key: Option<SecretString>,
    pub api_key_file: Option<PathBuf>,
    /// `https://api.eu.opsgenie.com` for accounts in the EU.
    #[serde(default = "default_opsgenie_url")]
    pub base_url: HttpsUrl,
    /// How long a filing waits for Opsgenie before it asks the approvers instead.
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
}

fn default_opsgenie_url() -> HttpsUrl {
    HttpsUrl::known("https://api.opsgenie.com")
}

impl OpsgenieSettings {
    pub fn api_key(&self) -> Result<SecretString, ConfigError> {
        let key = "oncall.opsgenie.api_key";
        secret(key, &self.api_key, "oncall.opsgenie.api_key_file", &self.api_key_file)?
            .ok_or(ConfigError::Key { key, reason: "is required (or oncall.opsgenie.api_key_file)".into() })
    }
}
