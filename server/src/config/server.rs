//! Where Elevate listens and keeps its state: `[server]`, `[database]`, `[policy]`, `[log]`
//! and the abuse `[limits]`.
use std::{fmt, net::SocketAddr, path::PathBuf};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::ConfigError;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    pub bind: SocketAddr,
    /// The address people reach Elevate at (links in mail and chat), e.g.
    /// `https://elevate.example.com`. Defaults to `http://` + the bound address.
    pub public_url: Option<String>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self { bind: SocketAddr::from(([127, 0, 0, 1], 8080)), public_url: None }
    }
}

impl ServerSettings {
    pub(super) fn check(&self) -> Result<(), ConfigError> {
        match &self.public_url {
            Some(url) if !(url.starts_with("https://") || url.starts_with("http://")) => Err(ConfigError::Key {
                key: "server.public_url",
                reason: format!("{url:?} must be the http(s):// address people use to reach Elevate"),
            }),
            _ => Ok(()),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    /// `sqlite://elevate.db?mode=rwc` or `postgres://user:password@host/db`.
    pub url: SecretString,
    pub max_connections: u32,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self { url: SecretString::from("sqlite://elevate.db?mode=rwc"), max_connections: 10 }
    }
}

impl DatabaseSettings {
    /// The URL with any password replaced, for logs and error messages.
    pub fn redacted_url(&self) -> String {
        redact_url(self.url.expose_secret())
    }

    pub(super) fn check(&self) -> Result<(), ConfigError> {
        let url = self.url.expose_secret();
        if url.starts_with("sqlite:") || url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(());
        }
        Err(ConfigError::Key {
            key: "database.url",
            reason: format!("{} is neither a sqlite: nor a postgres:// URL", self.redacted_url()),
        })
    }
}

impl fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("url", &self.redacted_url())
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

/// The URL with its password and any `password`-like query parameter replaced by `***`,
/// found by parsing (a password may hold `@` or `:`); a URL that does not parse is not shown.
fn redact_url(url: &str) -> String {
    let Ok(mut parsed) = reqwest::Url::parse(url) else { return "(a database URL that does not parse)".into() };
    if parsed.password().is_some() {
        let _ = parsed.set_password(Some("***"));
    }
    let secret = |key: &str| {
        let key = key.to_ascii_lowercase();
        ["password", "passwd", "pwd", "secret", "token"].iter().any(|s| key.contains(s))
    };
    if parsed.query_pairs().any(|(k, _)| secret(&k)) {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(k, v)| {
                let v = if secret(&k) { "***".to_owned() } else { v.into_owned() };
                (k.into_owned(), v)
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    parsed.to_string()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicySettings {
    pub path: PathBuf,
}

impl Default for PolicySettings {
    fn default() -> Self {
        Self { path: PathBuf::from("policy.toml") }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    pub format: LogFormat,
    /// A `tracing` filter such as `info` or `elevate=debug,info`.
    pub level: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self { format: LogFormat::default(), level: "info".into() }
    }
}

/// Abuse limits. A rate of 0 turns that limit off (e.g. `per_ip_per_second` behind a proxy,
/// where every request comes from the proxy's address).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitSettings {
    /// Requests per second from one client address, sustained …
    pub per_ip_per_second: u32,
    /// … and in a burst.
    pub per_ip_burst: u32,
    /// API requests per second of one authenticated caller, sustained …
    pub per_caller_per_second: u32,
    /// … and in a burst.
    pub per_caller_burst: u32,
    /// Requests one user may have waiting for a decision at once (0: no cap).
    pub max_pending_per_user: u32,
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            per_ip_per_second: 20,
            per_ip_burst: 100,
            per_caller_per_second: 10,
            per_caller_burst: 50,
            max_pending_per_user: 5,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_password_never_printed() {
        let db = DatabaseSettings { url: SecretString::from("postgres://app:hunter2@db/elevate"), max_connections: 1 };
        let shown = format!("{db:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("postgres://app:***@db/elevate"), "{shown}");
    }

    #[test]
    fn a_password_with_an_at_sign_or_in_the_query_is_redacted_too() {
        for (url, secret) in [
            ("postgres://app:hunter%402@db/elevate", "hunter"),
            ("postgres://app@db/elevate?password=hunter2&sslmode=require", "hunter2"),
        ] {
            let shown = redact_url(url);
            assert!(!shown.contains(secret) && shown.contains("***"), "{shown}");
        }
        assert!(redact_url("postgres://app@db/elevate?sslmode=require").contains("sslmode=require"));
    }
}
