//! Issuing and checking API tokens. The algorithm is pinned to HS256, and `iss`, `aud`,
//! `exp`, `nbf` and `sub` are all required and checked.
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::domain::{Caller, Role, Upn, now};

/// The scope that lets a bot file and manage requests on behalf of users.
pub const DELEGATE: &str = "delegate";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("no bearer token: send `Authorization: Bearer <token>`")]
    Missing,
    #[error("the bearer token has expired")]
    Expired,
    #[error("the bearer token is not valid: {0}")]
    Invalid(String),
}

/// Which token a caller presented: its id (`jti`, Entra's `uti`) and when it was issued (Unix
/// ms, when it says).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenId {
    pub jti: String,
    pub issued_at: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    aud: String,
    sub: String,
    iat: i64,
    nbf: i64,
    exp: i64,
    jti: String,
    roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
}

pub struct IssuedToken {
    pub token: String,
    pub jti: String,
    pub expires_at: i64,
}

pub struct TokenAuthority {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
}

impl TokenAuthority {
    pub fn new(secret: &SecretString, issuer: &str, audience: &str) -> Result<Self, jsonwebtoken::errors::Error> {
        let key = secret.expose_secret().as_bytes();
        let validation = super::hs256_validation(issuer, audience, &["exp", "nbf", "iss", "aud", "sub"], 30);
        Ok(Self {
            encoding: EncodingKey::from_secret(key)?,
            decoding: DecodingKey::from_secret(key)?,
            validation,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
        })
    }

    pub fn issue(
        &self,
        subject: &Upn,
        roles: &[Role],
        delegate: bool,
        ttl: Duration,
    ) -> Result<IssuedToken, jsonwebtoken::errors::Error> {
        let iat = now() / 1000;
        let exp = iat + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2);
        let jti = uuid::Uuid::new_v4().to_string();
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: subject.to_string(),
            iat,
            nbf: iat,
            exp,
            jti: jti.clone(),
            roles: roles.iter().map(|r| r.as_str().to_owned()).collect(),
            scope: delegate.then(|| DELEGATE.to_owned()),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        Ok(IssuedToken { token, jti, expires_at: exp * 1000 })
    }

    pub fn verify(&self, token: &str) -> Result<Caller, AuthError> {
        self.verify_with_id(token).map(|(caller, _)| caller)
    }

    /// The caller, and which token it is (for the audit log and the deny-list).
    pub fn verify_with_id(&self, token: &str) -> Result<(Caller, TokenId), AuthError> {
        let data =
            jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => AuthError::Expired,
                ErrorKind::InvalidAudience => AuthError::Invalid("wrong audience".into()),
                ErrorKind::InvalidIssuer => AuthError::Invalid("wrong issuer".into()),
                ErrorKind::InvalidSignature => AuthError::Invalid("bad signature".into()),
                ErrorKind::InvalidAlgorithm => AuthError::Invalid("algorithm not accepted".into()),
                ErrorKind::ImmatureSignature => AuthError::Invalid("not valid yet".into()),
                ErrorKind::MissingRequiredClaim(c) => AuthError::Invalid(format!("claim `{c}` missing")),
                _ => AuthError::Invalid("malformed token".into()),
            })?;
        let claims = data.claims;
        let upn = Upn::parse(&claims.sub).map_err(|_| AuthError::Invalid("subject is not a UPN".into()))?;
        let roles = claims
            .roles
            .iter()
            .map(|r| Role::parse(r).ok_or_else(|| AuthError::Invalid(format!("unknown role {r:?}"))))
            .collect::<Result<Vec<_>, _>>()?;
        let delegate = claims.scope.as_deref().is_some_and(|s| s.split(' ').any(|s| s == DELEGATE));
        // Elevate's own tokens prove no second factor, however they were obtained.
        let id = TokenId { jti: claims.jti, issued_at: Some(claims.iat.saturating_mul(1000)) };
        Ok((Caller { upn, roles, delegate, mfa_at: None }, id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authority(secret: &str, aud: &str) -> TokenAuthority {
        TokenAuthority::new(&SecretString::from(secret.to_owned()), "elevate", aud).unwrap()
    }

    #[test]
    fn round_trip_and_refusals() {
        let a = authority("0123456789abcdef0123456789abcdef", "elevate-api");
        let upn = Upn::parse("alice@example.com").unwrap();
        let t = a.issue(&upn, &[Role::Requester], true, Duration::from_secs(60)).unwrap();
        let caller = a.verify(&t.token).unwrap();
        assert_eq!(caller.upn, upn);
        assert!(caller.delegate && caller.has(Role::Requester) && !caller.has(Role::Admin));

        let other_key = authority("ffffffffffffffffffffffffffffffff", "elevate-api");
        assert_eq!(other_key.verify(&t.token), Err(AuthError::Invalid("bad signature".into())));
        let other_aud = authority("0123456789abcdef0123456789abcdef", "other");
        assert_eq!(other_aud.verify(&t.token), Err(AuthError::Invalid("wrong audience".into())));
        // alg=none: header {"alg":"none","typ":"JWT"} with the same claims and no signature.
        let mut parts = t.token.split('.');
        let (_, body) = (parts.next(), parts.next().unwrap());
        let none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{body}.");
        assert!(a.verify(&none).is_err());
    }
}
