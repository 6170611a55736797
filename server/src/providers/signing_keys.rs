//! An issuer's published token-signing keys (a JWKS), fetched with reqwest, cached, and
//! fetched again when a token names a key not seen yet — at most once a minute, so forged
//! `kid`s cannot make Elevate hammer the issuer. The JWKS is found directly or through an
//! OpenID metadata document's `jwks_uri`.
use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use jsonwebtoken::{DecodingKey, jwk::Jwk};
use serde_json::Value;
use tokio::sync::RwLock;

/// Fetching the keys again for an unknown key id: no more often than this.
const REFRESH_AT_MOST_EVERY: Duration = Duration::from_secs(60);
/// Keys older than this are fetched again before use, so a key the issuer withdrew stops
/// being trusted (if the issuer cannot be reached then, the known keys serve on).
const MAX_AGE: Duration = Duration::from_secs(24 * 3600);

#[derive(Clone)]
pub struct SigningKey {
    pub key: DecodingKey,
    /// The channels the Bot Framework endorses this key for (its JWKS's `endorsements`).
    pub endorsements: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the issuer's keys cannot be fetched right now")]
    Unavailable(#[source] reqwest::Error),
    #[error("the issuer's metadata names no jwks_uri")]
    NoJwksUri,
    #[error("signed by an unknown key")]
    Unknown,
}

enum Source {
    Jwks(String),
    OpenIdMetadata(String),
}

struct Cache {
    by_id: HashMap<String, SigningKey>,
    fetched: Option<Instant>,
}

pub struct SigningKeys {
    source: Source,
    http: reqwest::Client,
    cache: RwLock<Cache>,
}

impl SigningKeys {
    fn new(source: Source) -> Self {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap_or_default();
        Self { source, http, cache: RwLock::new(Cache { by_id: HashMap::new(), fetched: None }) }
    }

    pub fn from_jwks_url(url: &str) -> Self {
        Self::new(Source::Jwks(url.to_owned()))
    }

    pub fn from_openid_metadata(url: &str) -> Self {
        Self::new(Source::OpenIdMetadata(url.to_owned()))
    }

    /// Where the keys are read from (for logs).
    pub fn url(&self) -> &str {
        match &self.source {
            Source::Jwks(url) | Source::OpenIdMetadata(url) => url,
        }
    }

    /// Fetches the keys now (a configuration check): how many there are.
    pub async fn refresh(&self) -> Result<usize, KeyError> {
        let fresh = self.fetch().await?;
        let count = fresh.len();
        *self.cache.write().await = Cache { by_id: fresh, fetched: Some(Instant::now()) };
        Ok(count)
    }

    /// The key `kid`, fetching the keys again when it is not known yet.
    pub async fn get(&self, kid: &str) -> Result<SigningKey, KeyError> {
        {
            let cache = self.cache.read().await;
            let fresh = cache.fetched.is_some_and(|at| at.elapsed() < MAX_AGE);
            if let (true, Some(key)) = (fresh, cache.by_id.get(kid)) {
                return Ok(key.clone());
            }
        }
        let mut cache = self.cache.write().await;
        if cache.fetched.is_some_and(|at| at.elapsed() >= MAX_AGE) {
            match self.fetch().await {
                Ok(fresh) => *cache = Cache { by_id: fresh, fetched: Some(Instant::now()) },
                Err(e) => {
                    tracing::warn!(error = %crate::telemetry::error_chain(&e), url = %self.url(), "the signing keys could not be fetched again; the known ones serve on")
                }
            }
        }
        let recently = cache.fetched.is_some_and(|at| at.elapsed() < REFRESH_AT_MOST_EVERY);
        if !recently && !cache.by_id.contains_key(kid) {
            let fresh = self.fetch().await?;
            *cache = Cache { by_id: fresh, fetched: Some(Instant::now()) };
        }
        cache.by_id.get(kid).cloned().ok_or(KeyError::Unknown)
    }

    async fn fetch(&self) -> Result<HashMap<String, SigningKey>, KeyError> {
        let jwks_url = match &self.source {
            Source::Jwks(url) => url.clone(),
            Source::OpenIdMetadata(url) => {
                let metadata: Value = self.get_json(url).await?;
                metadata["jwks_uri"].as_str().ok_or(KeyError::NoJwksUri)?.to_owned()
            }
        };
        let set = self.get_json(&jwks_url).await?;
        let keys = set["keys"].as_array().map(Vec::as_slice).unwrap_or_default();
        Ok(keys
            .iter()
            .filter_map(|value| {
                let jwk: Jwk = serde_json::from_value(value.clone()).ok()?;
                let endorsements = value["endorsements"]
                    .as_array()
                    .map(|e| e.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect())
                    .unwrap_or_default();
                Some((jwk.common.key_id.clone()?, SigningKey { key: DecodingKey::from_jwk(&jwk).ok()?, endorsements }))
            })
            .collect())
    }

    async fn get_json(&self, url: &str) -> Result<Value, KeyError> {
        let response = self.http.get(url).send().await.and_then(reqwest::Response::error_for_status);
        response.map_err(KeyError::Unavailable)?.json().await.map_err(KeyError::Unavailable)
    }
}
