//! Calls to Microsoft Graph: bounded concurrency, calls made at the same moment sent
//! together as one `$batch` (`batch.rs`), writes paced to Graph's write quota with one shared
//! pause per 429 (`pacing.rs`), 429/503/504 retried after `Retry-After` (or exponential
//! backoff with jitter) a bounded number of times, one token refresh on 401, and
//! `@odata.nextLink` paging that never sends the token outside the Graph base URL.
use std::{collections::VecDeque, sync::Mutex, sync::atomic::AtomicU64, time::Duration};

use rand::Rng;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::sync::Semaphore;

use super::{
    GraphError,
    batch::Queued,
    pacing::{Pacing, Turn},
};
use crate::providers::entra_app::TokenSource;
use crate::{providers::origin_of, telemetry::error_chain};

/// The longest `Retry-After` slept inside one call; a longer one ends the call, and the job
/// that made it is rescheduled after it.
const IN_CALL_WAIT: Duration = Duration::from_secs(10);
/// The longest wait for a write's turn in the write quota, slept before taking a Graph slot.
/// Long enough that a job in line keeps its place (the worker's slots bound the line: 256 slots
/// wait 13 s at Graph's rate) rather than being rescheduled and asking again, over and over.
const TURN_WAIT: Duration = Duration::from_secs(60);

pub struct GraphClient {
    pub(super) http: reqwest::Client,
    pub base_url: String,
    /// `scheme://host[:port]` of the base URL: paging links must stay on it.
    origin: String,
    pub tokens: TokenSource,
    /// Requests in flight to Graph at most (`graph.max_concurrency`); a `$batch` is one.
    pub(super) limit: Semaphore,
    max_retries: u32,
    /// Requests waiting to go out (`batch.rs`).
    pub(super) queue: Mutex<VecDeque<Queued>>,
    pub(super) next_id: AtomicU64,
    pacing: Pacing,
}

/// One request to Graph, alone or inside a `$batch`.
#[derive(Clone)]
pub struct Outgoing {
    pub method: Method,
    /// Absolute, under the base URL.
    pub url: String,
    pub body: Option<Value>,
}

impl Outgoing {
    /// Removals first when the tenant's write bucket runs short: Graph throttles normal
    /// requests before high-priority ones, and access that must end outranks the rest.
    pub fn priority(&self) -> &'static str {
        if self.method == Method::DELETE { "high" } else { "normal" }
    }
}

/// What Graph answered one request.
#[derive(Clone, Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub retry_after: Option<Duration>,
    /// A 429 for the application's write quota in the tenant (`x-ms-throttle-scope:
    /// Tenant_Application/Write/…`), rather than for load or another limit.
    pub write_quota_spent: bool,
    /// `x-ms-throttle-limit-percentage`: how much of a quota is used, once past 0.8.
    pub quota_used: Option<f64>,
    /// The JSON body; none for 204 or an empty body.
    pub body: Option<Value>,
}

impl Answer {
    pub fn of(status: StatusCode, headers: &reqwest::header::HeaderMap, body: Option<Value>) -> Self {
        let scope = headers.get("x-ms-throttle-scope").and_then(|v| v.to_str().ok()).unwrap_or_default();
        Self {
            status,
            retry_after: crate::providers::retry_after(headers),
            write_quota_spent: status == StatusCode::TOO_MANY_REQUESTS
                && scope.starts_with("Tenant_Application/Write/"),
            quota_used: headers
                .get("x-ms-throttle-limit-percentage")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok())
                .filter(|used: &f64| used.is_finite()),
            body,
        }
    }
}

#[derive(serde::Deserialize, Default)]
struct ODataError {
    #[serde(default)]
    error: ODataErrorBody,
}

#[derive(serde::Deserialize, Default)]
struct ODataErrorBody {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

fn backoff(attempt: u32) -> Duration {
    let base = 250u64 * 2u64.pow(attempt.min(6));
    Duration::from_millis(rand::rng().random_range(base / 2..=base))
}

impl GraphClient {
    pub fn new(
        http: reqwest::Client,
        base_url: &str,
        tokens: TokenSource,
        max_concurrency: usize,
        max_retries: u32,
    ) -> Self {
        let base_url = base_url.trim_end_matches('/').to_owned();
        let origin = origin_of(&base_url).unwrap_or_else(|| base_url.clone());
        Self {
            http,
            base_url,
            origin,
            tokens,
            limit: Semaphore::new(max_concurrency),
            max_retries,
            queue: Mutex::default(),
            next_id: AtomicU64::default(),
            pacing: Pacing::default(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// One Graph call. `Ok(None)` for an answer without a body (204). Timed, retries
    /// included, for `elevate_provider_call_duration_seconds`.
    pub async fn call(&self, method: Method, url: &str, body: Option<&Value>) -> Result<Option<Value>, GraphError> {
        let started = std::time::Instant::now();
        let request = Outgoing { method: method.clone(), url: url.to_owned(), body: body.cloned() };
        let result = self.call_retrying(&request).await;
        crate::metrics::observe_call("graph", method.as_str(), result.is_ok(), started.elapsed());
        result
    }

    async fn call_retrying(&self, request: &Outgoing) -> Result<Option<Value>, GraphError> {
        let mut attempt = 0;
        let mut refreshed = false;
        loop {
            self.pace(request).await?;
            let answer = match self.send(request).await {
                Ok(answer) => answer,
                Err(e @ GraphError::Network(_)) if attempt < self.max_retries => {
                    tracing::warn!(error = %error_chain(&e), attempt, "Graph unreachable; retrying");
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let Answer { status, retry_after, write_quota_spent, quota_used, body } = answer;
            if let Some(used) = quota_used.filter(|_| request.method != Method::GET) {
                self.pacing.spent(used);
            }
            if status.is_success() {
                return Ok(body);
            }
            if status == StatusCode::UNAUTHORIZED && !refreshed {
                refreshed = true;
                self.tokens.invalidate().await;
                continue;
            }
            if status == StatusCode::TOO_MANY_REQUESTS {
                // Every call waits (this one too, in `pace`): one pause, not one per call.
                let pause = retry_after.unwrap_or_else(|| backoff(attempt));
                self.pacing.throttled(request.method != Method::GET, pause, write_quota_spent);
            }
            let transient = matches!(status.as_u16(), 429 | 500 | 502 | 503 | 504);
            // A long wait is not slept here, holding a Graph slot: the job is rescheduled.
            if transient && attempt < self.max_retries && retry_after.is_none_or(|w| w <= IN_CALL_WAIT) {
                if status != StatusCode::TOO_MANY_REQUESTS {
                    let wait = retry_after.unwrap_or_else(|| backoff(attempt));
                    tracing::debug!(status = status.as_u16(), ?wait, attempt, "Graph asked us to wait");
                    tokio::time::sleep(wait).await;
                }
                attempt += 1;
                continue;
            }
            let error: ODataError = body.and_then(|b| serde_json::from_value(b).ok()).unwrap_or_default();
            return Err(GraphError::Status {
                status: status.as_u16(),
                code: error.error.code,
                message: error.error.message,
                retry_after,
            });
        }
    }

    /// Waits for a write's turn in the write quota, then for the shared pause to end.
    async fn pace(&self, request: &Outgoing) -> Result<(), GraphError> {
        let write = request.method != Method::GET;
        if write {
            let removal = request.method == Method::DELETE;
            let deadline = tokio::time::Instant::now() + TURN_WAIT;
            loop {
                let patience = deadline.saturating_duration_since(tokio::time::Instant::now());
                match self.pacing.reserve(removal, patience) {
                    Turn::Go(wait) => {
                        tokio::time::sleep(wait).await;
                        break;
                    }
                    Turn::Later(wait) => tokio::time::sleep(wait).await,
                    Turn::TooFar(wait) => return Err(GraphError::Paced(wait)),
                }
            }
        }
        self.pacing.wait_pause(write).await;
        Ok(())
    }

    /// One request sent alone.
    pub(super) async fn send_alone(&self, request: &Outgoing, token: &str) -> Result<Answer, GraphError> {
        let mut call = self
            .http
            .request(request.method.clone(), &request.url)
            .bearer_auth(token)
            .header("x-ms-throttle-priority", request.priority());
        if let Some(body) = &request.body {
            call = call.json(body);
        }
        let response = call.send().await.map_err(|e| GraphError::Network(std::sync::Arc::new(e)))?;
        let (status, headers) = (response.status(), response.headers().clone());
        let bytes = response.bytes().await.map_err(|e| GraphError::Network(std::sync::Arc::new(e)))?;
        let body = match bytes.is_empty() {
            true => None,
            false => match serde_json::from_slice(&bytes) {
                Ok(v) => Some(v),
                Err(e) if status.is_success() => return Err(GraphError::Decode(e.to_string())),
                Err(_) => None,
            },
        };
        Ok(Answer::of(status, &headers, body))
    }

    /// Every item of a collection, following `@odata.nextLink` to the end.
    pub async fn get_all(&self, url: String) -> Result<Vec<Value>, GraphError> {
        let mut items = Vec::new();
        let mut next = Some(url);
        while let Some(url) = next.take() {
            // Compared as parsed origins: `https://graph.microsoft.com.evil.example/` starts
            // with Graph's origin but is another host, which would receive the token.
            if origin_of(&url).as_deref() != Some(self.origin.as_str()) {
                return Err(GraphError::Decode(format!("a paging link left {}: {url}", self.origin)));
            }
            let page = self.call(Method::GET, &url, None).await?.unwrap_or_default();
            if let Some(values) = page["value"].as_array() {
                items.extend(values.iter().cloned());
            }
            next = page["@odata.nextLink"].as_str().map(str::to_owned);
        }
        Ok(items)
    }
}

/// Percent-encodes one path segment (UPNs carry `@`, guests `#EXT#`).
pub fn segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'@' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_paging_link_is_graphs_only_when_its_parsed_origin_is() {
        let graph = super::origin_of("https://graph.microsoft.com/v1.0").unwrap();
        assert_eq!(super::origin_of("https://graph.microsoft.com/v1.0/groups?$skiptoken=x").unwrap(), graph);
        for elsewhere in [
            "https://graph.microsoft.com.evil.example/v1.0/groups",
            "https://graph.microsoft.com@evil.example/v1.0/groups",
            "http://graph.microsoft.com/v1.0/groups",
            "https://graph.microsoft.com:8443/v1.0/groups",
        ] {
            assert_ne!(super::origin_of(elsewhere), Some(graph.clone()), "{elsewhere}");
        }
    }
}
