//! What Elevate knows of one user's membership in one directory group, across all the grants
//! that ever covered it. The membership sync reads and writes it under the key's job lock.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "memberships")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub group_id: String,
    pub upn: String,
    /// The user was a member before Elevate first added them: no grant's end removes that.
    /// `None` until the directory has been asked, once, before Elevate's first add.
    pub standing: Option<bool>,
    /// When Elevate first tried to add the membership (recorded before the call) and has not
    /// confirmed its removal since: while set, the user may be a member because of Elevate.
    pub added_at: Option<i64>,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
