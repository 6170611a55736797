//! How a job's attempt ends, and the effects too small for a module of their own. Every
//! handler is idempotent: it may run again after a crash at any point and ends in the same
//! state, so the worker can retry blindly.
use std::time::Duration;

use serde_json::json;

use crate::{
    broker::Broker,
    domain::GroupId,
    providers::directory::DirectoryError,
    store::{
        StoreError, audit,
        audit::{NewEvent, Subject},
        grants,
        jobs::Job,
    },
    telemetry::error_chain,
};

#[derive(Debug, thiserror::Error)]
pub enum EffectError {
    /// Worth another attempt, after `after` when the peer asked for that.
    #[error("{message}")]
    Retry { message: String, after: Option<Duration> },
    /// Will fail again however often it is tried; the cause is kept whole (its sources too).
    #[error(transparent)]
    Permanent(Box<dyn std::error::Error + Send + Sync>),
    #[error("storage failed: {0}")]
    Store(#[from] StoreError),
    /// The job's lease was taken over by another worker: this attempt's result is not written.
    #[error("the job's lease was taken over by another worker")]
    Fenced,
}

/// How a job stands once its effect succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finished {
    /// The worker records the job as done.
    ToRecord,
    /// The effect's last commit recorded it, fenced by the lease, with what it wrote: one
    /// commit fewer per job, and no window in which the work is done but the job is not.
    Recorded,
}

impl From<sea_orm::DbErr> for EffectError {
    fn from(e: sea_orm::DbErr) -> Self {
        Self::Store(e.into())
    }
}

impl EffectError {
    /// A failure that another attempt will not mend: a message, or an error with its sources.
    pub fn permanent(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Permanent(cause.into())
    }
}

impl From<DirectoryError> for EffectError {
    fn from(e: DirectoryError) -> Self {
        match e {
            // The whole chain in the message: what failed underneath is recorded with the attempt.
            DirectoryError::Transient { retry_after, .. } => {
                Self::Retry { message: error_chain(&e), after: retry_after }
            }
            other => Self::permanent(other),
        }
    }
}

/// Pushes the grant's membership change to the provisioned app now. Best effort: the grant
/// does not wait for it, and the regular provisioning cycle catches up if it fails for good.
pub async fn provision(broker: &Broker, job: &Job) -> Result<(), EffectError> {
    let Some(id) = &job.grant_id else {
        return Err(EffectError::permanent(format!("job {} names no grant", job.id)));
    };
    let Some(g) = grants::get(broker.store.conn(), id).await? else { return Ok(()) };
    let group = GroupId::parse(&g.group_id).map_err(EffectError::permanent)?;
    broker.directory.provision_now(&group, &g.user_id).await?;
    let tx = broker.store.begin().await?;
    let details = json!({ "group": g.group_id, "user": g.upn, "grant": g.id, "state": g.state.as_str() });
    audit::append(&tx, NewEvent::system("membership.provisioned", Subject::Request(&g.request_id), details)).await?;
    tx.commit().await?;
    Ok(())
}
