//! Setting when grants end (or scheduled ones start), straight in the database: tests and the
//! benchmark that need many grants to end together, or a window to open at a known instant,
//! set the instant instead of racing a short duration against the machine's speed.
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr};

/// Moves the end of these requests' grants to `at` (Unix ms), with the membership syncs that
/// were due at the old ends, as if they had been filed for exactly that long. `db` may be a
/// transaction, to move many at once.
pub async fn set(db: &impl ConnectionTrait, request_ids: &[String], at: i64) -> Result<(), DbErr> {
    let list = request_ids.iter().map(|id| format!("'{id}'")).collect::<Vec<_>>().join(",");
    let keys = format!("SELECT 'membership:' || group_id || ':' || user_id FROM grants WHERE request_id IN ({list})");
    let now = chrono::Utc::now().timestamp_millis();
    for sql in [
        format!("UPDATE requests SET expires_at = {at} WHERE id IN ({list})"),
        format!("UPDATE grants SET expires_at = {at} WHERE request_id IN ({list})"),
        format!(
            "UPDATE jobs SET due_at = {at} WHERE kind = 'sync_membership' AND status = 'pending' AND due_at > {now} AND lock_key IN ({keys})"
        ),
    ] {
        db.execute_unprepared(&sql).await?;
    }
    Ok(())
}

/// Moves the start of these scheduled requests' windows to `at` (Unix ms), with the jobs that
/// open them, as if they had been filed for that instant.
pub async fn set_start(db: &DatabaseConnection, request_ids: &[String], at: i64) -> Result<(), DbErr> {
    let list = request_ids.iter().map(|id| format!("'{id}'")).collect::<Vec<_>>().join(",");
    db.execute_unprepared(&format!("UPDATE requests SET start_at = {at} WHERE id IN ({list})")).await?;
    for id in request_ids {
        db.execute_unprepared(&format!(
            "UPDATE jobs SET due_at = {at} WHERE kind = 'start_scheduled' AND status = 'pending' \
             AND CAST(payload AS TEXT) LIKE '%{id}%'"
        ))
        .await?;
    }
    Ok(())
}
