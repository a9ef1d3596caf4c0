//! The orders probe: between full polls, one light agent call finds a new or changed Sage order
//! and starts an orders poll at once; nothing changed, nothing started; a poll already due is
//! not doubled; an unreachable agent ends the probe quietly; the schedule runs it every
//! `polls.orders_probe_secs` (30 s) unless it is 0.

use std::time::Duration;

use serde_json::{json, Value};

use crate::common;
use common::connector::Connector;
use common::sage100::enter_order;
use ml_connector::engine::worker::{PoolConfig, WorkerPool};
use ml_connector::engine::Shutdown;
use ml_connector::sim::shipstation::SimConfig;

/// Run one probe now (as the scheduler would) and return what it decided.
async fn probe(c: &Connector, label: &str) -> Value {
    let (id, _) = c
        .engine
        .start_workflow(
            "orders_probe",
            c.connection_id,
            &format!("test-{label}"),
            json!({}),
            "test",
        )
        .await
        .unwrap();
    common::eventually("probe finished", Duration::from_secs(30), || async {
        (common::status_of(&c.pool, id).await == "completed").then_some(())
    })
    .await;
    sqlx::query_scalar(
        "SELECT detail FROM workflow_events WHERE workflow_id = $1 AND event = 'step_succeeded'",
    )
    .bind(id)
    .fetch_one(&c.pool)
    .await
    .unwrap()
}

async fn polls(c: &Connector) -> i64 {
    c.count("SELECT count(*) FROM workflows WHERE kind = 'orders_poll'")
        .await
}

fn pool_config() -> PoolConfig {
    let mut cfg = PoolConfig::new("probe-test".into(), 8);
    cfg.poll_interval = Duration::from_millis(100);
    cfg
}

fn order() -> Value {
    json!({"CustomerNo": "ABF", "ShipVia": "UPS GROUND",
           "Lines": [{"ItemCode": "WID-100", "QuantityOrdered": 3}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_probe_starts_a_poll_only_when_an_order_changed() {
    let c = common::connector::start(SimConfig::default()).await;
    c.update_settings(|s| {
        common::connector::map_ups_ground(s);
    })
    .await;
    let first = enter_order(&c.sage, order()).await;
    let shutdown = Shutdown::new();
    let workers = WorkerPool::spawn(c.engine.clone(), pool_config(), shutdown.clone());
    let poll = c.poll("first").await;
    c.settle(poll).await;
    c.assert_exactly_once(std::slice::from_ref(&first)).await;
    assert_eq!(polls(&c).await, 1);

    // Nothing changed since the poll: nothing started.
    let d = probe(&c, "quiet").await;
    assert_eq!(d["changed"], false, "{d}");
    assert_eq!(polls(&c).await, 1);

    // A new order: the probe starts a poll now, which sends it.
    let second = enter_order(&c.sage, order()).await;
    let d = probe(&c, "new").await;
    assert_eq!(
        (d["changed"].clone(), d["started"].clone()),
        (json!(true), json!(true)),
        "{d}"
    );
    let key = d["poll"].as_str().unwrap().to_string();
    assert!(key.starts_with("probe:") && key.ends_with(&second), "{key}");
    let poll: i64 = sqlx::query_scalar(
        "SELECT id FROM workflows WHERE kind = 'orders_poll' AND business_key = $1",
    )
    .bind(&key)
    .fetch_one(&c.pool)
    .await
    .unwrap();
    c.settle(poll).await;
    c.assert_exactly_once(&[first.clone(), second.clone()])
        .await;

    // Seen by that poll: quiet again.
    let d = probe(&c, "after").await;
    assert_eq!(d["changed"], false, "{d}");

    // An order changed in Sage (not a new one) is a change too.
    common::sage100::control(
        &c.sage,
        reqwest::Method::POST,
        &format!("ABC/orders/{first}"),
        json!({"CustomerPONo": "PO-CHANGED"}),
    )
    .await;
    let d = probe(&c, "changed").await;
    assert_eq!(d["changed"], true, "{d}");
    assert!(d["poll"].as_str().unwrap().ends_with(&first), "{d}");

    let poll: i64 = sqlx::query_scalar(
        "SELECT id FROM workflows WHERE kind = 'orders_poll' AND business_key = $1",
    )
    .bind(d["poll"].as_str().unwrap())
    .fetch_one(&c.pool)
    .await
    .unwrap();
    c.settle(poll).await;

    // A poll already due (here: not before an hour): the probe does not add another.
    shutdown.trigger();
    workers.join().await;
    let due = c.poll("due").await;
    sqlx::query("UPDATE workflows SET run_at = now() + interval '1 hour' WHERE id = $1")
        .bind(due)
        .execute(&c.pool)
        .await
        .unwrap();
    enter_order(&c.sage, order()).await;
    let before = polls(&c).await;
    let shutdown = Shutdown::new();
    let workers = WorkerPool::spawn(c.engine.clone(), pool_config(), shutdown.clone());
    let d = probe(&c, "busy").await;
    assert_eq!(d["skipped"], "an orders poll is due or running", "{d}");
    assert_eq!(polls(&c).await, before, "no second poll");

    // The agent unreachable: the probe ends without a failure (the poll reports errors).
    c.update_settings(|s| s.sage.agent_url = "http://127.0.0.1:9".into())
        .await;
    sqlx::query("DELETE FROM workflows WHERE id = $1")
        .bind(due)
        .execute(&c.pool)
        .await
        .unwrap();
    let d = probe(&c, "unreachable").await;
    assert!(d["error"].as_str().is_some_and(|e| !e.is_empty()), "{d}");
    shutdown.trigger();
    workers.join().await;

    // Scheduled every polls.orders_probe_secs, 30 s by default; 0 turns it off.
    let probe_spec = |c: &Connector| {
        let pool = c.pool.clone();
        let name = format!("orders-probe:{}", c.connection_id);
        async move {
            ml_connector::flows::orders_poll::schedules(pool, false)
                .schedules()
                .await
                .unwrap()
                .into_iter()
                .find(|s| s.name == name)
                .map(|s| (s.kind, s.period))
        }
    };
    assert_eq!(
        probe_spec(&c).await,
        Some(("orders_probe".to_string(), Duration::from_secs(30)))
    );
    c.update_settings(|s| s.polls.orders_probe_secs = 0).await;
    assert_eq!(probe_spec(&c).await, None);
}
