//! Feed history for the API: poll runs (`sync_runs`) and webhook deliveries as received.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgPool;

use super::{split_page, OpsError};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SyncRunRow {
    pub id: i64,
    pub connection_id: i64,
    pub feed: String,
    pub workflow_id: Option<i64>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub found: i32,
    pub created: i32,
    pub signalled: i32,
    pub watermark: Option<Value>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WebhookDeliveryRow {
    pub id: i64,
    pub connection_id: Option<i64>,
    pub connection_name: String,
    pub received_at: DateTime<Utc>,
    pub api: String,
    pub event: Option<String>,
    pub resource_url: Option<String>,
    pub verified: bool,
    pub result: String,
    pub reason: Option<String>,
    pub http_status: i32,
    pub workflow_id: Option<i64>,
    pub processed_at: Option<DateTime<Utc>>,
    pub shipments_found: Option<i32>,
}

/// Poll runs, newest first, before the row id `before`: (page, more follow).
pub async fn sync_runs(
    pool: &PgPool,
    connection_id: Option<i64>,
    feed: Option<&str>,
    first: i64,
    before: Option<i64>,
) -> Result<(Vec<SyncRunRow>, bool), OpsError> {
    let rows: Vec<SyncRunRow> = sqlx::query_as(
        "SELECT id, connection_id, feed, workflow_id, started_at, finished_at, found, created, signalled, watermark, error
           FROM sync_runs WHERE ($1::bigint IS NULL OR connection_id = $1) AND ($2::text IS NULL OR feed = $2)
            AND id < $3 ORDER BY id DESC LIMIT $4",
    )
    .bind(connection_id)
    .bind(feed)
    .bind(before.unwrap_or(i64::MAX))
    .bind(first + 1)
    .fetch_all(pool)
    .await?;
    Ok(split_page(rows, first))
}

/// Webhook deliveries, newest first, before the row id `before`: (page, more follow).
pub async fn webhook_deliveries(
    pool: &PgPool,
    connection_id: Option<i64>,
    result: Option<&str>,
    first: i64,
    before: Option<i64>,
) -> Result<(Vec<WebhookDeliveryRow>, bool), OpsError> {
    let rows: Vec<WebhookDeliveryRow> = sqlx::query_as(
        "SELECT id, connection_id, connection_name, received_at, api, event, resource_url, verified, result, reason,
                http_status, workflow_id, processed_at, shipments_found
           FROM webhook_deliveries WHERE ($1::bigint IS NULL OR connection_id = $1) AND ($2::text IS NULL OR result = $2)
            AND id < $3 ORDER BY id DESC LIMIT $4",
    )
    .bind(connection_id)
    .bind(result)
    .bind(before.unwrap_or(i64::MAX))
    .bind(first + 1)
    .fetch_all(pool)
    .await?;
    Ok(split_page(rows, first))
}
