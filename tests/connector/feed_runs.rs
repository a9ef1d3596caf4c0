//! A feed's open run keeps a second poll of the same connection away only while its workflow is
//! running: a run left open by a crash (its workflow failed since), by a workflow since
//! pruned, or of another connection or feed, does not.

use crate::common;

use ml_connector::engine::store::{self, NewWorkflow};
use ml_connector::flows::feed_state;
use serde_json::json;
use sqlx::PgPool;

const CONNECTION: i64 = 7;

async fn poll_workflow(pool: &PgPool, key: &str, status: &str) -> i64 {
    let new = NewWorkflow {
        kind: "orders_poll".into(),
        connection_id: CONNECTION,
        business_key: key.into(),
        initial_state: "poll".into(),
        context: json!({}),
        run_at: None,
    };
    let mut conn = pool.acquire().await.unwrap();
    let (id, _) = store::create(&mut conn, &new, "test").await.unwrap();
    sqlx::query("UPDATE workflows SET status = $2 WHERE id = $1")
        .bind(id)
        .bind(status)
        .execute(pool)
        .await
        .unwrap();
    id
}

async fn elsewhere(pool: &PgPool, connection: i64, feed: &str, me: i64) -> bool {
    feed_state::running_elsewhere(pool, connection, feed, me)
        .await
        .unwrap()
}

#[tokio::test]
async fn only_a_running_workflow_s_open_run_counts_as_running_elsewhere() {
    let (pool, _) = common::fresh_db().await;
    let me = poll_workflow(&pool, "me", "running").await;
    feed_state::start_run(&pool, CONNECTION, "orders", me)
        .await
        .unwrap();
    assert!(
        !elsewhere(&pool, CONNECTION, "orders", me).await,
        "my own run"
    );

    // A run left open by a workflow that is no longer running.
    let crashed = poll_workflow(&pool, "crashed", "failed").await;
    feed_state::start_run(&pool, CONNECTION, "orders", crashed)
        .await
        .unwrap();
    // A run whose workflow was pruned since.
    feed_state::start_run(&pool, CONNECTION, "orders", 9_999_999)
        .await
        .unwrap();
    assert!(!elsewhere(&pool, CONNECTION, "orders", me).await);

    let other = poll_workflow(&pool, "other", "running").await;
    feed_state::start_run(&pool, CONNECTION, "orders", other)
        .await
        .unwrap();
    assert!(elsewhere(&pool, CONNECTION, "orders", me).await);
    assert!(
        !elsewhere(&pool, CONNECTION, "inventory", me).await,
        "another feed"
    );
    assert!(
        !elsewhere(&pool, CONNECTION + 1, "orders", me).await,
        "another connection"
    );

    // An open run older than an hour is a crash's leftover, whatever its workflow says.
    sqlx::query(
        "UPDATE sync_runs SET started_at = now() - interval '2 hours' WHERE workflow_id = $1",
    )
    .bind(other)
    .execute(&pool)
    .await
    .unwrap();
    assert!(!elsewhere(&pool, CONNECTION, "orders", me).await);
}
