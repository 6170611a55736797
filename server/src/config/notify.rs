//! Settings of the notifications: mail over SMTP (`[smtp]`), signed one-time action links
//! (`[links]`), reminders, escalation and chat webhooks (`[notify]`).
use std::path::PathBuf;

use secrecy::SecretString;
use serde::Deserialize;

use super::{ConfigError, HttpsUrl, values::secret};
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
        let password = secret("smtp.password", &self.password, "smtp.password_file", &self.password_file)?;
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
#[serde(deny_unknown_fields, default)]
pub struct LinkSettings {
    /// How long an emailed Approve/Deny link works (never past the request's decision timeout).
    pub ttl: HumanDuration,
    /// Also demand that the approver be signed in, as the person the link was sent to.
    /// Default: on whenever a browser sign-in (`[oidc]`) is configured — a forwarded mail
    /// must not let whoever holds it decide. A profile's `require_sign_in_for_links`
    /// overrides this.
    pub require_sign_in: Option<bool>,
}

impl Default for LinkSettings {
    fn default() -> Self {
        Self { ttl: HumanDuration::from_secs(8 * 3600), require_sign_in: None }
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
    pub url: HttpsUrl,
    pub format: WebhookFormat,
    /// HMAC key of the `generic` format's signature header (or `secret_file`).
    pub secret: Option<SecretString>,
    pub secret_file: Option<PathBuf>,
}

impl WebhookSettings {
    /// The signing key: required for `generic`, meaningless for the others.
    pub fn secret(&self) -> Result<Option<SecretString>, ConfigError> {
        let secret = secret("notify.webhook.secret", &self.secret, "notify.webhook.secret_file", &self.secret_file)?;
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
#[serde(deny_unknown_fields, default)]
pub struct NotifySettings {
    /// Remind the approvers of a request still undecided this long after its stage began.
    pub remind_after: HumanDuration,
    /// Call in the profile's `escalation` approvers this long after the stage began.
    pub escalate_after: HumanDuration,
    /// Tell the requester this long before their access ends.
    pub expiry_warning: HumanDuration,
    /// A message or webhook call that still fails this long after it was due is given up
    /// (and the failure audited).
    pub give_up_after: HumanDuration,
    /// Write mail as `.eml` files into this folder instead of sending it (demo, dry runs).
    pub mail_folder: Option<PathBuf>,
    pub webhook: Vec<WebhookSettings>,
}

impl Default for NotifySettings {
    fn default() -> Self {
        Self {
            remind_after: HumanDuration::from_secs(4 * 3600),
            escalate_after: HumanDuration::from_secs(8 * 3600),
            expiry_warning: HumanDuration::from_secs(600),
            give_up_after: HumanDuration::from_secs(24 * 3600),
            mail_folder: None,
            webhook: Vec::new(),
        }
    }
}

/// Checks that need no network: addresses parse, secrets are complete.
pub(super) fn check(smtp: Option<&SmtpSettings>, notify: &NotifySettings) -> Result<(), ConfigError> {
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
    Ok(())
}
