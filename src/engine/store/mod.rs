//! PostgreSQL side of the engine: the types shared by its parts, and the re-exports that make up
//! `engine::store`. Every state change writes its audit event in the same statement (hence the same
//! transaction). Statements that need many rows of other owners skip locked rows (claim, heartbeat,
//! rescue) or lock in ascending id order (signals by key, release). The batched completion locks
//! only the pool's own rows, without an ordered pass (it cost a lock record per row); should it meet
//! a caller's multi-row transaction head-on, PostgreSQL breaks the cycle and [`on_deadlock_retry`]
//! runs the statement again (so it does for the heartbeat, signals by key and release).
//!
//! - `hot`: the step cycle (create, claim, complete, heartbeat, rescue, release);
//! - `admin`: deliberate changes (restart, rewind, cancel, signal, audit rows, purge);
//! - `read`: read models (get, find, events, ops views, counts, lookups by key or context).

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;

mod admin;
mod history;
mod hot;
mod read;

pub use admin::{
    analyze, append_event, cancel, prune_finished_events, prune_finished_runs, purge_kind, restart,
    rewind, signal, signal_keys,
};
pub use history::{count_moves, open_items, recovered_since, OpenItem};
pub use hot::{
    claim, complete, create, create_many, create_many_in, heartbeat, release, rescue_expired,
};
pub use read::{
    count_events, count_matching, count_workflows, counts_by_kind_and_status, event, events,
    events_after, failing_connections, find, get, ids_matching, keys_by_context, keys_in_state,
    list_workflows, needing_attention, oldest_due, workflow_exists, workflows_changed_since,
    Attention, AttentionGroup, CountFilter, EventRow, OldestDue, WorkflowQuery, WorkflowRow,
    WORKFLOW_COLUMNS,
};

/// Channel used to wake worker pools when work becomes ready.
pub const WORK_CHANNEL: &str = "mlc_work";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("workflow {0} not found")]
    NotFound(i64),
    #[error("workflow {id} is {status}; {action} needs {needs}")]
    InvalidState {
        id: i64,
        status: String,
        action: &'static str,
        needs: &'static str,
    },
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Run `op` again (up to three times in all) when PostgreSQL aborted it to break a deadlock
/// (SQLSTATE 40P01): its transaction was rolled back whole, and the engine's writes are fenced, so
/// a second run applies exactly what the first would have.
pub(crate) async fn on_deadlock_retry<T, F, Fut>(mut op: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    let mut tries = 1;
    loop {
        match op().await {
            Err(StoreError::Db(sqlx::Error::Database(e)))
                if tries < 3 && e.code().as_deref() == Some("40P01") =>
            {
                tries += 1;
                tracing::info!("deadlock broken by PostgreSQL; running the statement again");
            }
            other => return other,
        }
    }
}

/// Workflow status, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ready,
    Running,
    Waiting,
    Failed,
    Completed,
    Cancelled,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ready => "ready",
            Status::Running => "running",
            Status::Waiting => "waiting",
            Status::Failed => "failed",
            Status::Completed => "completed",
            Status::Cancelled => "cancelled",
        }
    }
}

/// A workflow to create.
#[derive(Debug, Clone)]
pub struct NewWorkflow {
    pub kind: String,
    pub connection_id: i64,
    pub business_key: String,
    pub initial_state: String,
    pub context: Value,
    /// Not before this time (e.g. a minimum order age); `None` = now.
    pub run_at: Option<DateTime<Utc>>,
}

/// A step claimed by a worker: it holds the lease until it completes or the lease expires.
#[derive(Debug, Clone)]
pub struct ClaimedStep {
    pub id: i64,
    pub kind: String,
    pub connection_id: i64,
    pub business_key: String,
    pub state: String,
    pub attempt: i32,
    pub fence: i64,
    pub context: Value,
    /// When the step became claimable (for claim latency).
    pub ready_at: DateTime<Utc>,
    /// The row's `signalled_at` as the claim saw it. Every signal changes that value, so a
    /// different value at completion means a signal arrived while the step ran (no clocks compared).
    pub signal_seen: Option<DateTime<Utc>>,
}

/// The outcome of one step attempt, ready to be written.
#[derive(Debug, Clone)]
pub struct StepRecord {
    pub id: i64,
    pub fence: i64,
    pub from_state: String,
    pub attempt: i32,
    /// Worker clock; audit only (never compared with database times).
    pub started_at: DateTime<Utc>,
    pub duration_ms: f64,
    pub event: &'static str,
    pub to_state: String,
    pub status: Status,
    pub next_attempt: i32,
    /// Relative to the database clock (so replicas with skewed clocks agree).
    pub delay_ms: Option<f64>,
    /// Absolute time (timers); used when `delay_ms` is `None`.
    pub run_at: Option<DateTime<Utc>>,
    pub context: Option<Value>,
    pub error: Option<String>,
    pub detail: Option<Value>,
    /// [`ClaimedStep::signal_seen`] of the claim this outcome belongs to.
    pub signal_seen: Option<DateTime<Utc>>,
}

/// Wake every listening worker pool (delivered at commit when inside a transaction).
pub async fn notify_work(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(WORK_CHANNEL)
        .execute(conn)
        .await?;
    Ok(())
}
