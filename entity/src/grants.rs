//! Grants: one membership of one user in one directory group, caused by one approved request.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "grants")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    #[sea_orm(unique)]
    pub request_id: String,
    pub user_id: String,
    pub upn: String,
    pub group_id: String,
    /// `activating`, `active`, `ending`, `ended`.
    pub state: String,
    /// The user was already a member before Elevate touched the group for them: ending the
    /// grant must leave that membership alone.
    /// `None` until the directory has been asked, once, before Elevate's first add.
    pub standing: Option<bool>,
    pub activated_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub ended_at: Option<i64>,
    /// What ending the grant did to the membership: `removed`, `kept_standing`, `kept_overlap`.
    pub end_outcome: Option<String>,
    /// When the Identity Center membership was confirmed removed (Identity Center profiles).
    pub ic_ended_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
