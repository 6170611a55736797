//! Access tokens that Microsoft Entra ID issued for Elevate's API app registration (a chat-ops
//! bot with client credentials, or a script on a user's behalf). The algorithm is pinned to
//! RS256; the key must be one of the issuer's published keys (`SigningKeys`); `iss`,
//! `aud`, `exp` and `nbf` are checked with a minute of leeway. App roles (`roles`) become
//! Elevate roles.
//!
//! Who a token stands for comes from immutable claims only, as Microsoft's claims-validation
//! guidance asks: a user token (delegated: `scp`, or `idtyp = user`) names its user by `oid`
//! within `tid` — the caller resolves that object through the directory and takes the UPN the
//! directory gives; `upn`, `preferred_username` and `email` are never read. An application's
//! own token is recognised only by `idtyp = app` (the optional claim Elevate's API registration
//! must emit) and acts as the bot identity that configuration names for its client id
//! (`azp`/`appid`), or not at all. A token that is neither is refused.
use std::collections::HashMap;

use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation, errors::ErrorKind};
use serde::Deserialize;

use super::AuthError;
use crate::{
    config::EntraSettings,
    domain::{Caller, Role, Upn},
    providers::signing_keys::{KeyError, SigningKeys},
    telemetry::error_chain,
};

/// Clock skew tolerated on `exp` and `nbf`.
const LEEWAY_SECS: u64 = 60;

/// What an app role grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    Role(Role),
    /// The `delegate` scope: file and manage requests for users.
    Delegate,
}

#[derive(Debug, Deserialize)]
struct Claims {
    /// The immutable object id of the user (or, in an app-only token, service principal).
    oid: Option<String>,
    /// The tenant the object lives in.
    tid: Option<String>,
    /// `app` in an application's own token (the `idtyp` optional claim); `user` when the
    /// registration asks for it in user tokens too.
    idtyp: Option<String>,
    /// Delegated scopes: only user tokens carry them.
    scp: Option<String>,
    /// The client id of the application the token was issued to (v2; `appid` in v1).
    azp: Option<String>,
    appid: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
    /// Entra's token identifier (`uti`), else `jti`: what the audit log names.
    uti: Option<String>,
    jti: Option<String>,
    /// When the user authenticated for this token.
    iat: Option<i64>,
    /// How (v1.0 access tokens only): `mfa` when a second factor was used.
    #[serde(default)]
    amr: Vec<String>,
    /// The Conditional Access authentication contexts the user satisfied.
    #[serde(default)]
    acrs: Vec<String>,
}

/// Whom a genuine token stands for, before the directory is asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntraSubject {
    /// A user, by directory object id (the caller resolves it to the directory's UPN).
    User { object_id: String },
    /// An application's own token: the identity configuration gives its client id.
    App(Upn),
}

/// A verified token: whom it stands for and what it may do.
#[derive(Debug, Clone)]
pub struct EntraCaller {
    pub subject: EntraSubject,
    pub roles: Vec<Role>,
    pub delegate: bool,
    pub mfa_at: Option<i64>,
    /// Which token it is, for the audit log and the deny-list.
    pub id: super::TokenId,
}

impl EntraCaller {
    /// The caller, once the directory has named the user (the app's identity for app tokens).
    pub fn as_caller(&self, upn: Upn) -> Caller {
        Caller { upn, roles: self.roles.clone(), delegate: self.delegate, mfa_at: self.mfa_at }
    }
}

pub struct EntraTokens {
    tenant_id: Option<String>,
    issuer: String,
    audience: String,
    roles: HashMap<String, Grant>,
    apps: HashMap<String, Upn>,
    mfa_auth_context: Option<String>,
    keys: SigningKeys,
}

/// The app role values Elevate's registration defines, unless configuration maps others.
pub fn default_roles() -> HashMap<String, Grant> {
    [
        ("Elevate.Requester", Grant::Role(Role::Requester)),
        ("Elevate.Approver", Grant::Role(Role::Approver)),
        ("Elevate.Admin", Grant::Role(Role::Admin)),
        ("Elevate.Auditor", Grant::Role(Role::Auditor)),
        ("Elevate.Delegate", Grant::Delegate),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

impl EntraTokens {
    pub fn new(settings: &EntraSettings, roles: HashMap<String, Grant>, apps: HashMap<String, Upn>) -> Self {
        Self {
            tenant_id: settings.tenant_id.clone(),
            issuer: settings.issuer(),
            audience: settings.audience.clone(),
            roles,
            apps,
            mfa_auth_context: settings.mfa_auth_context.clone(),
            keys: SigningKeys::from_jwks_url(&settings.jwks_url()),
        }
    }

    /// Whom a genuine token stands for, and what it may do.
    pub async fn verify(&self, token: &str, header: &Header) -> Result<EntraCaller, AuthError> {
        if header.alg != Algorithm::RS256 {
            return Err(AuthError::Invalid("algorithm not accepted".into()));
        }
        let kid = header.kid.as_deref().ok_or_else(|| AuthError::Invalid("the token names no key (kid)".into()))?;
        let key = self.key(kid).await?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECS;
        let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => AuthError::Expired,
                ErrorKind::InvalidAudience => AuthError::Invalid("issued for another audience".into()),
                ErrorKind::InvalidIssuer => AuthError::Invalid("issued by another tenant or issuer".into()),
                ErrorKind::InvalidSignature => AuthError::Invalid("bad signature".into()),
                ErrorKind::ImmatureSignature => AuthError::Invalid("not valid yet".into()),
                ErrorKind::MissingRequiredClaim(c) => AuthError::Invalid(format!("claim `{c}` missing")),
                _ => AuthError::Invalid("malformed token".into()),
            })?
            .claims;
        let subject = self.subject_of(&claims)?;
        let grants: Vec<Grant> = claims.roles.iter().filter_map(|r| self.roles.get(r).copied()).collect();
        let roles = grants.iter().filter_map(|g| if let Grant::Role(r) = g { Some(*r) } else { None }).collect();
        let delegate = grants.contains(&Grant::Delegate);
        // Without an identifier claim: a digest of the token (never the token itself).
        let id = claims.uti.clone().or(claims.jti.clone()).unwrap_or_else(|| {
            use sha2::{Digest, Sha256};
            let digest = Sha256::digest(token.as_bytes());
            format!("sha256:{}", digest.iter().take(12).map(|b| format!("{b:02x}")).collect::<String>())
        });
        let proved_mfa = claims.amr.iter().any(|m| m == "mfa")
            || self.mfa_auth_context.as_ref().is_some_and(|c| claims.acrs.contains(c));
        // An application proves nobody's second factor, whatever its token says.
        let mfa_at = match subject {
            EntraSubject::User { .. } => claims.iat.filter(|_| proved_mfa).map(|iat| iat.saturating_mul(1000)),
            EntraSubject::App(_) => None,
        };
        let id = super::TokenId { jti: id, issued_at: claims.iat.map(|iat| iat.saturating_mul(1000)) };
        Ok(EntraCaller { subject, roles, delegate, mfa_at, id })
    }

    /// A user by `oid` (in our tenant), or a known application by its client id when the token
    /// says it is an application's own (`idtyp = app`): never by missing user claims.
    fn subject_of(&self, claims: &Claims) -> Result<EntraSubject, AuthError> {
        let invalid = |why: &str| Err(AuthError::Invalid(why.to_owned()));
        if let (Some(tenant), Some(tid)) = (&self.tenant_id, &claims.tid)
            && !tenant.eq_ignore_ascii_case(tid)
        {
            return invalid("issued by another tenant or issuer");
        }
        match (claims.idtyp.as_deref(), &claims.scp) {
            (Some("app"), _) => {
                let app = claims.azp.as_deref().or(claims.appid.as_deref()).unwrap_or_default();
                let upn = self.apps.get(app).cloned().ok_or_else(|| {
                    AuthError::Invalid(format!("application {app:?} is not one Elevate knows (auth.entra.apps)"))
                })?;
                Ok(EntraSubject::App(upn))
            }
            (Some("user"), _) | (None, Some(_)) => match (&claims.oid, &claims.tid) {
                (Some(oid), Some(_)) if !oid.is_empty() => Ok(EntraSubject::User { object_id: oid.clone() }),
                _ => invalid("a user token without `oid` and `tid` (the user's immutable object and tenant ids)"),
            },
            (Some(other), _) => Err(AuthError::Invalid(format!("token type (idtyp) {other:?} is not accepted"))),
            (None, None) => invalid(
                "neither a user's token (no `scp`) nor an application's (no `idtyp = app`): add the idtyp \
                 optional claim to Elevate's API registration",
            ),
        }
    }

    /// The key `kid`, fetching the issuer's keys again when it is not known yet.
    async fn key(&self, kid: &str) -> Result<DecodingKey, AuthError> {
        self.keys.get(kid).await.map(|k| k.key).map_err(|e| {
            if !matches!(e, KeyError::Unknown) {
                tracing::warn!(error = %error_chain(&e), url = %self.keys.url(), "fetching Entra ID's signing keys failed");
            }
            AuthError::Invalid(e.to_string())
        })
    }
}
