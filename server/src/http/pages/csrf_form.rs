//! A form posted from one of this session's own pages: the extractor takes the visitor (or
//! sends them to sign in), checks the form's anti-forgery token against their session, and
//! only then parses the form — so no page handler can forget the check.
use std::{future::Future, pin::Pin};

use actix_web::{
    FromRequest, HttpRequest,
    dev::Payload,
    error::{ErrorInternalServerError, InternalError},
    http::StatusCode,
    web,
};
use serde::{Deserialize, de::DeserializeOwned};

use super::{AppState, Visitor, message};

/// As `web::Form`'s default: the pages' forms are a few fields of text.
const FORM_LIMIT: usize = 16 * 1024;

pub(super) struct CsrfForm<T> {
    pub visitor: Visitor,
    pub form: T,
}

/// The one field every form of the pages carries besides its own.
#[derive(Deserialize, Default)]
struct Token {
    csrf: Option<String>,
}

impl<T: DeserializeOwned + 'static> FromRequest for CsrfForm<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let visitor = Visitor::from_request(req, payload);
        let body = web::Bytes::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            let visitor = visitor.await?;
            let body = body.await?;
            if body.len() > FORM_LIMIT {
                let text = format!("A form of the pages holds at most {FORM_LIMIT} bytes.");
                let page = message(StatusCode::PAYLOAD_TOO_LARGE, "Form too large", &text, Some(&visitor));
                return Err(InternalError::from_response("form too large", page).into());
            }
            let state = req.app_data::<web::Data<AppState>>().ok_or_else(|| ErrorInternalServerError("no state"))?;
            let Token { csrf } = serde_urlencoded::from_bytes(&body).unwrap_or_default();
            if let Some(refusal) = visitor.refuse_forged(state, csrf.as_deref()) {
                return Err(InternalError::from_response("a form from another session", refusal).into());
            }
            match serde_urlencoded::from_bytes(&body) {
                Ok(form) => Ok(Self { visitor, form }),
                Err(e) => {
                    let page = message(StatusCode::BAD_REQUEST, "Invalid form", &e.to_string(), Some(&visitor));
                    Err(InternalError::from_response(e, page).into())
                }
            }
        })
    }
}
