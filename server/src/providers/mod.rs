//! Outside systems, behind traits with real implementations.
pub mod aws;
pub mod chat;
pub mod directory;
pub mod entra_app;
pub mod mail;
pub mod oncall;
pub mod signing_keys;
pub mod syslog;
pub mod webhook;

use std::time::Duration;

/// The longest wait a `Retry-After` answer is taken at: a peer that asks for more (or sends
/// a number too large to add to a clock) is asked again after this long.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// `scheme://host[:port]` of `url` as browsers serialize it in `Origin`, when it parses (by
/// parsing, so default ports, case and user info cannot make two origins differ or match).
pub fn origin_of(url: &str) -> Option<String> {
    let origin = reqwest::Url::parse(url).ok()?.origin();
    origin.is_tuple().then(|| origin.ascii_serialization())
}

/// A `Retry-After` header in seconds, capped at `MAX_RETRY_AFTER`.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let seconds = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim().parse::<u64>().ok()?;
    Some(Duration::from_secs(seconds).min(MAX_RETRY_AFTER))
}
