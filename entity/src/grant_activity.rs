//! What a grant's AWS role session did, from CloudTrail: one row per grant, replaced whole by
//! each collection (from the files it settled before and those it read now, so a collection
//! that runs twice counts nothing twice).
use sea_orm::entity::prelude::*;

pub use crate::ids::{GrantId, RequestId};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "grant_activity")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub grant_id: GrantId,
    #[sea_orm(unique)]
    pub request_id: RequestId,
    /// The window the summary covers (the grant's start, and its end or the collection's time).
    pub window_from: i64,
    pub window_to: i64,
    /// The last collection that read every file of the window.
    pub collected_at: Option<i64>,
    /// The grant had ended and CloudTrail's delivery delay had passed: nothing more will come.
    pub complete: bool,
    /// The summary as JSON (the server's `providers::aws::activity::Activity`).
    pub summary: Option<String>,
    /// The files already summed for good, and their sum, as JSON (the server's
    /// `providers::aws::activity::Progress`): the next collection reads only what follows.
    pub progress: Option<String>,
    /// Why the last attempt could not read the logs (it is tried again), until one succeeds.
    pub last_error: Option<String>,
    pub failed_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
