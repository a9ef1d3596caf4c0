//! Periodic jobs fire once per period, however many replicas tick.

use crate::common;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use ml_connector::engine::scheduler::{ScheduleSpec, Scheduler};
use ml_connector::engine::Shutdown;
use serde_json::json;
use sqlx::postgres::PgPoolOptions;

/// A replica's engine with its own connection pool, as a separate process would have.
async fn replica_engine(url: &str) -> ml_connector::engine::Engine {
    let own = PgPoolOptions::new()
        .max_connections(2)
        .connect(url)
        .await
        .unwrap();
    common::fixture_engine(own)
}

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
        let s = Scheduler::new(
            replica_engine(&url).await,
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

/// A tick fires all its due schedules in one transaction: three replicas ticking together over
/// 300 schedules fire each slot once, every fire names the workflow it created, and a schedule of
/// an unknown kind holds back none of the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_schedules_fire_once_per_slot_in_one_transaction_per_tick() {
    let (pool, url) = common::fresh_db().await;
    let mut specs: Vec<ScheduleSpec> = (0..300)
        .map(|i| ScheduleSpec {
            name: format!("orders-poll:{i}"),
            period: Duration::from_millis(1000),
            kind: "probe".into(),
            connection_id: i,
            context: json!({}),
        })
        .collect();
    specs.insert(
        150,
        ScheduleSpec {
            name: "retired:1".into(),
            period: Duration::from_millis(1000),
            kind: "no_such_kind".into(),
            connection_id: 1,
            context: json!({}),
        },
    );
    let specs = Arc::new(specs);
    let mut tasks = Vec::new();
    for r in 0..3 {
        let s = Scheduler::new(
            replica_engine(&url).await,
            specs.clone(),
            Duration::from_millis(20),
            format!("replica-{r}"),
        );
        tasks.push(tokio::spawn(async move {
            let mut fired = Vec::new();
            let until = std::time::Instant::now() + Duration::from_millis(2500);
            while std::time::Instant::now() < until {
                fired.extend(s.tick_once().await.expect("tick"));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            fired
        }));
    }
    let mut fired = Vec::new();
    for t in tasks {
        fired.extend(t.await.unwrap());
    }
    let rows: Vec<(i64, i64, String)> =
        sqlx::query_as("SELECT id, connection_id, business_key FROM workflows ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(fired.len(), rows.len(), "one workflow per fire");
    for f in &fired {
        let (_, _, key) = rows
            .iter()
            .find(|r| r.0 == f.workflow_id)
            .expect("fired id exists");
        assert_eq!(
            key,
            &format!(
                "{}@{}",
                f.name,
                f.slot_start.format("%Y-%m-%dT%H:%M:%S%.3fZ")
            ),
            "a fire names its own workflow"
        );
    }
    let mut per_schedule: std::collections::HashMap<&str, Vec<i64>> = Default::default();
    for f in &fired {
        per_schedule
            .entry(f.name.as_str())
            .or_default()
            .push(f.slot);
    }
    assert!(!per_schedule.contains_key("retired:1"));
    assert_eq!(per_schedule.len(), 300, "every known schedule fired");
    for (name, slots) in per_schedule.iter_mut() {
        slots.sort();
        for pair in slots.windows(2) {
            assert_eq!(
                pair[1],
                pair[0] + 1,
                "{name}: each slot once, none skipped: {slots:?}"
            );
        }
    }
}
