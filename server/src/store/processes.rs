//! Process heartbeats: each worker process has a row it renews every couple of seconds, so
//! the jobs of a process that died are taken over within seconds instead of a whole lease.
use entity::processes;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, ExprTrait, QueryFilter, sea_query::Expr};

use super::StoreError;
use crate::domain::now;

pub async fn register(c: &impl ConnectionTrait, id: &str, host: &str, pid: u32) -> Result<(), StoreError> {
    let at = now();
    let row = processes::ActiveModel {
        id: Set(id.to_owned()),
        host: Set(host.to_owned()),
        pid: Set(i64::from(pid)),
        started_at: Set(at),
        seen_at: Set(at),
    };
    processes::Entity::insert(row).exec_without_returning(c).await?;
    Ok(())
}

/// Records that the process is alive; false if its row is gone (then it registers again).
pub async fn beat(c: &impl ConnectionTrait, id: &str) -> Result<bool, StoreError> {
    let res = processes::Entity::update_many()
        .col_expr(processes::Column::SeenAt, Expr::value(now()))
        .filter(processes::Column::Id.eq(id))
        .exec(c)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Processes registered on `host` (other than `me`) that no longer run there: they died
/// without leaving (a crash, `kill -9`). Only answerable where `/proc` lists processes;
/// elsewhere none are found and their jobs wait for the heartbeat to go stale.
pub async fn dead_on_host(c: &impl ConnectionTrait, host: &str, me: &str) -> Result<Vec<String>, StoreError> {
    let proc = std::path::Path::new("/proc");
    if !proc.join("self").exists() {
        return Ok(Vec::new());
    }
    let rows = processes::Entity::find()
        .filter(processes::Column::Host.eq(host))
        .filter(processes::Column::Id.ne(me))
        .all(c)
        .await?;
    Ok(rows.into_iter().filter(|p| !proc.join(p.pid.to_string()).exists()).map(|p| p.id).collect())
}

/// Forgets processes known to be gone.
pub async fn forget(c: &impl ConnectionTrait, ids: &[String]) -> Result<(), StoreError> {
    processes::Entity::delete_many().filter(processes::Column::Id.is_in(ids.iter().cloned())).exec(c).await?;
    Ok(())
}

/// A process that stops gracefully leaves; rows of processes that died are forgotten after a
/// day (their jobs were taken over long before).
pub async fn leave(c: &impl ConnectionTrait, id: &str) -> Result<(), StoreError> {
    let day_ago = now() - 24 * 3600 * 1000;
    processes::Entity::delete_many()
        .filter(processes::Column::Id.eq(id).or(processes::Column::SeenAt.lt(day_ago)))
        .exec(c)
        .await?;
    Ok(())
}
