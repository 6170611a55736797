//! Values of the configuration that are checked as they are read: a URL that must be https
//! (plain http only on this machine), an AWS account id, a SAML provider ARN, a `host:port`,
//! and a secret given inline or as a file. A wrong value is refused by the loader with the
//! key it was found under.
use std::{
    fmt,
    path::{Path, PathBuf},
};

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::ConfigError;

/// Declares a string newtype that deserializes only through `check` and reads as `&str`.
macro_rules! checked_string {
    ($(#[$doc:meta])* $name:ident, $check:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(value: String) -> Result<Self, String> {
                let check: fn(&str) -> Result<(), String> = $check;
                check(&value).map(|()| Self(value))
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

checked_string!(
    /// An `https://` URL, or plain `http://` on this machine (test servers, the demo).
    HttpsUrl,
    |url| match url.starts_with("https://") || is_loopback_http(url) {
        true => Ok(()),
        false => Err(format!("{url} must be an https:// URL (plain http only on loopback)")),
    }
);

checked_string!(
    /// A 12-digit AWS account id.
    AccountId,
    |id| match id.len() == 12 && id.chars().all(|c| c.is_ascii_digit()) {
        true => Ok(()),
        false => Err(format!("{id:?} is not a 12-digit account id")),
    }
);

checked_string!(
    /// The ARN of an IAM SAML identity provider.
    SamlProviderArn,
    |arn| match arn.starts_with("arn:aws") && arn.contains(":saml-provider/") {
        true => Ok(()),
        false => Err(format!("{arn:?} is not a SAML provider ARN")),
    }
);

checked_string!(
    /// `host:port`, e.g. `siem.example.com:514`.
    HostPort,
    |address| match address.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => Ok(()),
        _ => Err(format!("{address:?} is not host:port")),
    }
);

impl HttpsUrl {
    /// A URL written in this source (a default), known to be https.
    pub(super) fn known(url: &'static str) -> Self {
        debug_assert!(url.starts_with("https://"));
        Self(url.to_owned())
    }
}

/// A plain-http URL on this machine (test servers, the demo): the only place without TLS.
/// Decided on the parsed host — `127.0.0.0/8`, `::1` or exactly `localhost` — so neither
/// `http://localhost.attacker.net` nor `http://127.evil.example` passes.
pub fn is_loopback_http(url: &str) -> bool {
    let Ok(url) = reqwest::Url::parse(url) else { return false };
    let host = url.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']');
    url.scheme() == "http"
        && match host.parse::<std::net::IpAddr>() {
            Ok(ip) => ip.is_loopback(),
            Err(_) => host.eq_ignore_ascii_case("localhost"),
        }
}

/// A secret set inline under `key` or read from the file named under `file_key`: at most one
/// of them (a file's trailing newline is not part of the secret).
pub(super) fn secret(
    key: &'static str,
    inline: &Option<SecretString>,
    file_key: &'static str,
    file: &Option<PathBuf>,
) -> Result<Option<SecretString>, ConfigError> {
    match (inline, file) {
        (Some(_), Some(_)) => {
            Err(ConfigError::Key { key, reason: format!("set either {key} or {file_key}, not both") })
        }
        (Some(secret), None) => Ok(Some(secret.clone())),
        (None, Some(path)) => read_secret_file(file_key, path).map(Some),
        (None, None) => Ok(None),
    }
}

pub(super) fn read_secret_file(key: &'static str, path: &Path) -> Result<SecretString, ConfigError> {
    std::fs::read_to_string(path)
        .map(|s| SecretString::from(s.trim_end_matches(['\r', '\n']).to_owned()))
        .map_err(|e| ConfigError::Key { key, reason: format!("cannot read {}: {e}", path.display()) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_decided_on_the_parsed_host() {
        for url in ["http://127.0.0.1:8080/x", "http://127.1.2.3/", "http://localhost:3000", "http://[::1]:9/"] {
            assert!(is_loopback_http(url), "{url}");
        }
        for url in [
            "http://localhost.attacker.net/",
            "http://127.evil.example/",
            "http://127.0.0.1.nip.io/",
            "https://127.0.0.1/",
            "http://10.0.0.1/",
            "http://localhost@evil.example/",
        ] {
            assert!(!is_loopback_http(url), "{url}");
        }
    }

    #[test]
    fn checked_values_refuse_what_they_cannot_be() {
        assert!(HttpsUrl::try_from("http://graph.example/".to_owned()).is_err());
        assert!(HttpsUrl::try_from("https://graph.example/".to_owned()).is_ok());
        assert!(AccountId::try_from("12345678901".to_owned()).is_err());
        assert!(AccountId::try_from("123456789012".to_owned()).is_ok());
        assert!(SamlProviderArn::try_from("arn:aws:iam::123456789012:role/x".to_owned()).is_err());
        assert!(SamlProviderArn::try_from("arn:aws:iam::123456789012:saml-provider/Entra".to_owned()).is_ok());
        for bad in ["siem.example", ":514", "siem:99999"] {
            assert!(HostPort::try_from(bad.to_owned()).is_err(), "{bad}");
        }
        assert!(HostPort::try_from("siem.example:514".to_owned()).is_ok());
    }
}
