//! Settings: one TOML file, overridden by `ELEVATE_*` environment variables (nested keys
//! joined with `__`, e.g. `ELEVATE_DATABASE__URL`). Loaded once and checked before anything
//! starts; every error names the key at fault.
use std::{
    fmt,
    net::SocketAddr,
    path::{Path, PathBuf},
};

use figment::{
    Figment,
    providers::{Env, Format, Toml},
};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::domain::HumanDuration;

mod notify;
pub use notify::{LinkSettings, NotifySettings, SmtpSecurity, SmtpSettings, WebhookFormat, WebhookSettings};

/// Top-level sections; environment variables outside them are reported, not applied.
const SECTIONS: [&str; 15] = [
    "audit",
    "limits",
    "server",
    "database",
    "policy",
    "auth",
    "directory",
    "graph",
    "aws",
    "worker",
    "log",
    "smtp",
    "links",
    "notify",
    "oidc",
];

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {0} does not exist")]
    MissingFile(PathBuf),
    #[error("configuration: {0}")]
    Invalid(String),
    #[error("configuration key `{key}`: {reason}")]
    Key { key: &'static str, reason: String },
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default)]
    pub server: ServerSettings,
    #[serde(default)]
    pub database: DatabaseSettings,
    #[serde(default)]
    pub policy: PolicySettings,
    #[serde(default)]
    pub auth: AuthSettings,
    #[serde(default)]
    pub directory: DirectorySettings,
    /// Microsoft Graph, for `directory.kind = "graph"`.
    pub graph: Option<GraphSettings>,
    /// AWS IAM: mapping checks, discovery and revocation of live role sessions.
    pub aws: Option<AwsSettings>,
    #[serde(default)]
    pub worker: WorkerSettings,
    #[serde(default)]
    pub log: LogSettings,
    /// Mail to approvers and requesters.
    pub smtp: Option<SmtpSettings>,
    #[serde(default)]
    pub links: LinkSettings,
    #[serde(default)]
    pub notify: NotifySettings,
    /// Browser sign-in with OpenID Connect (Entra ID).
    pub oidc: Option<OidcSettings>,
    #[serde(default)]
    pub audit: AuditSettings,
    #[serde(default)]
    pub limits: LimitSettings,
}

/// Abuse limits. A rate of 0 turns that limit off (e.g. `per_ip_per_second` behind a proxy,
/// where every request comes from the proxy's address).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSettings {
    /// Requests per second from one client address, sustained …
    #[serde(default = "default_ip_rate")]
    pub per_ip_per_second: u32,
    /// … and in a burst.
    #[serde(default = "default_ip_burst")]
    pub per_ip_burst: u32,
    /// API requests per second of one authenticated caller, sustained …
    #[serde(default = "default_caller_rate")]
    pub per_caller_per_second: u32,
    /// … and in a burst.
    #[serde(default = "default_caller_burst")]
    pub per_caller_burst: u32,
    /// Requests one user may have waiting for a decision at once (0: no cap).
    #[serde(default = "default_max_pending")]
    pub max_pending_per_user: u32,
}

fn default_ip_rate() -> u32 {
    20
}
fn default_ip_burst() -> u32 {
    100
}
fn default_caller_rate() -> u32 {
    10
}
fn default_caller_burst() -> u32 {
    50
}
fn default_max_pending() -> u32 {
    5
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            per_ip_per_second: default_ip_rate(),
            per_ip_burst: default_ip_burst(),
            per_caller_per_second: default_caller_rate(),
            per_caller_burst: default_caller_burst(),
            max_pending_per_user: default_max_pending(),
        }
    }
}

/// Evidence kept outside the database: signed checkpoints of the audit chain.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSettings {
    /// Ed25519 private key (PEM) that `elevate audit checkpoint` signs with.
    pub checkpoint_key_file: Option<PathBuf>,
    /// Its public key (PEM), for `elevate audit verify --from-checkpoint`.
    pub checkpoint_public_key_file: Option<PathBuf>,
    /// Where `serve` writes a signed checkpoint every `checkpoint_interval` (when the log
    /// grew); keep the folder off the database host, or copy it away.
    pub checkpoint_dir: Option<PathBuf>,
    #[serde(default = "default_checkpoint_interval")]
    pub checkpoint_interval: HumanDuration,
    /// Forward every audit event, in order, to a syslog collector (CEF).
    pub syslog: Option<SyslogSettings>,
}

fn default_checkpoint_interval() -> HumanDuration {
    HumanDuration::from_secs(3600)
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            checkpoint_key_file: None,
            checkpoint_public_key_file: None,
            checkpoint_dir: None,
            checkpoint_interval: default_checkpoint_interval(),
            syslog: None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyslogSettings {
    /// `host:port` of the collector, e.g. `siem.example.com:514`.
    pub address: String,
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcSettings {
    /// e.g. `https://login.microsoftonline.com/<tenant id>/v2.0`.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<SecretString>,
    pub client_secret_file: Option<PathBuf>,
    /// Defaults to `server.public_url` + `/signin/callback`.
    pub redirect_url: Option<String>,
}

impl OidcSettings {
    pub fn client_secret(&self) -> Result<Option<SecretString>, ConfigError> {
        match (&self.client_secret, &self.client_secret_file) {
            (Some(_), Some(_)) => Err(ConfigError::Key {
                key: "oidc.client_secret",
                reason: "set either oidc.client_secret or oidc.client_secret_file, not both".into(),
            }),
            (Some(s), None) => Ok(Some(s.clone())),
            (None, Some(path)) => read_secret_file("oidc.client_secret_file", path).map(Some),
            (None, None) => Ok(None),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    #[serde(default = "default_bind")]
    pub bind: SocketAddr,
    /// The address people reach Elevate at (links in mail and chat), e.g.
    /// `https://elevate.example.com`. Defaults to `http://` + the bound address.
    pub public_url: Option<String>,
}

fn default_bind() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self { bind: default_bind(), public_url: None }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://elevate.db?mode=rwc` or `postgres://user:password@host/db`.
    #[serde(default = "default_database_url")]
    pub url: SecretString,
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
}

fn default_database_url() -> SecretString {
    SecretString::from("sqlite://elevate.db?mode=rwc")
}

fn default_max_connections() -> u32 {
    10
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self { url: default_database_url(), max_connections: default_max_connections() }
    }
}

impl DatabaseSettings {
    /// The URL with any password replaced, for logs and error messages.
    pub fn redacted_url(&self) -> String {
        redact_url(self.url.expose_secret())
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
#[serde(deny_unknown_fields)]
pub struct PolicySettings {
    #[serde(default = "default_policy_path")]
    pub path: PathBuf,
}

fn default_policy_path() -> PathBuf {
    PathBuf::from("policy.toml")
}

impl Default for PolicySettings {
    fn default() -> Self {
        Self { path: default_policy_path() }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// HMAC key for Elevate's own API tokens (at least 32 bytes).
    pub token_secret: Option<SecretString>,
    /// A file holding `token_secret` (trailing newline ignored).
    pub token_secret_file: Option<PathBuf>,
    #[serde(default = "default_issuer")]
    pub issuer: String,
    #[serde(default = "default_audience")]
    pub audience: String,
    /// A sign-in page that lets anyone pick a user of the local directory: for the demo and
    /// tests only, refused unless Elevate listens on loopback.
    #[serde(default)]
    pub demo_sign_in: bool,
    /// Who signs in to the web pages as an admin (revokes any grant, reads the audit log).
    #[serde(default)]
    pub admins: StaffSettings,
    /// Who signs in to the web pages as an auditor (reads the audit log).
    #[serde(default)]
    pub auditors: StaffSettings,
    /// Access tokens from Entra ID for the API (besides Elevate's own).
    pub entra: Option<EntraSettings>,
    /// How recent a multi-factor sign-in must be to file, extend or break the glass of a
    /// `require_mfa` profile.
    #[serde(default = "default_mfa_max_age")]
    pub mfa_max_age: HumanDuration,
    /// How often a browser session's roles are read from the directory again (at most 5
    /// minutes: someone removed from `auth.admins` loses the admin pages within that).
    #[serde(default = "default_session_roles_ttl")]
    pub session_roles_ttl: HumanDuration,
}

fn default_mfa_max_age() -> HumanDuration {
    HumanDuration::from_secs(15 * 60)
}

fn default_session_roles_ttl() -> HumanDuration {
    HumanDuration::from_secs(5 * 60)
}

/// Entra ID access tokens for Elevate's API app registration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntraSettings {
    /// The directory (tenant) id: sets the issuer and key URLs below.
    pub tenant_id: Option<String>,
    /// The tokens' `iss` (default `https://login.microsoftonline.com/<tenant_id>/v2.0`).
    pub issuer: Option<String>,
    /// The issuer's keys (default `https://login.microsoftonline.com/<tenant_id>/discovery/v2.0/keys`).
    pub jwks_url: Option<String>,
    /// The tokens' `aud`: the Application ID URI (or client id) of Elevate's API registration.
    pub audience: String,
    /// App role value → `requester`, `approver`, `admin`, `auditor` or `delegate` (default:
    /// `Elevate.Requester`, `Elevate.Approver`, `Elevate.Admin`, `Elevate.Auditor`, `Elevate.Delegate`).
    #[serde(default)]
    pub roles: std::collections::BTreeMap<String, String>,
    /// Client id → the identity (a UPN) that application's own tokens act as.
    #[serde(default)]
    pub apps: std::collections::BTreeMap<String, String>,
    /// The Conditional Access authentication context (`c1`…`c99`) whose policy demands MFA:
    /// a token whose `acrs` names it proved a second factor at its `iat`. (v1.0 access
    /// tokens say so in `amr`; v2.0 ones only through `acrs`.)
    pub mfa_auth_context: Option<String>,
}

impl EntraSettings {
    pub fn issuer(&self) -> String {
        self.issuer.clone().unwrap_or_else(|| {
            format!("https://login.microsoftonline.com/{}/v2.0", self.tenant_id.as_deref().unwrap_or_default())
        })
    }

    pub fn jwks_url(&self) -> String {
        self.jwks_url.clone().unwrap_or_else(|| {
            format!(
                "https://login.microsoftonline.com/{}/discovery/v2.0/keys",
                self.tenant_id.as_deref().unwrap_or_default()
            )
        })
    }

    fn check(&self) -> Result<(), ConfigError> {
        if self.tenant_id.is_none() && (self.issuer.is_none() || self.jwks_url.is_none()) {
            return Err(ConfigError::Key {
                key: "auth.entra.tenant_id",
                reason: "set the tenant id (or both auth.entra.issuer and auth.entra.jwks_url)".into(),
            });
        }
        if !(self.jwks_url().starts_with("https://") || is_loopback_http(&self.jwks_url())) {
            return Err(ConfigError::Key {
                key: "auth.entra.jwks_url",
                reason: format!("{} must be an https:// URL (plain http only on loopback)", self.jwks_url()),
            });
        }
        if self.audience.trim().is_empty() {
            return Err(ConfigError::Key { key: "auth.entra.audience", reason: "must not be empty".into() });
        }
        for (value, grant) in &self.roles {
            if grant != "delegate" && crate::domain::Role::parse(grant).is_none() {
                return Err(ConfigError::Key {
                    key: "auth.entra.roles",
                    reason: format!("{value:?} = {grant:?}: expected requester, approver, admin, auditor or delegate"),
                });
            }
        }
        for (app, identity) in &self.apps {
            crate::domain::Upn::parse(identity).map_err(|e| ConfigError::Key {
                key: "auth.entra.apps",
                reason: format!("{app:?} = {identity:?}: {}", e.reason),
            })?;
        }
        Ok(())
    }
}

/// Directory groups (ids or names, as the directory knows them) and users; read at sign-in.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaffSettings {
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub users: Vec<String>,
}

impl StaffSettings {
    /// The principals, or the key of the first entry that is not a group id or UPN.
    pub fn principals(&self, key: &'static str) -> Result<crate::policy::Principals, ConfigError> {
        let bad = |e: crate::domain::InvalidValue| ConfigError::Key { key, reason: e.reason };
        Ok(crate::policy::Principals {
            groups: self
                .groups
                .iter()
                .map(|g| crate::domain::GroupId::parse(g))
                .collect::<Result<_, _>>()
                .map_err(bad)?,
            users: self.users.iter().map(|u| crate::domain::Upn::parse(u)).collect::<Result<_, _>>().map_err(bad)?,
        })
    }
}

fn default_issuer() -> String {
    "elevate".into()
}

fn default_audience() -> String {
    "elevate-api".into()
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            token_secret: None,
            token_secret_file: None,
            issuer: default_issuer(),
            audience: default_audience(),
            demo_sign_in: false,
            admins: StaffSettings::default(),
            auditors: StaffSettings::default(),
            entra: None,
            mfa_max_age: default_mfa_max_age(),
            session_roles_ttl: default_session_roles_ttl(),
        }
    }
}

impl AuthSettings {
    /// The token signing key, from `token_secret` or `token_secret_file` (exactly one).
    pub fn token_secret(&self) -> Result<SecretString, ConfigError> {
        let secret = match (&self.token_secret, &self.token_secret_file) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::Key {
                    key: "auth.token_secret",
                    reason: "set either auth.token_secret or auth.token_secret_file, not both".into(),
                });
            }
            (Some(s), None) => s.clone(),
            (None, Some(path)) => read_secret_file("auth.token_secret_file", path)?,
            (None, None) => {
                return Err(ConfigError::Key {
                    key: "auth.token_secret",
                    reason: "is required (or auth.token_secret_file); generate one with `openssl rand -hex 32`".into(),
                });
            }
        };
        if secret.expose_secret().len() < 32 {
            return Err(ConfigError::Key { key: "auth.token_secret", reason: "must be at least 32 bytes".into() });
        }
        Ok(secret)
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

fn read_secret_file(key: &'static str, path: &Path) -> Result<SecretString, ConfigError> {
    std::fs::read_to_string(path)
        .map(|s| SecretString::from(s.trim_end_matches(['\r', '\n']).to_owned()))
        .map_err(|e| ConfigError::Key { key, reason: format!("cannot read {}: {e}", path.display()) })
}

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
#[serde(deny_unknown_fields)]
pub struct DirectorySettings {
    #[serde(default)]
    pub kind: DirectoryKind,
    /// Seed users of the local directory.
    #[serde(default)]
    pub users: Vec<LocalUserSeed>,
    /// Seed groups of the local directory, with their standing members.
    #[serde(default)]
    pub groups: Vec<LocalGroupSeed>,
    /// How long a user's groups are kept for what is only shown or routed (the approvals
    /// inbox, the catalog, a page's buttons); never for deciding, filing or reading a request.
    /// `0s`: always ask the directory.
    #[serde(default = "default_display_cache_ttl")]
    pub display_cache_ttl: HumanDuration,
}

fn default_display_cache_ttl() -> HumanDuration {
    HumanDuration::from_secs(30)
}

impl Default for DirectorySettings {
    fn default() -> Self {
        Self {
            kind: DirectoryKind::default(),
            users: Vec::new(),
            groups: Vec::new(),
            display_cache_ttl: default_display_cache_ttl(),
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
    pub authority_url: String,
    #[serde(default = "default_graph_base_url")]
    pub base_url: String,
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

fn default_authority_url() -> String {
    "https://login.microsoftonline.com".into()
}
fn default_graph_base_url() -> String {
    "https://graph.microsoft.com/v1.0".into()
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

/// How Elevate proves who it is to Entra ID.
pub enum GraphCredential {
    Secret(SecretString),
    /// PEM text holding the certificate and its private key.
    Certificate(SecretString),
}

impl GraphSettings {
    /// Exactly one of `client_secret`, `client_secret_file`, `certificate_file`.
    pub fn credential(&self) -> Result<GraphCredential, ConfigError> {
        let key = "graph.client_secret";
        match (&self.client_secret, &self.client_secret_file, &self.certificate_file) {
            (Some(s), None, None) => Ok(GraphCredential::Secret(s.clone())),
            (None, Some(path), None) => {
                Ok(GraphCredential::Secret(read_secret_file("graph.client_secret_file", path)?))
            }
            (None, None, Some(path)) => {
                Ok(GraphCredential::Certificate(read_secret_file("graph.certificate_file", path)?))
            }
            (None, None, None) => Err(ConfigError::Key {
                key,
                reason: "is required (or graph.client_secret_file, or graph.certificate_file)".into(),
            }),
            _ => Err(ConfigError::Key {
                key,
                reason: "set only one of graph.client_secret, graph.client_secret_file, graph.certificate_file".into(),
            }),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsSettings {
    #[serde(default = "default_aws_region")]
    pub region: String,
    /// What the SAML `RoleSessionName` carries: the user's `upn` (the Entra AWS app's
    /// default) or `mail`.
    #[serde(default)]
    pub session_name: SessionNameClaim,
    /// How often revocation statements that can no longer match a live session are pruned.
    #[serde(default = "default_prune_interval")]
    pub prune_interval: HumanDuration,
    pub accounts: Vec<AwsAccount>,
    /// Another Identity Store endpoint (a test server) for Identity Center profiles.
    pub identity_center_endpoint_url: Option<String>,
    /// How long after a grant's Entra membership Elevate waits for SCIM (and its own
    /// provisioning push) before adding the Identity Center membership itself.
    #[serde(default = "default_identity_center_wait")]
    pub identity_center_wait: HumanDuration,
}

fn default_identity_center_wait() -> HumanDuration {
    HumanDuration::from_secs(30)
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SessionNameClaim {
    #[default]
    Upn,
    Mail,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsAccount {
    pub account_id: String,
    /// The Entra ID SAML identity provider in IAM.
    pub saml_provider_arn: String,
    /// A role to assume in this account (cross-account), from the standard credential chain.
    pub assume_role_arn: Option<String>,
    /// Another IAM endpoint (a test server, or a VPC endpoint).
    pub endpoint_url: Option<String>,
}

fn default_aws_region() -> String {
    "us-east-1".into()
}
fn default_prune_interval() -> HumanDuration {
    HumanDuration::from_secs(3600)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerSettings {
    /// Jobs run at once by one replica.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// How long a claimed job is ours without renewal. The heartbeat renews it every second
    /// while the process lives; a process not heard from for 5 s loses its jobs sooner.
    #[serde(default = "default_lease")]
    pub lease: HumanDuration,
    /// Longest sleep between polls; other replicas' new jobs are seen at least this often.
    #[serde(default = "default_poll_interval")]
    pub poll_interval: HumanDuration,
    /// Attempts before a grant that cannot be activated is marked failed. Removals are
    /// retried for ever: revocation is never abandoned.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: i32,
    #[serde(default = "default_backoff_base")]
    pub backoff_base: HumanDuration,
    #[serde(default = "default_backoff_max")]
    pub backoff_max: HumanDuration,
    /// Cron expression (with seconds) of the decision-timeout sweep.
    #[serde(default = "default_sweep_schedule")]
    pub sweep_schedule: String,
    /// How often the groups that profiles map are compared with the grants (drift).
    #[serde(default = "default_reconcile_interval")]
    pub reconcile_interval: HumanDuration,
    /// On SIGTERM, how long running jobs may take to finish before they are stopped and their
    /// leases given back.
    #[serde(default = "default_shutdown_grace")]
    pub shutdown_grace: HumanDuration,
}

fn default_shutdown_grace() -> HumanDuration {
    HumanDuration::from_secs(10)
}

fn default_concurrency() -> usize {
    8
}
fn default_lease() -> HumanDuration {
    HumanDuration::from_secs(60)
}
fn default_poll_interval() -> HumanDuration {
    HumanDuration::from_secs(2)
}
fn default_max_attempts() -> i32 {
    8
}
fn default_backoff_base() -> HumanDuration {
    HumanDuration::from_secs(1)
}
fn default_backoff_max() -> HumanDuration {
    HumanDuration::from_secs(300)
}
fn default_reconcile_interval() -> HumanDuration {
    HumanDuration::from_secs(300)
}
fn default_sweep_schedule() -> String {
    "*/5 * * * * *".into()
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            concurrency: default_concurrency(),
            lease: default_lease(),
            poll_interval: default_poll_interval(),
            max_attempts: default_max_attempts(),
            backoff_base: default_backoff_base(),
            backoff_max: default_backoff_max(),
            sweep_schedule: default_sweep_schedule(),
            reconcile_interval: default_reconcile_interval(),
            shutdown_grace: default_shutdown_grace(),
        }
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
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    #[serde(default)]
    pub format: LogFormat,
    /// A `tracing` filter such as `info` or `elevate=debug,info`.
    #[serde(default = "default_log_level")]
    pub level: String,
}

fn default_log_level() -> String {
    "info".into()
}

impl Default for LogSettings {
    fn default() -> Self {
        Self { format: LogFormat::default(), level: default_log_level() }
    }
}

/// Settings and the warnings met while loading them (to be logged once logging is up).
pub struct Loaded {
    pub settings: Settings,
    pub warnings: Vec<String>,
}

impl Settings {
    /// Loads `path` (when given it must exist; otherwise `elevate.toml` is used if present)
    /// and the environment, then checks what can be checked without side effects.
    pub fn load(path: Option<&Path>) -> Result<Loaded, ConfigError> {
        let mut figment = Figment::new();
        match path {
            Some(path) if !path.exists() => return Err(ConfigError::MissingFile(path.to_owned())),
            Some(path) => figment = figment.merge(Toml::file_exact(path)),
            None if Path::new("elevate.toml").exists() => figment = figment.merge(Toml::file_exact("elevate.toml")),
            None => {}
        }
        let mut warnings = Vec::new();
        for (name, _) in std::env::vars() {
            let Some(rest) = name.strip_prefix("ELEVATE_") else { continue };
            let section = rest.split("__").next().unwrap_or_default().to_ascii_lowercase();
            if !SECTIONS.contains(&section.as_str()) && !IGNORED_ENV.contains(&rest) {
                warnings
                    .push(format!("ignoring environment variable {name}: `{section}` is not a configuration section"));
            }
        }
        figment = figment.merge(
            // Lower-cased first: figment lower-cases only after the filter has run.
            Env::prefixed("ELEVATE_")
                .map(|key| key.as_str().to_ascii_lowercase().into())
                .split("__")
                .filter(|key| SECTIONS.contains(&key.as_str().split('.').next().unwrap_or_default())),
        );
        let settings: Settings = figment
            .extract()
            .map_err(|e| ConfigError::Invalid(e.into_iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; ")))?;
        settings.check()?;
        Ok(Loaded { settings, warnings })
    }

    fn check(&self) -> Result<(), ConfigError> {
        let url = self.database.url.expose_secret();
        if !(url.starts_with("sqlite:") || url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(ConfigError::Key {
                key: "database.url",
                reason: format!("{} is neither a sqlite: nor a postgres:// URL", self.database.redacted_url()),
            });
        }
        if self.auth.session_roles_ttl > HumanDuration::from_secs(5 * 60) {
            return Err(ConfigError::Key {
                key: "auth.session_roles_ttl",
                reason: format!(
                    "{} is longer than the 5 minutes a removed admin may keep the pages",
                    self.auth.session_roles_ttl
                ),
            });
        }
        if self.directory.kind == DirectoryKind::Graph {
            let Some(graph) = &self.graph else {
                return Err(ConfigError::Key {
                    key: "graph",
                    reason: "directory.kind = \"graph\" needs a [graph] section".into(),
                });
            };
            graph.credential()?;
            for (key, url) in [("graph.authority_url", &graph.authority_url), ("graph.base_url", &graph.base_url)] {
                if !(url.starts_with("https://") || is_loopback_http(url)) {
                    return Err(ConfigError::Key {
                        key,
                        reason: format!("{url} must be an https:// URL (plain http only on loopback)"),
                    });
                }
            }
            if graph.max_concurrency == 0 {
                return Err(ConfigError::Key { key: "graph.max_concurrency", reason: "must be at least 1".into() });
            }
        }
        if let Some(aws) = &self.aws {
            if aws.accounts.is_empty() {
                return Err(ConfigError::Key { key: "aws.accounts", reason: "lists no account".into() });
            }
            for a in &aws.accounts {
                if a.account_id.len() != 12 || !a.account_id.chars().all(|c| c.is_ascii_digit()) {
                    return Err(ConfigError::Key {
                        key: "aws.accounts.account_id",
                        reason: format!("{:?} is not a 12-digit account id", a.account_id),
                    });
                }
                if !a.saml_provider_arn.starts_with("arn:aws") || !a.saml_provider_arn.contains(":saml-provider/") {
                    return Err(ConfigError::Key {
                        key: "aws.accounts.saml_provider_arn",
                        reason: format!("{:?} is not a SAML provider ARN", a.saml_provider_arn),
                    });
                }
            }
        }
        notify::check(self.smtp.as_ref(), &self.notify, self.server.public_url.as_deref())?;
        if let Some(oidc) = &self.oidc {
            oidc.client_secret()?;
            if !(oidc.issuer.starts_with("https://") || is_loopback_http(&oidc.issuer)) {
                return Err(ConfigError::Key {
                    key: "oidc.issuer",
                    reason: format!("{} must be an https:// URL (plain http only on loopback)", oidc.issuer),
                });
            }
        }
        if self.auth.demo_sign_in
            && (!self.server.bind.ip().is_loopback() || self.directory.kind != DirectoryKind::Local)
        {
            return Err(ConfigError::Key {
                key: "auth.demo_sign_in",
                reason: "lets anyone sign in as anyone: only with the local directory on a loopback address".into(),
            });
        }
        if self.audit.checkpoint_dir.is_some() && self.audit.checkpoint_key_file.is_none() {
            return Err(ConfigError::Key {
                key: "audit.checkpoint_dir",
                reason: "needs audit.checkpoint_key_file, the key that signs the checkpoints".into(),
            });
        }
        if let Some(syslog) = &self.audit.syslog
            && syslog
                .address
                .rsplit_once(':')
                .is_none_or(|(host, port)| host.is_empty() || port.parse::<u16>().is_err())
        {
            return Err(ConfigError::Key {
                key: "audit.syslog.address",
                reason: format!("{:?} is not host:port", syslog.address),
            });
        }
        if let Some(entra) = &self.auth.entra {
            entra.check()?;
        }
        self.auth.admins.principals("auth.admins")?;
        self.auth.auditors.principals("auth.auditors")?;
        if self.worker.concurrency == 0 {
            return Err(ConfigError::Key { key: "worker.concurrency", reason: "must be at least 1".into() });
        }
        if self.worker.max_attempts < 1 {
            return Err(ConfigError::Key { key: "worker.max_attempts", reason: "must be at least 1".into() });
        }
        Ok(())
    }
}

/// `ELEVATE_*` variables that are not configuration (they choose the config file or belong
/// to the test suite).
const IGNORED_ENV: [&str; 6] = ["CONFIG", "TEST_POSTGRES_URL", "TEST_DB", "TEST_MOTO_SERVER", "TEST_PYTHON", "BIN"];

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
}
