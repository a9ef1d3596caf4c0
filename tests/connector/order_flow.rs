//! Sage 100 sales orders → ShipStation, end to end through both simulators.

use crate::common;

use common::sage100::control;
use ml_connector::engine::worker::{PoolConfig, WorkerPool};
use ml_connector::engine::Shutdown;
use ml_connector::sim::shipstation::SimConfig;
use reqwest::Method;
use serde_json::json;

fn pool_config() -> PoolConfig {
    let mut cfg = PoolConfig::new("order-test".into(), 256);
    cfg.claim_batch = 256;
    cfg.poll_interval = std::time::Duration::from_millis(200);
    cfg
}

async fn seed_orders(c: &common::connector::Connector, n: usize) -> Vec<String> {
    let customers = ["ABF", "BLUEJAY", "CITYMKT", "NORTHPT", "SUNRISE"];
    let mut numbers = Vec::new();
    for i in 0..n {
        let r = control(&c.sage, Method::POST, "ABC/orders", json!({"CustomerNo": customers[i % 5], "ShipVia": "UPS GROUND",
            "Lines": [{"ItemCode": "WID-100", "QuantityOrdered": 1 + i % 4}, {"ItemCode": "BRK-410", "QuantityOrdered": 10}, {"ItemType": "4", "CommentText": "dock 3"}]})).await;
        numbers.push(r["SalesOrderNo"].as_str().unwrap().to_string());
    }
    numbers
}

/// ShipStation's budget binds (2 calls per 2 s) and the pool has 4 handler slots: posts park
/// while they wait for their batch, and a batch keeps filling while the budget is spent, so calls
/// carry up to 100 orders (before: 4 a call, one per handler slot, and 75 calls for 300 orders).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_budget_spent_a_small_pool_still_fills_its_calls() {
    let c = common::connector::start_with_batch_window(
        SimConfig {
            v1_limit: 2,
            v1_window: std::time::Duration::from_secs(2),
            ..SimConfig::default()
        },
        std::time::Duration::from_millis(500),
    )
    .await;
    let numbers = seed_orders(&c, 300).await;
    let shutdown = Shutdown::new();
    let mut cfg = pool_config();
    cfg.concurrency = 4;
    cfg.prefetch = 4;
    cfg.claim_batch = 50;
    let workers = WorkerPool::spawn(c.engine.clone(), cfg, shutdown.clone());
    let poll = c.poll("backfill").await;
    c.settle(poll).await;
    c.assert_exactly_once(&numbers).await;
    let calls = c.createorders_calls().await;
    assert!(
        calls.len() <= 8 && calls.iter().max() == Some(&100),
        "300 orders in {} calls: {calls:?}",
        calls.len()
    );
    shutdown.trigger();
    workers.join().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_orders_reach_shipstation_exactly_once_then_follow_changes() {
    // Batches are measured here: on a busy machine orders become ready more slowly, so the batch
    // may wait longer for companions (the cap of 100 per call is what is checked).
    let c = common::connector::start_with_batch_window(
        SimConfig::default(),
        std::time::Duration::from_secs(4),
    )
    .await;
    let numbers = seed_orders(&c, 500).await;
    // A quote is never shipped.
    control(&c.sage, Method::POST, "ABC/orders", json!({"CustomerNo": "ABF", "OrderType": "Q", "Lines": [{"ItemCode": "WID-100", "QuantityOrdered": 1}]})).await;
    let shutdown = Shutdown::new();
    let workers = WorkerPool::spawn(c.engine.clone(), pool_config(), shutdown.clone());

    let poll = c.poll("backfill").await;
    c.settle(poll).await;
    c.assert_exactly_once(&numbers).await;
    let orders = c.ss_orders().await;
    assert_eq!(
        c.count("SELECT count(*) FROM workflows WHERE kind = 'order' AND state = 'skipped'")
            .await,
        1,
        "the quote"
    );
    assert_eq!(
        c.count("SELECT count(*) FROM workflows WHERE kind = 'order' AND status = 'failed'")
            .await,
        0
    );
    let calls = c.createorders_calls().await;
    let avg = calls.iter().sum::<usize>() as f64 / calls.len() as f64;
    assert!(
        avg >= 95.0,
        "bulk calls carried {avg:.1} orders on average: {calls:?}"
    );
    let o = orders
        .iter()
        .find(|o| o["orderNumber"] == numbers[0].as_str())
        .unwrap();
    assert_eq!(o["items"].as_array().unwrap().len(), 2);
    assert_eq!(o["internalNotes"], "dock 3");
    assert_eq!(o["advancedOptions"]["customField1"], numbers[0].as_str());

    // A change in Sage is re-posted once; hold and delete propagate.
    let before = c.createorders_calls().await.iter().sum::<usize>();
    control(
        &c.sage,
        Method::POST,
        &format!("ABC/orders/{}", numbers[1]),
        json!({"ShipVia": "FEDEX 2DAY", "CustomerPONo": "PO-CHANGED"}),
    )
    .await;
    control(
        &c.sage,
        Method::POST,
        &format!("ABC/orders/{}", numbers[2]),
        json!({"OrderStatus": "H"}),
    )
    .await;
    reqwest::Client::new()
        .delete(format!(
            "{}/__control/ABC/orders/{}",
            c.sage.base, numbers[3]
        ))
        .send()
        .await
        .unwrap();
    let poll = c.poll("changes").await;
    c.settle(poll).await;
    let after = c.createorders_calls().await.iter().sum::<usize>();
    assert_eq!(
        after - before,
        3,
        "changed, held and deleted: one upsert each, nothing else re-posted"
    );
    let orders = c.ss_orders().await;
    let by_no = |n: &str| {
        orders
            .iter()
            .find(|o| o["orderNumber"] == n)
            .unwrap()
            .clone()
    };
    assert_eq!(
        by_no(&numbers[1])["advancedOptions"]["customField2"],
        "PO-CHANGED"
    );
    assert_eq!(by_no(&numbers[1])["requestedShippingService"], "FEDEX 2DAY");
    assert_eq!(by_no(&numbers[2])["orderStatus"], "on_hold");
    assert_eq!(by_no(&numbers[3])["orderStatus"], "cancelled");
    assert_eq!(orders.len(), 500, "still no duplicates");
    let cancelled = c.count(&format!("SELECT count(*) FROM workflows WHERE kind = 'order' AND business_key = '{}' AND state = 'cancelled'", numbers[3])).await;
    assert_eq!(cancelled, 1);
    // A poll with nothing new posts nothing.
    let poll = c.poll("quiet").await;
    c.settle(poll).await;
    assert_eq!(c.createorders_calls().await.iter().sum::<usize>(), after);
    shutdown.trigger();
    workers.join().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_orders_fail_with_a_plain_message_and_restart_once_fixed() {
    let c = common::connector::start(SimConfig::default()).await;
    let r = control(&c.sage, Method::POST, "ABC/orders", json!({"CustomerNo": "ABF", "ShipToAddress1": "", "Lines": [{"ItemCode": "WID-100", "QuantityOrdered": 1}]})).await;
    let no = r["SalesOrderNo"].as_str().unwrap().to_string();
    // The customer default filled the address; blank it as a user would.
    control(
        &c.sage,
        Method::POST,
        &format!("ABC/orders/{no}"),
        json!({"ShipToAddress1": ""}),
    )
    .await;
    let shutdown = Shutdown::new();
    let workers = WorkerPool::spawn(c.engine.clone(), pool_config(), shutdown.clone());
    let poll = c.poll("p1").await;
    c.settle(poll).await;
    let row = ml_connector::engine::store::find(&c.pool, "order", c.connection_id, &no)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.status, "failed");
    assert_eq!(
        row.last_error.as_deref(),
        Some(
            format!("sales order {no} has no ship-to street: complete the ship-to address in Sage")
                .as_str()
        )
    );
    control(
        &c.sage,
        Method::POST,
        &format!("ABC/orders/{no}"),
        json!({"ShipToAddress1": "1 Fixed St"}),
    )
    .await;
    ml_connector::engine::store::restart(&c.pool, row.id, "operator")
        .await
        .unwrap();
    common::eventually(
        "posted after restart",
        std::time::Duration::from_secs(30),
        || async {
            let s = ml_connector::engine::store::get(&c.pool, row.id)
                .await
                .unwrap();
            (s.state == "check" && s.status == "waiting").then_some(())
        },
    )
    .await;
    assert_eq!(c.ss_orders().await.len(), 1);
    shutdown.trigger();
    workers.join().await;
}

/// The real `worker` binary is killed while its createorders call is in flight (the simulator
/// answers slowly); a second worker re-runs the step after the lease expires. ShipStation upserts
/// by orderKey, so nothing is duplicated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_post_leaves_no_duplicate() {
    let c = common::connector::start(SimConfig::default()).await;
    let numbers = seed_orders(&c, 30).await;
    // The shipped definitions with a 3 s lease, so the rescue happens quickly.
    let defs = common::temp_path("workflows");
    std::fs::create_dir_all(&defs).unwrap();
    for (path, text) in ml_connector::flows::BUILTIN_WORKFLOWS {
        let name = std::path::Path::new(path).file_name().unwrap();
        std::fs::write(
            defs.join(name),
            text.replace("lease_secs = 120", "lease_secs = 3"),
        )
        .unwrap();
    }
    let start_worker = |label: &str| {
        let log = std::fs::File::create(common::temp_path(label)).unwrap();
        std::process::Command::new(common::binary())
            .args(["worker", "--workers", "64", "--workflows-dir"])
            .arg(&defs)
            .env("DATABASE_URL", &c.url)
            .env("ML_CONNECTOR_MASTER_KEY", &c.master_key)
            .env("ML_CONNECTOR_LOG_FORMAT", "json")
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap()
    };
    // Slow createorders: the first worker dies while the call is in flight.
    reqwest::Client::new()
        .post(format!("{}/__control/faults", c.ss.base_url()))
        .json(&json!({"latency_ms": 2500}))
        .send()
        .await
        .unwrap();
    let poll = c.poll("kill").await;
    let mut first = start_worker("killed-worker.log");
    common::eventually("a post step running", std::time::Duration::from_secs(60), || async {
        let running = c.count("SELECT count(*) FROM workflows WHERE kind = 'order' AND state = 'post' AND status = 'running'").await;
        let received: serde_json::Value = reqwest::get(format!("{}/__control/received", c.ss.base_url())).await.unwrap().json().await.unwrap();
        let sent = received.as_array().unwrap().iter().any(|r| r["path"] == "/orders/createorders");
        (running > 0 && sent).then_some(())
    })
    .await;
    first.kill().unwrap();
    let _ = first.wait();
    reqwest::Client::new()
        .post(format!("{}/__control/faults", c.ss.base_url()))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let mut second = start_worker("second-worker.log");
    c.settle(poll).await;
    let _ = second.kill();
    let _ = second.wait();
    c.assert_exactly_once(&numbers).await;
    let rescued = c.count("SELECT count(*) FROM workflow_events e JOIN workflows w ON w.id = e.workflow_id WHERE w.kind = 'order' AND e.event = 'lease_expired'").await;
    assert!(rescued > 0, "the killed worker's steps were rescued");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_younger_than_the_minimum_age_wait_before_posting() {
    let c = common::connector::start(SimConfig::default()).await;
    let mut conn = ml_connector::connections::get(&c.pool, "acme")
        .await
        .unwrap();
    conn.settings.min_order_age_secs = 3;
    ml_connector::connections::update_settings(&c.pool, "acme", &conn.settings)
        .await
        .unwrap();
    let numbers = seed_orders(&c, 3).await;
    let entered = std::time::Instant::now();
    let shutdown = Shutdown::new();
    let workers = WorkerPool::spawn(c.engine.clone(), pool_config(), shutdown.clone());
    c.poll("young").await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert!(c.ss_orders().await.is_empty(), "too young to post");
    let row = ml_connector::engine::store::find(&c.pool, "order", c.connection_id, &numbers[0])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (row.state.as_str(), row.status.as_str()),
        ("fetch", "waiting"),
        "a timer, not a retry"
    );
    common::eventually(
        "posted once old enough",
        std::time::Duration::from_secs(30),
        || async { (c.ss_orders().await.len() == 3).then_some(()) },
    )
    .await;
    assert!(entered.elapsed() >= std::time::Duration::from_secs(3));
    shutdown.trigger();
    workers.join().await;
}

/// The product as deployed: `ml-connector serve` with a connection whose poll runs every second;
/// orders entered in Sage reach ShipStation without anything else being started.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_polls_on_schedule_and_posts_new_orders() {
    let c = common::connector::start(SimConfig::default()).await;
    let mut conn = ml_connector::connections::get(&c.pool, "acme")
        .await
        .unwrap();
    conn.settings.polls.orders_secs = 1;
    ml_connector::connections::update_settings(&c.pool, "acme", &conn.settings)
        .await
        .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = std::fs::File::create(common::temp_path("serve.log")).unwrap();
    let mut serve = std::process::Command::new(common::binary())
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--workers",
            "128",
        ])
        .env("DATABASE_URL", &c.url)
        .env("ML_CONNECTOR_MASTER_KEY", &c.master_key)
        .env("ML_CONNECTOR_LOG_FORMAT", "json")
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let numbers = seed_orders(&c, 25).await;
    common::eventually(
        "orders in ShipStation",
        std::time::Duration::from_secs(60),
        || async { (c.ss_orders().await.len() == 25).then_some(()) },
    )
    .await;
    // Later orders are picked up by a later scheduled run.
    let more = seed_orders(&c, 5).await;
    common::eventually(
        "later orders too",
        std::time::Duration::from_secs(60),
        || async { (c.ss_orders().await.len() == 30).then_some(()) },
    )
    .await;
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(serve.id() as i32, libc::SIGTERM) };
    assert_eq!(
        serve.wait().unwrap().code(),
        Some(143),
        "graceful exit on SIGTERM"
    );
    let all: Vec<String> = numbers.iter().chain(&more).cloned().collect();
    c.assert_exactly_once(&all).await;
    let runs = c
        .count(
            "SELECT count(*) FROM sync_runs WHERE feed = 'sage_orders' AND finished_at IS NOT NULL",
        )
        .await;
    assert!(runs >= 2, "scheduled runs recorded: {runs}");
}

/// Run the orders poll's step here, without workers: its order workflows wait, ready, in fetch.
async fn poll_without_workers(c: &common::connector::Connector) {
    let handler = c.engine.handlers.get("orders_poll.run").unwrap();
    handler
        .run(ml_connector::engine::StepInput {
            workflow_id: 0,
            kind: "orders_poll".into(),
            connection_id: c.connection_id,
            business_key: "test-direct".into(),
            state: "poll".into(),
            attempt: 1,
            context: json!({}),
            next: vec!["done".into()],
            db: c.pool.clone(),
            signal_seen: None,
        })
        .await
        .unwrap();
}

async fn fetch_detail(c: &common::connector::Connector, no: &str) -> serde_json::Value {
    sqlx::query_scalar(
        "SELECT e.detail FROM workflow_events e JOIN workflows w ON w.id = e.workflow_id
          WHERE w.business_key = $1 AND e.from_state = 'fetch' AND e.event = 'step_succeeded'
          ORDER BY e.id LIMIT 1",
    )
    .bind(no)
    .fetch_one(&c.pool)
    .await
    .unwrap()
}

/// The poll hands each new order its copy of the order and items (no read per order), but an
/// order changed after the poll read it is posted as Sage holds it now: the poll that sees the
/// change signals the workflow, and a signalled workflow reads Sage. After the post, the check
/// reads Sage only when signalled, and a later change is still re-posted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_changed_after_the_poll_read_it_is_posted_as_sage_holds_it_now() {
    let c = common::connector::start(SimConfig::default()).await;
    c.update_settings(common::connector::map_ups_ground).await;
    let order = json!({"CustomerNo": "ABF", "ShipVia": "UPS GROUND", "CustomerPONo": "PO-FIRST",
        "Lines": [{"ItemCode": "WID-100", "QuantityOrdered": 2}]});
    let unchanged = common::sage100::enter_order(&c.sage, order.clone()).await;
    let changed = common::sage100::enter_order(&c.sage, order).await;
    poll_without_workers(&c).await;
    tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    control(
        &c.sage,
        Method::POST,
        &format!("ABC/orders/{changed}"),
        json!({"CustomerPONo": "PO-SECOND"}),
    )
    .await;
    poll_without_workers(&c).await;

    let shutdown = Shutdown::new();
    let workers = WorkerPool::spawn(c.engine.clone(), pool_config(), shutdown.clone());
    let poll = c.poll("settle").await;
    c.settle(poll).await;
    assert_eq!(
        fetch_detail(&c, &unchanged).await["read_from"],
        "orders_poll"
    );
    assert_eq!(fetch_detail(&c, &changed).await["read_from"], "sage");
    let po = |no: String| {
        let c = &c;
        async move { c.ss_order(&no).await["advancedOptions"]["customField2"].clone() }
    };
    assert_eq!(po(changed.clone()).await, "PO-SECOND");
    assert_eq!(po(unchanged.clone()).await, "PO-FIRST");
    // The checks after the posts read nothing: no poll saw a change since their fetch.
    let quiet_checks = c.count("SELECT count(*) FROM workflow_events WHERE from_state = 'check' AND detail->>'unchanged_since_fetch' = 'true'").await;
    assert_eq!(quiet_checks, 2);

    // A change after the post: the next poll signals, the check reads and the order is re-posted.
    control(
        &c.sage,
        Method::POST,
        &format!("ABC/orders/{unchanged}"),
        json!({"CustomerPONo": "PO-LATER"}),
    )
    .await;
    let poll = c.poll("later").await;
    c.settle(poll).await;
    assert_eq!(po(unchanged.clone()).await, "PO-LATER");
    c.assert_exactly_once(&[unchanged, changed]).await;
    shutdown.trigger();
    workers.join().await;
}
