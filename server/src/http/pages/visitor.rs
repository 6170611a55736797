//! The signed-in visitor of a page: an extractor that opens the server-side session the
//! cookie's key names, and sends a visitor without a (live) session to sign in first, back to
//! the page afterwards.
use std::{future::Future, pin::Pin};

use actix_web::{
    FromRequest, HttpRequest, HttpResponse, ResponseError, dev::Payload, http::StatusCode, http::header, web,
};

use super::{AppState, message};
use crate::{
    domain::{Caller, Role, Upn},
    telemetry::error_chain,
    workflows::{
        authz::{self, Action},
        sign_in,
    },
};

pub(super) struct Visitor {
    pub user: Upn,
    /// The session cookie's value: the forms' anti-forgery token derives from it.
    cookie: String,
    roles: Vec<Role>,
    mfa_at: Option<i64>,
    /// This session's anti-forgery token, for the forms of every page (sign-out included).
    pub csrf: String,
}

impl Visitor {
    /// The visitor of `req`, when signed in to a live session. (A session that cannot be read
    /// right now counts as none: the visitor is asked to sign in again.)
    pub async fn of(state: &AppState, req: &HttpRequest) -> Option<Self> {
        let cookie = req.cookie(&state.sessions.cookie_name(crate::auth::SESSION_COOKIE))?;
        let session = match sign_in::session(&state.broker, cookie.value()).await {
            Ok(session) => session?,
            Err(e) => {
                tracing::error!(error = %error_chain(&e), "a session could not be read");
                return None;
            }
        };
        let csrf = state.sessions.csrf_token(cookie.value());
        let cookie = cookie.value().to_owned();
        Some(Self { user: session.user, cookie, roles: session.roles, mfa_at: session.mfa_at, csrf })
    }

    /// The session cookie's value (sign-out ends the session it opens).
    pub fn cookie(&self) -> &str {
        &self.cookie
    }

    /// The visitor as the workflows see a caller: the same checks as the API.
    pub fn caller(&self) -> Caller {
        Caller { upn: self.user.clone(), roles: self.roles.clone(), delegate: false, mfa_at: self.mfa_at }
    }

    /// May revoke anyone's grant (the authorization table's entry that needs no ownership).
    pub fn is_admin(&self) -> bool {
        authz::allows(&self.caller(), Action::Revoke)
    }

    /// May read the audit log.
    pub fn reads_audit(&self) -> bool {
        authz::allows(&self.caller(), Action::ReadAudit)
    }

    /// A submitted form must carry this session's token: the 403 page when it does not.
    pub fn refuse_forged(&self, state: &AppState, submitted: Option<&str>) -> Option<HttpResponse> {
        if state.sessions.csrf_matches(&self.cookie, submitted.unwrap_or_default()) {
            None
        } else {
            Some(message(
                StatusCode::FORBIDDEN,
                "Not allowed",
                "This form did not come from your session; reload it.",
                Some(self),
            ))
        }
    }
}

/// Why a page's visitor is not let in: not signed in (to the sign-in page, and back to
/// `back` afterwards), or over the per-caller rate (429 with `Retry-After`, as the API).
#[derive(Debug, thiserror::Error)]
pub(super) enum NotLetIn {
    #[error("sign in first")]
    SignInFirst { back: String },
    #[error("too many requests from this session")]
    TooManyRequests { retry_after: u64 },
}

impl ResponseError for NotLetIn {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::SignInFirst { .. } => StatusCode::SEE_OTHER,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::SignInFirst { back } => {
                let next = percent_encoding::utf8_percent_encode(back, percent_encoding::NON_ALPHANUMERIC);
                HttpResponse::SeeOther().insert_header((header::LOCATION, format!("/signin?next={next}"))).finish()
            }
            Self::TooManyRequests { retry_after } => {
                let mut page = message(
                    StatusCode::TOO_MANY_REQUESTS,
                    "Too many requests",
                    &format!("Slow down: try again in {retry_after} s."),
                    None,
                );
                page.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from(*retry_after));
                page
            }
        }
    }
}

impl FromRequest for Visitor {
    type Error = NotLetIn;
    type Future = Pin<Box<dyn Future<Output = Result<Self, NotLetIn>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { Self::let_in(&req).await })
    }
}

impl Visitor {
    async fn let_in(req: &HttpRequest) -> Result<Self, NotLetIn> {
        let Some(state) = req.app_data::<web::Data<AppState>>() else {
            return Err(NotLetIn::SignInFirst { back: "/".into() });
        };
        let Some(visitor) = Visitor::of(state, req).await else {
            // After a form's POST, come back to the page rather than replay the POST.
            let back = if req.method() == actix_web::http::Method::GET {
                req.uri().path_and_query().map_or("/", |p| p.as_str()).to_owned()
            } else {
                "/requests".to_owned()
            };
            return Err(NotLetIn::SignInFirst { back });
        };
        // The same per-caller bucket as the API: a user's pages and tokens share one rate, so
        // reloading pages in a loop is slowed down like calling the API in one.
        match state.limits.check_caller(visitor.user.as_str()) {
            Err(crate::http::problem::ApiError::TooManyRequests { retry_after, .. }) => {
                Err(NotLetIn::TooManyRequests { retry_after })
            }
            _ => Ok(visitor),
        }
    }
}
