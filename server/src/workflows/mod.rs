//! Use cases: one file each. A workflow checks who may do what, changes state through the
//! domain's state machine, and writes the change, its outbox jobs and its audit event in one
//! transaction.
pub mod authz;
pub mod aws_mapping;
pub mod cancel;
pub mod decide;
pub mod extend;
pub mod link_decision;
pub mod queries;
pub mod reconcile;
pub mod remind;
pub mod request_access;
pub mod review;
pub mod revoke;
pub mod sign_in;
pub mod timeout;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use tokio::sync::Notify;

use crate::{
    domain::{Caller, InvalidValue, RequestEvent, TransitionError, Upn},
    policy::{Policy, Principals, Profile},
    providers::directory::{DirectoryError, DirectoryProvider, DirectoryUser},
    store::{Store, StoreError, requests::Request},
};

/// Everything a workflow needs, shared by the HTTP server, the worker and the CLI.
#[derive(Clone)]
pub struct Broker {
    pub store: Store,
    pub policy: Arc<Policy>,
    pub directory: Arc<dyn DirectoryProvider>,
    /// Wakes the worker when a job was written, so effects start at once.
    pub wake: Arc<Notify>,
    /// Drift already reported (membership key → when), so that report mode says it once a
    /// day rather than on every pass.
    pub reported_drift: Arc<Mutex<HashMap<String, Instant>>>,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// AWS IAM, when `[aws]` is configured.
    pub aws: Option<Arc<aws_mapping::AwsMapping>>,
    /// Mail, chat webhooks and the signed links of emailed decisions.
    pub notifier: Arc<crate::notify::Notifier>,
    /// Who is an admin or auditor (`auth.admins`, `auth.auditors`): the web pages' roles, and
    /// whom a break-glass activation is told to.
    pub staff: Arc<sign_in::Staff>,
    /// Requests one user may have waiting for a decision (`limits.max_pending_per_user`; 0: no cap).
    pub max_pending_per_user: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    #[error(transparent)]
    Invalid(#[from] InvalidValue),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Conflict(String),
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
    Store(#[from] StoreError),
}

impl From<sea_orm::DbErr> for WorkflowError {
    fn from(e: sea_orm::DbErr) -> Self {
        Self::Store(e.into())
    }
}

impl Broker {
    pub fn profile_of(&self, request: &Request) -> Result<&Profile, WorkflowError> {
        self.policy
            .find(&request.profile)
            .ok_or_else(|| WorkflowError::Conflict(format!("profile {} is no longer in the policy", request.profile)))
    }

    /// Is `upn` one of `principals`, by name or by (transitive) group membership?
    pub async fn is_among(&self, upn: &Upn, principals: &Principals) -> Result<bool, WorkflowError> {
        if principals.users.contains(upn) {
            return Ok(true);
        }
        if principals.groups.is_empty() {
            return Ok(false);
        }
        let user = match self.directory.resolve_user(upn.as_str()).await {
            Ok(user) => user,
            Err(DirectoryError::NotFound(_)) => return Ok(false),
            Err(e) => return Err(WorkflowError::Directory(e)),
        };
        let groups = self.directory.groups_of(&user.id).await.map_err(WorkflowError::Directory)?;
        Ok(principals.groups.iter().any(|g| groups.contains(g)))
    }

    /// Everyone `principals` names: the users, and the members of the groups (a group or
    /// user the directory does not know is skipped). Each person once.
    pub async fn people_among(&self, principals: &Principals) -> Result<Vec<DirectoryUser>, DirectoryError> {
        let mut people: Vec<DirectoryUser> = Vec::new();
        for upn in &principals.users {
            match self.directory.resolve_user(upn.as_str()).await {
                Ok(user) => people.push(user),
                Err(DirectoryError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        for group in &principals.groups {
            match self.directory.list_members(group).await {
                Ok(members) => people.extend(members),
                Err(DirectoryError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        people.sort_by(|a, b| a.upn.cmp(&b.upn));
        people.dedup_by(|a, b| a.upn == b.upn);
        Ok(people)
    }

    /// The risk tier of the profile's AWS role, once AWS has been asked.
    pub fn risk_tier(&self, profile: &Profile) -> Option<String> {
        self.aws.as_ref()?.risk.get(profile.key.as_str()).map(|r| r.as_str().to_owned())
    }

    /// True the first time in a day that drift on this membership is seen by this process.
    pub fn first_report(&self, key: &str) -> bool {
        let mut seen = self.reported_drift.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        seen.retain(|_, at| now.duration_since(*at) < Duration::from_secs(24 * 3600));
        seen.insert(key.to_owned(), now).is_none()
    }

    /// Tells the worker that new jobs may be due.
    pub fn wake_worker(&self) {
        self.wake.notify_one();
    }
}

/// Loads a request for a change (locked until the transaction ends) or says it does not exist.
async fn load_for_update(tx: &sea_orm::DatabaseTransaction, id: &str) -> Result<Request, WorkflowError> {
    let id = crate::domain::RequestId::parse(id)?;
    crate::store::requests::get_for_update(tx, &id.to_string())
        .await?
        .ok_or_else(|| WorkflowError::NotFound(format!("request {id}")))
}

/// The request after `event`, or the typed refusal of the state machine.
fn apply(request: &Request, event: RequestEvent) -> Result<Request, WorkflowError> {
    let from = crate::domain::RequestStatus::parse(&request.status)
        .ok_or_else(|| StoreError::Corrupt(format!("request {} has status {:?}", request.id, request.status)))?;
    let to = from.on(event)?;
    Ok(Request { status: to.as_str().to_owned(), ..request.clone() })
}

fn is_requester(caller: &Caller, request: &Request) -> bool {
    caller.upn.as_str() == request.requester
}
