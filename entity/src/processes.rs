//! Running Elevate processes (workers), with their heartbeat: a job whose owner has not been
//! seen for a few seconds is taken over by another process.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "processes")]
pub struct Model {
    /// Unique per process start; job leases name it.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// The host it runs on, and its process id there: a process starting on a host takes back
    /// at once the jobs of the processes of that host that are no longer running.
    pub host: String,
    pub pid: i64,
    pub started_at: i64,
    pub seen_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
