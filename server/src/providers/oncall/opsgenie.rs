//! Opsgenie's REST API v2, read-only: who is on call now in a schedule
//! (`GET /v2/schedules/{identifier}/on-calls?flat=true`, one call per schedule). Users are
//! named by their username, which in Opsgenie is their email.
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::Shift;
use crate::config::{ConfigError, OpsgenieSettings};

#[derive(Debug, thiserror::Error)]
pub enum OpsgenieError {
    #[error("Opsgenie could not be reached")]
    Network(#[source] reqwest::Error),
    #[error("Opsgenie's rate limit is exhausted ({state})")]
    RateLimited { state: String },
    #[error("Opsgenie answered {status}: {message}")]
    Status { status: u16, message: String },
    #[error("unexpected answer from Opsgenie")]
    Decode(#[source] reqwest::Error),
}

pub struct Opsgenie {
    http: reqwest::Client,
    /// `…/v2/schedules/`.
    schedules: reqwest::Url,
    key: SecretString,
}

#[derive(Deserialize)]
struct Answer {
    data: OnCalls,
}

#[derive(Deserialize)]
struct OnCalls {
    #[serde(rename = "onCallRecipients", default)]
    recipients: Vec<String>,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    message: String,
}

impl Opsgenie {
    pub fn new(settings: &OpsgenieSettings) -> Result<Self, ConfigError> {
        let http = reqwest::Client::builder()
            .timeout(settings.timeout.get())
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ConfigError::Key { key: "oncall.opsgenie", reason: e.to_string() })?;
        let schedules = reqwest::Url::parse(&format!("{}/v2/schedules/", settings.base_url.trim_end_matches('/')))
            .map_err(|e| ConfigError::Key { key: "oncall.opsgenie.base_url", reason: e.to_string() })?;
        Ok(Self { http, schedules, key: settings.api_key()? })
    }

    /// The shift of whichever of `emails` is on call now in one of `schedules` (ids, or names
    /// when they are not UUIDs), if any is. A schedule that cannot be read does not hide a yes
    /// from another; without a yes, its error is the answer.
    pub async fn on_call_now(&self, schedules: &[String], emails: &[&str]) -> Result<Option<Shift>, OpsgenieError> {
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let mut failed = None;
        for schedule in schedules {
            let kind = if uuid::Uuid::parse_str(schedule).is_ok() { "id" } else { "name" };
            let mut url = self.schedules.clone();
            // An http(s) URL always has path segments; the schedule's name is percent-encoded.
            if let Ok(mut path) = url.path_segments_mut() {
                path.pop_if_empty().push(schedule).push("on-calls");
            }
            url.query_pairs_mut().extend_pairs([("scheduleIdentifierType", kind), ("flat", "true"), ("date", &now)]);
            let answer = match self.call(url).await {
                Ok(answer) => answer,
                Err(e) => {
                    failed.get_or_insert(e);
                    continue;
                }
            };
            if let Some(email) = answer.data.recipients.iter().find(|r| super::one_of(emails, r)) {
                return Ok(Some(Shift {
                    service: "opsgenie",
                    email: email.clone(),
                    schedule: Some(schedule.clone()),
                    escalation_policy: None,
                    end: None,
                }));
            }
        }
        failed.map_or(Ok(None), Err)
    }

    async fn call(&self, url: reqwest::Url) -> Result<Answer, OpsgenieError> {
        let response = self
            .http
            .get(url)
            .header("Authorization", format!("GenieKey {}", self.key.expose_secret()))
            .send()
            .await
            .map_err(OpsgenieError::Network)?;
        let status = response.status().as_u16();
        if status == 429 {
            let state =
                response.headers().get("X-RateLimit-State").and_then(|v| v.to_str().ok()).unwrap_or("THROTTLED");
            return Err(OpsgenieError::RateLimited { state: state.to_owned() });
        }
        if !response.status().is_success() {
            let message = response.json::<ErrorBody>().await.map(|b| b.message).unwrap_or_default();
            return Err(OpsgenieError::Status { status, message });
        }
        response.json().await.map_err(OpsgenieError::Decode)
    }
}
