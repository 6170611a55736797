//! Extractors: the authenticated caller, and JSON bodies whose errors name the field.
use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest, dev::Payload, http::header, web};
use serde::de::DeserializeOwned;

use super::{AppState, problem::ApiError};
use crate::{
    auth::AuthError,
    domain::Caller,
    workflows::{
        WorkflowError,
        identify::{self, Claimed},
    },
};

/// Largest JSON body accepted.
pub const MAX_BODY: usize = 64 * 1024;

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = app_state(&req)?;
            let claimed = authenticate(&req, state).await?;
            let jti = claimed.token().jti.clone();
            let caller = identify::refuse_revoked(&state.broker, claimed).await?;
            admitted(state, &caller, jti);
            Ok(caller)
        })
    }
}

/// For a handler whose workflow checks the token against revocations in its own read
/// (and then calls [`admitted`]).
impl FromRequest for Claimed {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { authenticate(&req, app_state(&req)?).await })
    }
}

fn app_state(req: &HttpRequest) -> Result<&web::Data<AppState>, ApiError> {
    req.app_data::<web::Data<AppState>>().ok_or_else(|| ApiError::Unavailable("application state missing".into()))
}

/// Elevate's own tokens (HS256) or, with `[auth.entra]`, Entra ID's (RS256): the header's
/// algorithm says which checker gets the token, and each accepts only its own algorithm.
async fn authenticate(req: &HttpRequest, state: &AppState) -> Result<Claimed, ApiError> {
    let value = req.headers().get(header::AUTHORIZATION).ok_or(AuthError::Missing)?;
    let value = value.to_str().map_err(|_| AuthError::Invalid("header is not text".into()))?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .ok_or_else(|| AuthError::Invalid("expected the Bearer scheme".into()))?
        .trim();
    let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Invalid("malformed token".into()))?;
    let (caller, jti) = match (header.alg, &state.entra) {
        (jsonwebtoken::Algorithm::RS256, Some(entra)) => {
            let token = entra.verify(token, &header).await?;
            let caller = identify::entra_caller(&state.broker, &token).await.map_err(not_authenticated)?;
            (caller, token.id)
        }
        (jsonwebtoken::Algorithm::RS256, None) => {
            return Err(
                AuthError::Invalid("Entra ID tokens are not accepted here ([auth.entra] is not set)".into()).into()
            );
        }
        _ => state.tokens.verify_with_id(token)?,
    };
    state.limits.check_caller(caller.upn.as_str())?;
    Ok(Claimed::new(caller, jti))
}

/// A caller got in with the token `jti`: its first use (per process and token) is recorded in
/// the audit log, off the request's path — the audit chain's lock must not slow every first
/// call down.
pub fn admitted(state: &AppState, caller: &Caller, jti: String) {
    if state.token_use.worth_recording(&jti) {
        let (broker, recorded) = (state.broker.clone(), caller.clone());
        tokio::spawn(async move { identify::record_token_use(&broker, &recorded, &jti).await });
    }
}

/// While authenticating, a refusal means the credential stands for nobody: 401, not 403.
fn not_authenticated(e: WorkflowError) -> ApiError {
    match e {
        WorkflowError::Forbidden(why) => AuthError::Invalid(why).into(),
        e => e.into(),
    }
}

/// A JSON body; a parse error names the field at fault (`duration_seconds`).
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_json =
            req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| {
                v.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
            });
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            if !is_json {
                return Err(ApiError::UnsupportedMediaType("send the body as application/json".into()));
            }
            let bytes = body.await.map_err(|e| ApiError::PayloadTooLarge(format!("{e} (limit {MAX_BODY} bytes)")))?;
            parse_json(&bytes).map(JsonBody)
        })
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = inner.to_string();
        // serde names a missing or unknown field only in its message.
        let named = ["missing field `", "unknown field `"]
            .iter()
            .find_map(|p| message.split_once(p).and_then(|(_, rest)| rest.split('`').next()))
            .map(str::to_owned);
        let field = named.or_else(|| (path != ".").then_some(path));
        ApiError::BadRequest { field, detail: format!("the JSON body is not acceptable: {message}") }
    })
}

/// A query parameter that must be a whole number.
pub fn number<T: std::str::FromStr>(field: &str, value: Option<&str>) -> Result<Option<T>, ApiError> {
    value
        .map(|v| {
            v.parse::<T>().map_err(|_| ApiError::bad(field, format!("{field} must be a whole number (got {v:?})")))
        })
        .transpose()
}
