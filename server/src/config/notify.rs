//! Settings of the notifications: mail over SMTP (`[smtp]`), signed one-time action links
//! (`[links]`), reminders, escalation and chat webhooks (`[notify]`).
use std::path::PathBuf;

use secrecy::SecretString;
use serde::Deserialize;

use super::{ConfigError, is_loopback_http, read_secret_file};
use crate::domain::HumanDuration;

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS (required, never skipped); port 587.
    #[default]
    Starttls,
    /// TLS from the first byte (SMTPS); port 465.
    Tls,
    /// No encryption: only for a relay on the same host or a test server.
    None,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSettings {
    pub host: String,
    /// Defaults to 587 (starttls), 465 (tls) or 25 (none).
    pub port: Option<u16>,
    #[serde(default)]
    pub security: SmtpSecurity,
    pub user: Option<String>,
    pub password: Option<SecretString>,
    pub password_file: Option<PathBuf>,
    /// The sender, e.g. `Elevate <elevate@example.com>`.
    pub from: String,
    #[serde(default = "default_smtp_timeout")]
    pub timeout: HumanDuration,
}

fn default_smtp_timeout() -> HumanDuration {
    HumanDuration::from_secs(30)
}

impl SmtpSettings {
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.security {
            SmtpSecurity::Starttls => 587,
            SmtpSecurity::Tls => 465,
            SmtpSecurity::None => 25,
        })
    }

    /// The login, when one is configured: user and password (or password file) together.
    pub fn credentials(&self) -> Result<Option<(String, SecretString)>, ConfigError> {
        let password = match (&self.password, &self.password_file) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::Key {
                    key: "smtp.password",
                    reason: "set either smtp.password or smtp.password_file, not both".into(),
                });
            }
            (Some(p), None) => Some(p.clone()),
            (None, Some(path)) => Some(read_secret_file("smtp.password_file", path)?),
            (None, None) => None,
        };
        match (&self.user, password) {
            (Some(user), Some(password)) => Ok(Some((user.clone(), password))),
            (None, None) => Ok(None),
            (Some(_), None) => {
                Err(ConfigError::Key { key: "smtp.password", reason: "smtp.user is set but no password".into() })
            }
            (None, Some(_)) => {
                Err(ConfigError::Key { key: "smtp.user", reason: "a password is set but no smtp.user".into() })
            }
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSettings {
    /// How long an emailed Approve/Deny link works (never past the request's decision timeout).
    #[serde(default = "default_link_ttl")]
    pub ttl: HumanDuration,
    /// Also demand that the approver be signed in, as the person the link was sent to.
    /// Default: on whenever a browser sign-in (`[oidc]`) is configured — a forwarded mail
    /// must not let whoever holds it decide. A profile's `require_sign_in_for_links`
    /// overrides this.
    #[serde(default)]
    pub require_sign_in: Option<bool>,
}

fn default_link_ttl() -> HumanDuration {
    HumanDuration::from_secs(8 * 3600)
}

impl Default for LinkSettings {
    fn default() -> Self {
        Self { ttl: default_link_ttl(), require_sign_in: None }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum WebhookFormat {
    /// Slack incoming webhook (`{"text": …}`).
    Slack,
    /// Microsoft Teams workflow/incoming webhook (an Adaptive Card).
    Teams,
    /// Elevate's own JSON event, signed with an HMAC-SHA256 header.
    Generic,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    pub url: String,
    pub format: WebhookFormat,
    /// HMAC key of the `generic` format's signature header (or `secret_file`).
    pub secret: Option<SecretString>,
    pub secret_file: Option<PathBuf>,
}

impl WebhookSettings {
    /// The signing key: required for `generic`, meaningless for the others.
    pub fn secret(&self) -> Result<Option<SecretString>, ConfigError> {
        let secret = match (&self.secret, &self.secret_file) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::Key {
                    key: "notify.webhook.secret",
                    reason: "set either secret or secret_file, not both".into(),
                });
            }
            (Some(s), None) => Some(s.clone()),
            (None, Some(path)) => Some(read_secret_file("notify.webhook.secret_file", path)?),
            (None, None) => None,
        };
        match (self.format, &secret) {
            (WebhookFormat::Generic, None) => Err(ConfigError::Key {
                key: "notify.webhook.secret",
                reason: format!("the generic webhook {} needs a secret to sign its bodies", self.url),
            }),
            (WebhookFormat::Slack | WebhookFormat::Teams, Some(_)) => Err(ConfigError::Key {
                key: "notify.webhook.secret",
                reason: "only the generic format is signed; Slack and Teams URLs are themselves the secret".into(),
            }),
            _ => Ok(secret),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifySettings {
    /// Remind the approvers of a request still undecided this long after its stage began.
    #[serde(default = "default_remind_after")]
    pub remind_after: HumanDuration,
    /// Call in the profile's `escalation` approvers this long after the stage began.
    #[serde(default = "default_escalate_after")]
    pub escalate_after: HumanDuration,
    /// Tell the requester this long before their access ends.
    #[serde(default = "default_expiry_warning")]
    pub expiry_warning: HumanDuration,
    /// A message or webhook call that still fails this long after it was due is given up
    /// (and the failure audited).
    #[serde(default = "default_give_up_after")]
    pub give_up_after: HumanDuration,
    /// Write mail as `.eml` files into this folder instead of sending it (demo, dry runs).
    pub mail_folder: Option<PathBuf>,
    #[serde(default)]
    pub webhook: Vec<WebhookSettings>,
}

fn default_remind_after() -> HumanDuration {
    HumanDuration::from_secs(4 * 3600)
}
fn default_escalate_after() -> HumanDuration {
    HumanDuration::from_secs(8 * 3600)
}
fn default_expiry_warning() -> HumanDuration {
    HumanDuration::from_secs(600)
}
fn default_give_up_after() -> HumanDuration {
    HumanDuration::from_secs(24 * 3600)
}

impl Default for NotifySettings {
    fn default() -> Self {
        Self {
            remind_after: default_remind_after(),
            escalate_after: default_escalate_after(),
            expiry_warning: default_expiry_warning(),
            give_up_after: default_give_up_after(),
            mail_folder: None,
            webhook: Vec::new(),
        }
    }
}

/// Checks that need no network: addresses parse, secrets are complete, URLs are http(s).
pub(super) fn check(
    smtp: Option<&SmtpSettings>,
    notify: &NotifySettings,
    public_url: Option<&str>,
) -> Result<(), ConfigError> {
    if let Some(smtp) = smtp {
        if notify.mail_folder.is_some() {
            return Err(ConfigError::Key {
                key: "notify.mail_folder",
                reason: "set either [smtp] or notify.mail_folder, not both".into(),
            });
        }
        smtp.from.parse::<lettre::message::Mailbox>().map_err(|e| ConfigError::Key {
            key: "smtp.from",
            reason: format!("{:?} is not a mail address: {e}", smtp.from),
        })?;
        smtp.credentials()?;
        if smtp.host.trim().is_empty() {
            return Err(ConfigError::Key { key: "smtp.host", reason: "is empty".into() });
        }
    }
    for hook in &notify.webhook {
        if !(hook.url.starts_with("https://") || is_loopback_http(&hook.url)) {
            return Err(ConfigError::Key {
                key: "notify.webhook.url",
                reason: format!("{} must be an https:// URL (plain http only on loopback)", hook.url),
            });
        }
        hook.secret()?;
    }
    if notify.escalate_after.get() <= notify.remind_after.get() {
        return Err(ConfigError::Key {
            key: "notify.escalate_after",
            reason: format!(
                "({}) must be longer than notify.remind_after ({})",
                notify.escalate_after, notify.remind_after
            ),
        });
    }
    if let Some(url) = public_url
        && !(url.starts_with("https://") || url.starts_with("http://"))
    {
        return Err(ConfigError::Key {
            key: "server.public_url",
            reason: format!("{url:?} must be the http(s):// address people use to reach Elevate"),
        });
    }
    Ok(())
}
