//! Grants: one membership of one user in one directory group, caused by one approved request.
use sea_orm::entity::prelude::*;

pub use crate::ids::{GrantId, RequestId};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "grants")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: GrantId,
    #[sea_orm(unique)]
    pub request_id: RequestId,
    pub user_id: String,
    pub upn: String,
    pub group_id: String,
    pub state: GrantState,
    /// The user was already a member before Elevate touched the group for them (copied from
    /// the membership when the grant activates, for the record; `memberships.standing` decides).
    pub standing: Option<bool>,
    /// The first attempt to add the membership: the grant's window starts here, so a crash
    /// between the directory's add and its confirmation never lengthens access.
    pub activated_at: Option<i64>,
    /// Fixed once, at the first attempt to add: `activated_at + duration` (or an extension's end).
    pub expires_at: Option<i64>,
    pub ended_at: Option<i64>,
    /// What ending the grant did to the membership: `removed`, `kept_standing`, `kept_overlap`.
    pub end_outcome: Option<String>,
    /// When the Identity Center membership was confirmed removed (Identity Center profiles).
    pub ic_ended_at: Option<i64>,
}

/// Where a grant is. `Activating` and `Active` grants (until `expires_at`) want the membership;
/// `Ending` ones wait for the membership sync to record what their end did; `Ended` is final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum GrantState {
    #[sea_orm(string_value = "activating")]
    Activating,
    #[sea_orm(string_value = "active")]
    Active,
    #[sea_orm(string_value = "ending")]
    Ending,
    #[sea_orm(string_value = "ended")]
    Ended,
}

impl GrantState {
    /// States in which the grant asks for the membership (an `Active` one until its end).
    pub const WANTING: [GrantState; 2] = [GrantState::Activating, GrantState::Active];
    /// States the membership sync still has to act on.
    pub const OPEN: [GrantState; 3] = [GrantState::Activating, GrantState::Active, GrantState::Ending];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Activating => "activating",
            Self::Active => "active",
            Self::Ending => "ending",
            Self::Ended => "ended",
        }
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// What Elevate knows of the membership the grant covers (no row until its first sync).
    #[sea_orm(
        belongs_to = "super::memberships::Entity",
        from = "(Column::UserId, Column::GroupId)",
        to = "(super::memberships::Column::UserId, super::memberships::Column::GroupId)"
    )]
    Membership,
}

impl ActiveModelBehavior for ActiveModel {}
