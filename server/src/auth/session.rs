//! The browser session: a signed, `HttpOnly`, `SameSite=Lax` cookie naming the signed-in
//! user (and `Secure` unless Elevate is reached over loopback).
use std::time::Duration;

use actix_web::cookie::{Cookie, SameSite};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::oidc::PendingSignIn;
use crate::domain::{Role, Upn, now};

pub const SESSION_COOKIE: &str = "elevate_session";
/// A sign-in on its way through the identity provider (state, nonce, PKCE verifier).
pub const PENDING_COOKIE: &str = "elevate_signin";
const PENDING_AUDIENCE: &str = "elevate-pending-sign-in";
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
    /// When (ms) the user last proved a second factor: the multi-factor sign-in's
    /// `auth_time`. Absent: none proved.
    #[serde(default)]
    pub mfa_at: Option<i64>,
    /// The roles read at sign-in (`requester`, `approver`, `admin`, `auditor`).
    #[serde(default)]
    pub roles: Vec<Role>,
    pub iat: i64,
    pub exp: i64,
}

#[derive(Serialize, Deserialize)]
struct PendingClaims {
    iss: String,
    aud: String,
    exp: i64,
    pending: PendingSignIn,
}

pub struct Sessions {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    pending_validation: Validation,
    secure: bool,
    ttl: Duration,
    csrf_key: Vec<u8>,
}

impl Sessions {
    /// `secure`: mark the cookie `Secure` (everywhere but plain-http loopback).
    pub fn new(secret: &SecretString, secure: bool, ttl: Duration) -> Result<Self, jsonwebtoken::errors::Error> {
        let key = super::derive_key(secret, "elevate browser sessions v1");
        let validation = super::hs256_validation(ISSUER, AUDIENCE, &["exp", "iss", "aud", "sub"], 0);
        let pending_validation = super::hs256_validation(ISSUER, PENDING_AUDIENCE, &["exp", "iss", "aud"], 0);
        Ok(Self {
            encoding: EncodingKey::from_secret(&key)?,
            decoding: DecodingKey::from_secret(&key)?,
            validation,
            pending_validation,
            secure,
            ttl,
            csrf_key: super::derive_key(secret, "elevate form tokens v1"),
        })
    }

    /// The cookie that signs `user` in.
    pub fn sign_in(
        &self,
        user: &Upn,
        amr: Vec<String>,
        mfa_at: Option<i64>,
        roles: &[Role],
    ) -> Result<Cookie<'static>, jsonwebtoken::errors::Error> {
        let iat = now() / 1000;
        let claims = SessionClaims {
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            sub: user.to_string(),
            amr,
            mfa_at,
            roles: roles.to_vec(),
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

    /// The anti-forgery token of the forms of this session: an HMAC of the session cookie, so
    /// another site can neither read nor make it, and it changes with every sign-in.
    pub fn csrf_token(&self, session_cookie: &str) -> String {
        use hmac::{KeyInit, Mac};
        match hmac::Hmac::<sha2::Sha256>::new_from_slice(&self.csrf_key) {
            Ok(mut mac) => {
                mac.update(session_cookie.as_bytes());
                mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
            }
            Err(_) => String::new(),
        }
    }

    /// Does a submitted form carry this session's token? (Constant-time comparison.)
    pub fn csrf_matches(&self, session_cookie: &str, submitted: &str) -> bool {
        let expected = self.csrf_token(session_cookie);
        !expected.is_empty()
            && expected.len() == submitted.len()
            && expected.bytes().zip(submitted.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }

    /// The cookie that carries a sign-in through the identity provider (10 minutes).
    pub fn seal_pending(&self, pending: PendingSignIn) -> Result<Cookie<'static>, jsonwebtoken::errors::Error> {
        let ttl = Duration::from_secs(600);
        let claims =
            PendingClaims { iss: ISSUER.into(), aud: PENDING_AUDIENCE.into(), exp: now() / 1000 + 600, pending };
        let value = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        Ok(self.named_cookie(PENDING_COOKIE, value, ttl))
    }

    /// The sign-in in progress, when its cookie is genuine and current.
    pub fn open_pending(&self, value: &str) -> Option<PendingSignIn> {
        jsonwebtoken::decode::<PendingClaims>(value, &self.decoding, &self.pending_validation)
            .ok()
            .map(|d| d.claims.pending)
    }

    /// Removes the sign-in-in-progress cookie.
    pub fn clear_pending(&self) -> Cookie<'static> {
        self.named_cookie(PENDING_COOKIE, String::new(), Duration::ZERO)
    }

    fn cookie(&self, value: String, max_age: Duration) -> Cookie<'static> {
        self.named_cookie(SESSION_COOKIE, value, max_age)
    }

    /// A cookie's name as set: over https with the `__Host-` prefix, which browsers accept
    /// only from a secure origin, for path `/` and without a `Domain` — so no sibling
    /// subdomain and no plain-http page can set or overwrite it.
    pub fn cookie_name(&self, name: &'static str) -> std::borrow::Cow<'static, str> {
        if self.secure { format!("__Host-{name}").into() } else { name.into() }
    }

    fn named_cookie(&self, name: &'static str, value: String, max_age: Duration) -> Cookie<'static> {
        Cookie::build(self.cookie_name(name), value)
            .path("/")
            .http_only(true)
            .secure(self.secure)
            .same_site(SameSite::Lax)
            .max_age(actix_web::cookie::time::Duration::seconds(i64::try_from(max_age.as_secs()).unwrap_or(0)))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn over_https_the_cookies_carry_the_host_prefix_and_its_conditions() {
        let secret = SecretString::from("s".repeat(40));
        let user = Upn::parse("alice@example.com").unwrap();
        let https = Sessions::new(&secret, true, Duration::from_secs(3600)).unwrap();
        let cookie = https.sign_in(&user, vec![], None, &[]).unwrap();
        assert_eq!(cookie.name(), "__Host-elevate_session");
        assert_eq!((cookie.secure(), cookie.path(), cookie.domain()), (Some(true), Some("/"), None));
        assert_eq!(https.clear_pending().name(), "__Host-elevate_signin");
        // Plain http on loopback (the demo) cannot use the prefix: browsers would drop the cookie.
        let loopback = Sessions::new(&secret, false, Duration::from_secs(3600)).unwrap();
        assert_eq!(loopback.sign_in(&user, vec![], None, &[]).unwrap().name(), "elevate_session");
    }
}
