//! Signing in to the web pages: the roles a browser session carries, read from the directory
//! once per sign-in, and the `user.signed_in` audit event.
use serde_json::json;

use super::{Broker, WorkflowError};
use crate::{
    domain::{Role, Upn},
    store::{audit, audit::NewEvent},
};

pub use crate::broker::Staff;

/// How the user proved who they are, as recorded in the audit log.
pub enum Method<'a> {
    /// OpenID Connect, with the ID token's `amr` (authentication methods).
    Oidc { amr: &'a [String] },
    /// The demo's pick-a-user page (loopback only); `amr` names `mfa` when the demo was
    /// asked to stand in for a multi-factor sign-in.
    Demo { amr: &'a [String] },
}

/// The roles of `user`'s session, recorded with the sign-in. Everyone may request and (where
/// a profile names them) approve; admin and auditor come from `staff`.
pub async fn sign_in(broker: &Broker, user: &Upn, method: Method<'_>) -> Result<Vec<Role>, WorkflowError> {
    let staff = &broker.staff;
    let mut roles = vec![Role::Requester, Role::Approver];
    if broker.is_among(user, &staff.admins).await? {
        roles.push(Role::Admin);
    }
    if broker.is_among(user, &staff.auditors).await? {
        roles.push(Role::Auditor);
    }
    let role_names: Vec<_> = roles.iter().map(|r| r.as_str()).collect();
    let details = match method {
        Method::Oidc { amr } => json!({ "method": "oidc", "amr": amr, "roles": role_names }),
        Method::Demo { amr } => json!({ "method": "demo", "amr": amr, "roles": role_names }),
    };
    let tx = broker.store.begin().await?;
    audit::append(&tx, NewEvent::new(user.as_str(), "user.signed_in", format!("user:{user}"), details)).await?;
    tx.commit().await?;
    Ok(roles)
}
