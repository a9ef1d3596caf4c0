//! Parking: steps waiting on something outside the engine (an order's `createorders` batch) give
//! their handler slot back, so a pool of 2 can hold 12 such waits at once; `max_parked` bounds
//! how many the pool claims for them.

use crate::common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ml_connector::engine::worker::{parked, PoolConfig, WorkerPool};
use ml_connector::engine::{
    Definitions, Engine, HandlerRegistry, Shutdown, StepInput, StepResult, Transition,
};
use serde_json::json;
use tokio::sync::watch;

const GATHER: &str = r#"
kind = "gather"
initial = "wait"
lease_secs = 5

[states.wait]
handler = "test.gather"
next = ["done"]

[states.done]
terminal = true
"#;

/// Every step arrives, then waits (parked) until the test opens the gate.
fn engine(pool: sqlx::PgPool, arrived: Arc<AtomicUsize>, gate: watch::Receiver<bool>) -> Engine {
    let mut handlers = HandlerRegistry::new();
    handlers.register("test.gather", move |_input: StepInput| {
        let arrived = arrived.clone();
        let mut gate = gate.clone();
        async move {
            arrived.fetch_add(1, Ordering::SeqCst);
            parked(async move { gate.wait_for(|open| *open).await.is_ok() }).await;
            StepResult::Ok(Transition::to("done"))
        }
    });
    let defs = Definitions::from_sources([("gather", GATHER)], &|h| h == "test.gather")
        .expect("definition");
    Engine::new(pool, defs, handlers)
}

async fn run(max_parked: usize, prefetch: usize, expect_waiting: usize) {
    let (pool, _) = common::fresh_db().await;
    let arrived = Arc::new(AtomicUsize::new(0));
    let (open, gate) = watch::channel(false);
    let engine = engine(pool.clone(), arrived.clone(), gate);
    let mut ids = Vec::new();
    for i in 0..12 {
        let (id, _) = engine
            .start_workflow("gather", 1, &format!("SO-{i}"), json!({}), "t")
            .await
            .unwrap();
        ids.push(id);
    }
    let shutdown = Shutdown::new();
    let mut cfg = PoolConfig::new("park".into(), 2);
    cfg.prefetch = prefetch;
    cfg.poll_interval = Duration::from_millis(100);
    cfg.max_parked = max_parked;
    let workers = WorkerPool::spawn(engine, cfg, shutdown.clone());

    common::eventually(
        "steps waiting at the gate",
        Duration::from_secs(15),
        || async { (arrived.load(Ordering::SeqCst) >= expect_waiting).then_some(()) },
    )
    .await;
    // No more than that arrive while the gate is shut.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(arrived.load(Ordering::SeqCst), expect_waiting);

    open.send(true).unwrap();
    for id in ids {
        common::eventually("workflow completed", Duration::from_secs(15), || async {
            (common::status_of(&pool, id).await == "completed").then_some(())
        })
        .await;
    }
    shutdown.trigger();
    workers.join().await;
}

#[tokio::test]
async fn parked_steps_free_their_handler_slots() {
    // Two handler slots hold twelve waits; without parking only two would ever arrive.
    run(256, 1, 12).await;
}

#[tokio::test]
async fn max_parked_bounds_the_waits() {
    // Two slots, three parked counted as room, nothing prefetched: five steps are claimed and
    // every one of them parks (none keeps a slot while it waits); the rest wait their turn.
    run(3, 0, 5).await;
}

#[tokio::test]
async fn steps_beyond_max_parked_still_give_their_slot_back() {
    // Two slots, one parked counted as room, two prefetched: four steps are held. Every one parks,
    // so all four arrive; had the second and third kept their slots, the fourth would wait (three).
    run(1, 2, 4).await;
}
