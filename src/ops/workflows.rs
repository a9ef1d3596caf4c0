//! Workflows and their audit trail: queries and the operator's actions.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::PgPool;

use super::OpsError;
use crate::engine::store::{self, EventRow, WorkflowQuery, WorkflowRow};
use crate::engine::Engine;

/// Which workflows (every field optional; all given ones must match).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WorkflowFilter {
    pub connection_id: Option<i64>,
    pub kind: Option<String>,
    pub status: Option<String>,
    pub state: Option<String>,
    pub business_key: Option<String>,
    pub updated_after: Option<DateTime<Utc>>,
    pub updated_before: Option<DateTime<Utc>>,
    /// Case-insensitive substring of the last error.
    pub error_contains: Option<String>,
}

pub const STATUSES: &[&str] = &[
    "ready",
    "running",
    "waiting",
    "failed",
    "completed",
    "cancelled",
];

impl WorkflowFilter {
    fn check(&self) -> Result<(), OpsError> {
        if let Some(s) = &self.status {
            if !STATUSES.contains(&s.as_str()) {
                return Err(OpsError::BadInput(format!(
                    "status {s:?} is not one of {}",
                    STATUSES.join(", ")
                )));
            }
        }
        Ok(())
    }

    /// The engine's query for this filter.
    fn query(&self) -> WorkflowQuery<'_> {
        WorkflowQuery {
            connection_id: self.connection_id,
            kind: self.kind.as_deref(),
            status: self.status.as_deref(),
            state: self.state.as_deref(),
            business_key: self.business_key.as_deref(),
            updated_after: self.updated_after,
            updated_before: self.updated_before,
            error_contains: self.error_contains.as_deref(),
        }
    }
}

/// A page of workflows, newest first: those with ids below `before_id`; plus whether more follow.
pub async fn list(
    pool: &PgPool,
    filter: &WorkflowFilter,
    first: i64,
    before_id: Option<i64>,
) -> Result<(Vec<WorkflowRow>, bool), OpsError> {
    filter.check()?;
    let first = first.clamp(1, 500);
    let rows = store::list_workflows(pool, &filter.query(), first + 1, before_id).await?;
    Ok(super::split_page(rows, first))
}

/// Workflows the filter selects that changed after `since`, oldest change first.
pub async fn changed_since(
    pool: &PgPool,
    filter: &WorkflowFilter,
    since: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<WorkflowRow>, OpsError> {
    filter.check()?;
    Ok(store::workflows_changed_since(pool, &filter.query(), since, limit).await?)
}

pub async fn count(pool: &PgPool, filter: &WorkflowFilter) -> Result<i64, OpsError> {
    filter.check()?;
    Ok(store::count_matching(pool, &filter.query()).await?)
}

/// The workflow of a kind about a business object (e.g. kind "order" and a SalesOrderNo).
pub async fn by_key(
    pool: &PgPool,
    kind: &str,
    connection_id: i64,
    business_key: &str,
) -> Result<Option<WorkflowRow>, OpsError> {
    Ok(crate::engine::store::find(pool, kind, connection_id, business_key).await?)
}

pub async fn get(pool: &PgPool, id: i64) -> Result<WorkflowRow, OpsError> {
    Ok(store::get(pool, id).await?)
}

/// A page of a workflow's audit trail, oldest first: events with ids above `after_id`.
pub async fn events(
    pool: &PgPool,
    workflow_id: i64,
    first: i64,
    after_id: Option<i64>,
) -> Result<(Vec<EventRow>, bool), OpsError> {
    let first = first.clamp(1, 1000);
    let rows = store::events_after(pool, workflow_id, after_id.unwrap_or(0), first + 1).await?;
    Ok(super::split_page(rows, first))
}

pub async fn event(pool: &PgPool, event_id: i64) -> Result<EventRow, OpsError> {
    store::event(pool, event_id)
        .await?
        .ok_or_else(|| OpsError::NotFound(format!("event {event_id}")))
}

/// A failed workflow resumes at its failed step.
pub async fn restart(pool: &PgPool, id: i64, actor: &str) -> Result<WorkflowRow, OpsError> {
    store::restart(pool, id, actor).await?;
    get(pool, id).await
}

/// Restart every failed workflow the filter selects; returns how many.
pub async fn retry_failed(
    pool: &PgPool,
    filter: &WorkflowFilter,
    actor: &str,
) -> Result<u64, OpsError> {
    let mut f = filter.clone();
    f.status = Some("failed".into());
    f.check()?;
    let ids = store::ids_matching(pool, &f.query()).await?;
    let mut n = 0;
    for id in ids {
        // One may have been restarted by someone else meanwhile: that is not an error here.
        match store::restart(pool, id, actor).await {
            Ok(()) => n += 1,
            Err(store::StoreError::InvalidState { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(n)
}

/// Wake a waiting workflow now (e.g. after a person entered tracking in Sage by hand).
pub async fn signal(pool: &PgPool, id: i64, actor: &str) -> Result<WorkflowRow, OpsError> {
    let mut conn = pool.acquire().await?;
    let woke = store::signal(&mut conn, id, actor, Some(&json!({"by": actor}))).await?;
    drop(conn);
    let w = get(pool, id).await?;
    if !woke {
        return Err(OpsError::InvalidState(format!(
            "workflow {id} is {}; only an unfinished workflow can be signalled",
            w.status
        )));
    }
    Ok(w)
}

pub async fn cancel(
    pool: &PgPool,
    id: i64,
    actor: &str,
    reason: &str,
) -> Result<WorkflowRow, OpsError> {
    store::cancel(pool, id, actor, reason).await?;
    get(pool, id).await
}

/// Re-run the step an audit event recorded (e.g. a Sage tracking write), at the state it ran in.
/// Steps are idempotent, so the downstream update happens once more at most.
pub async fn replay(engine: &Engine, event_id: i64, actor: &str) -> Result<WorkflowRow, OpsError> {
    let pool = &engine.pool;
    let ev = event(pool, event_id).await?;
    let state = ev
        .from_state
        .clone()
        .filter(|_| {
            matches!(
                ev.event.as_str(),
                "step_succeeded" | "step_failed" | "failed"
            )
        })
        .ok_or_else(|| {
            OpsError::BadInput(format!(
                "event {event_id} ({}) did not run a step; replay a step's event",
                ev.event
            ))
        })?;
    let wf = get(pool, ev.workflow_id).await?;
    let def = engine.definitions.get(&wf.kind).ok_or_else(|| {
        OpsError::InvalidState(format!(
            "workflow kind {} is not defined in this binary",
            wf.kind
        ))
    })?;
    if def.states.get(&state).is_none_or(|s| s.handler.is_none()) {
        return Err(OpsError::InvalidState(format!(
            "{} state {state} has no step to run",
            wf.kind
        )));
    }
    store::rewind(
        pool,
        wf.id,
        &state,
        actor,
        &json!({"replay_of_event": event_id}),
    )
    .await?;
    get(pool, wf.id).await
}

/// Start a sync of a connection now: `orders`, `inventory` or `shipments`. Returns (id, kind).
pub async fn trigger_sync(
    engine: &Engine,
    connection_id: i64,
    feed: &str,
    actor: &str,
) -> Result<(i64, &'static str), OpsError> {
    let kind = match feed {
        "orders" => "orders_poll",
        "inventory" => "inventory",
        "shipments" => "shipments_poll",
        other => {
            return Err(OpsError::BadInput(format!(
                "feed {other:?} is not one of orders, inventory, shipments"
            )))
        }
    };
    crate::connections::by_id(&engine.pool, connection_id).await?;
    let key = format!("manual@{}", Utc::now().format("%Y-%m-%dT%H:%M:%S%.6fZ"));
    let (id, _) = engine
        .start_workflow(kind, connection_id, &key, json!({"trigger": actor}), actor)
        .await
        .map_err(|e| OpsError::Internal(e.to_string()))?;
    Ok((id, kind))
}

/// A workflow as JSON for the CLI.
pub fn to_json(w: &WorkflowRow) -> Value {
    json!({
        "id": w.id, "kind": w.kind, "connection_id": w.connection_id, "business_key": w.business_key,
        "state": w.state, "status": w.status, "attempt": w.attempt, "run_at": w.run_at,
        "last_error": w.last_error, "created_at": w.created_at, "updated_at": w.updated_at,
    })
}

pub fn event_json(e: &EventRow) -> Value {
    json!({
        "id": e.id, "at": e.at, "actor": e.actor, "event": e.event, "from_state": e.from_state,
        "to_state": e.to_state, "status": e.status, "attempt": e.attempt, "duration_ms": e.duration_ms,
        "error": e.error, "detail": e.detail,
    })
}
