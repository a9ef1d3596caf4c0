//! Starting a transaction on a pooled connection so that a caller who gives up cannot leave the
//! connection inside it.
//!
//! sqlx 0.8.6 and 0.9.0 (`PgTransactionManager::begin`) count a transaction only after the answer
//! to `BEGIN`: a future dropped while it waits (a `select!`, a timeout, an HTTP client that hangs
//! up) leaves the server inside a transaction that nothing rolls back, and the pool hands that
//! connection to the next borrower, whose autocommit writes then wait in it — uncommitted, holding
//! their locks, lost if the connection closes (transact-rs/sqlx#4393; the fix, #4394, is in no
//! release yet). PostgreSQL's notice "there is already a transaction in progress" is its trace.
//! Here the `BEGIN` runs on its own task: a caller dropped early leaves that task to finish it,
//! and the transaction it returns is dropped there, which queues the `ROLLBACK`.

use sqlx::{PgPool, Postgres, Transaction};

/// `pool.begin()`, safe to cancel. Use this instead (clippy.toml forbids `Pool::begin`).
pub async fn begin(pool: &PgPool) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    let pool = pool.clone();
    #[allow(clippy::disallowed_methods)] // the one place that may
    let started = tokio::spawn(async move { pool.begin().await });
    started.await.unwrap_or_else(|e| {
        // The task panicked or the runtime is shutting down: no transaction was handed out.
        tracing::warn!(error = %e, "the task starting a transaction did not finish");
        Err(sqlx::Error::WorkerCrashed)
    })
}
