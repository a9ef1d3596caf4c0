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
    let id = c.run_now("orders_probe", label).await;
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

/// `connection sync --feed orders --dry-run` through the real binary: each changed order as it
/// would be posted (create or update) or refused with its sentences, and nothing changes anywhere:
/// no workflow, no watermark, nothing in ShipStation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_shows_what_the_next_orders_sync_would_send_and_changes_nothing() {
    let c = common::connector::start(SimConfig::default()).await;
    c.update_settings(common::connector::map_ups_ground).await;
    let good = enter_order(&c.sage, order()).await;
    let mut bad_order = order();
    bad_order["ShipToCountryCode"] = json!("QQQ");
    let bad = enter_order(&c.sage, bad_order).await;
    let dry_run = |extra: &'static [&'static str]| {
        let mut cmd = tokio::process::Command::new(common::binary());
        cmd.args([
            "connection",
            "sync",
            "acme",
            "--feed",
            "orders",
            "--dry-run",
        ])
        .args(extra)
        .env("DATABASE_URL", &c.url)
        .env("ML_CONNECTOR_MASTER_KEY", &c.master_key);
        async move {
            let out = cmd.output().await.unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).unwrap()
        }
    };
    let v: Value = serde_json::from_str(&dry_run(&["--json"]).await).unwrap();
    let orders = v["orders"].as_array().unwrap();
    assert_eq!(orders.len(), 2, "{v}");
    let of = |no: &str| {
        orders
            .iter()
            .find(|o| o["sales_order_no"] == no)
            .unwrap()
            .clone()
    };
    let g = of(&good);
    assert_eq!(
        (g["action"].as_str(), g["update"].as_bool()),
        (Some("post"), Some(false)),
        "{g}"
    );
    assert_eq!(g["order"]["number"], json!(good), "{g}");
    assert_eq!(g["order"]["lines"][0]["quantity"], 3, "{g}");
    let b = of(&bad);
    assert_eq!(b["action"], "fail", "{b}");
    assert!(
        b["problems"][0]
            .as_str()
            .unwrap()
            .contains("\"QQQ\" is not an ISO 3166 country code"),
        "{b}"
    );
    // The same through GraphQL, for operators.
    let api = c.start_api().await;
    let gql = |role| {
        let (api, pool) = (api.clone(), c.pool.clone());
        async move {
            let token = ml_connector::ops::tokens::create(&pool, "t", role)
                .await
                .unwrap();
            reqwest::Client::new()
                .post(format!("{api}/graphql"))
                .bearer_auth(token)
                .json(&json!({"query": "{ preview(connection: \"acme\", feed: ORDERS) }"}))
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    use ml_connector::ops::tokens::Role;
    let r = gql(Role::Viewer).await;
    assert_eq!(r["errors"][0]["extensions"]["code"], "FORBIDDEN", "{r}");
    let r = gql(Role::Operator).await;
    assert_eq!(r["data"]["preview"]["orders"], v["orders"], "{r}");
    let text = dry_run(&[]).await;
    assert!(
        text.contains(&format!("{good}  create  1 line(s)")),
        "{text}"
    );
    assert!(text.contains(&format!("{bad}  FAIL")), "{text}");
    // Nothing happened anywhere.
    assert_eq!(c.count("SELECT count(*) FROM workflows").await, 0);
    assert_eq!(c.count("SELECT count(*) FROM cursors").await, 0);
    assert!(c.ss_orders().await.is_empty());

    // After a real sync: nothing new; a change in Sage previews as an update.
    let shutdown = Shutdown::new();
    let workers = WorkerPool::spawn(c.engine.clone(), pool_config(), shutdown.clone());
    let poll = c.poll("real").await;
    c.settle(poll).await;
    shutdown.trigger();
    workers.join().await;
    let v: Value = serde_json::from_str(&dry_run(&["--json"]).await).unwrap();
    assert_eq!(v["orders"], json!([]), "{v}");
    common::sage100::control(
        &c.sage,
        reqwest::Method::POST,
        &format!("ABC/orders/{good}"),
        json!({"CustomerPONo": "PO-CHANGED"}),
    )
    .await;
    let v: Value = serde_json::from_str(&dry_run(&["--json"]).await).unwrap();
    assert_eq!(v["orders"][0]["sales_order_no"], json!(good), "{v}");
    assert_eq!(v["orders"][0]["update"], true, "{v}");
}
