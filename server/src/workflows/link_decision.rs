//! Decisions from emailed links. Opening a link (`GET`) only inspects it: mail scanners fetch
//! every link, so nothing may change then. Confirming (`POST`) decides, as the approver the
//! link was sent to, once. The approver must be signed in when `links.require_sign_in` (on by
//! default with `[oidc]`) or the profile says so, and always for a high-risk AWS role; a
//! signed-in requester is refused whatever the settings.
use super::{Broker, WorkflowError, decide};
use crate::{
    auth::{LinkAction, LinkClaims, LinkError},
    domain::{Caller, RequestStatus, Role, Upn},
    store::{link_tokens, requests, requests::Request},
};

/// Why a link cannot be used, in words for the page that says so.
#[derive(Debug, thiserror::Error)]
pub enum LinkRefusal {
    #[error(transparent)]
    Token(#[from] LinkError),
    #[error("this link has already been used")]
    Used,
    #[error("this link was sent to {sent_to}, but you are signed in as {signed_in}")]
    OtherApprover { sent_to: String, signed_in: String },
    #[error("this link is for {0}: sign in to Elevate as {0}, then open the link again")]
    SignInRequired(String),
    #[error("nobody can approve their own request")]
    OwnRequest,
    #[error("the request is already {0}")]
    Decided(String),
    #[error("the request changed since this link was sent; open it in Elevate to see where it stands")]
    Changed,
    #[error(transparent)]
    Workflow(#[from] WorkflowError),
}

/// A link that may be used, with what it would decide.
pub struct UsableLink {
    pub claims: LinkClaims,
    pub request: Request,
    pub approver: Caller,
}

/// Everything a link must satisfy, checked without changing anything. `signed_in` is the
/// user of the browser's session, if any.
pub async fn inspect(broker: &Broker, token: &str, signed_in: Option<&Upn>) -> Result<UsableLink, LinkRefusal> {
    let signer = broker.notifier.links.as_ref().ok_or(LinkError::Invalid)?;
    let claims = signer.verify(token)?;
    let approver = Upn::parse(&claims.sub).map_err(|_| LinkError::Invalid)?;
    let request = requests::get(broker.store.conn(), &claims.req).await.map_err(WorkflowError::from)?;
    let request = request.ok_or(LinkError::Invalid)?;
    if link_tokens::is_spent(broker.store.conn(), &claims.jti).await.map_err(WorkflowError::from)? {
        return Err(LinkRefusal::Used);
    }
    // The requester never gets as far as a confirmation page, whatever the settings say.
    if signed_in.is_some_and(|user| user.as_str() == request.requester) {
        return Err(LinkRefusal::OwnRequest);
    }
    if let Some(user) = signed_in
        && user != &approver
    {
        return Err(LinkRefusal::OtherApprover { sent_to: approver.to_string(), signed_in: user.to_string() });
    }
    if approver.as_str() == request.requester {
        return Err(LinkRefusal::OwnRequest);
    }
    if request.status != RequestStatus::Pending {
        return Err(LinkRefusal::Decided(request.status.to_string()));
    }
    if (claims.stg, claims.ver) != (request.stage, request.version) {
        return Err(LinkRefusal::Changed);
    }
    let profile = broker.profile_of(&request).map_err(WorkflowError::from)?;
    if broker.links_need_sign_in(profile) && signed_in.is_none() {
        return Err(LinkRefusal::SignInRequired(approver.to_string()));
    }
    let approver = Caller { upn: approver, roles: vec![Role::Approver], delegate: false, mfa_at: None };
    decide::may_decide(broker, &approver, &request, super::Freshness::Fresh).await?;
    Ok(UsableLink { claims, request, approver })
}

/// Decides as the link says (the confirmation page's `POST`).
pub async fn decide_by_link(
    broker: &Broker,
    token: &str,
    signed_in: Option<&Upn>,
    comment: Option<&str>,
) -> Result<Request, LinkRefusal> {
    let link = inspect(broker, token, signed_in).await?;
    let decision = match link.claims.act {
        LinkAction::Approve => decide::Decision::Approve,
        LinkAction::Deny => decide::Decision::Deny,
    };
    decide::record(broker, &link.approver, link.request.id.as_str(), decision, comment, decide::Via::Link(&link.claims))
        .await
        .map_err(|e| {
            match e {
                // Lost a race with another use of the same link, or with a change of the request.
                WorkflowError::LinkUsed => LinkRefusal::Used,
                WorkflowError::LinkOutdated => LinkRefusal::Changed,
                other => LinkRefusal::Workflow(other),
            }
        })
}
