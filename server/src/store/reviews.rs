//! After-the-fact reviews of break-glass requests: one per request.
use entity::{break_glass_reviews as reviews, requests as rows};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};

use super::{StoreError, requests::Request};
use crate::domain::RequestId;

pub type Review = reviews::Model;

pub async fn get(c: &impl ConnectionTrait, request_id: &RequestId) -> Result<Option<Review>, StoreError> {
    Ok(reviews::Entity::find_by_id(request_id.clone()).one(c).await?)
}

/// The reviews of `request_ids`, in one query.
pub async fn for_requests(c: &impl ConnectionTrait, request_ids: &[RequestId]) -> Result<Vec<Review>, StoreError> {
    Ok(reviews::Entity::find().filter(reviews::Column::RequestId.is_in(request_ids.iter().cloned())).all(c).await?)
}

/// Records a review; `false` when the request already has one (the primary key refuses it).
pub async fn insert(c: &impl ConnectionTrait, review: Review) -> Result<bool, StoreError> {
    let row: reviews::ActiveModel = review.into();
    let inserted = reviews::Entity::insert(row).on_conflict_do_nothing().exec_without_returning(c).await?;
    Ok(matches!(inserted, sea_orm::TryInsertResult::Inserted(n) if n > 0))
}

/// Break-glass requests nobody has reviewed yet, oldest first.
pub async fn unreviewed(c: &impl ConnectionTrait) -> Result<Vec<Request>, StoreError> {
    let reviewed: Vec<RequestId> = reviews::Entity::find().all(c).await?.into_iter().map(|r| r.request_id).collect();
    Ok(rows::Entity::find()
        .filter(rows::Column::BreakGlass.eq(true))
        .filter(rows::Column::Id.is_not_in(reviewed))
        .order_by_asc(rows::Column::CreatedAt)
        .all(c)
        .await?)
}
