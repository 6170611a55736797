//! Running Elevate processes (workers), with their heartbeat: a job whose owner has not been
//! seen for a few seconds is taken over by another process.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "processes")]
pub struct Model {
    /// Unique per process start; job leases name it.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// What stays the same across restarts of one deployment unit (host and listening port):
    /// a process retakes at once the jobs of earlier processes with its node.
    pub node: String,
    pub started_at: i64,
    pub seen_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
