//! Sending mail: lettre over SMTP, or `.eml` files in a folder (demo and dry runs).
use std::path::Path;

use lettre::{
    AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, MultiPart},
    transport::smtp::authentication::Credentials,
};
use secrecy::ExposeSecret;

use crate::config::{ConfigError, SmtpSecurity, SmtpSettings};

/// One message, ready to send: a plain-text and an HTML body of the same content.
pub struct OutgoingMail {
    pub to: Mailbox,
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Why a mail was not sent, with the cause kept whole (lettre's error and its sources).
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The server or the network may do better later (4xx, connection refused, timeout).
    #[error("mail not sent, will retry")]
    Transient(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Retrying cannot help (5xx: unknown recipient, refused sender; a bad address).
    #[error("mail refused")]
    Permanent(#[source] Box<dyn std::error::Error + Send + Sync>),
}

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Folder(AsyncFileTransport<Tokio1Executor>),
}

pub struct Mailer {
    transport: Transport,
    from: Mailbox,
}

impl Mailer {
    pub fn smtp(settings: &SmtpSettings) -> Result<Self, ConfigError> {
        let invalid = |e: lettre::transport::smtp::Error| ConfigError::Key { key: "smtp.host", reason: e.to_string() };
        let builder = match settings.security {
            SmtpSecurity::Starttls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&settings.host).map_err(invalid)?
            }
            SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&settings.host).map_err(invalid)?,
            SmtpSecurity::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.host),
        };
        let mut builder = builder.port(settings.port()).timeout(Some(settings.timeout.get()));
        if let Some((user, password)) = settings.credentials()? {
            builder = builder.credentials(Credentials::new(user, password.expose_secret().to_owned()));
        }
        Ok(Self { transport: Transport::Smtp(builder.build()), from: parse_from(&settings.from)? })
    }

    pub fn folder(path: &Path, from: &str) -> Result<Self, ConfigError> {
        std::fs::create_dir_all(path).map_err(|e| ConfigError::Key {
            key: "notify.mail_folder",
            reason: format!("cannot create {}: {e}", path.display()),
        })?;
        Ok(Self { transport: Transport::Folder(AsyncFileTransport::new(path)), from: parse_from(from)? })
    }

    pub async fn send(&self, mail: OutgoingMail) -> Result<(), MailError> {
        let message = Message::builder()
            .from(self.from.clone())
            .to(mail.to)
            .subject(mail.subject)
            .multipart(MultiPart::alternative_plain_html(mail.text, mail.html))
            .map_err(|e| MailError::Permanent(e.into()))?;
        match &self.transport {
            Transport::Smtp(smtp) => smtp.send(message).await.map(|_| ()).map_err(|e| {
                if e.is_permanent() { MailError::Permanent(e.into()) } else { MailError::Transient(e.into()) }
            }),
            Transport::Folder(folder) => {
                folder.send(message).await.map(|_| ()).map_err(|e| MailError::Transient(e.into()))
            }
        }
    }
}

fn parse_from(from: &str) -> Result<Mailbox, ConfigError> {
    from.parse().map_err(|e| ConfigError::Key { key: "smtp.from", reason: format!("{from:?}: {e}") })
}

/// A recipient's mailbox from a display name and an address.
pub fn mailbox(name: &str, address: &str) -> Result<Mailbox, MailError> {
    let address =
        address.parse().map_err(|e| MailError::Permanent(format!("{address:?} is not a mail address: {e}").into()))?;
    Ok(Mailbox::new((!name.is_empty()).then(|| name.to_owned()), address))
}
