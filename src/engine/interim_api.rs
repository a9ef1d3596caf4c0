//! Interim: the engine API other modules use instead of the engine's tables (being moved into
//! the store's read-model and admin files).

use serde_json::Value;
use sqlx::PgPool;

use super::store::{Status, StoreError};

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

pub async fn keys_in_state(
    pool: &PgPool,
    kind: &str,
    connection_id: i64,
    status: Status,
    state: &str,
) -> Result<Vec<String>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT business_key FROM workflows WHERE kind = $1 AND connection_id = $2 AND status = $3 AND state = $4",
    )
    .bind(kind)
    .bind(connection_id)
    .bind(status.as_str())
    .bind(state)
    .fetch_all(pool)
    .await?)
}

pub async fn keys_by_context(
    pool: &PgPool,
    kind: &str,
    connection_id: i64,
    field: &str,
    values: &[String],
) -> Result<Vec<String>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT business_key FROM workflows WHERE kind = $1 AND connection_id = $2
            AND (context->>$3) = ANY($4) ORDER BY business_key",
    )
    .bind(kind)
    .bind(connection_id)
    .bind(field)
    .bind(values)
    .fetch_all(pool)
    .await?)
}

pub async fn workflow_exists(
    pool: &PgPool,
    kind: &str,
    connection_id: i64,
    business_key: &str,
) -> Result<bool, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM workflows WHERE kind = $1 AND connection_id = $2 AND business_key = $3)",
    )
    .bind(kind)
    .bind(connection_id)
    .bind(business_key)
    .fetch_one(pool)
    .await?)
}

#[derive(Debug, Clone, Copy, Default)]
pub struct CountFilter<'a> {
    pub kind: Option<&'a str>,
    pub connection_id: Option<i64>,
    pub status: Option<Status>,
    pub states: Option<&'a [&'a str]>,
}

pub async fn count_workflows(pool: &PgPool, f: &CountFilter<'_>) -> Result<i64, StoreError> {
    let states: Option<Vec<String>> = f.states.map(|s| s.iter().map(|x| x.to_string()).collect());
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM workflows WHERE ($1::text IS NULL OR kind = $1) AND ($2::bigint IS NULL OR connection_id = $2)
            AND ($3::text IS NULL OR status = $3) AND ($4::text[] IS NULL OR state = ANY($4))",
    )
    .bind(f.kind)
    .bind(f.connection_id)
    .bind(f.status.map(Status::as_str))
    .bind(states)
    .fetch_one(pool)
    .await?)
}

pub async fn count_events(pool: &PgPool, kind: Option<&str>) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM workflow_events e WHERE $1::text IS NULL
            OR e.workflow_id IN (SELECT id FROM workflows WHERE kind = $1)",
    )
    .bind(kind)
    .fetch_one(pool)
    .await?)
}

pub async fn purge_kind(pool: &PgPool, kind: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM workflow_events WHERE workflow_id IN (SELECT id FROM workflows WHERE kind = $1)")
        .bind(kind)
        .execute(pool)
        .await?;
    sqlx::query("DELETE FROM workflows WHERE kind = $1")
        .bind(kind)
        .execute(pool)
        .await?;
    Ok(())
}
