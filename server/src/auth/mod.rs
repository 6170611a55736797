//! Authentication: Elevate's own bearer tokens, the signed one-time action links of emailed
//! decisions, and the browser session cookie. All three are HS256 JWTs, each with its own key
//! derived from `auth.token_secret` and its own audience, so none can stand in for another.
pub mod entra;
mod link;
pub mod oidc;
mod session;
mod token;
mod token_use;

use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

pub use link::{LinkAction, LinkClaims, LinkError, LinkSigner, LinkTarget};
pub use session::{PENDING_COOKIE, SESSION_COOKIE, SessionKey, Sessions, key_hash};
pub use token::{AuthError, IssuedToken, TokenAuthority, TokenId};
pub use token_use::TokenUse;

/// A key for one purpose, derived from the configured secret (HMAC-SHA256 of the purpose).
fn derive_key(secret: &SecretString, purpose: &str) -> Vec<u8> {
    match Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes()) {
        Ok(mut mac) => {
            mac.update(purpose.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        // HMAC accepts keys of every length.
        Err(_) => secret.expose_secret().as_bytes().to_vec(),
    }
}

/// HS256 only (never what the token's header asks for), with `iss`, `aud` and the `required`
/// claims checked; `nbf` checked when required.
fn hs256_validation(issuer: &str, audience: &str, required: &[&str], leeway: u64) -> jsonwebtoken::Validation {
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(required);
    validation.validate_nbf = required.contains(&"nbf");
    validation.leeway = leeway;
    validation
}
