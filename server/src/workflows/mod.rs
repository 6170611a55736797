//! Use cases: one file each. A workflow checks who may do what, changes state through the
//! domain's state machine, and writes the change, its outbox jobs and its audit event in one
//! transaction.
pub mod activity;
pub mod authz;
pub mod aws_mapping;
pub mod cancel;
pub mod chat_decision;
pub mod configuration;
pub mod decide;
pub mod extend;
pub mod identify;
pub mod link_decision;
mod on_call;
pub mod queries;
pub mod reconcile;
pub mod remind;
pub mod request_access;
pub mod review;
pub mod revoke;
pub mod sign_in;
pub mod timeout;
pub mod tokens;

pub use crate::broker::{Broker, Freshness};
use crate::{
    domain::{Caller, InvalidValue, RequestEvent, TransitionError, Upn},
    policy::Principals,
    providers::directory::DirectoryError,
    store::{StoreError, requests::Request},
};

#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    #[error(transparent)]
    Invalid(#[from] InvalidValue),
    #[error("{0} not found")]
    NotFound(String),
    /// A request that should come from a chat app (Teams, Slack) does not prove it.
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Conflict(String),
    /// A `require_mfa` profile, and the caller has not proved a second factor recently (or
    /// files for someone else, who cannot prove one through it).
    #[error("{0}")]
    MfaRequired(String),
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// An emailed link that was spent already (by an earlier confirmation).
    #[error("this link has already been used")]
    LinkUsed,
    /// An emailed link made for an earlier stage or version of the request.
    #[error("the request changed since this link was sent; open it in Elevate to see where it stands")]
    LinkOutdated,
    #[error("the directory could not be reached")]
    Directory(#[source] DirectoryError),
    #[error("storage failed")]
    Store(#[source] StoreError),
}

impl From<StoreError> for WorkflowError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Transition(t) => Self::Transition(t),
            other => Self::Store(other),
        }
    }
}

impl From<crate::domain::NotAnId> for WorkflowError {
    fn from(e: crate::domain::NotAnId) -> Self {
        Self::Invalid(e.into())
    }
}

impl From<sea_orm::DbErr> for WorkflowError {
    fn from(e: sea_orm::DbErr) -> Self {
        Self::Store(e.into())
    }
}

/// What only workflows ask of the broker.
impl Broker {
    /// Is `upn` one of `principals`, by name or by (transitive) group membership? Asks the
    /// directory now.
    pub async fn is_among(&self, upn: &Upn, principals: &Principals) -> Result<bool, WorkflowError> {
        self.is_among_as(upn, principals, Freshness::Fresh).await
    }

    /// [`Broker::is_among`], from an answer as fresh as `freshness` asks.
    pub async fn is_among_as(
        &self,
        upn: &Upn,
        principals: &Principals,
        freshness: Freshness,
    ) -> Result<bool, WorkflowError> {
        if principals.users.contains(upn) {
            return Ok(true);
        }
        if principals.groups.is_empty() {
            return Ok(false);
        }
        let groups = self.groups_of_user(upn, freshness).await?;
        Ok(groups.is_some_and(|groups| principals.include(upn, &groups)))
    }

    /// The user's transitive groups; `None` when the directory does not know them.
    async fn groups_of_user(
        &self,
        upn: &Upn,
        freshness: Freshness,
    ) -> Result<crate::broker::KnownGroups, WorkflowError> {
        if let Some(known) = self.groups_cache.get(upn, freshness) {
            return Ok(known);
        }
        // One directory call: the groups of the user the UPN names.
        let groups = match self.directory.groups_of(upn.as_str()).await {
            Ok(groups) => Some(groups.into()),
            Err(DirectoryError::NotFound(_)) => None,
            Err(e) => return Err(WorkflowError::Directory(e)),
        };
        // A fresh answer serves the next display too.
        self.groups_cache.put(upn, groups.clone());
        Ok(groups)
    }
}

impl From<crate::broker::ProfileGone> for WorkflowError {
    fn from(e: crate::broker::ProfileGone) -> Self {
        Self::Conflict(e.to_string())
    }
}

/// Loads a request for a change (locked until the transaction ends) or says it does not exist.
async fn load_for_update(tx: &sea_orm::DatabaseTransaction, id: &str) -> Result<Request, WorkflowError> {
    let id = crate::domain::RequestId::parse(id)?;
    crate::store::requests::get_for_update(tx, &id)
        .await?
        .ok_or_else(|| WorkflowError::NotFound(format!("request {id}")))
}

/// A caller's change of a request's status, written in `tx`: the request locked, the caller
/// authorised for `action`, and the state machine's answer to `event` stored. Returns the
/// request before and after; the caller adds its audit event and effects, then commits.
async fn change_status(
    broker: &Broker,
    tx: &sea_orm::DatabaseTransaction,
    caller: &Caller,
    id: &str,
    (action, event): (authz::Action, RequestEvent),
) -> Result<(Request, Request), WorkflowError> {
    let request = load_for_update(tx, id).await?;
    authz::check(broker, caller, action, Some(&request)).await?;
    let after = apply(&request, event)?;
    let after = crate::store::requests::update(tx, &request, after).await?;
    Ok((request, after))
}

/// The request after `event`, or the typed refusal of the state machine.
fn apply(request: &Request, event: RequestEvent) -> Result<Request, WorkflowError> {
    Ok(crate::store::requests::after(request, event)?)
}

fn is_requester(caller: &Caller, request: &Request) -> bool {
    caller.upn.as_str() == request.requester
}
