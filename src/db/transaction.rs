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
use tracing::Instrument;

/// `pool.begin()`, safe to cancel. Use this instead (clippy.toml forbids sqlx's `begin` methods).
pub async fn begin(pool: &PgPool) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    // Waiting for a connection is safe to give up (sqlx puts it back); only `BEGIN` is not. So a
    // caller who gives up while the pool is full leaves no task behind to take a connection later.
    let conn = pool.acquire().await?;
    // `Transaction::begin` is what `Pool::begin` runs once it has its connection (hidden from
    // sqlx's docs; the version is pinned by Cargo.lock).
    #[allow(clippy::disallowed_methods)] // the one place that may
    let started = tokio::spawn(Transaction::begin(conn, None).instrument(tracing::Span::current()));
    match started.await {
        Ok(result) => result,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // The runtime is shutting down: no transaction was handed out.
        Err(_) => Err(sqlx::Error::WorkerCrashed),
    }
}
