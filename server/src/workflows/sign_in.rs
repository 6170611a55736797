//! Signing in to the web pages: who signed in, as the directory names them (by the object id
//! the identity provider gave, or a name it vouches for), the roles the session carries, read
//! from the directory, and the `user.signed_in` audit event.
use serde_json::json;

use super::{Broker, WorkflowError, identify};
use crate::{
    auth::oidc::Claimed,
    domain::{Role, Upn},
    policy::Principals,
    providers::directory::{DirectoryError, DirectoryUser},
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

/// The directory user an identity provider's token names: by object id, or by a name the
/// provider vouches for; `Forbidden` when the directory has no such user.
pub async fn user_of(broker: &Broker, claimed: &Claimed) -> Result<DirectoryUser, WorkflowError> {
    match claimed {
        Claimed::ObjectId { oid, .. } => identify::user_by_object_id(broker, oid).await,
        Claimed::Name(name) => match broker.directory.resolve_user(name.as_str()).await {
            Ok(user) => Ok(user),
            Err(DirectoryError::NotFound(_)) => {
                Err(WorkflowError::Forbidden(format!("{name} is not a user of this directory")))
            }
            Err(e) => Err(WorkflowError::Directory(e)),
        },
    }
}

/// Is `user` among `principals`? Users named in configuration are matched by the directory
/// object they resolve to, not by spelling; groups by (transitive) membership. Asked afresh.
async fn is_staff(broker: &Broker, user: &DirectoryUser, principals: &Principals) -> Result<bool, WorkflowError> {
    for named in &principals.users {
        match broker.directory.resolve_user(named.as_str()).await {
            Ok(found) if found.id == user.id => return Ok(true),
            Ok(_) | Err(DirectoryError::NotFound(_)) => {}
            Err(e) => return Err(WorkflowError::Directory(e)),
        }
    }
    if principals.groups.is_empty() {
        return Ok(false);
    }
    let groups = broker.directory.groups_of(&user.id).await.map_err(WorkflowError::Directory)?;
    Ok(principals.groups.iter().any(|g| groups.contains(g)))
}

/// The roles of `user`'s session, recorded with the sign-in. Everyone may request and (where
/// a profile names them) approve; admin and auditor come from `staff`.
pub async fn sign_in(broker: &Broker, user: &DirectoryUser, method: Method<'_>) -> Result<Vec<Role>, WorkflowError> {
    let staff = &broker.staff;
    let mut roles = vec![Role::Requester, Role::Approver];
    if is_staff(broker, user, &staff.admins).await? {
        roles.push(Role::Admin);
    }
    if is_staff(broker, user, &staff.auditors).await? {
        roles.push(Role::Auditor);
    }
    let role_names: Vec<_> = roles.iter().map(|r| r.as_str()).collect();
    let details = match method {
        Method::Oidc { amr } => json!({ "method": "oidc", "amr": amr, "roles": role_names, "object_id": user.id }),
        Method::Demo { amr } => json!({ "method": "demo", "amr": amr, "roles": role_names, "object_id": user.id }),
    };
    let upn: &Upn = &user.upn;
    let tx = broker.store.begin().await?;
    audit::append(&tx, NewEvent::new(upn.as_str(), "user.signed_in", format!("user:{upn}"), details)).await?;
    tx.commit().await?;
    Ok(roles)
}
