//! Signing in to the web pages: who signed in, as the directory names them (by the object id
//! the identity provider gave, or a name it vouches for), the server-side session and the
//! roles it carries (read from the directory at sign-in and again every `auth.session_roles_ttl`), the
//! `user.signed_in` event; signing out and revoking a user's sessions, audited.
use serde_json::json;

use super::{Broker, WorkflowError, identify};
use crate::{
    auth::{SessionKey, oidc::Claimed},
    domain::{Role, Upn, now},
    policy::Principals,
    providers::directory::{DirectoryError, DirectoryUser},
    store::{
        Store, StoreError, audit,
        audit::{NewEvent, Subject},
        credentials::{self, Session, SessionsOf},
        users,
    },
    telemetry::error_chain,
};

/// The signed-in user of a live session.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub user: Upn,
    pub roles: Vec<Role>,
    pub mfa_at: Option<i64>,
}

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
async fn is_staff(broker: &Broker, user_id: &str, principals: &Principals) -> Result<bool, WorkflowError> {
    for named in &principals.users {
        match broker.directory.resolve_user(named.as_str()).await {
            Ok(found) if found.id == user_id => return Ok(true),
            Ok(_) | Err(DirectoryError::NotFound(_)) => {}
            Err(e) => return Err(WorkflowError::Directory(e)),
        }
    }
    if principals.groups.is_empty() {
        return Ok(false);
    }
    let groups = broker.directory.groups_of(user_id).await.map_err(WorkflowError::Directory)?;
    Ok(principals.groups.iter().any(|g| groups.contains(g)))
}

/// Everyone may request and (where a profile names them) approve; admin and auditor come
/// from `auth.admins` and `auth.auditors`, asked afresh.
async fn roles_of(broker: &Broker, user_id: &str) -> Result<Vec<Role>, WorkflowError> {
    let staff = &broker.staff;
    let mut roles = vec![Role::Requester, Role::Approver];
    if is_staff(broker, user_id, &staff.admins).await? {
        roles.push(Role::Admin);
    }
    if is_staff(broker, user_id, &staff.auditors).await? {
        roles.push(Role::Auditor);
    }
    Ok(roles)
}

fn role_list(roles: &[Role]) -> String {
    roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(",")
}

/// Starts `user`'s session under `key` and records the sign-in; the session's roles.
pub async fn sign_in(
    broker: &Broker,
    user: &DirectoryUser,
    method: Method<'_>,
    key: &SessionKey,
    ttl: std::time::Duration,
    mfa_at: Option<i64>,
) -> Result<Vec<Role>, WorkflowError> {
    let roles = roles_of(broker, &user.id).await?;
    let role_names: Vec<_> = roles.iter().map(|r| r.as_str()).collect();
    let amr = match method {
        Method::Oidc { amr } | Method::Demo { amr } => amr,
    };
    let method_name = match method {
        Method::Oidc { .. } => "oidc",
        Method::Demo { .. } => "demo",
    };
    let details = json!({ "method": method_name, "amr": amr, "roles": role_names, "object_id": user.id });
    let at = now();
    let session = Session {
        key_hash: key.hash.clone(),
        subject: user.upn.to_string(),
        user_id: user.id.clone(),
        roles: role_list(&roles),
        amr: amr.join(","),
        mfa_at,
        created_at: at,
        expires_at: at + i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 2),
        roles_checked_at: at,
        ended_at: None,
        ended_by: None,
    };
    let upn: &Upn = &user.upn;
    let tx = broker.store.begin().await?;
    credentials::insert_session(&tx, session).await?;
    audit::append(&tx, NewEvent::new(upn.as_str(), "user.signed_in", Subject::User(upn), details)).await?;
    tx.commit().await?;
    Ok(roles)
}

/// The live session a cookie's key opens, its roles read again from the directory when older
/// than `auth.session_roles_ttl` (a user the directory no longer has is signed out; while the directory
/// cannot be asked, the session keeps only the roles everyone has).
pub async fn session(broker: &Broker, cookie_value: &str) -> Result<Option<SignedIn>, WorkflowError> {
    let hash = crate::auth::key_hash(cookie_value);
    let at = now();
    let Some(row) = credentials::live_session(broker.store.conn(), &hash, at).await? else { return Ok(None) };
    let user = Upn::parse(&row.subject).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let mut roles: Vec<Role> = row.roles.split(',').filter_map(Role::parse).collect();
    if at - row.roles_checked_at > i64::try_from(broker.staff.roles_ttl.as_millis()).unwrap_or(i64::MAX) {
        match roles_of(broker, &row.user_id).await {
            Ok(fresh) => {
                credentials::set_session_roles(broker.store.conn(), &hash, &role_list(&fresh), at).await?;
                roles = fresh;
            }
            Err(WorkflowError::Directory(DirectoryError::NotFound(_))) => {
                end(&broker.store, SessionsOf::Key(&hash), "system", "session.ended", &user).await?;
                return Ok(None);
            }
            Err(e) => {
                tracing::warn!(error = %error_chain(&e), user = %user, "a session's roles could not be read again");
                roles.retain(|r| matches!(r, Role::Requester | Role::Approver));
            }
        }
    }
    Ok(Some(SignedIn { user, roles, mfa_at: row.mfa_at }))
}

/// Ends the session of this cookie (sign-out).
pub async fn sign_out(broker: &Broker, cookie_value: &str) -> Result<(), WorkflowError> {
    let hash = crate::auth::key_hash(cookie_value);
    let Some(row) = credentials::live_session(broker.store.conn(), &hash, now()).await? else { return Ok(()) };
    let user = Upn::parse(&row.subject).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    end(&broker.store, SessionsOf::Key(&hash), user.as_str(), "user.signed_out", &user).await?;
    Ok(())
}

/// Ends every live session of `user` at once (`elevate session revoke`); how many.
pub async fn revoke_sessions(store: &Store, user: &Upn, by: &str) -> Result<u64, StoreError> {
    end(store, SessionsOf::Subject(user.as_str()), by, "session.revoked", user).await
}

/// Ends the sessions `which` names and audits it, in one transaction; how many ended.
async fn end(
    store: &Store,
    which: SessionsOf<'_>,
    by: &str,
    action: &'static str,
    user: &Upn,
) -> Result<u64, StoreError> {
    let tx = store.begin().await?;
    let ended = credentials::end_sessions(&tx, which, by, now()).await?;
    audit::append(&tx, NewEvent::new(by, action, Subject::User(user), json!({ "sessions": ended }))).await?;
    tx.commit().await?;
    Ok(ended)
}

/// The users of the local directory, by UPN with their names, for the demo's sign-in page.
pub async fn demo_users(broker: &Broker) -> Result<Vec<(String, String)>, WorkflowError> {
    Ok(users::all(broker.store.conn()).await?.into_iter().map(|u| (u.upn, u.display_name)).collect())
}
