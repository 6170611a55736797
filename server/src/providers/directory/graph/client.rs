//! Calls to Microsoft Graph: bounded concurrency, 429/503/504 retried after `Retry-After`
//! (or exponential backoff with jitter) a bounded number of times, one token refresh on 401,
//! and `@odata.nextLink` paging that never sends the token outside the Graph base URL.
use std::time::Duration;

use rand::Rng;
use reqwest::{Method, StatusCode};
use secrecy::ExposeSecret;
use serde_json::Value;
use tokio::sync::Semaphore;

use super::GraphError;
use crate::providers::entra_app::TokenSource;
use crate::{providers::origin_of, telemetry::error_chain};

/// The longest `Retry-After` slept inside one call; a longer one ends the call, and the job
/// that made it is rescheduled after that wait.
const IN_CALL_WAIT: Duration = Duration::from_secs(10);

pub struct GraphClient {
    http: reqwest::Client,
    pub base_url: String,
    /// `scheme://host[:port]` of the base URL: paging links must stay on it.
    origin: String,
    pub tokens: TokenSource,
    limit: Semaphore,
    max_retries: u32,
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
        Self { http, base_url, origin, tokens, limit: Semaphore::new(max_concurrency), max_retries }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// One Graph call. `Ok(None)` for an answer without a body (204). Timed, retries
    /// included, for `elevate_provider_call_duration_seconds`.
    pub async fn call(&self, method: Method, url: &str, body: Option<&Value>) -> Result<Option<Value>, GraphError> {
        let started = std::time::Instant::now();
        let result = self.call_once_permitted(method.clone(), url, body).await;
        crate::metrics::observe_call("graph", method.as_str(), result.is_ok(), started.elapsed());
        result
    }

    async fn call_once_permitted(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
    ) -> Result<Option<Value>, GraphError> {
        let _permit = self.limit.acquire().await.map_err(|_| GraphError::ShutDown)?;
        // Removals first when the tenant's write bucket runs short.
        let priority = if method == Method::DELETE { "high" } else { "normal" };
        let mut attempt = 0;
        let mut refreshed = false;
        loop {
            let token = self.tokens.get().await?;
            let mut request = self
                .http
                .request(method.clone(), url)
                .bearer_auth(token.expose_secret())
                .header("x-ms-throttle-priority", priority);
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = match request.send().await {
                Ok(r) => r,
                Err(e) if attempt < self.max_retries => {
                    tracing::warn!(error = %error_chain(&e), attempt, "Graph unreachable; retrying");
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                    continue;
                }
                Err(e) => return Err(GraphError::Network(e)),
            };
            let status = response.status();
            if status.is_success() {
                if status == StatusCode::NO_CONTENT {
                    return Ok(None);
                }
                return response.json().await.map(Some).map_err(|e| GraphError::Decode(e.to_string()));
            }
            let retry_after = crate::providers::retry_after(response.headers());
            let body: ODataError = response.json().await.unwrap_or_default();
            let transient = matches!(status.as_u16(), 429 | 500 | 502 | 503 | 504);
            if status == StatusCode::UNAUTHORIZED && !refreshed {
                refreshed = true;
                self.tokens.invalidate().await;
                continue;
            }
            // A long wait is not slept here, holding a Graph slot: the job is rescheduled.
            if transient && attempt < self.max_retries && retry_after.is_none_or(|w| w <= IN_CALL_WAIT) {
                let wait = retry_after.unwrap_or_else(|| backoff(attempt));
                tracing::debug!(status = status.as_u16(), ?wait, attempt, "Graph asked us to wait");
                tokio::time::sleep(wait).await;
                attempt += 1;
                continue;
            }
            return Err(GraphError::Status {
                status: status.as_u16(),
                code: body.error.code,
                message: body.error.message,
                retry_after,
            });
        }
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
