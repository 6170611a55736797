//! API tokens as an administrator manages them from the command line: issued (recorded and
//! audited), listed, and revoked — one by its id, or every token of a subject issued until now
//! (including tokens issued before Elevate kept a list, and Entra ID tokens of that user).
use std::time::Duration;

use serde_json::json;

use super::WorkflowError;
use crate::{
    auth::{IssuedToken, TokenAuthority},
    domain::{Role, Upn, format_millis, now},
    store::{
        Store, audit,
        audit::{NewEvent, Subject},
        credentials::{self, IssuedToken as TokenRow},
    },
};

/// Issues a token, records it in the list of issued tokens and audits `token.issued`.
pub async fn issue(
    store: &Store,
    authority: &TokenAuthority,
    (subject, roles, delegate): (&Upn, &[Role], bool),
    ttl: Duration,
    actor: &str,
) -> Result<IssuedToken, WorkflowError> {
    let issued = authority
        .issue(subject, roles, delegate, ttl)
        .map_err(|e| WorkflowError::Invalid(crate::domain::InvalidValue::new("token", e.to_string())))?;
    let role_names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
    let row = TokenRow {
        jti: issued.jti.clone(),
        subject: subject.to_string(),
        roles: role_names.join(","),
        delegate,
        issued_by: actor.to_owned(),
        issued_at: now(),
        expires_at: issued.expires_at,
        revoked_at: None,
        revoked_by: None,
    };
    let details = json!({
        "jti": issued.jti, "roles": role_names, "delegate": delegate, "expires_at": format_millis(issued.expires_at),
    });
    let tx = store.begin().await?;
    credentials::record_token(&tx, row).await?;
    audit::append(&tx, NewEvent::new(actor, "token.issued", Subject::User(subject), details)).await?;
    tx.commit().await?;
    Ok(issued)
}

/// The tokens Elevate issued (to `subject`), newest first.
pub async fn list(store: &Store, subject: Option<&Upn>) -> Result<Vec<TokenRow>, WorkflowError> {
    Ok(credentials::tokens(store.conn(), subject.map(Upn::as_str)).await?)
}

/// Revokes one token by its id: refused on every use from now on, on every replica.
pub async fn revoke(store: &Store, jti: &str, actor: &str) -> Result<TokenRow, WorkflowError> {
    let tx = store.begin().await?;
    let token = credentials::revoke_token(&tx, jti, actor, now())
        .await?
        .ok_or_else(|| WorkflowError::NotFound(format!("token {jti} (see `elevate token list`)")))?;
    let details = json!({ "jti": jti, "subject": token.subject });
    audit::append(&tx, NewEvent::new(actor, "token.revoked", Subject::Token(jti), details)).await?;
    tx.commit().await?;
    Ok(token)
}

/// Revokes every token of `subject` issued until now; how many of Elevate's listed tokens were
/// still live (tokens it never listed are refused all the same).
pub async fn revoke_all_of(store: &Store, subject: &Upn, actor: &str) -> Result<u64, WorkflowError> {
    // Whole seconds, as tokens say when they were issued: a token issued in this second, after
    // the revocation, stays good (one of Elevate's issued before it is marked revoked anyway).
    let at = now() / 1000 * 1000;
    let tx = store.begin().await?;
    let revoked = credentials::cut_off(&tx, subject.as_str(), actor, at).await?;
    let details = json!({ "issued_before": format_millis(at), "listed_tokens_revoked": revoked });
    audit::append(&tx, NewEvent::new(actor, "token.revoked", Subject::User(subject), details)).await?;
    tx.commit().await?;
    Ok(revoked)
}
