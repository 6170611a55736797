//! Errors as RFC 7807 problem+json, mapped in this one place (kanidm's table): not
//! authenticated → 401, not allowed → 403, unknown → 404, bad input → 400, conflict → 409,
//! anything else → 500 without internal detail (that goes to the log).
use actix_web::{HttpResponse, ResponseError, http::StatusCode, http::header};
use serde::Serialize;
use tracing::error;
use utoipa::ToSchema;

use crate::{auth::AuthError, providers::directory::DirectoryError, telemetry::error_chain, workflows::WorkflowError};

#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// The input field at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Workflow(#[from] WorkflowError),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("{detail}")]
    BadRequest { field: Option<String>, detail: String },
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    NotFound(String),
    #[error("the service is not ready: {0}")]
    Unavailable(String),
    /// Over a rate limit (`limits`): retry after that many seconds.
    #[error("too many requests {scope}: retry after {retry_after} second(s)")]
    TooManyRequests { scope: &'static str, retry_after: u64 },
}

impl ApiError {
    pub fn bad(field: &str, detail: impl Into<String>) -> Self {
        Self::BadRequest { field: Some(field.to_owned()), detail: detail.into() }
    }

    /// The one table: what an error means to a client — its status, problem type and title.
    /// The API answers with it as problem+json, the pages (links included) as a page.
    pub fn meaning(&self) -> (StatusCode, &'static str, &'static str) {
        use StatusCode as S;
        use WorkflowError as W;
        match self {
            Self::Workflow(W::Invalid(_)) | Self::BadRequest { .. } => {
                (S::BAD_REQUEST, "invalid-input", "Invalid input")
            }
            Self::Workflow(W::NotFound(_)) | Self::NotFound(_) => (S::NOT_FOUND, "not-found", "Not found"),
            Self::Workflow(W::Forbidden(_)) => (S::FORBIDDEN, "forbidden", "Not allowed"),
            Self::Workflow(W::MfaRequired(_)) => (S::FORBIDDEN, "mfa-required", "Multi-factor sign-in required"),
            Self::Workflow(W::Conflict(_) | W::Transition(_) | W::LinkUsed | W::LinkOutdated) => {
                (S::CONFLICT, "conflict", "Conflict with the current state")
            }
            Self::Workflow(W::Directory(DirectoryError::Transient { .. })) => {
                (S::SERVICE_UNAVAILABLE, "directory-unavailable", "Directory unavailable")
            }
            Self::Workflow(W::Directory(_)) => (S::BAD_GATEWAY, "directory-unavailable", "Directory unavailable"),
            Self::Workflow(W::Store(_)) => (S::INTERNAL_SERVER_ERROR, "internal", "Internal error"),
            Self::Auth(_) | Self::Workflow(W::Unauthenticated(_)) => {
                (S::UNAUTHORIZED, "unauthenticated", "Authentication required")
            }
            Self::PayloadTooLarge(_) => (S::PAYLOAD_TOO_LARGE, "payload-too-large", "Request body too large"),
            Self::UnsupportedMediaType(_) => {
                (S::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type", "Unsupported media type")
            }
            Self::Unavailable(_) => (S::SERVICE_UNAVAILABLE, "unavailable", "Service unavailable"),
            Self::TooManyRequests { .. } => (S::TOO_MANY_REQUESTS, "rate-limited", "Too many requests"),
        }
    }

    /// What the client is told; internal error text (database messages) never leaves the server.
    pub fn detail(&self) -> String {
        match self {
            Self::Workflow(WorkflowError::Store(_)) => "something went wrong on our side; it has been logged".into(),
            Self::Workflow(WorkflowError::Directory(DirectoryError::Transient { .. })) => {
                "the directory is temporarily unavailable; try again shortly".into()
            }
            Self::Workflow(WorkflowError::Directory(_)) => "the directory refused the lookup".into(),
            other => other.to_string(),
        }
    }

    /// A failure on our side goes to the log with its chain of causes (the client sees none).
    pub fn log_if_ours(&self) {
        if self.meaning().0.is_server_error() {
            error!(error = %error_chain(self), "request failed");
        }
    }

    fn field(&self) -> Option<String> {
        match self {
            Self::Workflow(WorkflowError::Invalid(v)) => Some(v.field.to_owned()),
            Self::BadRequest { field, .. } => field.clone(),
            _ => None,
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.meaning().0
    }

    fn error_response(&self) -> HttpResponse {
        let (status, kind, title) = self.meaning();
        self.log_if_ours();
        let body = Problem {
            kind: format!("https://elevate.dev/problems/{kind}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: self.detail(),
            field: self.field(),
        };
        let mut response = HttpResponse::build(status);
        response.content_type("application/problem+json");
        // Every 401 says how to authenticate (RFC 7235); a credential that was refused is an
        // invalid token (RFC 6750).
        let challenge = match self {
            Self::Auth(AuthError::Missing) => Some("Bearer realm=\"elevate\""),
            Self::Auth(_) | Self::Workflow(WorkflowError::Unauthenticated(_)) => {
                Some("Bearer realm=\"elevate\", error=\"invalid_token\"")
            }
            _ => None,
        };
        if let Some(challenge) = challenge {
            response.insert_header((header::WWW_AUTHENTICATE, challenge));
        }
        if let Self::TooManyRequests { retry_after, .. } = self {
            response.insert_header((header::RETRY_AFTER, retry_after.to_string()));
        }
        response.json(body)
    }
}

/// Declares a set of refusals a route documents (problem+json bodies under these statuses),
/// so that each route names one set instead of listing the statuses again.
macro_rules! refusals {
    ($($(#[$doc:meta])* $name:ident = [$($status:literal),+];)+) => {$(
        $(#[$doc])*
        pub struct $name;

        impl utoipa::IntoResponses for $name {
            fn responses() -> std::collections::BTreeMap<String, utoipa::openapi::RefOr<utoipa::openapi::Response>> {
                problems(&[$($status),+])
            }
        }
    )+};
}

refusals! {
    /// Reading a list that takes no input: not signed in, or too fast.
    ListRefusals = [401, 429];
    /// Reading with a filter: also bad input and not allowed.
    SearchRefusals = [400, 401, 403, 429];
    /// Reading one item.
    ItemRefusals = [400, 401, 404, 429];
    /// Filing a request: anything but an unknown item.
    FilingRefusals = [400, 401, 403, 409, 413, 415, 429];
    /// Changing one item.
    ChangeRefusals = [400, 401, 403, 404, 409, 413, 415, 429];
}

/// One problem+json response per status, named by its reason phrase.
fn problems(statuses: &[u16]) -> std::collections::BTreeMap<String, utoipa::openapi::RefOr<utoipa::openapi::Response>> {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    statuses
        .iter()
        .map(|&status| {
            let reason = StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or_default();
            let content = ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build();
            let response = ResponseBuilder::new().description(reason).content("application/problem+json", content);
            (status.to_string(), response.build().into())
        })
        .collect()
}
