//! Read models over a period of one connection's history (the daily digest): what moved, what
//! failed and recovered, what still waits for a person. Each query starts from the workflows
//! touched in the period (through `workflow_keys`, whose primary key starts with kind and
//! connection), then reads their events.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::StoreError;

/// Workflows of `kind` of a connection that took a successful step from `from` (any state when
/// `None`) to `to` (any when `None`) since `since`, each counted once; a step that stays in its
/// state does not count.
pub async fn count_moves(
    pool: &PgPool,
    connection_id: i64,
    kind: &str,
    from: Option<&str>,
    to: Option<&str>,
    since: DateTime<Utc>,
) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT count(DISTINCT w.id)
           FROM workflow_keys k JOIN workflows w ON w.id = k.workflow_id
           JOIN workflow_events e ON e.workflow_id = w.id
          WHERE k.kind = $2 AND k.connection_id = $1 AND w.updated_at >= $5
            AND e.at >= $5 AND e.event = 'step_succeeded'
            AND e.from_state IS DISTINCT FROM e.to_state
            AND ($3::text IS NULL OR e.from_state = $3) AND ($4::text IS NULL OR e.to_state = $4)",
    )
    .bind(connection_id)
    .bind(kind)
    .bind(from)
    .bind(to)
    .bind(since)
    .fetch_one(pool)
    .await?)
}

/// Workflows (of `kinds`) of a connection that failed since `since` and are no longer failed:
/// how many, and up to `sample` of them as (kind, business key).
pub async fn recovered_since(
    pool: &PgPool,
    connection_id: i64,
    kinds: &[&str],
    since: DateTime<Utc>,
    sample: i64,
) -> Result<(i64, Vec<(String, String)>), StoreError> {
    let rows: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT w.kind, w.business_key, count(*) OVER ()
           FROM workflow_keys k JOIN workflows w ON w.id = k.workflow_id
          WHERE k.kind = ANY($2) AND k.connection_id = $1 AND w.updated_at >= $3
            AND w.status NOT IN ('failed', 'cancelled')
            AND EXISTS (SELECT 1 FROM workflow_events e
                         WHERE e.workflow_id = w.id AND e.event = 'failed' AND e.at >= $3)
          ORDER BY w.updated_at LIMIT $4",
    )
    .bind(connection_id)
    .bind(kinds)
    .bind(since)
    .bind(sample.max(1))
    .fetch_all(pool)
    .await?;
    let total = rows.first().map_or(0, |r| r.2);
    Ok((
        total,
        rows.into_iter()
            .take(sample as usize)
            .map(|(k, b, _)| (k, b))
            .collect(),
    ))
}

/// Something a person must act on: a failed workflow or one waiting in the manual state.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OpenItem {
    pub kind: String,
    pub business_key: String,
    pub state: String,
    pub status: String,
    pub since: DateTime<Utc>,
    pub last_error: Option<String>,
}

/// How many of a connection's workflows (of `kinds`) are failed, how many wait in
/// `manual_state`, and the one waiting longest.
pub async fn open_items(
    pool: &PgPool,
    connection_id: i64,
    kinds: &[&str],
    manual_state: &str,
) -> Result<(i64, i64, Option<OpenItem>), StoreError> {
    let (failed, manual): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE status = 'failed'),
                count(*) FILTER (WHERE status = 'waiting' AND state = $3)
           FROM workflows WHERE kind = ANY($2) AND connection_id = $1
            AND (status = 'failed' OR (status = 'waiting' AND state = $3))",
    )
    .bind(connection_id)
    .bind(kinds)
    .bind(manual_state)
    .fetch_one(pool)
    .await?;
    let oldest = sqlx::query_as(
        // A failed workflow waits since it failed; one in the manual state since it entered it
        // (its step re-checks there, touching updated_at).
        "SELECT * FROM (
           SELECT w.kind, w.business_key, w.state, w.status, w.last_error,
                  CASE WHEN w.status = 'failed' THEN w.updated_at ELSE COALESCE(
                    (SELECT max(e.at) FROM workflow_events e WHERE e.workflow_id = w.id
                        AND e.to_state = w.state AND e.from_state IS DISTINCT FROM w.state),
                    w.created_at) END AS since
             FROM workflows w
            WHERE w.kind = ANY($2) AND w.connection_id = $1
              AND (w.status = 'failed' OR (w.status = 'waiting' AND w.state = $3))) open
          ORDER BY since LIMIT 1",
    )
    .bind(connection_id)
    .bind(kinds)
    .bind(manual_state)
    .fetch_optional(pool)
    .await?;
    Ok((failed, manual, oldest))
}
