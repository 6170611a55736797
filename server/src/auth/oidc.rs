//! Browser sign-in with OpenID Connect: authorization code with PKCE, against Entra ID by
//! default (`[oidc]`). The provider is discovered at start-up; each sign-in carries its
//! state, nonce and PKCE verifier in a short-lived signed cookie, never on the server.
use std::{future::Future, pin::Pin};

use openidconnect::{
    AuthenticationFlow, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
    core::{CoreClient, CoreProviderMetadata, CoreResponseType},
};
use serde::{Deserialize, Serialize};

use crate::domain::Upn;

#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("the identity provider could not be discovered at {issuer}: {message}")]
    Discovery { issuer: String, message: String },
    #[error("configuration key `oidc.{key}`: {message}")]
    Config { key: &'static str, message: String },
    #[error("the sign-in could not be completed: {0}")]
    Exchange(String),
    #[error("the identity provider's ID token was refused: {0}")]
    IdToken(String),
    #[error("the ID token names no user Elevate can trust: {0}")]
    NoUser(String),
}

/// reqwest (0.13) as openidconnect's HTTP client; no redirects, so no request is ever sent
/// somewhere the provider did not name.
pub struct OidcHttp(reqwest::Client);

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct OidcHttpError(String);

impl<'c> openidconnect::AsyncHttpClient<'c> for OidcHttp {
    type Error = OidcHttpError;
    type Future = Pin<Box<dyn Future<Output = Result<openidconnect::HttpResponse, OidcHttpError>> + Send + 'c>>;

    fn call(&'c self, request: openidconnect::HttpRequest) -> Self::Future {
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let response = self
                .0
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .send()
                .await
                .map_err(|e| OidcHttpError(e.to_string()))?;
            let mut builder = openidconnect::http::Response::builder().status(response.status());
            for (name, value) in response.headers() {
                builder = builder.header(name, value);
            }
            let body = response.bytes().await.map_err(|e| OidcHttpError(e.to_string()))?;
            builder.body(body.to_vec()).map_err(|e| OidcHttpError(e.to_string()))
        })
    }
}

/// What a sign-in in progress must remember until the provider sends the user back.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingSignIn {
    pub state: String,
    pub nonce: String,
    pub verifier: String,
    /// Where to go afterwards (a path on this site).
    pub next: String,
}

/// Whom an ID token names, before the directory is asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claimed {
    /// Entra ID's immutable object id of the user (`oid`), within its tenant (`tid`).
    ObjectId { oid: String, tid: Option<String> },
    /// Another provider's user name: `preferred_username`, or an `email` the provider says it
    /// verified (`email_verified`).
    Name(Upn),
}

/// The claims read from a verified ID token beyond the standard ones.
#[derive(Debug, Default, Deserialize)]
struct IdentityClaims {
    oid: Option<String>,
    tid: Option<String>,
}

/// Entra ID (and its v1 issuer): its tokens always carry `oid`, and its `email` and
/// `preferred_username` are mutable, so a token of it without `oid` names nobody.
fn is_entra_issuer(issuer: &str) -> bool {
    reqwest::Url::parse(issuer)
        .ok()
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
        .is_some_and(|h| h == "login.microsoftonline.com" || h == "sts.windows.net")
}

/// Who signed in, and how.
pub struct SignedIn {
    pub claimed: Claimed,
    pub amr: Vec<String>,
    /// When (ms) a second factor was proved: the ID token's `auth_time` (else now) when its
    /// `amr` names `mfa`.
    pub mfa_at: Option<i64>,
}

pub struct OidcSignIn {
    metadata: CoreProviderMetadata,
    client_id: ClientId,
    client_secret: Option<ClientSecret>,
    redirect: RedirectUrl,
    http: OidcHttp,
}

impl OidcSignIn {
    pub async fn discover(
        issuer: &str,
        client_id: &str,
        client_secret: Option<String>,
        redirect_url: &str,
    ) -> Result<Self, OidcError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(15))
            .build()
            .map_err(|e| OidcError::Discovery { issuer: issuer.to_owned(), message: e.to_string() })?;
        let http = OidcHttp(http);
        let issuer_url = IssuerUrl::new(issuer.to_owned())
            .map_err(|e| OidcError::Config { key: "issuer", message: e.to_string() })?;
        let metadata = CoreProviderMetadata::discover_async(issuer_url, &http)
            .await
            .map_err(|e| OidcError::Discovery { issuer: issuer.to_owned(), message: e.to_string() })?;
        let redirect = RedirectUrl::new(redirect_url.to_owned())
            .map_err(|e| OidcError::Config { key: "redirect_url", message: e.to_string() })?;
        Ok(Self {
            metadata,
            client_id: ClientId::new(client_id.to_owned()),
            client_secret: client_secret.map(ClientSecret::new),
            redirect,
            http,
        })
    }

    fn client(
        &self,
    ) -> openidconnect::core::CoreClient<
        openidconnect::EndpointSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointMaybeSet,
        openidconnect::EndpointMaybeSet,
    > {
        CoreClient::from_provider_metadata(self.metadata.clone(), self.client_id.clone(), self.client_secret.clone())
            .set_redirect_uri(self.redirect.clone())
    }

    /// The provider's authorization URL for a new sign-in, and what to remember meanwhile.
    /// `login_hint` pre-fills the account; `mfa` asks the provider for multi-factor
    /// authentication (`acr_values`, and a fresh sign-in).
    pub fn begin(&self, next: &str, login_hint: Option<&str>, mfa: bool) -> (String, PendingSignIn) {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let client = self.client();
        let mut request = client
            .authorize_url(
                AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("profile".into()))
            .add_scope(Scope::new("email".into()))
            .set_pkce_challenge(challenge);
        if let Some(hint) = login_hint {
            request = request.add_extra_param("login_hint", hint.to_owned());
        }
        if mfa {
            request = request.add_extra_param("acr_values", "mfa").add_extra_param("prompt", "login");
        }
        let (url, state, nonce) = request.url();
        let pending = PendingSignIn {
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            verifier: verifier.secret().clone(),
            next: next.to_owned(),
        };
        (url.to_string(), pending)
    }

    /// Exchanges the code (with the PKCE verifier) and checks the ID token: signature by the
    /// provider's keys, issuer, audience, expiry and nonce.
    pub async fn finish(&self, code: &str, pending: &PendingSignIn) -> Result<SignedIn, OidcError> {
        let client = self.client();
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| OidcError::Exchange(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier.clone()))
            .request_async(&self.http)
            .await
            .map_err(|e| OidcError::Exchange(e.to_string()))?;
        let id_token = response.id_token().ok_or_else(|| OidcError::IdToken("the provider sent none".into()))?;
        let claims = id_token
            .claims(&client.id_token_verifier(), &Nonce::new(pending.nonce.clone()))
            .map_err(|e| OidcError::IdToken(e.to_string()))?;
        // The verified token's payload, for the claims the standard set lacks (oid, tid).
        let extra: IdentityClaims = id_token
            .to_string()
            .split('.')
            .nth(1)
            .and_then(|payload| base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload).ok())
            .and_then(|json| serde_json::from_slice(&json).ok())
            .unwrap_or_default();
        let issuer = claims.issuer().as_str();
        let claimed = match extra.oid {
            Some(oid) if !oid.is_empty() => Claimed::ObjectId { oid, tid: extra.tid },
            _ if is_entra_issuer(issuer) => {
                return Err(OidcError::NoUser("an Entra ID token without the user's object id (oid)".into()));
            }
            _ => {
                let verified_email = claims.email().filter(|_| claims.email_verified() == Some(true));
                let name = claims
                    .preferred_username()
                    .map(|u| u.as_str().to_owned())
                    .or_else(|| verified_email.map(|e| e.as_str().to_owned()))
                    .ok_or_else(|| OidcError::NoUser("neither oid, preferred_username nor a verified email".into()))?;
                Claimed::Name(Upn::parse(&name).map_err(|e| OidcError::NoUser(e.reason))?)
            }
        };
        let amr: Vec<String> = claims
            .auth_method_refs()
            .map(|methods| methods.iter().map(|m| m.as_str().to_owned()).collect())
            .unwrap_or_default();
        let mfa_at = amr
            .iter()
            .any(|m| m == "mfa")
            .then(|| claims.auth_time().map_or_else(crate::domain::now, |at| at.timestamp_millis()));
        Ok(SignedIn { claimed, amr, mfa_at })
    }
}

/// The configured provider, discovered on first use (and again after a failed discovery), so
/// that an unreachable identity provider never stops Elevate from starting and revoking.
pub struct OidcProvider {
    issuer: String,
    client_id: String,
    client_secret: Option<secrecy::SecretString>,
    redirect_url: String,
    discovered: tokio::sync::OnceCell<OidcSignIn>,
}

impl OidcProvider {
    pub fn new(
        issuer: &str,
        client_id: &str,
        client_secret: Option<secrecy::SecretString>,
        redirect_url: String,
    ) -> Self {
        Self {
            issuer: issuer.to_owned(),
            client_id: client_id.to_owned(),
            client_secret,
            redirect_url,
            discovered: tokio::sync::OnceCell::new(),
        }
    }

    pub async fn get(&self) -> Result<&OidcSignIn, OidcError> {
        use secrecy::ExposeSecret;
        self.discovered
            .get_or_try_init(|| {
                let secret = self.client_secret.as_ref().map(|s| s.expose_secret().to_owned());
                OidcSignIn::discover(&self.issuer, &self.client_id, secret, &self.redirect_url)
            })
            .await
    }
}
