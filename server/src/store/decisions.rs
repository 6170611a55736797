//! Approval decisions.
use entity::decisions;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};

use super::{StoreError, is_unique_violation};
use crate::domain::{RequestId, now};

pub use decisions::Model as Decision;

/// Was this decision an approval (else a denial)?
pub fn is_approval(d: &Decision) -> bool {
    d.decision == "approve"
}

pub struct NewDecision<'a> {
    pub request_id: &'a RequestId,
    pub approver: &'a str,
    pub stage: i32,
    pub approve: bool,
    pub comment: Option<&'a str>,
}

/// Records a decision; `Ok(false)` when this approver already decided this request.
pub async fn insert(c: &impl ConnectionTrait, d: NewDecision<'_>) -> Result<bool, StoreError> {
    let row = decisions::ActiveModel {
        request_id: Set(d.request_id.clone()),
        approver: Set(d.approver.to_owned()),
        stage: Set(d.stage),
        decision: Set(if d.approve { "approve" } else { "deny" }.to_owned()),
        comment: Set(d.comment.map(str::to_owned)),
        decided_at: Set(now()),
        ..Default::default()
    };
    match decisions::Entity::insert(row).exec_without_returning(c).await {
        Ok(_) => Ok(true),
        Err(e) if is_unique_violation(&e) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

pub async fn for_request(
    c: &impl ConnectionTrait,
    request_id: &RequestId,
) -> Result<Vec<decisions::Model>, StoreError> {
    Ok(decisions::Entity::find()
        .filter(decisions::Column::RequestId.eq(request_id.clone()))
        .order_by_asc(decisions::Column::Id)
        .all(c)
        .await?)
}

/// The decisions about `request_ids`, in the order they were made, in one query.
pub async fn for_requests(
    c: &impl ConnectionTrait,
    request_ids: &[RequestId],
) -> Result<Vec<decisions::Model>, StoreError> {
    Ok(decisions::Entity::find()
        .filter(decisions::Column::RequestId.is_in(request_ids.iter().cloned()))
        .order_by_asc(decisions::Column::Id)
        .all(c)
        .await?)
}

pub async fn approvals_at_stage(
    c: &impl ConnectionTrait,
    request_id: &RequestId,
    stage: i32,
) -> Result<u64, StoreError> {
    Ok(decisions::Entity::find()
        .filter(decisions::Column::RequestId.eq(request_id.clone()))
        .filter(decisions::Column::Stage.eq(stage))
        .filter(decisions::Column::Decision.eq("approve"))
        .count(c)
        .await?)
}

pub async fn has_decided(c: &impl ConnectionTrait, request_id: &RequestId, approver: &str) -> Result<bool, StoreError> {
    Ok(decisions::Entity::find()
        .filter(decisions::Column::RequestId.eq(request_id.clone()))
        .filter(decisions::Column::Approver.eq(approver))
        .count(c)
        .await?
        > 0)
}
