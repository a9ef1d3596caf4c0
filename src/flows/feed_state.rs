//! Where each feed of a connection stands: its cursor (`cursors`) and one `sync_runs` row per run.
//! Shared by the orders poll, the inventory sync and the shipments poll.

use serde::Serialize;
use serde_json::Value;
use sqlx::{PgConnection, PgPool};

use super::step_errors::db;
use crate::engine::{Status, StepError};

/// The stored cursor of a feed, as JSON (None before the first run).
pub async fn load_cursor(
    pool: &PgPool,
    connection_id: i64,
    feed: &str,
) -> Result<Option<Value>, StepError> {
    sqlx::query_scalar("SELECT value FROM cursors WHERE connection_id = $1 AND feed = $2")
        .bind(connection_id)
        .bind(feed)
        .fetch_optional(pool)
        .await
        .map_err(db)
}

/// Save a feed's cursor (in the caller's transaction, with the work it covers).
pub async fn save_cursor(
    conn: &mut PgConnection,
    connection_id: i64,
    feed: &str,
    cursor: &impl Serialize,
) -> Result<(), StepError> {
    sqlx::query("INSERT INTO cursors (connection_id, feed, value) VALUES ($1, $2, $3) ON CONFLICT (connection_id, feed) DO UPDATE SET value = EXCLUDED.value, updated_at = now()")
        .bind(connection_id)
        .bind(feed)
        .bind(serde_json::to_value(cursor).expect("cursors serialize"))
        .execute(conn)
        .await
        .map_err(db)?;
    Ok(())
}

/// Open a `sync_runs` row for this run; returns its id.
pub async fn start_run(
    pool: &PgPool,
    connection_id: i64,
    feed: &str,
    workflow_id: i64,
) -> Result<i64, StepError> {
    sqlx::query_scalar(
        "INSERT INTO sync_runs (connection_id, feed, workflow_id) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(connection_id)
    .bind(feed)
    .bind(workflow_id)
    .fetch_one(pool)
    .await
    .map_err(db)
}

/// Whether another workflow is running this connection's feed now (a run of it is open and its
/// workflow is running). Runs older than an hour are not looked at: a crash leaves a run open.
pub async fn running_elsewhere(
    pool: &PgPool,
    connection_id: i64,
    feed: &str,
    workflow_id: i64,
) -> Result<bool, StepError> {
    // One statement: a run whose workflow was pruned meanwhile is simply not running.
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM sync_runs r JOIN workflows w ON w.id = r.workflow_id
          WHERE r.connection_id = $1 AND r.feed = $2 AND r.finished_at IS NULL
            AND r.workflow_id <> $3 AND r.started_at > now() - interval '1 hour'
            AND w.status = $4)",
    )
    .bind(connection_id)
    .bind(feed)
    .bind(workflow_id)
    .bind(Status::Running.as_str())
    .fetch_one(pool)
    .await
    .map_err(db)
}

/// What a run found, started and signalled.
pub struct RunCounts {
    pub found: u64,
    pub created: u64,
    pub signalled: u64,
}

/// Close a run with its counts and the watermark it reached.
pub async fn finish_run(
    conn: &mut PgConnection,
    run_id: i64,
    counts: RunCounts,
    watermark: &impl Serialize,
) -> Result<(), StepError> {
    sqlx::query("UPDATE sync_runs SET finished_at = now(), found = $2, created = $3, signalled = $4, watermark = $5 WHERE id = $1")
        .bind(run_id)
        .bind(counts.found as i32)
        .bind(counts.created as i32)
        .bind(counts.signalled as i32)
        .bind(serde_json::to_value(watermark).expect("watermarks serialize"))
        .execute(conn)
        .await
        .map_err(db)?;
    Ok(())
}
