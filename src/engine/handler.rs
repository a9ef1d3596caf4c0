//! The contract between the engine and the business step handlers.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgPool;

/// What a step handler gets: the workflow's identity, current state, attempt and context.
#[derive(Debug, Clone)]
pub struct StepInput {
    pub workflow_id: i64,
    pub kind: String,
    pub connection_id: i64,
    pub business_key: String,
    pub state: String,
    /// 1-based attempt of this state's step.
    pub attempt: i32,
    pub context: Value,
    /// The transitions the definition allows from this state (a linear step takes `next[0]`).
    pub next: Vec<String>,
    pub db: PgPool,
    /// The workflow's last signal time as this step's claim saw it (`None`: never signalled).
    /// A step can tell whether anything signalled the workflow since an earlier step.
    pub signal_seen: Option<DateTime<Utc>>,
}

/// How the workflow continues after a successful step.
#[derive(Debug, Clone, PartialEq)]
pub enum Continue {
    /// Run the target state's step now.
    Now,
    /// Timer: the target state's step runs at this time (status `waiting` until then).
    At(DateTime<Utc>),
    /// Wait until something signals the workflow (e.g. a webhook); status `waiting`.
    OnSignal,
}

/// A successful step's result: the next state (must be listed in the state's `next`).
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    pub target: String,
    pub when: Continue,
    /// New context (replaces the old one); `None` keeps it.
    pub context: Option<Value>,
    /// A redacted summary for the audit trail (what was sent/received).
    pub detail: Option<Value>,
}

impl Transition {
    pub fn to(target: impl Into<String>) -> Self {
        Self {
            target: target.into(),
            when: Continue::Now,
            context: None,
            detail: None,
        }
    }
    pub fn at(mut self, when: DateTime<Utc>) -> Self {
        self.when = Continue::At(when);
        self
    }
    pub fn on_signal(mut self) -> Self {
        self.when = Continue::OnSignal;
        self
    }
    pub fn with_context(mut self, context: Value) -> Self {
        self.context = Some(context);
        self
    }
    pub fn with_detail(mut self, detail: Value) -> Self {
        self.detail = Some(detail);
        self
    }
}

/// A failed step. Retryable errors follow the retry policy; fatal ones fail the workflow now.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct StepError {
    pub message: String,
    pub retryable: bool,
    /// A minimum delay before the next attempt (e.g. a server's Retry-After).
    pub retry_after: Option<Duration>,
    pub detail: Option<Value>,
}

impl StepError {
    pub fn retry(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: true,
            retry_after: None,
            detail: None,
        }
    }
    pub fn fatal(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: false,
            retry_after: None,
            detail: None,
        }
    }
    pub fn after(mut self, delay: Duration) -> Self {
        self.retry_after = Some(delay);
        self
    }
    pub fn with_detail(mut self, detail: Value) -> Self {
        self.detail = Some(detail);
        self
    }
}

pub type StepResult = Result<Transition, StepError>;
pub type StepFuture = Pin<Box<dyn Future<Output = StepResult> + Send + 'static>>;

/// A step handler. Handlers must be idempotent: a step may run again after a crash.
pub trait StepHandler: Send + Sync + 'static {
    fn run(&self, input: StepInput) -> StepFuture;
}

impl<F, Fut> StepHandler for F
where
    F: Fn(StepInput) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = StepResult> + Send + 'static,
{
    fn run(&self, input: StepInput) -> StepFuture {
        Box::pin(self(input))
    }
}

/// Handlers by the names that workflows/*.toml refer to.
#[derive(Default, Clone)]
pub struct HandlerRegistry {
    handlers: HashMap<String, Arc<dyn StepHandler>>,
}

impl HandlerRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn register(&mut self, name: impl Into<String>, handler: impl StepHandler) -> &mut Self {
        self.handlers.insert(name.into(), Arc::new(handler));
        self
    }

    pub fn get(&self, name: &str) -> Option<Arc<dyn StepHandler>> {
        self.handlers.get(name).cloned()
    }

    pub fn contains(&self, name: &str) -> bool {
        self.handlers.contains_key(name)
    }
}
