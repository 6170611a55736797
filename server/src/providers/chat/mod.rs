//! Chat apps that approvers decide in: Microsoft Teams (a Bot Framework bot) and Slack (a
//! Slack app). These clients send and update messages; verifying what the services send to
//! Elevate lives with them (`teams::ChannelAuth`, `slack::SlackApp::verify`).
pub mod slack;
pub mod teams;

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    /// Worth retrying, after `retry_after` when the service said so.
    #[error("{service} is unavailable, will retry: {message}")]
    Transient { service: &'static str, message: String, retry_after: Option<Duration> },
    /// Retrying will not help (a refused credential, a user the app cannot reach).
    #[error("{service} refused: {message}")]
    Permanent { service: &'static str, message: String },
    /// The message to update is gone (deleted in chat, or a chat the bot left).
    #[error("{service}: the message is gone: {message}")]
    Gone { service: &'static str, message: String },
}

/// The HTTP client of a chat app: short timeouts, no redirects (a token must not follow one).
fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .connect_timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default()
}

/// A failed HTTP answer of `service`: 408, 429 and 5xx are retried (as `Retry-After` asks), and
/// 401 too (the caller fetches a new token first).
fn status_error(service: &'static str, response: &reqwest::Response, what: String) -> ChatError {
    let status = response.status();
    let message = format!("{what} answered {status}");
    if matches!(status.as_u16(), 401 | 408 | 429) || status.is_server_error() {
        ChatError::Transient { service, message, retry_after: super::retry_after(response.headers()) }
    } else {
        ChatError::Permanent { service, message }
    }
}

/// The service could not be reached: retried. The text leaves the URL out.
fn network_error(service: &'static str, e: &reqwest::Error) -> ChatError {
    let kind = if e.is_timeout() { "timed out" } else { "could not be reached" };
    ChatError::Transient { service, message: kind.to_owned(), retry_after: None }
}
