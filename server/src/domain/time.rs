//! Instants as Unix milliseconds, the unit the database stores.
use chrono::{DateTime, SecondsFormat, Utc};

pub type Millis = i64;

pub fn now() -> Millis {
    Utc::now().timestamp_millis()
}

/// RFC 3339 in UTC with milliseconds, the format of every instant in the API.
pub fn format_millis(ms: Millis) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default().to_rfc3339_opts(SecondsFormat::Millis, true)
}
