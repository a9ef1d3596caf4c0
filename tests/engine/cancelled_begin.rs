//! A transaction start given up halfway (a `select!`, a timeout, a client that hung up) leaves no
//! transaction open on the pooled connection (src/db/transaction.rs).

use crate::common;

use std::future::Future;
use std::task::Poll;
use std::time::Duration;

use sqlx::{PgPool, Row};

/// One connection, handed out without a test query: a single poll of `begin` then reaches the
/// moment its `BEGIN` is on the wire and the answer not yet read.
async fn one_connection_pool(url: &str) -> PgPool {
    let pool = ml_connector::db::pool_options()
        .max_connections(1)
        .test_before_acquire(false)
        .connect(url)
        .await
        .unwrap();
    sqlx::query("SELECT 1").execute(&pool).await.unwrap();
    pool
}

/// Poll `f` once, let every other task run as far as it can, then drop `f` (as a `select!` drops
/// the branch that lost). True if it finished. First the pool's one connection is let back to its
/// idle queue (a task sqlx spawns on release), so the poll finds it there and sends `BEGIN`
/// (directly, or on a task `f` spawned, which the yield lets reach the wait for the answer).
async fn poll_once_then_drop(f: impl Future) -> bool {
    tokio::time::sleep(Duration::from_millis(20)).await;
    let mut f = std::pin::pin!(f);
    let finished = std::future::poll_fn(|cx| Poll::Ready(f.as_mut().poll(cx).is_ready())).await;
    tokio::task::yield_now().await;
    finished
}

/// Whether the next statement on the pool runs inside a transaction begun earlier. A simple query
/// (one protocol message) in autocommit starts its own transaction, so `now()`, the transaction's
/// start, is exactly its `statement_timestamp()`; inside an older transaction it is earlier.
async fn runs_inside_an_old_transaction(pool: &PgPool) -> bool {
    tokio::time::sleep(Duration::from_millis(20)).await;
    sqlx::raw_sql("SELECT now() < statement_timestamp()")
        .fetch_one(pool)
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn a_begin_given_up_halfway_leaves_no_transaction_on_the_connection() {
    let (_, url) = common::fresh_db().await;
    let pool = one_connection_pool(&url).await;
    for _ in 0..20 {
        let finished = poll_once_then_drop(ml_connector::db::begin(&pool)).await;
        assert!(!finished, "one poll cannot finish a BEGIN");
        assert!(!runs_inside_an_old_transaction(&pool).await);
    }
    // And a transaction still starts and commits on that connection.
    let mut tx = ml_connector::db::begin(&pool).await.unwrap();
    sqlx::query("SELECT 1").execute(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();
}

/// The check above can see the fault: sqlx's own `Pool::begin`, given up the same way, leaves the
/// connection inside its transaction. When this fails, sqlx is fixed (transact-rs/sqlx#4393) and
/// `db::begin` can go.
#[tokio::test]
async fn sqlx_pool_begin_given_up_halfway_still_leaves_its_transaction_open() {
    let (_, url) = common::fresh_db().await;
    let pool = one_connection_pool(&url).await;
    let mut leaked = false;
    for _ in 0..10 {
        #[allow(clippy::disallowed_methods)] // the fault being shown
        poll_once_then_drop(pool.begin()).await;
        if runs_inside_an_old_transaction(&pool).await {
            leaked = true;
            break;
        }
    }
    assert!(
        leaked,
        "sqlx's Pool::begin no longer leaks a transaction when cancelled"
    );
}
