//! Settings: one TOML file, overridden by `ELEVATE_*` environment variables (nested keys
//! joined with `__`, e.g. `ELEVATE_DATABASE__URL`). Loaded once and checked before anything
//! starts; every error names the key at fault.
use std::path::{Path, PathBuf};

use figment::{
    Figment,
    providers::{Env, Format, Toml},
};
use serde::Deserialize;

mod audit;
mod auth;
mod aws;
mod chat;
mod directory;
mod notify;
mod oncall;
mod server;
mod values;
mod worker;

pub use audit::{AuditSettings, SyslogProtocol, SyslogSettings};
pub use auth::{AuthSettings, EntraSettings, OidcSettings, StaffSettings};
pub use aws::{ActivitySettings, AwsAccount, AwsSettings, SessionNameClaim};
pub use chat::{SlackSettings, TeamsSettings};
pub use directory::{
    DirectoryKind, DirectorySettings, EntraCredential, GraphSettings, LocalGroupSeed, LocalUserSeed,
    ProvisioningSettings,
};
pub use notify::{LinkSettings, NotifySettings, SmtpSecurity, SmtpSettings, WebhookFormat, WebhookSettings};
pub use oncall::{OnCallSettings, OpsgenieSettings, PagerDutySettings};
pub use server::{DatabaseSettings, LimitSettings, LogFormat, LogSettings, PolicySettings, ServerSettings};
pub use values::{AccountId, HostPort, HttpsUrl, SamlProviderArn, is_loopback_http};
pub use worker::WorkerSettings;

/// Top-level sections; environment variables outside them are reported, not applied.
const SECTIONS: [&str; 18] = [
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
    "oncall",
    "teams",
    "slack",
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
    /// On-call services, for profiles that approve whoever is on call (`on_call`).
    #[serde(default)]
    pub oncall: OnCallSettings,
    /// Approvals in Microsoft Teams, as a Bot Framework bot.
    pub teams: Option<TeamsSettings>,
    /// Approvals in Slack, as a Slack app.
    pub slack: Option<SlackSettings>,
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
        self.database.check()?;
        self.server.check()?;
        self.auth.check()?;
        if self.directory.kind == DirectoryKind::Graph {
            let Some(graph) = &self.graph else {
                return Err(ConfigError::Key {
                    key: "graph",
                    reason: "directory.kind = \"graph\" needs a [graph] section".into(),
                });
            };
            graph.check()?;
        }
        if let Some(aws) = &self.aws {
            aws.check()?;
        }
        notify::check(self.smtp.as_ref(), &self.notify)?;
        chat::check(self.teams.as_ref(), self.slack.as_ref())?;
        if let Some(oidc) = &self.oidc {
            oidc.client_secret()?;
        }
        if self.auth.demo_sign_in
            && (!self.server.bind.ip().is_loopback() || self.directory.kind != DirectoryKind::Local)
        {
            return Err(ConfigError::Key {
                key: "auth.demo_sign_in",
                reason: "lets anyone sign in as anyone: only with the local directory on a loopback address".into(),
            });
        }
        if let Some(pagerduty) = &self.oncall.pagerduty {
            pagerduty.token()?;
        }
        if let Some(opsgenie) = &self.oncall.opsgenie {
            opsgenie.api_key()?;
        }
        self.audit.check()?;
        self.worker.check()
    }
}

/// `ELEVATE_*` variables that are not configuration (they choose the config file or belong
/// to the test suite).
const IGNORED_ENV: [&str; 6] = ["CONFIG", "TEST_POSTGRES_URL", "TEST_DB", "TEST_MOTO_SERVER", "TEST_PYTHON", "BIN"];

#[cfg(test)]
mod tests {
    use super::*;

    /// The configuration in `text`, loaded as `elevate --config` would load it.
    fn load(name: &str, text: &str) -> Result<Loaded, ConfigError> {
        let path = std::env::temp_dir().join(format!("elevate-{name}-{}.toml", std::process::id()));
        std::fs::write(&path, text).expect("the file is written");
        let loaded = Settings::load(Some(&path));
        std::fs::remove_file(&path).ok();
        loaded
    }

    #[test]
    fn a_value_of_the_wrong_kind_is_refused_under_its_key() {
        let graph =
            "[directory]\nkind = \"graph\"\n[graph]\ntenant_id = \"t\"\nclient_id = \"c\"\nclient_secret = \"s\"\n";
        let refused = |name, extra: &str| load(name, &format!("{graph}{extra}")).err().expect("refused").to_string();
        let e = refused("url", "base_url = \"http://graph.example/v1.0\"\n");
        assert!(e.contains("graph.base_url") && e.contains("https://"), "{e}");
        let e = refused("account", "[aws]\naccounts = [{ account_id = \"12345\", saml_provider_arn = \"x\" }]\n");
        assert!(e.contains("aws.accounts") && e.contains("12-digit"), "{e}");
        let e = refused("syslog", "[audit.syslog]\naddress = \"siem.example\"\n");
        assert!(e.contains("audit.syslog.address") && e.contains("host:port"), "{e}");
        let e = refused("secret", "client_secret_file = \"/nonexistent\"\n");
        assert!(e.contains("graph.client_secret") && e.contains("not both"), "{e}");
        assert!(load("good", &format!("{graph}base_url = \"https://graph.example/v1.0\"\n")).is_ok());
    }
}
