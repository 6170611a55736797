//! PagerDuty's REST API v2, read-only: who is on call right now in some schedules or
//! escalation policies (`GET /oncalls` with `include[]=users`, paged with `offset` while
//! `more`). The answer names a person by their PagerDuty email; Elevate matches it to the
//! requester's directory mail or UPN.
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::Shift;
use crate::config::{ConfigError, PagerDutySettings};

#[derive(Debug, thiserror::Error)]
pub enum PagerDutyError {
    #[error("PagerDuty could not be reached")]
    Network(#[source] reqwest::Error),
    /// 429: `ratelimit-reset` says in how many seconds the window resets.
    #[error("PagerDuty's rate limit is exhausted (resets in {reset:?} s)")]
    RateLimited { reset: Option<u64> },
    #[error("PagerDuty answered {status}: {code}: {message}")]
    Status { status: u16, code: i64, message: String },
    #[error("unexpected answer from PagerDuty")]
    Decode(#[source] reqwest::Error),
}

pub struct PagerDuty {
    http: reqwest::Client,
    /// `…/oncalls`.
    oncalls: reqwest::Url,
    token: SecretString,
}

/// PagerDuty pages at most 100 entries; more than 10 pages of people on call now in the
/// named schedules is not a rotation, and a filing must not wait on it.
const PAGE: usize = 100;
const MOST: usize = 1_000;

#[derive(Deserialize)]
struct Page {
    oncalls: Vec<Entry>,
    #[serde(default)]
    more: bool,
}

#[derive(Deserialize)]
struct Entry {
    user: Reference,
    schedule: Option<Reference>,
    escalation_policy: Option<Reference>,
    #[serde(default)]
    escalation_level: Option<u32>,
    end: Option<String>,
}

impl Entry {
    /// On call now as the first to be paged, in a shift that ends: not a secondary or a
    /// manager further up the escalation policy, and not someone named in a level directly
    /// (PagerDuty reports them as on call for ever, `end: null`).
    fn first_responder(&self) -> bool {
        self.escalation_level == Some(1) && self.end.is_some()
    }
}

#[derive(Deserialize)]
struct Reference {
    id: String,
    email: Option<String>,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    code: i64,
    #[serde(default)]
    message: String,
}

impl PagerDuty {
    pub fn new(settings: &PagerDutySettings) -> Result<Self, ConfigError> {
        let http = reqwest::Client::builder()
            .timeout(settings.timeout.get())
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ConfigError::Key { key: "oncall.pagerduty", reason: e.to_string() })?;
        let oncalls = reqwest::Url::parse(&format!("{}/oncalls", settings.base_url.trim_end_matches('/')))
            .map_err(|e| ConfigError::Key { key: "oncall.pagerduty.base_url", reason: e.to_string() })?;
        Ok(Self { http, oncalls, token: settings.token()? })
    }

    /// The shift of whichever of `emails` is on call now in one of `schedules` or
    /// `escalation_policies` (emails compared without regard to case), if any is. PagerDuty
    /// applies both filters together, so each list is asked on its own.
    pub async fn on_call_now(
        &self,
        schedules: &[String],
        escalation_policies: &[String],
        emails: &[&str],
    ) -> Result<Option<Shift>, PagerDutyError> {
        for (filter, ids) in [("schedule_ids[]", schedules), ("escalation_policy_ids[]", escalation_policies)] {
            if ids.is_empty() {
                continue;
            }
            if let Some(shift) = self.find(filter, ids, emails).await? {
                return Ok(Some(shift));
            }
        }
        Ok(None)
    }

    /// Pages through who is on call now under `filter` until one of `emails` turns up.
    async fn find(&self, filter: &str, ids: &[String], emails: &[&str]) -> Result<Option<Shift>, PagerDutyError> {
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let mut offset = 0;
        while offset + PAGE <= MOST {
            let mut query: Vec<(&str, String)> = vec![
                ("include[]", "users".into()),
                ("since", now.clone()),
                ("until", now.clone()),
                ("limit", PAGE.to_string()),
                ("offset", offset.to_string()),
            ];
            query.extend(ids.iter().map(|id| (filter, id.clone())));
            let page = self.page(&query).await?;
            let found = page.oncalls.iter().find(|e| {
                e.first_responder() && e.user.email.as_deref().is_some_and(|mail| super::one_of(emails, mail))
            });
            if let Some(e) = found {
                return Ok(Some(Shift {
                    service: "pagerduty",
                    email: e.user.email.clone().unwrap_or_default(),
                    schedule: e.schedule.as_ref().map(|s| s.id.clone()),
                    escalation_policy: e.escalation_policy.as_ref().map(|p| p.id.clone()),
                    end: e.end.clone(),
                }));
            }
            // A page shorter than asked for is the last, whatever `more` says.
            if !page.more || page.oncalls.len() < PAGE {
                break;
            }
            offset += page.oncalls.len();
        }
        Ok(None)
    }

    async fn page(&self, query: &[(&str, String)]) -> Result<Page, PagerDutyError> {
        let mut url = self.oncalls.clone();
        url.query_pairs_mut().extend_pairs(query);
        let response = self
            .http
            .get(url)
            .header("Authorization", format!("Token token={}", self.token.expose_secret()))
            .header("Accept", "application/vnd.pagerduty+json;version=2")
            .send()
            .await
            .map_err(PagerDutyError::Network)?;
        let status = response.status().as_u16();
        if status == 429 {
            let reset = response.headers().get("ratelimit-reset").and_then(|v| v.to_str().ok()?.parse().ok());
            return Err(PagerDutyError::RateLimited { reset });
        }
        if !response.status().is_success() {
            let body = response.json::<ErrorBody>().await.ok().map(|b| b.error);
            let (code, message) = body.map_or((0, String::new()), |e| (e.code, e.message));
            return Err(PagerDutyError::Status { status, code, message });
        }
        response.json().await.map_err(PagerDutyError::Decode)
    }
}
