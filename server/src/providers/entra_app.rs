//! Getting app-only tokens from Entra ID by the OAuth2 client-credentials flow, with a client
//! secret or a certificate (a client assertion JWT, `x5t#S256` naming the certificate): for
//! Microsoft Graph and for the Teams bot (the Bot Connector's scope).
use std::time::{Duration, Instant};

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

use crate::config::EntraCredential;

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("Entra ID refused the token request ({status}): {code}: {message}")]
    Refused { status: u16, code: String, message: String },
    #[error("Entra ID is unreachable")]
    Network(#[source] reqwest::Error),
    #[error("unexpected answer from Entra ID: {0}")]
    Decode(String),
    #[error("{0}")]
    Credential(String),
}

enum Proof {
    Secret(SecretString),
    Certificate { key: EncodingKey, thumbprint: String },
}

struct Cached {
    token: SecretString,
    refresh_at: Instant,
}

pub struct TokenSource {
    http: reqwest::Client,
    token_url: String,
    client_id: String,
    scope: String,
    proof: Proof,
    cached: Mutex<Option<Cached>>,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: u64,
}

/// Entra's error body.
#[derive(Deserialize, Default)]
struct ErrorBody {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
}

/// The PEM block with `label`, decoded.
fn pem_block(pem: &str, label: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem.find(&begin)? + begin.len();
    let stop = start + pem[start..].find(&end)?;
    let b64: String = pem[start..stop].chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD.decode(b64).ok()
}

fn proof(credential: EntraCredential, certificate_key: &str) -> Result<Proof, TokenError> {
    match credential {
        EntraCredential::Secret(s) => Ok(Proof::Secret(s)),
        EntraCredential::Certificate(pem) => {
            let pem = pem.expose_secret();
            let bad = |what: &str| TokenError::Credential(format!("{certificate_key}: {what}"));
            let der = pem_block(pem, "CERTIFICATE").ok_or_else(|| bad("no CERTIFICATE block"))?;
            let key_pem = ["PRIVATE KEY", "RSA PRIVATE KEY"]
                .iter()
                .find_map(|label| {
                    let begin = format!("-----BEGIN {label}-----");
                    let end = format!("-----END {label}-----");
                    let start = pem.find(&begin)?;
                    let stop = pem[start..].find(&end)? + start + end.len();
                    Some(pem[start..stop].to_owned())
                })
                .ok_or_else(|| bad("no PRIVATE KEY block"))?;
            let key =
                EncodingKey::from_rsa_pem(key_pem.as_bytes()).map_err(|_| bad("the private key is not an RSA key"))?;
            let thumbprint = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(&der));
            Ok(Proof::Certificate { key, thumbprint })
        }
    }
}

impl TokenSource {
    pub fn new(
        http: reqwest::Client,
        authority_url: &str,
        tenant: &str,
        client_id: &str,
        scope: &str,
        credential: EntraCredential,
        certificate_key: &str,
    ) -> Result<Self, TokenError> {
        Ok(Self {
            http,
            token_url: format!("{}/{tenant}/oauth2/v2.0/token", authority_url.trim_end_matches('/')),
            client_id: client_id.to_owned(),
            scope: scope.to_owned(),
            proof: proof(credential, certificate_key)?,
            cached: Mutex::new(None),
        })
    }

    /// A valid access token: the cached one, or a fresh one when it nears its end.
    pub async fn get(&self) -> Result<SecretString, TokenError> {
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref()
            && Instant::now() < c.refresh_at
        {
            return Ok(c.token.clone());
        }
        let (token, lifetime) = self.fetch().await?;
        // Refresh well before the end: at 80% of the lifetime, at most 5 minutes before it.
        let early = (lifetime / 5).min(Duration::from_secs(300));
        *cached = Some(Cached { token: token.clone(), refresh_at: Instant::now() + lifetime.saturating_sub(early) });
        Ok(token)
    }

    /// Forgets the cached token (Graph said 401: it may have been revoked).
    pub async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }

    async fn fetch(&self) -> Result<(SecretString, Duration), TokenError> {
        let mut form = vec![
            ("client_id", self.client_id.clone()),
            ("scope", self.scope.clone()),
            ("grant_type", "client_credentials".to_owned()),
        ];
        match &self.proof {
            Proof::Secret(s) => form.push(("client_secret", s.expose_secret().to_owned())),
            Proof::Certificate { key, thumbprint } => {
                form.push((
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned(),
                ));
                form.push(("client_assertion", self.assertion(key, thumbprint)?));
            }
        }
        let response = self.http.post(&self.token_url).form(&form).send().await.map_err(TokenError::Network)?;
        if !response.status().is_success() {
            let status = response.status().as_u16();
            let err: ErrorBody = response.json().await.unwrap_or_default();
            return Err(TokenError::Refused { status, code: err.error, message: err.error_description });
        }
        let body: TokenResponse =
            response.json().await.map_err(|e| TokenError::Decode(format!("token response: {e}")))?;
        Ok((SecretString::from(body.access_token), Duration::from_secs(body.expires_in)))
    }

    /// The client assertion: PS256, `aud` the token URL, `iss` = `sub` = client id, 10 minutes.
    fn assertion(&self, key: &EncodingKey, thumbprint: &str) -> Result<String, TokenError> {
        let now = crate::domain::now() / 1000;
        let claims = serde_json::json!({
            "aud": self.token_url, "iss": self.client_id, "sub": self.client_id,
            "jti": uuid::Uuid::new_v4().to_string(), "nbf": now, "iat": now, "exp": now + 600,
        });
        let mut header = Header::new(Algorithm::PS256);
        header.x5t_s256 = Some(thumbprint.to_owned());
        jsonwebtoken::encode(&header, &claims, key)
            .map_err(|e| TokenError::Credential(format!("signing the client assertion: {e}")))
    }
}
