//! How a job's attempt ends, and the effects too small for a module of their own. Every
//! handler is idempotent: it may run again after a crash at any point and ends in the same
//! state, so the worker can retry blindly.
use std::time::Duration;

use serde_json::json;

use crate::{
    broker::Broker,
    domain::GroupId,
    providers::directory::DirectoryError,
    store::{StoreError, audit, audit::NewEvent, grants, jobs::Job},
};

#[derive(Debug, thiserror::Error)]
pub enum EffectError {
    #[error("{message}")]
    Retry { message: String, after: Option<Duration> },
    #[error("{0}")]
    Permanent(String),
    #[error("storage failed: {0}")]
    Store(#[from] StoreError),
    /// The job's lease was taken over by another worker: this attempt's result is not written.
    #[error("the job's lease was taken over by another worker")]
    Fenced,
}

impl From<sea_orm::DbErr> for EffectError {
    fn from(e: sea_orm::DbErr) -> Self {
        Self::Store(e.into())
    }
}

impl From<DirectoryError> for EffectError {
    fn from(e: DirectoryError) -> Self {
        match e {
            DirectoryError::Transient { message, retry_after } => Self::Retry { message, after: retry_after },
            other => Self::Permanent(other.to_string()),
        }
    }
}

/// Pushes the grant's membership change to the provisioned app now. Best effort: the grant
/// does not wait for it, and the regular provisioning cycle catches up if it fails for good.
pub async fn provision(broker: &Broker, job: &Job) -> Result<(), EffectError> {
    let Some(id) = &job.grant_id else {
        return Err(EffectError::Permanent(format!("job {} names no grant", job.id)));
    };
    let Some(g) = grants::get(broker.store.conn(), id).await? else { return Ok(()) };
    let group = GroupId::parse(&g.group_id).map_err(|e| EffectError::Permanent(e.to_string()))?;
    broker.directory.provision_now(&group, &g.user_id).await?;
    let tx = broker.store.begin().await?;
    let details = json!({ "group": g.group_id, "user": g.upn, "grant": g.id, "state": g.state.as_str() });
    audit::append(&tx, NewEvent::new("system", "membership.provisioned", format!("request:{}", g.request_id), details))
        .await?;
    tx.commit().await?;
    Ok(())
}
