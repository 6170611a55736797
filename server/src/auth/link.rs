//! Signed one-time action links for decisions by email. A link names the request, the
//! approver, the action, the stage and the request's version; it has a `jti` (spent when
//! used) and expires early (never after the request's decision timeout).
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::domain::{RequestId, Upn, now};

const ISSUER: &str = "elevate";
const AUDIENCE: &str = "elevate-action-link";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkAction {
    Approve,
    Deny,
}

impl LinkAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approve => "approve",
            Self::Deny => "deny",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LinkClaims {
    iss: String,
    aud: String,
    /// The approver the link was sent to.
    pub sub: String,
    /// The request.
    pub req: RequestId,
    pub act: LinkAction,
    /// The approval stage and the request's version the link was made for.
    pub stg: i32,
    pub ver: i32,
    pub jti: String,
    pub iat: i64,
    pub nbf: i64,
    /// Seconds since the epoch.
    pub exp: i64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LinkError {
    #[error("this link has expired")]
    Expired,
    #[error("this link is not valid: it was altered, cut short or not made by this Elevate")]
    Invalid,
}

pub struct LinkSigner {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

/// What a link is for.
pub struct LinkTarget<'a> {
    pub approver: &'a Upn,
    pub request: &'a RequestId,
    pub action: LinkAction,
    pub stage: i32,
    pub version: i32,
    /// Unix millis; rounded down to the second.
    pub expires_at: i64,
}

impl LinkSigner {
    pub fn new(secret: &SecretString) -> Result<Self, jsonwebtoken::errors::Error> {
        let key = super::derive_key(secret, "elevate action links v1");
        // An expired link is expired: no grace period on a one-time capability.
        let validation = super::hs256_validation(ISSUER, AUDIENCE, &["exp", "nbf", "iss", "aud", "sub"], 0);
        Ok(Self { encoding: EncodingKey::from_secret(&key)?, decoding: DecodingKey::from_secret(&key)?, validation })
    }

    pub fn mint(&self, target: LinkTarget<'_>) -> Result<String, jsonwebtoken::errors::Error> {
        let iat = now() / 1000;
        let claims = LinkClaims {
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            sub: target.approver.to_string(),
            req: target.request.clone(),
            act: target.action,
            stg: target.stage,
            ver: target.version,
            jti: uuid::Uuid::new_v4().to_string(),
            iat,
            nbf: iat,
            exp: target.expires_at / 1000,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
    }

    pub fn verify(&self, token: &str) -> Result<LinkClaims, LinkError> {
        jsonwebtoken::decode::<LinkClaims>(token, &self.decoding, &self.validation).map(|d| d.claims).map_err(|e| {
            match e.kind() {
                ErrorKind::ExpiredSignature => LinkError::Expired,
                _ => LinkError::Invalid,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> LinkSigner {
        LinkSigner::new(&SecretString::from("0123456789abcdef0123456789abcdef")).unwrap()
    }

    #[test]
    fn a_link_verifies_until_altered_or_expired() {
        let bob = Upn::parse("bob@example.com").unwrap();
        let r1 = RequestId::new();
        let target = |expires_at| LinkTarget {
            approver: &bob,
            request: &r1,
            action: LinkAction::Approve,
            stage: 1,
            version: 3,
            expires_at,
        };
        let token = signer().mint(target(now() + 60_000)).unwrap();
        let claims = signer().verify(&token).unwrap();
        assert_eq!((claims.sub.as_str(), &claims.req, claims.stg, claims.ver), ("bob@example.com", &r1, 1, 3));
        let mut altered = token.clone();
        altered.pop();
        assert_eq!(signer().verify(&altered).unwrap_err(), LinkError::Invalid);
        let expired = signer().mint(target(now() - 2_000)).unwrap();
        assert_eq!(signer().verify(&expired).unwrap_err(), LinkError::Expired);
    }
}
