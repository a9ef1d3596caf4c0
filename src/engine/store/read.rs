//! Read models: every query that only reads `workflows` / `workflow_events` (ops views, alerts,
//! metrics, business lookups by key or context). Nothing outside the engine queries those tables.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgPool, Postgres, QueryBuilder};

use super::{Status, StoreError};

/// A workflow as stored (for ops views and tests).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WorkflowRow {
    pub id: i64,
    pub kind: String,
    pub connection_id: i64,
    pub business_key: String,
    pub state: String,
    pub status: String,
    pub attempt: i32,
    pub run_at: Option<DateTime<Utc>>,
    pub lease_owner: Option<String>,
    pub fence: i64,
    pub context: Value,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub const WORKFLOW_COLUMNS: &str =
    "id, kind, connection_id, business_key, state, status, attempt, run_at, \
     lease_owner, fence, context, last_error, created_at, updated_at";

/// One audit event.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventRow {
    pub id: i64,
    pub workflow_id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub event: String,
    pub from_state: Option<String>,
    pub to_state: Option<String>,
    pub status: Option<String>,
    pub attempt: Option<i32>,
    pub started_at: Option<DateTime<Utc>>,
    pub duration_ms: Option<f64>,
    pub error: Option<String>,
    pub detail: Option<Value>,
}

const EVENT_COLUMNS: &str = "id, workflow_id, at, actor, event, from_state, to_state, status, \
     attempt, started_at, duration_ms, error, detail";

pub async fn get(pool: &PgPool, id: i64) -> Result<WorkflowRow, StoreError> {
    sqlx::query_as(&format!(
        "SELECT {WORKFLOW_COLUMNS} FROM workflows WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await?
    .ok_or(StoreError::NotFound(id))
}

pub async fn find(
    pool: &PgPool,
    kind: &str,
    connection_id: i64,
    business_key: &str,
) -> Result<Option<WorkflowRow>, StoreError> {
    Ok(sqlx::query_as(&format!(
        "SELECT {WORKFLOW_COLUMNS} FROM workflows
          WHERE id = (SELECT workflow_id FROM workflow_keys
                       WHERE kind = $1 AND connection_id = $2 AND business_key = $3)"
    ))
    .bind(kind)
    .bind(connection_id)
    .bind(business_key)
    .fetch_optional(pool)
    .await?)
}

/// A workflow's whole audit trail, oldest first.
pub async fn events(pool: &PgPool, workflow_id: i64) -> Result<Vec<EventRow>, StoreError> {
    Ok(sqlx::query_as(&format!(
        "SELECT {EVENT_COLUMNS} FROM workflow_events WHERE workflow_id = $1 ORDER BY id"
    ))
    .bind(workflow_id)
    .fetch_all(pool)
    .await?)
}

/// Up to `limit` of a workflow's events with ids above `after_id`, oldest first.
pub async fn events_after(
    pool: &PgPool,
    workflow_id: i64,
    after_id: i64,
    limit: i64,
) -> Result<Vec<EventRow>, StoreError> {
    Ok(sqlx::query_as(&format!(
        "SELECT {EVENT_COLUMNS} FROM workflow_events WHERE workflow_id = $1 AND id > $2 ORDER BY id LIMIT $3"
    ))
    .bind(workflow_id)
    .bind(after_id)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

/// One audit event by its id.
pub async fn event(pool: &PgPool, event_id: i64) -> Result<Option<EventRow>, StoreError> {
    Ok(sqlx::query_as(&format!(
        "SELECT {EVENT_COLUMNS} FROM workflow_events WHERE id = $1"
    ))
    .bind(event_id)
    .fetch_optional(pool)
    .await?)
}

/// Which workflows an ops view selects (every field optional; all given ones must match).
#[derive(Debug, Clone, Copy, Default)]
pub struct WorkflowQuery<'a> {
    pub connection_id: Option<i64>,
    pub kind: Option<&'a str>,
    pub status: Option<&'a str>,
    pub state: Option<&'a str>,
    pub business_key: Option<&'a str>,
    pub updated_after: Option<DateTime<Utc>>,
    pub updated_before: Option<DateTime<Utc>>,
    /// Case-insensitive substring of the last error.
    pub error_contains: Option<&'a str>,
}

impl WorkflowQuery<'_> {
    fn push_where(&self, q: &mut QueryBuilder<'_, Postgres>) {
        q.push(" WHERE true");
        if let Some(v) = self.connection_id {
            q.push(" AND connection_id = ").push_bind(v);
        }
        if let Some(v) = self.kind {
            q.push(" AND kind = ").push_bind(v.to_string());
        }
        if let Some(v) = self.status {
            q.push(" AND status = ").push_bind(v.to_string());
        }
        if let Some(v) = self.state {
            q.push(" AND state = ").push_bind(v.to_string());
        }
        if let Some(v) = self.business_key {
            q.push(" AND business_key = ").push_bind(v.to_string());
        }
        // Kind with a connection or a key: reached through the key table's primary key.
        if let (Some(kind), true) = (
            self.kind,
            self.connection_id.is_some() || self.business_key.is_some(),
        ) {
            q.push(" AND id IN (SELECT workflow_id FROM workflow_keys WHERE kind = ")
                .push_bind(kind.to_string());
            if let Some(v) = self.connection_id {
                q.push(" AND connection_id = ").push_bind(v);
            }
            if let Some(v) = self.business_key {
                q.push(" AND business_key = ").push_bind(v.to_string());
            }
            q.push(")");
        }
        if let Some(v) = self.updated_after {
            q.push(" AND updated_at >= ").push_bind(v);
        }
        if let Some(v) = self.updated_before {
            q.push(" AND updated_at < ").push_bind(v);
        }
        if let Some(v) = self.error_contains {
            q.push(" AND last_error ILIKE ").push_bind(format!(
                "%{}%",
                v.replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_")
            ));
        }
    }
}

/// Up to `limit` selected workflows, newest first, with ids below `before_id` when given.
pub async fn list_workflows(
    pool: &PgPool,
    query: &WorkflowQuery<'_>,
    limit: i64,
    before_id: Option<i64>,
) -> Result<Vec<WorkflowRow>, StoreError> {
    let mut q = QueryBuilder::new(format!("SELECT {WORKFLOW_COLUMNS} FROM workflows"));
    query.push_where(&mut q);
    if let Some(b) = before_id {
        q.push(" AND id < ").push_bind(b);
    }
    q.push(" ORDER BY id DESC LIMIT ").push_bind(limit);
    Ok(q.build_query_as().fetch_all(pool).await?)
}

/// Up to `limit` selected workflows that changed after `since`, oldest change first.
pub async fn workflows_changed_since(
    pool: &PgPool,
    query: &WorkflowQuery<'_>,
    since: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<WorkflowRow>, StoreError> {
    let mut q = QueryBuilder::new(format!("SELECT {WORKFLOW_COLUMNS} FROM workflows"));
    query.push_where(&mut q);
    q.push(" AND updated_at > ").push_bind(since);
    q.push(" ORDER BY updated_at, id LIMIT ").push_bind(limit);
    Ok(q.build_query_as().fetch_all(pool).await?)
}

/// How many workflows the query selects.
pub async fn count_matching(pool: &PgPool, query: &WorkflowQuery<'_>) -> Result<i64, StoreError> {
    let mut q = QueryBuilder::new("SELECT count(*) FROM workflows");
    query.push_where(&mut q);
    Ok(q.build_query_scalar().fetch_one(pool).await?)
}

/// The ids of the workflows the query selects.
pub async fn ids_matching(
    pool: &PgPool,
    query: &WorkflowQuery<'_>,
) -> Result<Vec<i64>, StoreError> {
    let mut q = QueryBuilder::new("SELECT id FROM workflows");
    query.push_where(&mut q);
    Ok(q.build_query_scalar().fetch_all(pool).await?)
}

/// Which workflows [`count_workflows`] counts (every field optional; all given ones must match).
#[derive(Debug, Clone, Copy, Default)]
pub struct CountFilter<'a> {
    pub kind: Option<&'a str>,
    pub connection_id: Option<i64>,
    pub status: Option<Status>,
    /// The workflow is in one of these states.
    pub states: Option<&'a [&'a str]>,
}

pub async fn count_workflows(pool: &PgPool, filter: &CountFilter<'_>) -> Result<i64, StoreError> {
    let states: Option<Vec<String>> = filter
        .states
        .map(|s| s.iter().map(|s| s.to_string()).collect());
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM workflows
          WHERE ($1::text IS NULL OR kind = $1)
            AND ($2::bigint IS NULL OR connection_id = $2)
            AND ($3::text IS NULL OR status = $3)
            AND ($4::text[] IS NULL OR state = ANY($4))
            AND ($1::text IS NULL OR $2::bigint IS NULL
                 OR id IN (SELECT workflow_id FROM workflow_keys WHERE kind = $1 AND connection_id = $2))",
    )
    .bind(filter.kind)
    .bind(filter.connection_id)
    .bind(filter.status.map(Status::as_str))
    .bind(states)
    .fetch_one(pool)
    .await?)
}

/// Audit events, of the workflows of `kind` when given.
pub async fn count_events(pool: &PgPool, kind: Option<&str>) -> Result<i64, StoreError> {
    Ok(match kind {
        None => {
            sqlx::query_scalar("SELECT count(*) FROM workflow_events")
                .fetch_one(pool)
                .await?
        }
        Some(kind) => {
            sqlx::query_scalar(
                "SELECT count(*) FROM workflow_events e JOIN workflows w ON w.id = e.workflow_id
                  WHERE w.kind = $1",
            )
            .bind(kind)
            .fetch_one(pool)
            .await?
        }
    })
}

/// Business keys of the workflows of `kind` on a connection with this status and state.
pub async fn keys_in_state(
    pool: &PgPool,
    kind: &str,
    connection_id: i64,
    status: Status,
    state: &str,
) -> Result<Vec<String>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT k.business_key FROM workflow_keys k JOIN workflows w ON w.id = k.workflow_id
          WHERE k.kind = $1 AND k.connection_id = $2 AND w.status = $3 AND w.state = $4",
    )
    .bind(kind)
    .bind(connection_id)
    .bind(status.as_str())
    .bind(state)
    .fetch_all(pool)
    .await?)
}

/// Business keys of the workflows of `kind` on a connection whose `context->>field` is one of
/// `values`, ordered by key. `field` is bound as a parameter, never formatted into the SQL.
pub async fn keys_by_context(
    pool: &PgPool,
    kind: &str,
    connection_id: i64,
    field: &str,
    values: &[String],
) -> Result<Vec<String>, StoreError> {
    if values.is_empty() {
        return Ok(vec![]);
    }
    Ok(sqlx::query_scalar(
        "SELECT k.business_key FROM workflow_keys k JOIN workflows w ON w.id = k.workflow_id
          WHERE k.kind = $1 AND k.connection_id = $2 AND w.context->>$3 = ANY($4)
          ORDER BY k.business_key",
    )
    .bind(kind)
    .bind(connection_id)
    .bind(field)
    .bind(values)
    .fetch_all(pool)
    .await?)
}

/// Whether a workflow exists for (kind, connection, business key).
pub async fn workflow_exists(
    pool: &PgPool,
    kind: &str,
    connection_id: i64,
    business_key: &str,
) -> Result<bool, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM workflow_keys
                         WHERE kind = $1 AND connection_id = $2 AND business_key = $3)",
    )
    .bind(kind)
    .bind(connection_id)
    .bind(business_key)
    .fetch_one(pool)
    .await?)
}

/// Workflows by (kind, status, count), ordered by kind then status.
pub async fn counts_by_kind_and_status(
    pool: &PgPool,
) -> Result<Vec<(String, String, i64)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT kind, status, count(*) FROM workflows GROUP BY kind, status ORDER BY kind, status",
    )
    .fetch_all(pool)
    .await?)
}

/// The ready workflow that has been due longest.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OldestDue {
    pub id: i64,
    pub kind: String,
    pub business_key: String,
    pub due_since: DateTime<Utc>,
    /// By the database clock.
    pub age_seconds: f64,
}

pub async fn oldest_due(pool: &PgPool) -> Result<Option<OldestDue>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, kind, business_key, run_at AS due_since,
                EXTRACT(EPOCH FROM now() - run_at)::float8 AS age_seconds
           FROM workflows WHERE status = 'ready' AND run_at <= now() ORDER BY run_at LIMIT 1",
    )
    .fetch_optional(pool)
    .await?)
}

/// Connections (other than 0) with at least `threshold` workflows failed or retrying on an error
/// updated within the hour: (connection_id, count, a sample error).
pub async fn failing_connections(
    pool: &PgPool,
    threshold: i64,
    except_kind: &str,
) -> Result<Vec<(i64, i64, Option<String>)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT connection_id, count(*), max(last_error) FROM workflows
          WHERE status IN ('ready', 'failed') AND last_error IS NOT NULL
            AND updated_at > now() - interval '1 hour' AND connection_id <> 0 AND kind <> $2
          GROUP BY connection_id HAVING count(*) >= $1",
    )
    .bind(threshold)
    .bind(except_kind)
    .fetch_all(pool)
    .await?)
}

/// What [`needing_attention`] groups by connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attention {
    /// Status failed.
    Failed,
    /// Waiting in a state where a person must act (the caller names it).
    ManualAction,
    /// Ready and due, or running with an expired lease, for over the given minutes.
    Stuck,
}

/// Per connection: how many workflows need a person's look, and since when.
#[derive(Debug, Clone)]
pub struct AttentionGroup {
    pub what: Attention,
    pub connection_id: i64,
    pub count: i64,
    pub since: DateTime<Utc>,
}

pub async fn needing_attention(
    pool: &PgPool,
    stuck_after_minutes: i32,
    manual_state: &str,
    except_kind: &str,
) -> Result<Vec<AttentionGroup>, StoreError> {
    let rows: Vec<(String, i64, i64, DateTime<Utc>)> = sqlx::query_as(
        "SELECT 'failed', connection_id, count(*), min(updated_at) FROM workflows WHERE status = 'failed' AND kind <> $3 GROUP BY connection_id
         UNION ALL
         SELECT 'manual', connection_id, count(*), min(updated_at) FROM workflows WHERE status = 'waiting' AND state = $2 GROUP BY connection_id
         UNION ALL
         SELECT 'stuck', connection_id, count(*), min(COALESCE(run_at, updated_at)) FROM workflows
          WHERE (status = 'ready' AND run_at < now() - make_interval(mins => $1))
             OR (status = 'running' AND lease_expires_at < now() - make_interval(mins => $1))
          GROUP BY connection_id",
    )
    .bind(stuck_after_minutes)
    .bind(manual_state)
    .bind(except_kind)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(what, connection_id, count, since)| AttentionGroup {
            what: match what.as_str() {
                "failed" => Attention::Failed,
                "manual" => Attention::ManualAction,
                _ => Attention::Stuck,
            },
            connection_id,
            count,
            since,
        })
        .collect())
}
