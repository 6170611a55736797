//! Evidence kept outside the database (`[audit]`): signed checkpoints of the audit chain and
//! forwarding to a syslog collector.
use std::path::PathBuf;

use serde::Deserialize;

use super::{ConfigError, HostPort};
use crate::domain::HumanDuration;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSettings {
    /// Ed25519 private key (PEM) that `elevate audit checkpoint` signs with.
    pub checkpoint_key_file: Option<PathBuf>,
    /// Its public key (PEM), for `elevate audit verify --from-checkpoint`.
    pub checkpoint_public_key_file: Option<PathBuf>,
    /// Where `serve` writes a signed checkpoint every `checkpoint_interval` (when the log
    /// grew); keep the folder off the database host, or copy it away.
    pub checkpoint_dir: Option<PathBuf>,
    pub checkpoint_interval: HumanDuration,
    /// How often `serve` chains the events committed since (the longest an event waits
    /// between its commit and the chain).
    pub seal_interval: HumanDuration,
    /// Forward every audit event, in order, to a syslog collector (CEF).
    pub syslog: Option<SyslogSettings>,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            checkpoint_key_file: None,
            checkpoint_public_key_file: None,
            checkpoint_dir: None,
            checkpoint_interval: HumanDuration::from_secs(3600),
            seal_interval: HumanDuration::from_millis(50),
            syslog: None,
        }
    }
}

impl AuditSettings {
    pub(super) fn check(&self) -> Result<(), ConfigError> {
        let seal = self.seal_interval.get();
        if seal < std::time::Duration::from_millis(5) || seal > std::time::Duration::from_secs(3600) {
            return Err(ConfigError::Key {
                key: "audit.seal_interval",
                reason: format!("{} is outside 5ms..=1h", self.seal_interval),
            });
        }
        match self.checkpoint_dir.is_some() && self.checkpoint_key_file.is_none() {
            true => Err(ConfigError::Key {
                key: "audit.checkpoint_dir",
                reason: "needs audit.checkpoint_key_file, the key that signs the checkpoints".into(),
            }),
            false => Ok(()),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyslogSettings {
    /// The collector, e.g. `siem.example.com:514`.
    pub address: HostPort,
    #[serde(default)]
    pub protocol: SyslogProtocol,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyslogProtocol {
    /// Delivered in order, or retried (the default).
    #[default]
    Tcp,
    /// Fire and forget: a lost datagram is not noticed.
    Udp,
}
