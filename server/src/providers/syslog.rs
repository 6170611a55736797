//! Audit events to a syslog collector (a SIEM such as Microsoft Sentinel through its agent) as
//! CEF in RFC 5424 messages, over UDP (one datagram each) or TCP (newline-framed: CEF escapes
//! line breaks inside values).
use std::time::Duration;

use tokio::{
    io::AsyncWriteExt,
    net::{TcpStream, UdpSocket},
};

use crate::config::{SyslogProtocol, SyslogSettings};

/// Facility local0 (16), severity informational (6): 16 × 8 + 6.
const PRIORITY: u8 = 134;
/// How long a collector may take to accept a connection, and to take a batch.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
#[error("syslog {address}: {source}")]
pub struct SyslogError {
    address: String,
    #[source]
    source: std::io::Error,
}

/// One audit event, as the forwarder reads it.
pub struct Event<'a> {
    pub seq: i64,
    pub at: &'a str,
    pub actor: &'a str,
    pub action: &'a str,
    pub subject: &'a str,
    pub details: &'a str,
    pub hash: &'a str,
}

pub struct Syslog {
    address: String,
    protocol: SyslogProtocol,
    hostname: String,
}

/// CEF header fields escape `\` and `|`; line breaks are escaped as in values, so that no
/// header can end the message's line.
fn header(s: &str) -> String {
    s.replace('\\', "\\\\").replace('|', "\\|").replace('\r', "\\r").replace('\n', "\\n")
}

/// CEF extension values escape `\`, `=` and line breaks.
fn value(s: &str) -> String {
    s.replace('\\', "\\\\").replace('=', "\\=").replace('\r', "\\r").replace('\n', "\\n")
}

/// Break-glass activations and denials stand out (CEF severity 0–10).
fn severity(action: &str) -> u8 {
    match action {
        a if a.contains("break_glass") => 9,
        "request.revoked" | "drift.found" | "drift.removed" | "grant.failed" => 7,
        a if a.starts_with("config.") || a.starts_with("token.") => 5,
        _ => 3,
    }
}

impl Syslog {
    pub fn new(settings: &SyslogSettings) -> Self {
        let hostname = std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()).unwrap_or_else(|| "elevate".into());
        Self { address: settings.address.to_string(), protocol: settings.protocol, hostname }
    }

    /// The RFC 5424 message carrying the event as CEF.
    pub fn message(&self, e: &Event<'_>) -> String {
        let version = env!("CARGO_PKG_VERSION");
        format!(
            "<{PRIORITY}>1 {at} {host} elevate - audit - CEF:0|Elevate|Elevate|{version}|{action}|{name}|{severity}|\
             rt={at} suser={actor} act={action_value} msg={subject} cs1Label=seq cs1={seq} cs2Label=hash cs2={hash} \
             cs3Label=details cs3={details}",
            at = e.at,
            host = self.hostname,
            action = header(e.action),
            name = header(e.action),
            severity = severity(e.action),
            actor = value(e.actor),
            action_value = value(e.action),
            subject = value(e.subject),
            seq = e.seq,
            hash = value(e.hash),
            details = value(e.details),
        )
    }

    /// Sends the messages in order; all or an error (then nothing counts as forwarded).
    pub async fn send(&self, messages: &[String]) -> Result<(), SyslogError> {
        let fail = |source| SyslogError { address: self.address.clone(), source };
        let timeout = |_| std::io::Error::new(std::io::ErrorKind::TimedOut, "timed out");
        match self.protocol {
            SyslogProtocol::Udp => {
                let socket = UdpSocket::bind("0.0.0.0:0").await.map_err(fail)?;
                socket.connect(&self.address).await.map_err(fail)?;
                for m in messages {
                    socket.send(m.as_bytes()).await.map_err(fail)?;
                }
            }
            SyslogProtocol::Tcp => {
                let connect = TcpStream::connect(&self.address);
                let mut stream = tokio::time::timeout(CONNECT_TIMEOUT, connect)
                    .await
                    .map_err(timeout)
                    .map_err(fail)?
                    .map_err(fail)?;
                let mut framed = String::new();
                for m in messages {
                    framed.push_str(m);
                    framed.push('\n');
                }
                // A collector that stops reading fails the batch (sent again later) instead of
                // holding the forwarder for ever.
                let write = async {
                    stream.write_all(framed.as_bytes()).await?;
                    stream.flush().await
                };
                tokio::time::timeout(WRITE_TIMEOUT, write).await.map_err(timeout).map_err(fail)?.map_err(fail)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn values_cannot_forge_fields_or_lines() {
        assert_eq!(super::value("a=b\nsuser=mallory\\"), "a\\=b\\nsuser\\=mallory\\\\");
        assert_eq!(super::header("x|y"), "x\\|y");
    }
}
