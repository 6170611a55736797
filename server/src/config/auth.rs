//! Who may call and sign in: Elevate's own tokens, Entra ID access tokens, the browser
//! sign-in (`[oidc]`) and the staff roles (`[auth]`).
use std::{collections::BTreeMap, path::PathBuf};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::{ConfigError, HttpsUrl, values::secret};
use crate::{
    domain::{GroupId, HumanDuration, InvalidValue, Role, Upn},
    policy::Principals,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    /// HMAC key for Elevate's own API tokens (at least 32 bytes).
    pub token_secret: Option<SecretString>,
    /// A file holding `token_secret` (trailing newline ignored).
    pub token_secret_file: Option<PathBuf>,
    pub issuer: String,
    pub audience: String,
    /// A sign-in page that lets anyone pick a user of the local directory: for the demo and
    /// tests only, refused unless Elevate listens on loopback.
    pub demo_sign_in: bool,
    /// Who signs in to the web pages as an admin (revokes any grant, reads the audit log).
    pub admins: StaffSettings,
    /// Who signs in to the web pages as an auditor (reads the audit log).
    pub auditors: StaffSettings,
    /// Access tokens from Entra ID for the API (besides Elevate's own).
    pub entra: Option<EntraSettings>,
    /// How recent a multi-factor sign-in must be to file, extend or break the glass of a
    /// `require_mfa` profile.
    pub mfa_max_age: HumanDuration,
    /// How often a browser session's roles are read from the directory again (at most 5
    /// minutes: someone removed from `auth.admins` loses the admin pages within that).
    pub session_roles_ttl: HumanDuration,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            token_secret: None,
            token_secret_file: None,
            issuer: "elevate".into(),
            audience: "elevate-api".into(),
            demo_sign_in: false,
            admins: StaffSettings::default(),
            auditors: StaffSettings::default(),
            entra: None,
            mfa_max_age: HumanDuration::from_secs(15 * 60),
            session_roles_ttl: HumanDuration::from_secs(5 * 60),
        }
    }
}

impl AuthSettings {
    /// The token signing key, from `token_secret` or `token_secret_file` (exactly one).
    pub fn token_secret(&self) -> Result<SecretString, ConfigError> {
        let key = "auth.token_secret";
        let secret = secret(key, &self.token_secret, "auth.token_secret_file", &self.token_secret_file)?.ok_or(
            ConfigError::Key {
                key,
                reason: "is required (or auth.token_secret_file); generate one with `openssl rand -hex 32`".into(),
            },
        )?;
        if secret.expose_secret().len() < 32 {
            return Err(ConfigError::Key { key, reason: "must be at least 32 bytes".into() });
        }
        Ok(secret)
    }

    pub(super) fn check(&self) -> Result<(), ConfigError> {
        if self.session_roles_ttl > HumanDuration::from_secs(5 * 60) {
            return Err(ConfigError::Key {
                key: "auth.session_roles_ttl",
                reason: format!(
                    "{} is longer than the 5 minutes a removed admin may keep the pages",
                    self.session_roles_ttl
                ),
            });
        }
        if let Some(entra) = &self.entra {
            entra.check()?;
        }
        self.admins.principals("auth.admins")?;
        self.auditors.principals("auth.auditors")?;
        Ok(())
    }
}

/// Entra ID access tokens for Elevate's API app registration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntraSettings {
    /// The directory (tenant) id: sets the issuer and key URLs below.
    pub tenant_id: Option<String>,
    /// The tokens' `iss` (default `https://login.microsoftonline.com/<tenant_id>/v2.0`).
    pub issuer: Option<HttpsUrl>,
    /// The issuer's keys (default `https://login.microsoftonline.com/<tenant_id>/discovery/v2.0/keys`).
    pub jwks_url: Option<HttpsUrl>,
    /// The tokens' `aud`: the Application ID URI (or client id) of Elevate's API registration.
    pub audience: String,
    /// App role value → `requester`, `approver`, `admin`, `auditor` or `delegate` (default:
    /// `Elevate.Requester`, `Elevate.Approver`, `Elevate.Admin`, `Elevate.Auditor`, `Elevate.Delegate`).
    #[serde(default)]
    pub roles: BTreeMap<String, String>,
    /// Client id → the identity (a UPN) that application's own tokens act as.
    #[serde(default)]
    pub apps: BTreeMap<String, String>,
    /// The Conditional Access authentication context (`c1`…`c99`) whose policy demands MFA:
    /// a token whose `acrs` names it proved a second factor at its `iat`. (v1.0 access
    /// tokens say so in `amr`; v2.0 ones only through `acrs`.)
    pub mfa_auth_context: Option<String>,
}

impl EntraSettings {
    pub fn issuer(&self) -> String {
        match &self.issuer {
            Some(issuer) => issuer.to_string(),
            None => format!("https://login.microsoftonline.com/{}/v2.0", self.tenant_id.as_deref().unwrap_or_default()),
        }
    }

    pub fn jwks_url(&self) -> String {
        match &self.jwks_url {
            Some(url) => url.to_string(),
            None => format!(
                "https://login.microsoftonline.com/{}/discovery/v2.0/keys",
                self.tenant_id.as_deref().unwrap_or_default()
            ),
        }
    }

    fn check(&self) -> Result<(), ConfigError> {
        if self.tenant_id.is_none() && (self.issuer.is_none() || self.jwks_url.is_none()) {
            return Err(ConfigError::Key {
                key: "auth.entra.tenant_id",
                reason: "set the tenant id (or both auth.entra.issuer and auth.entra.jwks_url)".into(),
            });
        }
        if self.audience.trim().is_empty() {
            return Err(ConfigError::Key { key: "auth.entra.audience", reason: "must not be empty".into() });
        }
        for (value, grant) in &self.roles {
            if grant != "delegate" && Role::parse(grant).is_none() {
                return Err(ConfigError::Key {
                    key: "auth.entra.roles",
                    reason: format!("{value:?} = {grant:?}: expected requester, approver, admin, auditor or delegate"),
                });
            }
        }
        for (app, identity) in &self.apps {
            Upn::parse(identity).map_err(|e| ConfigError::Key {
                key: "auth.entra.apps",
                reason: format!("{app:?} = {identity:?}: {}", e.reason),
            })?;
        }
        Ok(())
    }
}

/// Directory groups (ids or names, as the directory knows them) and users; read at sign-in.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StaffSettings {
    pub groups: Vec<String>,
    pub users: Vec<String>,
}

impl StaffSettings {
    /// The principals, or the key of the first entry that is not a group id or UPN.
    pub fn principals(&self, key: &'static str) -> Result<Principals, ConfigError> {
        let bad = |e: InvalidValue| ConfigError::Key { key, reason: e.reason };
        Ok(Principals {
            groups: self.groups.iter().map(|g| GroupId::parse(g)).collect::<Result<_, _>>().map_err(bad)?,
            users: self.users.iter().map(|u| Upn::parse(u)).collect::<Result<_, _>>().map_err(bad)?,
        })
    }
}

/// Browser sign-in with OpenID Connect (Entra ID).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcSettings {
    /// e.g. `https://login.microsoftonline.com/<tenant id>/v2.0`.
    pub issuer: HttpsUrl,
    pub client_id: String,
    pub client_secret: Option<SecretString>,
    pub client_secret_file: Option<PathBuf>,
    /// Defaults to `server.public_url` + `/signin/callback`.
    pub redirect_url: Option<String>,
}

impl OidcSettings {
    pub fn client_secret(&self) -> Result<Option<SecretString>, ConfigError> {
        secret("oidc.client_secret", &self.client_secret, "oidc.client_secret_file", &self.client_secret_file)
    }
}
