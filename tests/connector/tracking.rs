//! Tracking back: ShipStation shipments → Sage 100 sales order UDFs and SO invoice tracking rows,
//! through webhooks (V1 token, V2 signature) and reconciliation polls, on both simulators.

use crate::common;

use std::time::Duration;

use common::connector::Connector;
use common::sage100::{control, enter_order, invoice, rows};
use ml_connector::engine::worker::{PoolConfig, WorkerPool};
use ml_connector::engine::Shutdown;
use ml_connector::sim::shipstation::SimConfig;
use reqwest::Method;
use serde_json::{json, Value};

fn pool_config() -> PoolConfig {
    let mut cfg = PoolConfig::new("tracking-test".into(), 32);
    cfg.poll_interval = Duration::from_millis(200);
    cfg
}

/// A connector with webhooks subscribed to its API, `n` Sage orders posted to ShipStation.
async fn started(n: usize) -> (Connector, Vec<String>, Shutdown, String) {
    let c = common::connector::start(SimConfig::default()).await;
    let api = c.start_api().await;
    let api_for_settings = api.clone();
    c.update_settings(move |s| {
        s.tracking.webhook_base_url = Some(api_for_settings);
        s.tracking.invoice_check_secs = 1;
        common::connector::map_ups_ground(s);
    })
    .await;
    let mut numbers = Vec::new();
    for i in 0..n {
        numbers.push(
            enter_order(&c.sage, json!({"CustomerNo": "ABF", "ShipVia": "UPS GROUND",
                "Lines": [{"ItemCode": "WID-100", "QuantityOrdered": 1 + i}, {"ItemCode": "BRK-410", "QuantityOrdered": 2}]}))
            .await,
        );
    }
    let shutdown = Shutdown::new();
    WorkerPool::spawn(c.engine.clone(), pool_config(), shutdown.clone());
    let poll = c.poll("orders").await;
    c.settle(poll).await;
    // The first shipments poll subscribes our webhooks.
    c.shipments_poll("subscribe").await;
    (c, numbers, shutdown, api)
}

async fn order_state(c: &Connector, no: &str) -> (String, String) {
    sqlx::query_as("SELECT state, status FROM workflows WHERE kind = 'order' AND business_key = $1")
        .bind(no)
        .fetch_one(&c.pool)
        .await
        .unwrap()
}

async fn wait_state(c: &Connector, no: &str, state: &str) {
    common::eventually(
        &format!("order {no} in {state}"),
        Duration::from_secs(60),
        || async {
            let (s, status) = order_state(c, no).await;
            (s == state && status == "waiting").then_some(())
        },
    )
    .await;
}

async fn so_header(c: &Connector, no: &str) -> Value {
    rows(&c.sage, "SO_SalesOrderHeader")
        .await
        .into_iter()
        .find(|r| r["SalesOrderNo"] == json!(no))
        .unwrap_or(Value::Null)
}

async fn tracking_rows(c: &Connector, table: &str, invoice: &str) -> Vec<Value> {
    rows(&c.sage, table)
        .await
        .into_iter()
        .filter(|r| r["InvoiceNo"] == json!(invoice))
        .collect()
}

async fn labels(c: &Connector, no: &str, packages: u64) -> Vec<Value> {
    let order_id = c.ss_order(no).await["orderId"].as_i64().unwrap();
    c.ss_control("labels", json!({"orderId": order_id, "packages": packages, "carrierCode": "ups", "serviceCode": "ups_ground", "transitDays": 4}))
        .await["shipments"]
        .as_array()
        .unwrap()
        .clone()
}

fn tracking_of(shipments: &[Value]) -> Vec<String> {
    shipments
        .iter()
        .map(|s| s["trackingNumber"].as_str().unwrap().to_string())
        .collect()
}

async fn count(c: &Connector, sql: &str) -> i64 {
    c.count(sql).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_tracking_reaches_sales_order_and_late_invoice_once_through_locks_and_voids() {
    let (c, numbers, shutdown, _) = started(1).await;
    let no = &numbers[0];
    // Every delivery arrives twice, and another Sage user holds the sales order for a while.
    c.ss_control("delivery", json!({"mode": "duplicate"})).await;
    control(
        &c.sage,
        Method::POST,
        "locks",
        json!({"key_prefix": format!("SoHeader:{no}"), "ms": 2500}),
    )
    .await;
    let shipped = labels(&c, no, 2).await;
    let numbers_shipped = tracking_of(&shipped);

    // The sales order header gets tracking, carrier and ETA (V2 tracking) and ShipVia, after the lock.
    wait_state(&c, no, "track_invoice").await;
    let h = so_header(&c, no).await;
    // Two UPS numbers do not fit Sage's 30-character UDF: the first and a count (the invoice has all).
    assert_eq!(
        h["UDF_TRACKING_NO"],
        json!(format!("{} (+1)", numbers_shipped[0]))
    );
    assert_eq!(h["UDF_CARRIER"], json!("ups"));
    let eta = (chrono::Utc::now() + chrono::Duration::days(4))
        .with_timezone(&chrono_tz::America::Chicago);
    let eta_text = h["UDF_EST_DELIVERY"].as_str().unwrap().to_string();
    assert!(
        [
            eta.format("%Y%m%d").to_string(),
            (eta - chrono::Duration::days(1))
                .format("%Y%m%d")
                .to_string()
        ]
        .contains(&eta_text),
        "ETA {eta_text}"
    );
    assert_eq!(h["ShipVia"], json!("UPS GROUND"));
    let locked_attempts = count(&c, &format!("SELECT count(*) FROM workflow_events e JOIN workflows w ON w.id = e.workflow_id WHERE w.business_key = '{no}' AND e.error LIKE '%in use by another user%'")).await;
    assert!(locked_attempts >= 1, "the lock was met and retried");
    assert_eq!(
        count(
            &c,
            "SELECT count(*) FROM shipments WHERE eta_source = 'shipstation_v2_tracking'"
        )
        .await,
        2
    );
    // Two deliveries per event, two packages: recorded once each.
    common::eventually(
        "both deliveries stored",
        Duration::from_secs(10),
        || async {
            (count(
                &c,
                "SELECT count(*) FROM webhook_deliveries WHERE result = 'accepted'",
            )
            .await
                == 2)
                .then_some(())
        },
    )
    .await;
    assert_eq!(count(&c, "SELECT count(*) FROM shipments").await, 2);
    assert_eq!(
        count(&c, "SELECT count(*) FROM workflows WHERE kind = 'shipment'").await,
        2
    );

    // The invoice comes an hour (simulated) later; the waiting order picks it up.
    control(
        &c.sage,
        Method::POST,
        "clock",
        json!({"advance_secs": 3600}),
    )
    .await;
    let inv = invoice(&c.sage, no).await;
    wait_state(&c, no, "shipped").await;
    let rows_written = tracking_rows(&c, "SO_InvoiceTracking", &inv).await;
    let mut ids: Vec<String> = rows_written
        .iter()
        .map(|r| r["TrackingID"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    let mut expected = numbers_shipped.clone();
    expected.sort();
    assert_eq!(ids, expected, "one row per package, once");
    let head = rows(&c.sage, "SO_InvoiceHeader")
        .await
        .into_iter()
        .find(|r| r["InvoiceNo"] == json!(inv))
        .unwrap();
    assert!(!head["ShipDate"].as_str().unwrap().is_empty());
    assert_eq!(head["ShipVia"], json!("UPS GROUND"));
    // A second poll finds the same shipments: nothing is applied twice.
    c.shipments_poll("again").await;
    assert_eq!(tracking_rows(&c, "SO_InvoiceTracking", &inv).await.len(), 2);

    // One label voided (no webhook for voids): the poll finds it; Sage loses that package.
    c.ss_control("void", json!({"shipmentId": shipped[0]["shipmentId"]}))
        .await;
    c.shipments_poll("void-1").await;
    common::eventually(
        "voided package removed",
        Duration::from_secs(60),
        || async {
            let left = tracking_rows(&c, "SO_InvoiceTracking", &inv).await;
            (left.len() == 1 && left[0]["TrackingID"] == json!(numbers_shipped[1])).then_some(())
        },
    )
    .await;
    wait_state(&c, no, "shipped").await;
    assert_eq!(
        so_header(&c, no).await["UDF_TRACKING_NO"],
        json!(numbers_shipped[1])
    );
    // The other voided too: the order awaits shipment again, with blank tracking.
    c.ss_control("void", json!({"shipmentId": shipped[1]["shipmentId"]}))
        .await;
    c.shipments_poll("void-2").await;
    common::eventually(
        "back to awaiting shipment",
        Duration::from_secs(60),
        || async {
            let (s, _) = order_state(&c, no).await;
            (s == "check"
                && tracking_rows(&c, "SO_InvoiceTracking", &inv)
                    .await
                    .is_empty())
            .then_some(())
        },
    )
    .await;
    assert_eq!(so_header(&c, no).await["UDF_TRACKING_NO"], json!(""));
    assert_eq!(
        c.ss_order(no).await["orderStatus"],
        json!("awaiting_shipment")
    );
    assert_eq!(
        count(&c, "SELECT count(*) FROM workflows WHERE status = 'failed'").await,
        0
    );
    shutdown.trigger();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_webhooks_and_mark_shipped_orders_are_caught_by_the_poll() {
    let (c, numbers, shutdown, _) = started(2).await;
    c.ss_control("delivery", json!({"mode": "drop"})).await;
    let shipped = labels(&c, &numbers[0], 1).await;
    // Marked shipped without a label: only /fulfillments lists it.
    let order_id = c.ss_order(&numbers[1]).await["orderId"].as_i64().unwrap();
    c.ss_control(
        "mark-shipped",
        json!({"orderId": order_id, "carrierCode": "fedex", "trackingNumber": "794600000001"}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        count(&c, "SELECT count(*) FROM shipments").await,
        0,
        "nothing arrived"
    );
    c.shipments_poll("reconcile").await;
    for no in &numbers {
        wait_state(&c, no, "track_invoice").await;
    }
    assert_eq!(
        so_header(&c, &numbers[0]).await["UDF_TRACKING_NO"],
        json!(tracking_of(&shipped)[0])
    );
    let h = so_header(&c, &numbers[1]).await;
    assert_eq!(h["UDF_TRACKING_NO"], json!("794600000001"));
    assert_eq!(h["UDF_CARRIER"], json!("fedex"));
    assert_eq!(
        count(&c, "SELECT count(*) FROM shipments WHERE 'poll' = ANY(seen_by) AND NOT 'webhook' = ANY(seen_by)").await,
        2
    );
    let runs = count(&c, "SELECT count(*) FROM sync_runs WHERE feed = 'shipstation_shipments' AND finished_at IS NOT NULL AND found >= 2").await;
    assert!(runs >= 1);
    shutdown.trigger();
}

async fn post_webhook(url: &str, body: &str) -> u16 {
    reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_stale_malformed_and_off_host_deliveries_are_stored_and_never_acted_on() {
    let (c, _numbers, shutdown, api) = started(0).await;
    let hook = format!("{api}/webhooks/shipstation/acme");
    let token: String = {
        let hooks = reqwest::get(format!("{}/__control/received", c.ss.base_url()))
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap();
        let sub = hooks
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["path"] == "/webhooks/subscribe")
            .expect("subscribed");
        let target: Value = serde_json::from_str(sub["body"].as_str().unwrap()).unwrap();
        let url = url::Url::parse(target["target_url"].as_str().unwrap()).unwrap();
        url.query_pairs()
            .find(|(k, _)| k == "token")
            .unwrap()
            .1
            .to_string()
    };
    let good = format!(
        "http://ssapi3.{}:{}/shipments?batchId=1",
        c.ss.cfg.host_domain,
        c.ss.base_url().rsplit(':').next().unwrap()
    );
    let body = |u: &str| json!({"resource_url": u, "resource_type": "SHIP_NOTIFY"}).to_string();
    // No token, a wrong token, an unknown connection.
    assert_eq!(post_webhook(&hook, &body(&good)).await, 404);
    assert_eq!(
        post_webhook(&format!("{hook}?token=guess"), &body(&good)).await,
        401
    );
    assert_eq!(
        post_webhook(
            &format!("{api}/webhooks/shipstation/nobody?token={token}"),
            &body(&good)
        )
        .await,
        404
    );
    // The right token, but an off-host resource_url (would leak our credentials) or junk.
    let signed = format!("{hook}?token={token}");
    assert_eq!(
        post_webhook(
            &signed,
            &body("https://ssapi.shipstation.com.evil.example/shipments")
        )
        .await,
        400
    );
    assert_eq!(
        post_webhook(&signed, &body("http://169.254.169.254/latest/meta-data")).await,
        400
    );
    assert_eq!(post_webhook(&signed, "{not json").await, 400);
    assert_eq!(
        post_webhook(
            &signed,
            &json!({"resource_url": good, "resource_type": "ORDER_NOTIFY"}).to_string()
        )
        .await,
        200
    );
    // V2: unsigned → 404, forged → 401, stale → 400, good → 200 and a poll starts.
    let send_v2 = |extra: Value| {
        let mut req =
            json!({"url": hook, "body": {"event": "fulfillment_shipped_v2", "resource_url": "x"}});
        req.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let base = c.ss.base_url();
        async move {
            reqwest::Client::new()
                .post(format!("{base}/__control/v2/send-webhook"))
                .json(&req)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()["status"]
                .as_u64()
                .unwrap()
        }
    };
    assert_eq!(send_v2(json!({"forge": true})).await, 401);
    assert_eq!(send_v2(json!({"skew_secs": -600})).await, 400);
    assert_eq!(send_v2(json!({})).await, 200);
    let stored: Vec<(String, bool, String, i32)> = sqlx::query_as(
        "SELECT api, verified, result, http_status FROM webhook_deliveries ORDER BY id",
    )
    .fetch_all(&c.pool)
    .await
    .unwrap();
    let results: Vec<(&str, bool, &str, i32)> = stored
        .iter()
        .map(|(a, v, r, s)| (a.as_str(), *v, r.as_str(), *s))
        .collect();
    assert_eq!(
        results,
        vec![
            ("v1", false, "rejected", 404),
            ("v1", false, "rejected", 401),
            ("v1", false, "rejected", 404),
            ("v1", true, "rejected", 400),
            ("v1", true, "rejected", 400),
            ("v1", true, "rejected", 400),
            ("v1", true, "ignored", 200),
            ("v2", false, "rejected", 401),
            ("v2", false, "rejected", 400),
            ("v2", true, "accepted", 200),
        ]
    );
    assert_eq!(
        count(&c, "SELECT count(*) FROM workflows WHERE kind = 'webhook'").await,
        0,
        "nothing fetched"
    );
    assert_eq!(count(&c, "SELECT count(*) FROM workflows WHERE kind = 'shipments_poll' AND business_key LIKE 'delivery:%'").await, 1);
    // The token never shows in what is stored.
    assert_eq!(count(&c, &format!("SELECT count(*) FROM webhook_deliveries WHERE body LIKE '%{token}%' OR reason LIKE '%{token}%'")).await, 0);
    shutdown.trigger();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merged_and_split_orders_carry_tracking_to_every_source_order() {
    let (c, numbers, shutdown, _) = started(3).await;
    let (a, b, s) = (&numbers[0], &numbers[1], &numbers[2]);
    let id = |o: Value| o["orderId"].as_i64().unwrap();
    // Staff merge B into A, and split one line of S off into its own order.
    c.ss_control(
        "merge",
        json!({"orderIds": [id(c.ss_order(a).await), id(c.ss_order(b).await)]}),
    )
    .await;
    let child = c
        .ss_control(
            "split",
            json!({"orderId": id(c.ss_order(s).await), "items": 1}),
        )
        .await;
    let merged = labels(&c, a, 1).await;
    let parent_label = labels(&c, s, 1).await;
    let child_label = c
        .ss_control(
            "labels",
            json!({"orderId": child["orderId"], "carrierCode": "ups", "serviceCode": "ups_ground"}),
        )
        .await["shipments"]
        .as_array()
        .unwrap()
        .clone();
    for no in [a, b, s] {
        wait_state(&c, no, "track_invoice").await;
    }
    let merged_tracking = tracking_of(&merged)[0].clone();
    assert_eq!(
        so_header(&c, a).await["UDF_TRACKING_NO"],
        json!(merged_tracking)
    );
    assert_eq!(
        so_header(&c, b).await["UDF_TRACKING_NO"],
        json!(merged_tracking),
        "the merged-away order gets it too"
    );
    common::eventually(
        "both parts of the split order",
        Duration::from_secs(60),
        || async {
            let t = so_header(&c, s).await["UDF_TRACKING_NO"]
                .as_str()
                .unwrap_or("")
                .to_string();
            (t.ends_with("(+1)")).then_some(())
        },
    )
    .await;
    let split_tracking: Vec<String> = sqlx::query_scalar(&format!("SELECT tracking_number FROM shipments WHERE '{s}' = ANY(sales_orders) ORDER BY tracking_number"))
        .fetch_all(&c.pool)
        .await
        .unwrap();
    let mut expected = vec![
        tracking_of(&parent_label)[0].clone(),
        tracking_of(&child_label)[0].clone(),
    ];
    expected.sort();
    assert_eq!(split_tracking, expected);
    assert_eq!(count(&c, &format!("SELECT count(*) FROM order_lineage WHERE sales_order_no = '{b}' AND relation = 'merged'")).await, 1);
    assert_eq!(count(&c, &format!("SELECT count(*) FROM order_lineage WHERE sales_order_no = '{s}' AND relation = 'split'")).await, 1);
    // Invoicing S writes both packages to its invoice.
    let inv = invoice(&c.sage, s).await;
    common::eventually("split order shipped", Duration::from_secs(60), || async {
        let (st, status) = order_state(&c, s).await;
        (st == "shipped" && status == "waiting").then_some(())
    })
    .await;
    assert_eq!(tracking_rows(&c, "SO_InvoiceTracking", &inv).await.len(), 2);
    // B changes in Sage: the merged-away order is not re-posted (nothing new in ShipStation).
    let before = c.ss_orders().await.len();
    control(
        &c.sage,
        Method::POST,
        &format!("ABC/orders/{b}"),
        json!({"Comment": "rush"}),
    )
    .await;
    let poll = c.poll("after-merge").await;
    common::eventually("poll done", Duration::from_secs(60), || async {
        (common::status_of(&c.pool, poll).await == "completed").then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(c.ss_orders().await.len(), before);
    assert_eq!(c.ss_order(b).await["orderStatus"], json!("cancelled"));
    assert_eq!(
        c.createorders_calls().await.iter().sum::<usize>(),
        3,
        "posted once each, never again"
    );
    shutdown.trigger();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invoice_posted_before_tracking_arrives_needs_a_person_visibly() {
    let (c, numbers, shutdown, _) = started(1).await;
    let no = &numbers[0];
    let inv = invoice(&c.sage, no).await;
    control(&c.sage, Method::POST, "ABC/sales-journal", json!({})).await;
    let shipped = labels(&c, no, 1).await;
    wait_state(&c, no, "manual_action").await;
    let detail: Value = sqlx::query_scalar("SELECT e.detail FROM workflow_events e JOIN workflows w ON w.id = e.workflow_id WHERE w.business_key = $1 AND e.to_state = 'manual_action' ORDER BY e.id DESC LIMIT 1")
        .bind(no)
        .fetch_one(&c.pool)
        .await
        .unwrap();
    let why = detail["needs_manual_action"].as_str().unwrap();
    assert!(
        why.contains(&inv) && why.contains(tracking_of(&shipped)[0].as_str()),
        "{why}"
    );
    assert!(tracking_rows(&c, "AR_InvoiceHistoryTracking", &inv)
        .await
        .is_empty());
    // A person enters the tracking on the posted invoice in Sage, then wakes the workflow.
    {
        let mut data = c.sage.sim.data.lock().unwrap();
        let co = data.companies.get_mut("ABC").unwrap();
        let seq = "000001";
        let row: ml_connector::sim::sage100::data::Record = [
            ("InvoiceNo", json!(inv)),
            ("HeaderSeqNo", json!(seq)),
            ("PackageNo", json!("0001")),
            ("TrackingID", json!(tracking_of(&shipped)[0])),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        co.ar_history_tracking.insert(
            ml_connector::sim::sage100::data::key(&[&inv, seq, "0001"]),
            row,
        );
    }
    let id: i64 =
        sqlx::query_scalar("SELECT id FROM workflows WHERE kind = 'order' AND business_key = $1")
            .bind(no)
            .fetch_one(&c.pool)
            .await
            .unwrap();
    ml_connector::ops::workflows::signal(&c.pool, id, "test")
        .await
        .unwrap();
    wait_state(&c, no, "shipped").await;
    shutdown.trigger();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_captured_v2_delivery_is_accepted_once_and_polls_do_not_pile_up() {
    let (c, _numbers, shutdown, api) = started(0).await;
    let hook = format!("{api}/webhooks/shipstation/acme");
    let send = |body: Value, replay_to: Vec<String>| {
        let req = json!({"url": hook, "body": body, "replay_to": replay_to});
        let base = c.ss.base_url();
        async move {
            reqwest::Client::new()
                .post(format!("{base}/__control/v2/send-webhook"))
                .json(&req)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()["statuses"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_u64().unwrap())
                .collect::<Vec<_>>()
        }
    };
    // The same signed delivery five times, and once more to another (unknown) connection's URL.
    let other = format!("{api}/webhooks/shipstation/other");
    let statuses = send(
        json!({"event": "fulfillment_shipped_v2", "resource_url": "x"}),
        vec![
            hook.clone(),
            hook.clone(),
            hook.clone(),
            hook.clone(),
            other,
        ],
    )
    .await;
    assert_eq!(statuses, vec![200, 409, 409, 409, 409, 404]);
    // Distinct events while a poll is pending (ShipStation slowed so polls stay in flight): still
    // one pending poll.
    reqwest::Client::new()
        .post(format!("{}/__control/faults", c.ss.base_url()))
        .json(&json!({"latency_ms": 3000}))
        .send()
        .await
        .unwrap();
    for i in 0..5 {
        let s = send(
            json!({"event": "fulfillment_shipped_v2", "resource_url": format!("x{i}")}),
            vec![],
        )
        .await;
        assert_eq!(s, vec![200]);
    }
    let polls = count(
        &c,
        "SELECT count(*) FROM workflows WHERE kind = 'shipments_poll' AND business_key LIKE 'delivery:%'",
    )
    .await;
    assert!(polls <= 2, "{polls} polls started by 6 events");
    reqwest::Client::new()
        .post(format!("{}/__control/faults", c.ss.base_url()))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    shutdown.trigger();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_posts_are_counted_not_stored_one_by_one() {
    let (c, _numbers, shutdown, api) = started(0).await;
    let http = reqwest::Client::new();
    // An unknown connection and a known one without a token answer alike.
    let unknown = http
        .post(format!("{api}/webhooks/shipstation/nobody"))
        .body("{}")
        .send()
        .await
        .unwrap();
    let no_token = http
        .post(format!("{api}/webhooks/shipstation/acme"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(
        (unknown.status().as_u16(), no_token.status().as_u16()),
        (404, 404)
    );
    assert_eq!(
        unknown.text().await.unwrap(),
        no_token.text().await.unwrap()
    );
    // A flood of junk: counted, and only a bounded sample stored.
    for i in 0..150 {
        http.post(format!("{api}/webhooks/shipstation/junk-{i}"))
            .body(format!("{{\"junk\": {i}}}"))
            .send()
            .await
            .unwrap();
    }
    let stored = count(
        &c,
        "SELECT count(*) FROM webhook_deliveries WHERE NOT verified",
    )
    .await;
    assert!(
        stored <= 100,
        "{stored} rejected deliveries stored one by one"
    );
    let counted = count(
        &c,
        "SELECT COALESCE(sum(count), 0)::bigint FROM webhook_rejections",
    )
    .await;
    assert_eq!(counted, 152, "every rejected post is counted");
    shutdown.trigger();
}
