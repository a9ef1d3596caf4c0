//! The worker pool on a real database: retries with backoff, failure, restart, and graceful
//! shutdown (finish within the grace period, release the rest).

use crate::common;

use std::time::Duration;

use ml_connector::engine::store;
use ml_connector::engine::worker::{PoolConfig, WorkerPool};
use ml_connector::engine::Shutdown;
use serde_json::json;

fn config(owner: &str, concurrency: usize) -> PoolConfig {
    let mut cfg = PoolConfig::new(owner.into(), concurrency);
    cfg.poll_interval = Duration::from_millis(100);
    cfg.rescue_interval = Duration::from_millis(300);
    cfg
}

#[tokio::test]
async fn backoff_then_failed_then_restart_completes() {
    let (pool, _) = common::fresh_db().await;
    let engine = common::fixture_engine(pool.clone());
    let blocker = common::temp_path("blocker");
    std::fs::write(&blocker, "x").unwrap();
    let ctx = json!({ "fail_while_exists": blocker.to_str().unwrap(), "sleep_ms": 0 });
    let (id, _) = engine
        .start_workflow("flaky", 1, "SO-100", ctx, "test")
        .await
        .unwrap();

    let shutdown = Shutdown::new();
    let workers = WorkerPool::spawn(engine.clone(), config("pool-a", 4), shutdown.clone());
    common::eventually("workflow failed", Duration::from_secs(10), || async {
        (common::status_of(&pool, id).await == "failed").then_some(())
    })
    .await;

    let events = store::events(&pool, id).await.unwrap();
    let attempts: Vec<(&str, Option<i32>, Option<u64>)> = events
        .iter()
        .filter(|e| e.event != "created")
        .map(|e| {
            let retry = e.detail.as_ref().and_then(|d| d["retry_in_ms"].as_u64());
            (e.event.as_str(), e.attempt, retry)
        })
        .collect();
    // max_attempts 3, base 150 ms doubling, capped at 250 ms, no jitter.
    assert_eq!(
        attempts,
        vec![
            ("step_failed", Some(1), Some(150)),
            ("step_failed", Some(2), Some(250)),
            ("failed", Some(3), None)
        ]
    );
    let starts: Vec<_> = events.iter().filter_map(|e| e.started_at).collect();
    assert!(
        (starts[1] - starts[0]).num_milliseconds() >= 150,
        "waited the backoff"
    );
    assert!(
        (starts[2] - starts[1]).num_milliseconds() >= 250,
        "waited the capped backoff"
    );
    let row = store::get(&pool, id).await.unwrap();
    let err = row.last_error.unwrap();
    assert!(
        err.starts_with("gave up after 3 attempts: blocked:"),
        "{err}"
    );

    // The operator fixes the cause and restarts: it resumes at the failed step and completes.
    std::fs::remove_file(&blocker).unwrap();
    store::restart(&pool, id, "operator").await.unwrap();
    common::eventually("workflow completed", Duration::from_secs(10), || async {
        (common::status_of(&pool, id).await == "completed").then_some(())
    })
    .await;
    let names = common::event_names(&pool, id).await;
    assert_eq!(
        &names[names.len() - 3..],
        ["restarted", "step_succeeded", "step_succeeded"]
    );
    shutdown.trigger();
    workers.join().await;
}

#[tokio::test]
async fn shutdown_finishes_running_steps_and_releases_unstarted_ones() {
    let (pool, _) = common::fresh_db().await;
    let engine = common::fixture_engine(pool.clone());
    let trace = common::temp_path("trace");
    let ctx = json!({ "sleep_ms": 800, "trace": trace.to_str().unwrap() });
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(
            engine
                .start_workflow("probe", 1, &format!("SO-{i}"), ctx.clone(), "t")
                .await
                .unwrap()
                .0,
        );
    }
    let shutdown = Shutdown::new();
    // One handler at a time; the other two claimed rows wait in the local buffer.
    let mut cfg = config("pool-b", 1);
    cfg.prefetch = 5;
    cfg.shutdown_grace = Duration::from_secs(5);
    let workers = WorkerPool::spawn(engine.clone(), cfg, shutdown.clone());
    common::eventually("a step started", Duration::from_secs(10), || async {
        (!common::read_trace(&trace).is_empty()).then_some(())
    })
    .await;
    shutdown.trigger();
    workers.join().await;

    let trace = common::read_trace(&trace);
    assert_eq!(
        trace.len(),
        2,
        "the running step finished, nothing else started: {trace:?}"
    );
    let ran = trace[0].1;
    let row = store::get(&pool, ran).await.unwrap();
    assert_eq!(
        (row.state.as_str(), row.status.as_str()),
        ("second", "ready")
    );
    for id in ids.iter().filter(|id| **id != ran) {
        let row = store::get(&pool, *id).await.unwrap();
        assert_eq!(
            (row.state.as_str(), row.status.as_str(), row.attempt),
            ("first", "ready", 0)
        );
        assert!(row.lease_owner.is_none());
        assert_eq!(
            common::event_names(&pool, *id).await,
            ["created", "released"]
        );
    }
}

#[tokio::test]
async fn a_step_past_the_grace_period_is_aborted_and_released() {
    let (pool, _) = common::fresh_db().await;
    let engine = common::fixture_engine(pool.clone());
    let trace = common::temp_path("trace");
    let ctx = json!({ "sleep_ms": 5000, "trace": trace.to_str().unwrap() });
    let (id, _) = engine
        .start_workflow("probe", 1, "SO-1", ctx, "t")
        .await
        .unwrap();
    let shutdown = Shutdown::new();
    let mut cfg = config("pool-c", 2);
    cfg.shutdown_grace = Duration::from_millis(200);
    let workers = WorkerPool::spawn(engine, cfg, shutdown.clone());
    common::eventually("step started", Duration::from_secs(10), || async {
        (!common::read_trace(&trace).is_empty()).then_some(())
    })
    .await;
    let t = std::time::Instant::now();
    shutdown.trigger();
    workers.join().await;
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "did not wait for the 5 s step"
    );
    let row = store::get(&pool, id).await.unwrap();
    assert_eq!(
        (row.state.as_str(), row.status.as_str(), row.attempt),
        ("first", "ready", 0)
    );
    assert_eq!(
        common::event_names(&pool, id).await,
        ["created", "released"]
    );
}
