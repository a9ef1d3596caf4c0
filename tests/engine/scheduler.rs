//! Periodic jobs fire once per period, however many replicas tick.

use crate::common;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use ml_connector::engine::scheduler::{ScheduleSpec, Scheduler};
use ml_connector::engine::Shutdown;
use serde_json::json;
use sqlx::postgres::PgPoolOptions;

#[tokio::test]
async fn three_replicas_fire_each_period_exactly_once() {
    let (pool, url) = common::fresh_db().await;
    let specs = Arc::new(vec![
        ScheduleSpec {
            name: "orders-poll:1".into(),
            period: Duration::from_millis(400),
            kind: "probe".into(),
            connection_id: 1,
            context: json!({}),
        },
        ScheduleSpec {
            name: "shipments-poll:1".into(),
            period: Duration::from_millis(700),
            kind: "flaky".into(),
            connection_id: 1,
            context: json!({}),
        },
    ]);
    let shutdown = Shutdown::new();
    let mut replicas = Vec::new();
    for r in 0..3 {
        // Each replica has its own connection pool, as separate processes would.
        let own = PgPoolOptions::new()
            .max_connections(2)
            .connect(&url)
            .await
            .unwrap();
        let engine = common::fixture_engine(own);
        let s = Scheduler::new(
            engine,
            specs.clone(),
            Duration::from_millis(15),
            format!("replica-{r}"),
        );
        let fired = s.fired.clone();
        replicas.push((tokio::spawn(s.run(shutdown.clone())), fired));
    }
    tokio::time::sleep(Duration::from_millis(3000)).await;
    shutdown.trigger();
    let mut total_fires = 0;
    let mut replicas_that_fired = 0;
    for (task, fired) in replicas {
        task.await.unwrap();
        let n = fired.load(Ordering::Relaxed);
        total_fires += n;
        replicas_that_fired += (n > 0) as u32;
    }

    for (kind, name, period_ms) in [
        ("probe", "orders-poll:1", 400i64),
        ("flaky", "shipments-poll:1", 700),
    ] {
        let keys: Vec<String> = sqlx::query_scalar(
            "SELECT business_key FROM workflows WHERE kind = $1 ORDER BY business_key",
        )
        .bind(kind)
        .fetch_all(&pool)
        .await
        .unwrap();
        // One workflow per slot, slots consecutive (nothing skipped, nothing doubled). A 3 s window
        // touches at most floor(3000 / period) + 2 slots (partial first and last).
        let slots: Vec<i64> = keys
            .iter()
            .map(|k| {
                let ts = k
                    .strip_prefix(&format!("{name}@"))
                    .expect("key names the schedule");
                chrono::DateTime::parse_from_rfc3339(ts)
                    .unwrap()
                    .timestamp_millis()
                    / period_ms
            })
            .collect();
        let expected_min = 3000 / period_ms - 1;
        assert!(
            slots.len() as i64 >= expected_min && slots.len() as i64 <= 3000 / period_ms + 2,
            "{name}: {slots:?}"
        );
        for pair in slots.windows(2) {
            assert_eq!(pair[1], pair[0] + 1, "{name}: consecutive slots {slots:?}");
        }
    }
    let workflows: i64 = sqlx::query_scalar("SELECT count(*) FROM workflows")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        total_fires as i64, workflows,
        "every fire created exactly one workflow"
    );
    assert!(
        replicas_that_fired >= 2,
        "fires are spread over replicas (leaderless)"
    );
}
