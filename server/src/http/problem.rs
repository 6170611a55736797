//! Errors as RFC 7807 problem+json, mapped in this one place (kanidm's table): not
//! authenticated → 401, not allowed → 403, unknown → 404, bad input → 400, conflict → 409,
//! anything else → 500 without internal detail (that goes to the log).
use actix_web::{HttpResponse, ResponseError, http::StatusCode, http::header};
use serde::Serialize;
use tracing::error;
use utoipa::ToSchema;

use crate::{auth::AuthError, providers::directory::DirectoryError, workflows::WorkflowError};

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

    fn kind(&self) -> (&'static str, &'static str) {
        match self {
            Self::Workflow(WorkflowError::Invalid(_)) | Self::BadRequest { .. } => ("invalid-input", "Invalid input"),
            Self::Workflow(WorkflowError::NotFound(_)) | Self::NotFound(_) => ("not-found", "Not found"),
            Self::Workflow(WorkflowError::Forbidden(_)) => ("forbidden", "Not allowed"),
            Self::Workflow(WorkflowError::MfaRequired(_)) => ("mfa-required", "Multi-factor sign-in required"),
            Self::Workflow(
                WorkflowError::Conflict(_)
                | WorkflowError::Transition(_)
                | WorkflowError::LinkUsed
                | WorkflowError::LinkOutdated,
            ) => ("conflict", "Conflict with the current state"),
            Self::Workflow(WorkflowError::Directory(_)) => ("directory-unavailable", "Directory unavailable"),
            Self::Workflow(WorkflowError::Store(_)) => ("internal", "Internal error"),
            Self::Auth(_) => ("unauthenticated", "Authentication required"),
            Self::PayloadTooLarge(_) => ("payload-too-large", "Request body too large"),
            Self::UnsupportedMediaType(_) => ("unsupported-media-type", "Unsupported media type"),
            Self::Unavailable(_) => ("unavailable", "Service unavailable"),
            Self::TooManyRequests { .. } => ("rate-limited", "Too many requests"),
        }
    }

    fn detail(&self) -> String {
        match self {
            // Internal error text (database messages) never leaves the server.
            Self::Workflow(WorkflowError::Store(_)) => "something went wrong on our side; it has been logged".into(),
            Self::Workflow(WorkflowError::Directory(DirectoryError::Transient { .. })) => {
                "the directory is temporarily unavailable; try again shortly".into()
            }
            Self::Workflow(WorkflowError::Directory(_)) => "the directory refused the lookup".into(),
            other => other.to_string(),
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
        match self {
            Self::Workflow(WorkflowError::Invalid(_)) | Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Workflow(WorkflowError::NotFound(_)) | Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Workflow(WorkflowError::Forbidden(_) | WorkflowError::MfaRequired(_)) => StatusCode::FORBIDDEN,
            Self::Workflow(
                WorkflowError::Conflict(_)
                | WorkflowError::Transition(_)
                | WorkflowError::LinkUsed
                | WorkflowError::LinkOutdated,
            ) => StatusCode::CONFLICT,
            Self::Workflow(WorkflowError::Directory(DirectoryError::Transient { .. })) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Workflow(WorkflowError::Directory(_)) => StatusCode::BAD_GATEWAY,
            Self::Workflow(WorkflowError::Store(_)) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Auth(_) => StatusCode::UNAUTHORIZED,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status.is_server_error() {
            error!(error = %error_chain(self), "request failed");
        }
        let (kind, title) = self.kind();
        let body = Problem {
            kind: format!("https://elevate.dev/problems/{kind}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: self.detail(),
            field: self.field(),
        };
        let mut response = HttpResponse::build(status);
        response.content_type("application/problem+json");
        if let Self::Auth(e) = self {
            let code = if *e == AuthError::Missing {
                "Bearer realm=\"elevate\""
            } else {
                "Bearer realm=\"elevate\", error=\"invalid_token\""
            };
            response.insert_header((header::WWW_AUTHENTICATE, code));
        }
        if let Self::TooManyRequests { retry_after, .. } = self {
            response.insert_header((header::RETRY_AFTER, retry_after.to_string()));
        }
        response.json(body)
    }
}

/// The error and its sources, for the log.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
