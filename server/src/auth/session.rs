//! The browser session's cookie: `HttpOnly`, `SameSite=Lax`, `Secure` and `__Host-`-prefixed
//! unless Elevate is reached over loopback. It carries only a random key (256 bits); the
//! session itself — who, which roles, until when, ended or not — lives on the server
//! (`store::credentials`), under the key's SHA-256, so that sign-out and revocation end it at
//! once and reading the table signs nobody in.
use std::time::Duration;

use actix_web::cookie::{Cookie, SameSite};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::oidc::PendingSignIn;
use crate::domain::now;

pub const SESSION_COOKIE: &str = "elevate_session";
/// A sign-in on its way through the identity provider (state, nonce, PKCE verifier).
pub const PENDING_COOKIE: &str = "elevate_signin";
const PENDING_AUDIENCE: &str = "elevate-pending-sign-in";
const ISSUER: &str = "elevate";

#[derive(Serialize, Deserialize)]
struct PendingClaims {
    iss: String,
    aud: String,
    exp: i64,
    pending: PendingSignIn,
}

/// A new session's key: the cookie's value, and the hash the server keeps.
pub struct SessionKey {
    pub cookie: Cookie<'static>,
    pub hash: String,
}

pub struct Sessions {
    encoding: EncodingKey,
    decoding: DecodingKey,
    pending_validation: Validation,
    secure: bool,
    ttl: Duration,
    csrf_key: Vec<u8>,
}

/// The SHA-256 (hex) under which the server keeps the session of a cookie's key.
pub fn key_hash(cookie_value: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(cookie_value.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

impl Sessions {
    /// `secure`: mark the cookie `Secure` (everywhere but plain-http loopback); `ttl`: how
    /// long a session lasts.
    pub fn new(secret: &SecretString, secure: bool, ttl: Duration) -> Result<Self, jsonwebtoken::errors::Error> {
        let key = super::derive_key(secret, "elevate browser sessions v1");
        let pending_validation = super::hs256_validation(ISSUER, PENDING_AUDIENCE, &["exp", "iss", "aud"], 0);
        Ok(Self {
            encoding: EncodingKey::from_secret(&key)?,
            decoding: DecodingKey::from_secret(&key)?,
            pending_validation,
            secure,
            ttl,
            csrf_key: super::derive_key(secret, "elevate form tokens v1"),
        })
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A fresh session key and the cookie that carries it.
    pub fn new_key(&self) -> SessionKey {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let value = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, bytes);
        SessionKey { hash: key_hash(&value), cookie: self.named_cookie(SESSION_COOKIE, value, self.ttl) }
    }

    /// The cookie that signs out (empty, already expired).
    pub fn sign_out(&self) -> Cookie<'static> {
        self.named_cookie(SESSION_COOKIE, String::new(), Duration::ZERO)
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
        let https = Sessions::new(&secret, true, Duration::from_secs(3600)).unwrap();
        let key = https.new_key();
        let cookie = key.cookie;
        assert_eq!(cookie.name(), "__Host-elevate_session");
        assert_eq!(key.hash, key_hash(cookie.value()), "the server keeps the key's hash");
        assert_ne!(https.new_key().cookie.value(), cookie.value(), "every session its own key");
        assert_eq!((cookie.secure(), cookie.path(), cookie.domain()), (Some(true), Some("/"), None));
        assert_eq!(https.clear_pending().name(), "__Host-elevate_signin");
        // Plain http on loopback (the demo) cannot use the prefix: browsers would drop the cookie.
        let loopback = Sessions::new(&secret, false, Duration::from_secs(3600)).unwrap();
        assert_eq!(loopback.new_key().cookie.name(), "elevate_session");
    }
}
