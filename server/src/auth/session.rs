//! The browser session: a signed, `HttpOnly`, `SameSite=Lax` cookie naming the signed-in
//! user (and `Secure` unless Elevate is reached over loopback).
use std::time::Duration;

use actix_web::cookie::{Cookie, SameSite};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::domain::{Upn, now};

pub const SESSION_COOKIE: &str = "elevate_session";
const ISSUER: &str = "elevate";
const AUDIENCE: &str = "elevate-session";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionClaims {
    iss: String,
    aud: String,
    /// The signed-in user's UPN.
    pub sub: String,
    /// How the user authenticated (`pwd`, `mfa`, … from the ID token; `demo` for the demo).
    #[serde(default)]
    pub amr: Vec<String>,
    pub iat: i64,
    pub exp: i64,
}

pub struct Sessions {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    secure: bool,
    ttl: Duration,
}

impl Sessions {
    /// `secure`: mark the cookie `Secure` (everywhere but plain-http loopback).
    pub fn new(secret: &SecretString, secure: bool, ttl: Duration) -> Result<Self, jsonwebtoken::errors::Error> {
        let key = super::derive_key(secret, "elevate browser sessions v1");
        let validation = super::hs256_validation(ISSUER, AUDIENCE, &["exp", "iss", "aud", "sub"], 0);
        Ok(Self {
            encoding: EncodingKey::from_secret(&key)?,
            decoding: DecodingKey::from_secret(&key)?,
            validation,
            secure,
            ttl,
        })
    }

    /// The cookie that signs `user` in.
    pub fn sign_in(&self, user: &Upn, amr: Vec<String>) -> Result<Cookie<'static>, jsonwebtoken::errors::Error> {
        let iat = now() / 1000;
        let claims = SessionClaims {
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            sub: user.to_string(),
            amr,
            iat,
            exp: iat + i64::try_from(self.ttl.as_secs()).unwrap_or(3600),
        };
        let value = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        Ok(self.cookie(value, self.ttl))
    }

    /// The cookie that signs out (empty, already expired).
    pub fn sign_out(&self) -> Cookie<'static> {
        self.cookie(String::new(), Duration::ZERO)
    }

    /// The signed-in user, when the cookie is present, genuine and current.
    pub fn verify(&self, value: &str) -> Option<SessionClaims> {
        jsonwebtoken::decode::<SessionClaims>(value, &self.decoding, &self.validation).ok().map(|d| d.claims)
    }

    fn cookie(&self, value: String, max_age: Duration) -> Cookie<'static> {
        Cookie::build(SESSION_COOKIE, value)
            .path("/")
            .http_only(true)
            .secure(self.secure)
            .same_site(SameSite::Lax)
            .max_age(actix_web::cookie::time::Duration::seconds(i64::try_from(max_age.as_secs()).unwrap_or(0)))
            .finish()
    }
}
