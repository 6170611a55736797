//! Where users and groups live: Elevate's own database (`[directory]` seeds) or Microsoft
//! Entra ID through Microsoft Graph (`[graph]`).
use std::path::PathBuf;

use secrecy::SecretString;
use serde::Deserialize;

use super::{
    ConfigError, HttpsUrl,
    values::{read_secret_file, secret},
};
use crate::domain::HumanDuration;

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum DirectoryKind {
    /// Users, groups and memberships kept in Elevate's own database.
    #[default]
    Local,
    /// Microsoft Entra ID, through Microsoft Graph (`[graph]`).
    Graph,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DirectorySettings {
    pub kind: DirectoryKind,
    /// Seed users of the local directory.
    pub users: Vec<LocalUserSeed>,
    /// Seed groups of the local directory, with their standing members.
    pub groups: Vec<LocalGroupSeed>,
    /// How long a user's groups are kept for what is only shown or routed (the approvals
    /// inbox, the catalog, a page's buttons); never for deciding, filing or reading a request.
    /// `0s`: always ask the directory.
    pub display_cache_ttl: HumanDuration,
}

impl Default for DirectorySettings {
    fn default() -> Self {
        Self {
            kind: DirectoryKind::default(),
            users: Vec::new(),
            groups: Vec::new(),
            display_cache_ttl: HumanDuration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalUserSeed {
    pub upn: String,
    pub display_name: Option<String>,
    pub mail: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalGroupSeed {
    pub id: String,
    pub display_name: Option<String>,
    #[serde(default)]
    pub members: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraphSettings {
    /// The Entra ID tenant (directory) id.
    pub tenant_id: String,
    /// The application (client) id of Elevate's app registration.
    pub client_id: String,
    pub client_secret: Option<SecretString>,
    pub client_secret_file: Option<PathBuf>,
    /// PEM file with the app's certificate and its private key (instead of a secret).
    pub certificate_file: Option<PathBuf>,
    #[serde(default = "default_authority_url")]
    pub authority_url: HttpsUrl,
    #[serde(default = "default_graph_base_url")]
    pub base_url: HttpsUrl,
    /// The token scope: `https://graph.microsoft.com/.default`, or a national cloud's.
    #[serde(default = "default_graph_scope")]
    pub scope: String,
    /// Graph calls in flight at once, so that a mass expiry paces itself.
    #[serde(default = "default_graph_concurrency")]
    pub max_concurrency: usize,
    /// Retries of one call on 429/503/504 before the job is rescheduled instead.
    #[serde(default = "default_graph_retries")]
    pub max_retries: u32,
    #[serde(default = "default_graph_timeout")]
    pub timeout: HumanDuration,
    /// For IAM Identity Center (SCIM): push each membership change at once.
    pub provisioning: Option<ProvisioningSettings>,
}

/// The AWS IAM Identity Center enterprise app's provisioning job in Entra ID.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvisioningSettings {
    /// Object id of the app's service principal.
    pub service_principal_id: String,
    /// Id of its synchronization job (`GET /servicePrincipals/{id}/synchronization/jobs`).
    pub job_id: String,
    /// The synchronization rule that provisions to AWS (from the job's schema).
    pub rule_id: String,
}

pub(super) fn default_authority_url() -> HttpsUrl {
    HttpsUrl::known("https://login.microsoftonline.com")
}
fn default_graph_base_url() -> HttpsUrl {
    HttpsUrl::known("https://graph.microsoft.com/v1.0")
}
fn default_graph_scope() -> String {
    "https://graph.microsoft.com/.default".into()
}
fn default_graph_concurrency() -> usize {
    4
}
fn default_graph_retries() -> u32 {
    4
}
fn default_graph_timeout() -> HumanDuration {
    HumanDuration::from_secs(30)
}

/// How Elevate proves who it is to Entra ID (for Graph, and as the Teams bot).
pub enum EntraCredential {
    Secret(SecretString),
    /// PEM text holding the certificate and its private key.
    Certificate(SecretString),
}

/// The keys an app's credential is read from, for errors that name the right one.
pub(super) struct CredentialKeys {
    pub secret: &'static str,
    pub secret_file: &'static str,
    pub certificate_file: &'static str,
}

/// Exactly one of a client secret, a file holding it, or a certificate file.
pub(super) fn entra_credential(
    keys: &CredentialKeys,
    client_secret: &Option<SecretString>,
    client_secret_file: &Option<PathBuf>,
    certificate_file: &Option<PathBuf>,
) -> Result<EntraCredential, ConfigError> {
    let CredentialKeys { secret: key, secret_file, certificate_file: cert_key } = *keys;
    match (secret(key, client_secret, secret_file, client_secret_file)?, certificate_file) {
        (Some(secret), None) => Ok(EntraCredential::Secret(secret)),
        (None, Some(path)) => Ok(EntraCredential::Certificate(read_secret_file(cert_key, path)?)),
        (None, None) => Err(ConfigError::Key { key, reason: format!("is required (or {secret_file}, or {cert_key})") }),
        (Some(_), Some(_)) => {
            Err(ConfigError::Key { key, reason: format!("set only one of {key}, {secret_file}, {cert_key}") })
        }
    }
}

impl GraphSettings {
    /// Exactly one of `client_secret`, `client_secret_file`, `certificate_file`.
    pub fn credential(&self) -> Result<EntraCredential, ConfigError> {
        let keys = CredentialKeys {
            secret: "graph.client_secret",
            secret_file: "graph.client_secret_file",
            certificate_file: "graph.certificate_file",
        };
        entra_credential(&keys, &self.client_secret, &self.client_secret_file, &self.certificate_file)
    }

    pub(super) fn check(&self) -> Result<(), ConfigError> {
        self.credential()?;
        if self.max_concurrency == 0 {
            return Err(ConfigError::Key { key: "graph.max_concurrency", reason: "must be at least 1".into() });
        }
        Ok(())
    }
}
