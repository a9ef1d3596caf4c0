//! Admin actions: an operator's or another component's deliberate change to a workflow outside the
//! step cycle (restart, rewind, cancel, signal), plus audit rows and bulk purges.

use serde_json::Value;
use sqlx::PgPool;

use super::StoreError;

/// Append one audit row to a workflow's trail (from_state = to_state = `state`, status
/// `running`), e.g. a step's progress. Pass a transaction to make it atomic with other writes.
pub async fn append_event<'e, E: sqlx::PgExecutor<'e>>(
    ex: E,
    workflow_id: i64,
    actor: &str,
    event: &str,
    state: &str,
    error: Option<&str>,
    detail: &Value,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO workflow_events (workflow_id, actor, event, from_state, to_state, status, error, detail)
         VALUES ($1, $2, $3, $4, $4, 'running', $5, $6)",
    )
    .bind(workflow_id)
    .bind(actor)
    .bind(event)
    .bind(state)
    .bind(error)
    .bind(detail)
    .execute(ex)
    .await?;
    Ok(())
}

/// Delete every workflow of `kind` and its audit trail (benchmarks on dev databases).
pub async fn purge_kind(pool: &PgPool, kind: &str) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "DELETE FROM workflow_events WHERE workflow_id IN (SELECT id FROM workflows WHERE kind = $1)",
    )
    .bind(kind)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM workflows WHERE kind = $1")
        .bind(kind)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}
