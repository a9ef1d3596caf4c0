//! Admin actions: an operator's or another component's deliberate change to a workflow outside the
//! step cycle (restart, rewind, cancel, signal), plus audit rows and bulk purges.

use serde_json::Value;
use sqlx::{PgConnection, PgPool};

use super::{notify_work, StoreError};

/// Resume a failed workflow at the step that failed, with a fresh attempt budget.
pub async fn restart(pool: &PgPool, id: i64, actor: &str) -> Result<(), StoreError> {
    let mut tx = crate::db::begin(pool).await?;
    let done: Option<i64> = sqlx::query_scalar(
        r#"
        WITH r AS (
            UPDATE workflows SET status = 'ready', attempt = 0, run_at = now(), updated_at = now()
             WHERE id = $1 AND status = 'failed'
            RETURNING id, state
        )
        INSERT INTO workflow_events (workflow_id, actor, event, from_state, to_state, status, attempt)
        SELECT id, $2, 'restarted', state, state, 'ready', 0 FROM r
        RETURNING workflow_id
        "#,
    )
    .bind(id)
    .bind(actor)
    .fetch_optional(&mut *tx)
    .await?;
    if done.is_none() {
        return Err(explain(&mut tx, id, "restart", "status failed").await);
    }
    notify_work(&mut tx).await?;
    tx.commit().await?;
    Ok(())
}

/// Run the step of `state` again (replaying an audited step): the workflow becomes ready at that
/// state with a fresh attempt budget. Refused while a step runs (it would race the replay) and for
/// cancelled workflows. Steps are idempotent, so re-running one repeats its downstream update once.
pub async fn rewind(
    pool: &PgPool,
    id: i64,
    state: &str,
    actor: &str,
    detail: &Value,
) -> Result<(), StoreError> {
    let mut tx = crate::db::begin(pool).await?;
    let done: Option<i64> = sqlx::query_scalar(
        r#"
        WITH old AS (
            SELECT id, state FROM workflows WHERE id = $1 AND status IN ('ready', 'waiting', 'failed', 'completed') FOR UPDATE
        ), r AS (
            UPDATE workflows w SET state = $2, status = 'ready', attempt = 0, run_at = now(), last_error = NULL,
                   fence = w.fence + 1, updated_at = now()
              FROM old WHERE w.id = old.id
            RETURNING w.id, old.state AS from_state
        )
        INSERT INTO workflow_events (workflow_id, actor, event, from_state, to_state, status, attempt, detail)
        SELECT id, $3, 'replayed', from_state, $2, 'ready', 0, $4 FROM r
        RETURNING workflow_id
        "#,
    )
    .bind(id)
    .bind(state)
    .bind(actor)
    .bind(detail)
    .fetch_optional(&mut *tx)
    .await?;
    if done.is_none() {
        return Err(explain(
            &mut tx,
            id,
            "replay",
            "no running step (ready, waiting, failed or completed)",
        )
        .await);
    }
    notify_work(&mut tx).await?;
    tx.commit().await?;
    Ok(())
}

/// Cancel a workflow that has not finished. A running step is fenced out: its late result is rejected.
pub async fn cancel(pool: &PgPool, id: i64, actor: &str, reason: &str) -> Result<(), StoreError> {
    let mut tx = crate::db::begin(pool).await?;
    let done: Option<i64> = sqlx::query_scalar(
        r#"
        WITH c AS (
            UPDATE workflows
               SET status = 'cancelled', fence = fence + 1, lease_owner = NULL, lease_expires_at = NULL,
                   run_at = NULL, updated_at = now()
             WHERE id = $1 AND status IN ('ready', 'running', 'waiting', 'failed')
            RETURNING id, state
        )
        INSERT INTO workflow_events (workflow_id, actor, event, from_state, to_state, status, error)
        SELECT id, $2, 'cancelled', state, state, 'cancelled', $3 FROM c
        RETURNING workflow_id
        "#,
    )
    .bind(id)
    .bind(actor)
    .bind(reason)
    .fetch_optional(&mut *tx)
    .await?;
    if done.is_none() {
        return Err(explain(&mut tx, id, "cancel", "an unfinished workflow").await);
    }
    tx.commit().await?;
    Ok(())
}

/// Signal a workflow (e.g. its Sage order changed, a webhook arrived): a waiting one wakes now;
/// a running one wakes as soon as its step ends in a wait. Returns whether it was unfinished.
pub async fn signal(
    conn: &mut PgConnection,
    id: i64,
    actor: &str,
    detail: Option<&Value>,
) -> Result<bool, StoreError> {
    let woke: Option<i64> = sqlx::query_scalar(
        r#"
        WITH s AS (
            UPDATE workflows
               SET signalled_at = GREATEST(now(), signalled_at + interval '1 microsecond'),
                   updated_at = now(),
                   run_at = CASE WHEN status = 'waiting' THEN now() ELSE run_at END
             WHERE id = $1 AND status IN ('ready', 'running', 'waiting')
            RETURNING id, state, status
        )
        INSERT INTO workflow_events (workflow_id, actor, event, from_state, to_state, status, detail)
        SELECT id, $2, 'signalled', state, state, status, $3 FROM s
        RETURNING workflow_id
        "#,
    )
    .bind(id)
    .bind(actor)
    .bind(detail)
    .fetch_optional(&mut *conn)
    .await?;
    if woke.is_some() {
        notify_work(conn).await?;
    }
    Ok(woke.is_some())
}

/// Signal the unfinished workflows of `kind` with these business keys; returns how many.
pub async fn signal_keys(
    pool: &PgPool,
    kind: &str,
    connection_id: i64,
    keys: &[String],
    actor: &str,
    detail: &Value,
) -> Result<u64, StoreError> {
    if keys.is_empty() {
        return Ok(0);
    }
    super::on_deadlock_retry(|| async {
    let mut tx = crate::db::begin(pool).await?;
    let n: i64 = sqlx::query_scalar(
        r#"
        WITH locked AS MATERIALIZED (
            SELECT w.id FROM workflow_keys k JOIN workflows w ON w.id = k.workflow_id
             WHERE k.kind = $1 AND k.connection_id = $2 AND k.business_key = ANY($3)
               AND w.status IN ('ready', 'running', 'waiting')
             ORDER BY w.id
               FOR NO KEY UPDATE OF w
        ), s AS (
            UPDATE workflows w
               SET signalled_at = GREATEST(now(), w.signalled_at + interval '1 microsecond'),
                   updated_at = now(),
                   run_at = CASE WHEN w.status = 'waiting' THEN now() ELSE w.run_at END
              FROM locked l
             WHERE w.id = l.id AND w.status IN ('ready', 'running', 'waiting')
            RETURNING w.id, w.state, w.status
        ), ev AS (
            INSERT INTO workflow_events (workflow_id, actor, event, from_state, to_state, status, detail)
            SELECT id, $4, 'signalled', state, state, status, $5 FROM s
        )
        SELECT count(*) FROM s
        "#,
    )
    .bind(kind)
    .bind(connection_id)
    .bind(keys)
    .bind(actor)
    .bind(detail)
    .fetch_one(&mut *tx)
    .await?;
    if n > 0 {
        notify_work(&mut tx).await?;
    }
    tx.commit().await?;
    Ok(n as u64)
    })
    .await
}

async fn explain(
    conn: &mut PgConnection,
    id: i64,
    action: &'static str,
    needs: &'static str,
) -> StoreError {
    match sqlx::query_scalar::<_, String>("SELECT status FROM workflows WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await
    {
        Ok(Some(status)) => StoreError::InvalidState {
            id,
            status,
            action,
            needs,
        },
        Ok(None) => StoreError::NotFound(id),
        Err(e) => StoreError::Db(e),
    }
}

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
    let mut tx = crate::db::begin(pool).await?;
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

/// Refresh the planner's statistics of the engine's tables (after a bulk purge, e.g. a benchmark).
pub async fn analyze(pool: &PgPool) -> Result<(), StoreError> {
    sqlx::query("VACUUM ANALYZE workflows")
        .execute(pool)
        .await?;
    sqlx::query("VACUUM ANALYZE workflow_events")
        .execute(pool)
        .await?;
    Ok(())
}

/// Delete the audit rows older than `before` of workflows that are finished (completed or
/// cancelled): the trail of anything still open or failed is kept whatever its age.
pub async fn prune_finished_events(
    pool: &PgPool,
    before: chrono::DateTime<chrono::Utc>,
) -> Result<u64, StoreError> {
    Ok(sqlx::query(
        "DELETE FROM workflow_events e USING workflows w
          WHERE w.id = e.workflow_id AND w.status IN ('completed', 'cancelled') AND e.at < $1",
    )
    .bind(before)
    .execute(pool)
    .await?
    .rows_affected())
}

/// Finished workflows of `kinds` last changed before `before`, with their audit events, at most
/// `limit` of them: for kinds whose rows are only a schedule's runs (keyed by schedule slots, never
/// looked up again), so they do not pile up forever. Business workflows (orders, shipments) are
/// never passed here: their rows are what makes their keys idempotent.
pub async fn prune_finished_runs(
    pool: &PgPool,
    kinds: &[&str],
    before: chrono::DateTime<chrono::Utc>,
    limit: i64,
) -> Result<u64, StoreError> {
    let n: i64 = sqlx::query_scalar(
        "WITH gone AS (
            DELETE FROM workflows WHERE id IN (
                SELECT w.id FROM workflow_keys k JOIN workflows w ON w.id = k.workflow_id
                 WHERE k.kind = ANY($1) AND w.status IN ('completed', 'cancelled')
                   AND w.updated_at < $2
                 LIMIT $3)
            RETURNING id
         ), events AS (
            DELETE FROM workflow_events e USING gone WHERE e.workflow_id = gone.id
         )
         SELECT count(*) FROM gone",
    )
    .bind(kinds)
    .bind(before)
    .bind(limit)
    .fetch_one(pool)
    .await?;
    Ok(n as u64)
}
