//! Operations on the connector's state, shared by the GraphQL API and the `workflows` CLI:
//! finding workflows and their audit trail, restarting, retrying, cancelling, replaying, starting
//! syncs, and what needs a human now (alerts) or how busy things are (stats).

pub mod alerts;
pub mod connections;
pub mod digest;
pub mod feeds;
pub mod fit;
pub mod notify_test;
pub mod order_search;
pub mod probe;
pub mod retention;
pub mod stats;
pub mod tokens;
pub mod workflows;

pub use workflows::{trigger_sync, WorkflowFilter};

use crate::engine::store::StoreError;

/// Rows fetched with `LIMIT first + 1`: the page, and whether another follows.
pub fn split_page<T>(mut rows: Vec<T>, first: i64) -> (Vec<T>, bool) {
    let more = rows.len() as i64 > first;
    rows.truncate(first.max(0) as usize);
    (rows, more)
}

/// The database's clock (what every replica agrees on), e.g. where a change feed starts.
pub async fn database_now(pool: &sqlx::PgPool) -> Result<chrono::DateTime<chrono::Utc>, OpsError> {
    Ok(sqlx::query_scalar("SELECT now()").fetch_one(pool).await?)
}

/// Why an operation did not happen, in words for the person who asked.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    InvalidState(String),
    #[error("{0}")]
    BadInput(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl OpsError {
    /// The machine-readable code (GraphQL `extensions.code`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "NOT_FOUND",
            Self::InvalidState(_) => "INVALID_STATE",
            Self::BadInput(_) => "BAD_USER_INPUT",
            Self::Internal(_) => "INTERNAL",
        }
    }
}

impl From<StoreError> for OpsError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(id) => Self::NotFound(format!("workflow {id}")),
            e @ StoreError::InvalidState { .. } => Self::InvalidState(e.to_string()),
            StoreError::Db(e) => Self::Internal(e.to_string()),
        }
    }
}

impl From<sqlx::Error> for OpsError {
    fn from(e: sqlx::Error) -> Self {
        Self::Internal(e.to_string())
    }
}

impl From<crate::connections::ConnectionError> for OpsError {
    fn from(e: crate::connections::ConnectionError) -> Self {
        use crate::connections::ConnectionError as C;
        match e {
            C::NotFound(n) => Self::NotFound(format!("connection {n:?}")),
            e @ (C::Exists(_) | C::Invalid(_) | C::UnknownSecret(..)) => {
                Self::BadInput(e.to_string())
            }
            e => Self::Internal(e.to_string()),
        }
    }
}
