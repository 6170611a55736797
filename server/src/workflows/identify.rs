//! Who a credential stands for, by the directory object it names: an Entra token's or an ID
//! token's object id is resolved through the directory, and the directory's UPN is the name
//! Elevate uses (never the token's `upn`, `preferred_username` or `email`, which tenants and
//! sometimes users can change).
use super::{Broker, WorkflowError};
use crate::{
    auth::{
        TokenId,
        entra::{EntraCaller, EntraSubject},
    },
    domain::Caller,
    providers::directory::{DirectoryError, DirectoryUser},
    store::{
        StoreError, audit,
        audit::{NewEvent, Subject},
        credentials,
    },
    telemetry::error_chain,
};

/// The directory user whose object id is `object_id`; `Forbidden` when the directory has no
/// such user (a service principal's id, a deleted user, another tenant's object).
pub async fn user_by_object_id(broker: &Broker, object_id: &str) -> Result<DirectoryUser, WorkflowError> {
    let key = object_id.to_ascii_lowercase();
    // The cache's own lifetime (`IDENTITY_TTL`) bounds how old this may be.
    if let Some(user) = broker.identities.get(&key, crate::broker::Freshness::Display) {
        return Ok(user);
    }
    let unknown = || WorkflowError::Forbidden(format!("the directory has no user with object id {object_id}"));
    let user = match broker.directory.resolve_user(object_id).await {
        // Directories also find users by UPN: only an answer for that very object counts.
        Ok(user) if user.id.eq_ignore_ascii_case(object_id) => user,
        Ok(_) | Err(DirectoryError::NotFound(_)) => return Err(unknown()),
        Err(e) => return Err(WorkflowError::Directory(e)),
    };
    broker.identities.put(&key, user.clone());
    Ok(user)
}

/// The caller an Entra token stands for: its user as the directory names them, or the
/// application's configured identity.
pub async fn entra_caller(broker: &Broker, token: &EntraCaller) -> Result<Caller, WorkflowError> {
    match &token.subject {
        EntraSubject::User { object_id } => Ok(token.as_caller(user_by_object_id(broker, object_id).await?.upn)),
        EntraSubject::App(identity) => Ok(token.as_caller(identity.clone())),
    }
}

/// A caller as a genuine token (signature, issuer, audience, lifetime checked) claims them,
/// before the check against revocations: only that check turns it into a [`Caller`] — on its
/// own ([`refuse_revoked`]), carried by a read's statement (`queries::get_request_claimed`),
/// or asked beside a filing's directory lookups (`request_access::request_access_claimed`).
pub struct Claimed {
    caller: Caller,
    token: TokenId,
}

impl Claimed {
    pub fn new(caller: Caller, token: TokenId) -> Self {
        Self { caller, token }
    }

    pub fn token(&self) -> &TokenId {
        &self.token
    }

    /// Who the token says the caller is, not yet checked against revocations: for checks
    /// that store nothing, made while the database is asked (the outcome waits for [`Claimed::admit`]).
    pub(super) fn claims(&self) -> &Caller {
        &self.caller
    }

    /// What the database needs to say whether the token was revoked.
    pub(super) fn presented(&self) -> credentials::Presented<'_> {
        credentials::Presented {
            jti: &self.token.jti,
            subject: self.caller.upn.as_str(),
            issued_at: self.token.issued_at,
        }
    }

    /// The caller, unless the database said the token was revoked (`elevate token revoke`) or
    /// issued before its subject's tokens were cut off (`elevate token revoke --subject`).
    pub(super) fn admit(self, revoked: bool) -> Result<Caller, WorkflowError> {
        if revoked {
            return Err(WorkflowError::Unauthenticated(format!("token {} has been revoked", self.token.jti)));
        }
        Ok(self.caller)
    }
}

/// What a workflow that admitted its caller itself came to: the caller admitted (whose
/// token's use counts whatever came of it), and the outcome. A refused token is the `Err`
/// around it.
pub type Admitted<T> = (Caller, Result<T, WorkflowError>);

/// The caller `claimed` stands for, unless its token was revoked: asked of the database on
/// every use, so a revocation holds at once on every replica.
pub async fn refuse_revoked(broker: &Broker, claimed: Claimed) -> Result<Caller, WorkflowError> {
    let revoked = credentials::is_revoked(broker.store.conn(), &claimed.presented()).await?;
    claimed.admit(revoked)
}

/// Records the first use of an API token (per process and token) in the audit log; a failure
/// is logged, never the caller's problem.
pub async fn record_token_use(broker: &Broker, caller: &Caller, jti: &str) {
    let roles: Vec<_> = caller.roles.iter().map(|r| r.as_str()).collect();
    let details = serde_json::json!({ "jti": jti, "roles": roles, "delegate": caller.delegate });
    let event = NewEvent::new(caller.upn.as_str(), "token.used", Subject::Token(jti), details);
    let recorded = async {
        let tx = broker.store.begin().await?;
        audit::append(&tx, event).await?;
        tx.commit().await.map_err(StoreError::from)
    };
    if let Err(e) = recorded.await {
        tracing::warn!(error = %error_chain(&e), "recording an API token's use failed");
    }
}
