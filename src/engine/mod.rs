//! The durable workflow engine. It knows nothing about Sage 100 or ShipStation: workflow kinds
//! come from workflows/*.toml and step handlers are registered by name.

pub mod definition;
pub mod handler;
pub mod retry;
pub mod scheduler;
pub mod shutdown;
pub mod store;
pub mod worker;

use std::sync::Arc;

use sqlx::PgPool;

pub use definition::{Definitions, WorkflowDefinition};
pub use handler::{
    Continue, HandlerRegistry, StepError, StepHandler, StepInput, StepResult, Transition,
};
pub use shutdown::{Shutdown, Signal};
pub use store::{
    append_event, count_events, count_workflows, keys_by_context, keys_in_state, purge_kind,
    workflow_exists, CountFilter, NewWorkflow, Status, StoreError,
};

/// What a worker pool or scheduler needs: the database, the definitions and the handlers.
#[derive(Clone)]
pub struct Engine {
    pub pool: PgPool,
    pub definitions: Arc<Definitions>,
    pub handlers: Arc<HandlerRegistry>,
}

impl Engine {
    pub fn new(pool: PgPool, definitions: Definitions, handlers: HandlerRegistry) -> Self {
        Self {
            pool,
            definitions: Arc::new(definitions),
            handlers: Arc::new(handlers),
        }
    }

    /// Create a workflow of `kind` in its initial state (idempotent on the business key).
    pub async fn start_workflow(
        &self,
        kind: &str,
        connection_id: i64,
        business_key: &str,
        context: serde_json::Value,
        actor: &str,
    ) -> anyhow::Result<(i64, bool)> {
        let def = self
            .definitions
            .get(kind)
            .ok_or_else(|| anyhow::anyhow!("unknown workflow kind {kind:?}"))?;
        let new = NewWorkflow {
            kind: kind.to_string(),
            connection_id,
            business_key: business_key.to_string(),
            initial_state: def.initial.clone(),
            context,
            run_at: None,
        };
        let mut conn = self.pool.acquire().await?;
        Ok(store::create(&mut conn, &new, actor).await?)
    }
}

/// A process-unique worker identity: host:pid:random.
pub fn worker_identity(role: &str) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "host".into());
    format!(
        "{role}@{host}:{}:{:04x}",
        std::process::id(),
        rand::random::<u16>()
    )
}
