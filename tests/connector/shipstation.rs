//! The ShipStation client against the simulator over loopback: upserts, bulk partial failure,
//! paging and filters, the shared rate governor, DST, key rotation, webhook security, V2
//! inventory and tracking, faults, and the simulator's V2 answers against the official OpenAPI file.

use crate::common;

use std::time::Duration;

use chrono::{DateTime, Utc};
use common::shipstation::{
    control, start_sim, stats, v1_client, v1_client_with_production_margin, v2_client,
};
use ml_connector::shipstation::pacific;
use ml_connector::shipstation::types::{
    Address, Order, OrderItem, PacificTime, Shipment, WebhookPayload,
};
use ml_connector::shipstation::v2::InventoryTransaction;
use ml_connector::shipstation::webhook::{V2Signature, V2Verifier};
use ml_connector::shipstation::ShipStationError;
use ml_connector::sim::shipstation::{ResetRounding, SimConfig};
use serde_json::json;

const KEY: (&str, &str) = ("sim-key", "sim-secret");

fn order(number: &str, key: Option<&str>) -> Order {
    Order {
        order_number: number.into(),
        order_key: key.map(str::to_string),
        order_date: Some(PacificTime(Utc::now())),
        order_status: "awaiting_shipment".into(),
        customer_email: Some("buyer@example.com".into()),
        bill_to: Address {
            name: Some("Acme Retail".into()),
            ..Default::default()
        },
        ship_to: Address {
            name: Some("Acme Retail".into()),
            street1: Some("1 Main St".into()),
            city: Some("Austin".into()),
            state: Some("TX".into()),
            postal_code: Some("78701".into()),
            country: Some("US".into()),
            ..Default::default()
        },
        items: vec![OrderItem {
            sku: Some("WID-1".into()),
            name: "Widget".into(),
            quantity: 3,
            unit_price: Some(2.5),
            ..Default::default()
        }],
        ..Default::default()
    }
}

#[tokio::test]
async fn upsert_by_order_key_is_idempotent_and_replaces_the_whole_order() {
    let (pool, _) = common::fresh_db().await;
    let sim = start_sim(SimConfig::default()).await;
    let c = v1_client(&sim, pool, KEY, None);
    let first = c
        .create_order(&order("SO-1001", Some("sage100:ABC:0001001")))
        .await
        .unwrap();
    let mut changed = order("SO-1001", Some("sage100:ABC:0001001"));
    changed.items = vec![OrderItem {
        sku: Some("WID-2".into()),
        name: "Gadget".into(),
        quantity: 1,
        unit_price: Some(9.0),
        ..Default::default()
    }];
    let second = c.create_order(&changed).await.unwrap();
    assert_eq!(
        first.order_id, second.order_id,
        "same orderKey → same order"
    );
    assert_eq!(second.items.len(), 1, "whole-order replace");
    assert_eq!(second.items[0].sku.as_deref(), Some("WID-2"));
    assert_eq!(second.order_total, Some(9.0));
    let listed = c
        .list_orders(vec![("orderNumber", "SO-1001".into())])
        .await
        .unwrap();
    assert_eq!(listed.total, 1);
    // Without an orderKey every post is a new order (why the connector always sends one).
    let a = c.create_order(&order("SO-2", None)).await.unwrap();
    let b = c.create_order(&order("SO-2", None)).await.unwrap();
    assert_ne!(a.order_id, b.order_id);
    // Shipped orders cannot be updated.
    control(&sim, "labels", json!({"orderId": first.order_id})).await;
    match c.create_order(&changed).await {
        Err(ShipStationError::Api {
            status: 400,
            message,
            ..
        }) => assert!(message.contains("shipped"), "{message}"),
        other => panic!("update of a shipped order: {other:?}"),
    }
}

#[tokio::test]
async fn bulk_create_reports_each_order_and_fails_only_the_bad_ones() {
    let (pool, _) = common::fresh_db().await;
    let sim = start_sim(SimConfig::default()).await;
    let c = v1_client(&sim, pool, KEY, None);
    let shipped = c.create_order(&order("SO-9", Some("k-9"))).await.unwrap();
    control(&sim, "labels", json!({"orderId": shipped.order_id})).await;
    let long_number = "X".repeat(51);
    let batch = vec![
        order("SO-10", Some("k-10")),
        order(&long_number, Some("k-11")),
        order("SO-9", Some("k-9")),
        order("SO-12", Some("k-12")),
    ];
    let r = c.create_orders(&batch).await.unwrap();
    assert!(r.has_errors);
    let outcome: Vec<(bool, Option<&str>)> = r
        .results
        .iter()
        .map(|x| (x.success, x.order_key.as_deref()))
        .collect();
    assert_eq!(
        outcome,
        vec![
            (true, Some("k-10")),
            (false, Some("k-11")),
            (false, Some("k-9")),
            (true, Some("k-12"))
        ]
    );
    assert!(r.results[1]
        .error_message
        .as_deref()
        .unwrap()
        .contains("maximum length of 50"));
    assert!(r.results[2]
        .error_message
        .as_deref()
        .unwrap()
        .contains("cannot be updated"));
    let too_many: Vec<Order> = (0..101)
        .map(|i| order(&format!("B{i}"), Some(&format!("b{i}"))))
        .collect();
    assert!(
        c.create_orders(&too_many).await.is_err(),
        "more than 100 is refused before sending"
    );
}

#[tokio::test]
async fn lists_page_filter_by_prefix_and_by_pacific_dates() {
    let (pool, _) = common::fresh_db().await;
    let sim = start_sim(SimConfig::default()).await;
    let c = v1_client(&sim, pool, KEY, None);
    for chunk in 0..2 {
        let batch: Vec<Order> = (0..60)
            .map(|i| {
                order(
                    &format!("SO-{chunk}{i:03}"),
                    Some(&format!("k-{chunk}-{i}")),
                )
            })
            .collect();
        assert!(!c.create_orders(&batch).await.unwrap().has_errors);
    }
    let p3 = c
        .list_orders(vec![("pageSize", "50".into()), ("page", "3".into())])
        .await
        .unwrap();
    assert_eq!(
        (p3.total, p3.pages, p3.page, p3.items.len()),
        (120, 3, 3, 20)
    );
    let prefix = c
        .list_orders(vec![
            ("orderNumber", "SO-1".into()),
            ("pageSize", "500".into()),
        ])
        .await
        .unwrap();
    assert_eq!(prefix.total, 60, "orderNumber is a starts-with match");
    assert!(matches!(
        c.list_orders(vec![("pageSize", "501".into())]).await,
        Err(ShipStationError::Api { status: 400, .. })
    ));

    // modifyDate filters are Pacific wall times with one-second resolution (inclusive); the lower
    // bound helper never skips anything.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let since: DateTime<Utc> = Utc::now();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    c.create_order(&order("SO-LATE", Some("k-late")))
        .await
        .unwrap();
    let recent = c
        .list_orders(vec![(
            "modifyDateStart",
            pacific::lower_bound_filter(since),
        )])
        .await
        .unwrap();
    assert_eq!(
        recent
            .items
            .iter()
            .map(|o| o.order_number.as_str())
            .collect::<Vec<_>>(),
        vec!["SO-LATE"]
    );
    let modified = recent.items[0].modify_date.unwrap().0;
    assert!(
        (modified - Utc::now()).num_seconds().abs() < 5,
        "Pacific response time read back as the right instant"
    );
}

#[tokio::test]
async fn order_dates_cross_both_2026_dst_edges_exactly() {
    let (pool, _) = common::fresh_db().await;
    let sim = start_sim(SimConfig::default()).await;
    let c = v1_client(&sim, pool, KEY, None);
    let cases = [
        ("2026-03-08T09:59:59Z", "2026-03-08T09:59:59Z"), // 01:59:59 PST, just before the jump
        ("2026-03-08T10:00:00Z", "2026-03-08T10:00:00Z"), // 03:00:00 PDT, just after
        ("2026-11-01T08:30:00Z", "2026-11-01T08:30:00Z"), // 01:30 PDT (first)
        ("2026-11-01T09:30:00Z", "2026-11-01T08:30:00Z"), // 01:30 PST: same wall time → first occurrence
        ("2026-11-01T10:00:00Z", "2026-11-01T10:00:00Z"), // 02:00 PST
    ];
    for (i, (sent, back)) in cases.iter().enumerate() {
        let mut o = order(&format!("DST-{i}"), Some(&format!("dst-{i}")));
        o.order_date = Some(PacificTime(sent.parse().unwrap()));
        let stored = c.create_order(&o).await.unwrap();
        assert_eq!(
            stored.order_date.unwrap().0,
            back.parse::<DateTime<Utc>>().unwrap(),
            "{sent}"
        );
    }
}

/// Requests the simulator accepted in each of its V1 windows, oldest first.
fn accepted_per_window(stats: &serde_json::Value) -> Vec<u64> {
    stats["v1_windows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["accepted"].as_u64().unwrap())
        .collect()
}

/// The governor's learnt reset rounding of the one key: (learnt rounding up, refuted).
async fn learnt_rounding(pool: &sqlx::PgPool) -> (bool, bool) {
    sqlx::query_as("SELECT end_exact, exact_refuted FROM rate_limits")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn three_clients_share_one_key_without_a_single_429() {
    let (pool, url) = common::fresh_db().await;
    let sim = start_sim(SimConfig {
        v1_limit: 40,
        v1_window: Duration::from_secs(2),
        ..SimConfig::default()
    })
    .await;
    let mut tasks = Vec::new();
    for _ in 0..3 {
        // Separate connection pools, as three replicas would have.
        let own = sqlx::postgres::PgPoolOptions::new()
            .max_connections(3)
            .connect(&url)
            .await
            .unwrap();
        let c = v1_client(&sim, own, KEY, None);
        tasks.push(tokio::spawn(async move {
            let deadline = std::time::Instant::now() + Duration::from_millis(7000);
            let mut ok = 0;
            while std::time::Instant::now() < deadline {
                c.list_orders(vec![("pageSize", "1".into())])
                    .await
                    .expect("request");
                ok += 1;
            }
            ok
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    let s = stats(&sim).await;
    assert_eq!(s["v1_rejected"], 0, "no 429 at all: {s}");
    let windows = accepted_per_window(&s);
    assert!(
        windows.len() >= 3,
        "the run spans several windows: {windows:?}"
    );
    // Every full window (not the last, cut by the deadline) used at least 90 % of its 40 requests.
    for (i, used) in windows[..windows.len() - 1].iter().enumerate() {
        assert!(*used >= 36, "window {i} used only {used}/40: {windows:?}");
    }
    assert!(
        total >= 36 * (windows.len() as u64 - 1),
        "{total} {windows:?}"
    );
    drop(pool);
}

/// Twelve requests at 2 per 2-second window with the production margin: whichever way the server
/// rounds `X-Rate-Limit-Reset`, not one 429. Rounding up is learnt (a reset of the whole window)
/// and shortens the wait after each window; rounding down keeps the full margin.
#[tokio::test]
async fn the_reset_rounding_is_learnt_and_either_way_no_request_is_refused() {
    for rounding in [ResetRounding::Up, ResetRounding::Down] {
        let (pool, _) = common::fresh_db().await;
        let mut cfg = SimConfig {
            v1_limit: 2,
            v1_window: Duration::from_secs(2),
            ..SimConfig::default()
        };
        cfg.behaviour.v1_reset_rounding = rounding;
        let sim = start_sim(cfg).await;
        let c = v1_client_with_production_margin(&sim, pool.clone());
        for _ in 0..12 {
            c.list_orders(vec![("pageSize", "1".into())])
                .await
                .expect("request");
        }
        let s = stats(&sim).await;
        assert_eq!(s["v1_rejected"], 0, "{rounding:?}: no 429: {s}");
        let windows = accepted_per_window(&s);
        assert_eq!(windows.iter().sum::<u64>(), 12, "{rounding:?}: {windows:?}");
        let (exact, refuted) = learnt_rounding(&pool).await;
        assert_eq!(
            (exact, refuted),
            (rounding == ResetRounding::Up, false),
            "{rounding:?}"
        );
    }
}

/// A server that rounds down and whose window is longer than the client was told (3 s, not 2)
/// answers a request soon after the window's first with a reset of 2, which looks like rounding
/// up. The one 429 that the early send then meets refutes it: the full margin is used from then on.
#[tokio::test]
async fn a_429_after_an_early_send_refutes_the_learnt_rounding() {
    let (pool, _) = common::fresh_db().await;
    let mut cfg = SimConfig {
        v1_limit: 2,
        v1_window: Duration::from_secs(3),
        ..SimConfig::default()
    };
    cfg.behaviour.v1_reset_rounding = ResetRounding::Down;
    let sim = start_sim(cfg).await;
    let mut client_cfg = common::shipstation::v1_config(&sim);
    client_cfg.window = Duration::from_secs(2);
    client_cfg.margin = ml_connector::shipstation::V1Config::production().margin;
    let ring = ml_connector::shipstation::KeyRing::new(
        ml_connector::shipstation::KeyPair::new(KEY.0, KEY.1),
        None,
    );
    let c = ml_connector::shipstation::V1Client::new(
        client_cfg,
        std::sync::Arc::new(ring),
        pool.clone(),
    )
    .expect("client");
    // Until refuted (a loaded machine may split a window's two requests by more than a second,
    // so learning can take a few windows).
    let mut learnt = (false, false);
    for _ in 0..24 {
        c.list_orders(vec![("pageSize", "1".into())])
            .await
            .expect("a 429 is waited out");
        learnt = learnt_rounding(&pool).await;
        if learnt.1 {
            break;
        }
    }
    assert_eq!(learnt, (true, true), "learnt, then refuted");
    let s = stats(&sim).await;
    let rejected = s["v1_rejected"].as_u64().unwrap();
    assert!(rejected <= 1, "one 429 refutes the rounding for good: {s}");
}

#[tokio::test]
async fn a_revoked_key_switches_to_the_next_pair_then_fails_loudly() {
    let (pool, _) = common::fresh_db().await;
    let sim = start_sim(SimConfig::default()).await;
    control(
        &sim,
        "keys",
        json!({"action": "add", "key": "key-b", "secret": "secret-b"}),
    )
    .await;
    let c = v1_client(&sim, pool, KEY, Some(("key-b", "secret-b")));
    c.list_orders(vec![]).await.unwrap();
    assert_eq!(c.keys().active().key.expose(), "sim-key");
    control(&sim, "keys", json!({"action": "revoke", "key": "sim-key"})).await;
    c.list_orders(vec![]).await.expect("next pair takes over");
    assert_eq!(
        c.keys().active().key.expose(),
        "key-b",
        "next pair promoted"
    );
    control(&sim, "keys", json!({"action": "expire", "key": "key-b"})).await;
    match c.list_orders(vec![]).await {
        Err(e @ ShipStationError::Unauthorized { .. }) => {
            let msg = e.to_string();
            assert!(
                !msg.contains("secret-b") && !msg.contains("key-b"),
                "no credentials in errors: {msg}"
            );
        }
        other => panic!("expected Unauthorized, got {other:?}"),
    }
}

/// A tiny webhook receiver: records every delivery (headers + raw body).
async fn receiver() -> (
    String,
    tokio::sync::mpsc::UnboundedReceiver<(axum::http::HeaderMap, String)>,
) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let tx = tx.clone();
            async move {
                let _ = tx.send((headers, body));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, rx)
}

#[tokio::test]
async fn ship_notify_resource_url_is_fetched_only_from_allow_listed_hosts() {
    let (pool, _) = common::fresh_db().await;
    let sim = start_sim(SimConfig::default()).await;
    let c = v1_client(&sim, pool, KEY, None);
    let (hook_url, mut deliveries) = receiver().await;
    c.subscribe_webhook(
        &format!("{hook_url}?token=t0k3n"),
        "SHIP_NOTIFY",
        None,
        "ml-connector",
    )
    .await
    .unwrap();
    let o = c.create_order(&order("SO-77", Some("k-77"))).await.unwrap();
    control(
        &sim,
        "labels",
        json!({"orderId": o.order_id, "packages": 2}),
    )
    .await;
    let (_, body) = tokio::time::timeout(Duration::from_secs(5), deliveries.recv())
        .await
        .unwrap()
        .unwrap();
    let payload: WebhookPayload = serde_json::from_str(&body).unwrap();
    assert_eq!(payload.resource_type, "SHIP_NOTIFY");
    assert!(
        payload.resource_url.contains("://ssapi"),
        "{}",
        payload.resource_url
    );
    let page = c
        .fetch_resource::<Shipment>(&payload.resource_url)
        .await
        .unwrap();
    assert_eq!(page.items.len(), 2, "both packages");
    assert!(page
        .items
        .iter()
        .all(|s| s.order_id == o.order_id && s.tracking_number.is_some() && !s.voided));

    // An attacker-controlled resource_url: refused before any connection is made.
    let attacker = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = attacker.local_addr().unwrap().port();
    for url in [
        format!("http://127.0.0.1:{port}/shipments?batchId=1"),
        format!("http://ssapi3.evil.test:{port}/shipments"),
        format!("http://ssapi3.shipstation.test.evil.test:{port}/shipments"),
    ] {
        match c.fetch_resource::<Shipment>(&url).await {
            Err(ShipStationError::ForbiddenResource { .. }) => {}
            other => panic!("{url} must be refused, got {other:?}"),
        }
    }
    let accepted = tokio::time::timeout(Duration::from_millis(300), attacker.accept()).await;
    assert!(accepted.is_err(), "no request reached the off-list host");
}

#[tokio::test]
async fn v2_signatures_verify_and_forged_or_stale_ones_are_refused() {
    let sim = start_sim(SimConfig::default()).await;
    let (hook_url, mut deliveries) = receiver().await;
    let verifier = V2Verifier::new(format!("{}/jwks", sim.base_url()));
    let body = json!({"resource_url": "https://api.shipstation.com/v2/labels/se-1", "resource_type": "TRACK_EVENT_V2",
        "data": {"tracking_number": "1Z999", "estimated_delivery_date": "2026-12-01T00:00:00Z"}});
    let mut verdicts = Vec::new();
    for (forge, skew, unsigned) in [
        (false, 0, false),
        (true, 0, false),
        (false, -600, false),
        (false, 30, false),
        (false, 0, true),
    ] {
        control(&sim, "v2/send-webhook", json!({"url": hook_url, "body": body, "forge": forge, "skew_secs": skew, "unsigned": unsigned})).await;
        let (headers, raw) = deliveries.recv().await.unwrap();
        let verdict = verifier
            .verify(
                &V2Signature::from_headers(&headers),
                raw.as_bytes(),
                Utc::now(),
            )
            .await;
        verdicts.push(verdict.map_err(|e| e.http_status()));
        // The raw body matters: a re-serialized body would not verify.
        if !forge && skew == 0 && !unsigned {
            let tampered = raw.replace("1Z999", "1Z998");
            assert!(verifier
                .verify(
                    &V2Signature::from_headers(&headers),
                    tampered.as_bytes(),
                    Utc::now()
                )
                .await
                .is_err());
        }
    }
    assert_eq!(verdicts, vec![Ok(()), Err(401), Err(400), Ok(()), Err(404)]);
}

#[tokio::test]
async fn v2_inventory_semantics_and_tracking() {
    let (pool, _) = common::fresh_db().await;
    let sim = start_sim(SimConfig::default()).await;
    let c = v2_client(&sim, pool.clone());
    let w = c.create_inventory_warehouse("Reno").await.unwrap();
    let loc = c
        .create_inventory_location(&w.inventory_warehouse_id, "Bin A")
        .await
        .unwrap();
    let tx = |kind: &str, qty: i64| InventoryTransaction {
        transaction_type: kind.into(),
        sku: "WID-1".into(),
        quantity: qty,
        inventory_location_id: loc.inventory_location_id.clone(),
        condition: None,
        reason: None,
        notes: None,
    };
    c.update_inventory(&tx("adjust", 40)).await.unwrap();
    c.update_inventory(&tx("adjust", 25)).await.unwrap();
    c.update_inventory(&tx("increment", 5)).await.unwrap();
    match c.update_inventory(&tx("decrement", 31)).await {
        Err(ShipStationError::Api { status: 400, .. }) => {}
        other => panic!("decrement beyond on-hand: {other:?}"),
    }
    c.update_inventory(&tx("decrement", 10)).await.unwrap();
    let levels = c.list_inventory(&[("sku", "WID-1".into())]).await.unwrap();
    assert_eq!(levels.len(), 1);
    assert_eq!(
        (levels[0].on_hand, levels[0].available),
        (20, 20),
        "adjust sets, increment adds, failed decrement removes nothing"
    );
    assert_eq!(
        c.list_inventory_locations(Some(&w.inventory_warehouse_id))
            .await
            .unwrap(),
        vec![loc.clone()]
    );

    let v1 = v1_client(&sim, pool, KEY, None);
    let o = v1.create_order(&order("SO-5", Some("k-5"))).await.unwrap();
    let labels = control(
        &sim,
        "labels",
        json!({"orderId": o.order_id, "transitDays": 4}),
    )
    .await;
    let label_id = labels["shipments"][0]["labelId"].as_str().unwrap();
    let t = c.track_label(label_id).await.unwrap();
    assert_eq!(
        t.tracking_number.as_deref(),
        labels["shipments"][0]["trackingNumber"].as_str()
    );
    assert!(t.estimated_delivery_date.is_some());
    // The key can be replaced without a restart.
    c.set_key(ml_connector::secret::Secret::new("wrong"));
    assert!(matches!(
        c.track_label(label_id).await,
        Err(ShipStationError::Unauthorized { .. })
    ));
}

#[tokio::test]
async fn faults_are_survived_or_reported_clearly() {
    let (pool, _) = common::fresh_db().await;
    let sim = start_sim(SimConfig {
        v1_window: Duration::from_secs(2),
        ..SimConfig::default()
    })
    .await;
    let c = v1_client(&sim, pool.clone(), KEY, None);
    control(&sim, "faults", json!({"error_rate": 0.3})).await;
    for i in 0..10 {
        c.create_order(&order(&format!("F-{i}"), Some(&format!("f-{i}"))))
            .await
            .expect("5xx are retried");
    }
    control(&sim, "faults", json!({"malformed_rate": 1.0})).await;
    match c.list_orders(vec![]).await {
        Err(e @ ShipStationError::Malformed { .. }) => assert!(e.is_transient()),
        other => panic!("malformed JSON: {other:?}"),
    }
    // A 429 storm: the client waits it out and succeeds; the budget records the throttling.
    control(&sim, "faults", json!({"storm_429_ms": 1500})).await;
    let t = std::time::Instant::now();
    c.list_orders(vec![]).await.expect("after the storm");
    assert!(
        t.elapsed() >= Duration::from_millis(900),
        "waited for the storm"
    );
    let budgets = ml_connector::shipstation::governor::Governor::budgets(&pool)
        .await
        .unwrap();
    assert!(budgets.iter().any(|b| b.throttled > 0));
    assert!(
        budgets.iter().all(|b| !b.key_id.contains("sim-key")),
        "budgets are keyed by fingerprint"
    );
}

#[tokio::test]
async fn v2_429_retry_after_is_honoured() {
    let (pool, _) = common::fresh_db().await;
    let sim = start_sim(SimConfig {
        v2_limit: 5,
        v2_window: Duration::from_secs(1),
        ..SimConfig::default()
    })
    .await;
    let c = v2_client(&sim, pool);
    for _ in 0..12 {
        c.list_inventory_warehouses()
            .await
            .expect("429s are waited out");
    }
    assert!(
        stats(&sim).await["v2_rejected"].as_u64().unwrap() > 0,
        "the server did throttle"
    );
}

#[tokio::test]
async fn simulator_v2_answers_match_the_official_openapi_schemas() {
    let (pool, _) = common::fresh_db().await;
    let spec = common::openapi::Spec::load(
        // The responses checked here and what they reference, cut from the official V2 OpenAPI
        // file by scripts/openapi-subset (the tests never read outside the repository).
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/shipstation-v2-openapi-subset.json"),
    );
    let sim = start_sim(SimConfig::default()).await;
    let v1 = v1_client(&sim, pool, KEY, None);
    let http = reqwest::Client::new();
    let call = |method: reqwest::Method, path: String, body: Option<serde_json::Value>| {
        let mut r = http
            .request(method, format!("{}{path}", sim.base_url()))
            .header("API-Key", "sim-v2-key");
        if let Some(b) = body {
            r = r.json(&b);
        }
        async move {
            let resp = r.send().await.unwrap();
            let status = resp.status().as_u16();
            (
                status,
                resp.json::<serde_json::Value>()
                    .await
                    .unwrap_or(serde_json::Value::Null),
            )
        }
    };
    let check = |path: &str, method: &str, status: u16, value: &serde_json::Value| {
        let schema = spec.response_schema(path, method, &status.to_string());
        let errors = spec.validate(&schema, value, "$");
        assert!(
            errors.is_empty(),
            "{method} {path} {status}: {errors:?}\n{value}"
        );
    };
    let (s, w) = call(
        reqwest::Method::POST,
        "/v2/inventory_warehouses".into(),
        Some(json!({"name": "Reno"})),
    )
    .await;
    check("/v2/inventory_warehouses", "post", s, &w);
    let wid = w["inventory_warehouse_id"].as_str().unwrap().to_string();
    let (s, v) = call(
        reqwest::Method::GET,
        "/v2/inventory_warehouses".into(),
        None,
    )
    .await;
    check("/v2/inventory_warehouses", "get", s, &v);
    let (s, l) = call(
        reqwest::Method::POST,
        "/v2/inventory_locations".into(),
        Some(json!({"name": "A1", "inventory_warehouse_id": wid})),
    )
    .await;
    check("/v2/inventory_locations", "post", s, &l);
    let (s, v) = call(reqwest::Method::GET, "/v2/inventory_locations".into(), None).await;
    check("/v2/inventory_locations", "get", s, &v);
    let lid = l["inventory_location_id"].as_str().unwrap();
    let (s, _) = call(reqwest::Method::POST, "/v2/inventory".into(), Some(json!({"transaction_type": "adjust", "sku": "S1", "quantity": 7, "inventory_location_id": lid}))).await;
    assert_eq!(s, 204);
    let (s, v) = call(reqwest::Method::GET, "/v2/inventory".into(), None).await;
    check("/v2/inventory", "get", s, &v);
    assert_eq!(v["inventory"][0]["on_hand"], 7);
    let o = v1.create_order(&order("SO-1", Some("k-1"))).await.unwrap();
    let labels = control(&sim, "labels", json!({"orderId": o.order_id})).await;
    let label = labels["shipments"][0]["labelId"].as_str().unwrap();
    let (s, v) = call(
        reqwest::Method::GET,
        format!("/v2/labels/{label}/track"),
        None,
    )
    .await;
    check("/v2/labels/{label_id}/track", "get", s, &v);
    let (s, v) = call(reqwest::Method::GET, "/v2/labels/se-0/track".into(), None).await;
    check("/v2/labels/{label_id}/track", "get", s, &v);
    assert_eq!(s, 404);
}

#[tokio::test]
async fn reference_lists_and_webhook_delivery_modes() {
    let (pool, _) = common::fresh_db().await;
    let sim = start_sim(SimConfig::default()).await;
    let c = v1_client(&sim, pool, KEY, None);
    let warehouses = c.warehouses().await.unwrap();
    assert!(
        warehouses.len() >= 2
            && warehouses
                .iter()
                .all(|w| w["warehouseId"].is_i64() && w["originAddress"].is_object())
    );
    assert!(c
        .stores()
        .await
        .unwrap()
        .iter()
        .any(|s| s["storeName"] == "Manual Orders"));
    assert!(c
        .carriers()
        .await
        .unwrap()
        .iter()
        .any(|x| x["code"] == "ups"));

    let (hook_url, mut deliveries) = receiver().await;
    let id = c
        .subscribe_webhook(&hook_url, "FULFILLMENT_SHIPPED", None, "t")
        .await
        .unwrap();
    assert_eq!(
        c.list_webhooks().await.unwrap()["webhooks"][0]["WebHookID"],
        id
    );
    let o = c.create_order(&order("SO-M", Some("k-m"))).await.unwrap();
    control(&sim, "delivery", json!({"mode": "duplicate"})).await;
    control(
        &sim,
        "mark-shipped",
        json!({"orderId": o.order_id, "carrierCode": "fedex"}),
    )
    .await;
    let first = tokio::time::timeout(Duration::from_secs(5), deliveries.recv())
        .await
        .unwrap()
        .unwrap()
        .1;
    let second = tokio::time::timeout(Duration::from_secs(5), deliveries.recv())
        .await
        .unwrap()
        .unwrap()
        .1;
    let (a, b): (WebhookPayload, WebhookPayload) = (
        serde_json::from_str(&first).unwrap(),
        serde_json::from_str(&second).unwrap(),
    );
    assert_eq!(a, b, "the same delivery twice");
    let page = c
        .fetch_resource::<ml_connector::shipstation::types::Fulfillment>(&a.resource_url)
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert!(
        c.list_shipments(vec![("orderId", o.order_id.unwrap().to_string())])
            .await
            .unwrap()
            .items
            .is_empty(),
        "mark-as-shipped orders never appear in /shipments"
    );
    control(&sim, "delivery", json!({"mode": "drop"})).await;
    let o2 = c.create_order(&order("SO-N", Some("k-n"))).await.unwrap();
    control(&sim, "mark-shipped", json!({"orderId": o2.order_id})).await;
    assert!(
        tokio::time::timeout(Duration::from_millis(500), deliveries.recv())
            .await
            .is_err(),
        "dropped"
    );
    c.unsubscribe_webhook(id).await.unwrap();
    assert_eq!(
        c.list_webhooks().await.unwrap()["webhooks"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
}

/// A worker killed mid-request never gives its slot back; the slot counts only until the request
/// could have lasted (its timeout), not minutes: the next acquire after that reaps it. A late
/// finish of a reaped reservation does not give the slot back twice.
#[tokio::test]
async fn a_dead_workers_slot_comes_back_after_its_request_timeout() {
    use ml_connector::shipstation::governor::{Governor, RateHeaders};
    let (pool, _) = common::fresh_db().await;
    let mut g = Governor::new(
        pool.clone(),
        "test-key".into(),
        40,
        Duration::from_secs(60),
        false,
    );
    g.reservation_ttl = Duration::from_millis(800);
    let in_flight = || {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i32>(
                "SELECT in_flight FROM rate_limits WHERE key_id = 'test-key'",
            )
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    // Two requests whose workers die: never finished.
    let dead = g.acquire().await.unwrap();
    let _other_dead = g.acquire().await.unwrap();
    let live = g.acquire().await.unwrap();
    assert_eq!(in_flight().await, 3);
    let budget = RateHeaders {
        limit: 40,
        remaining: 37,
        reset_secs: 50,
    };
    g.finish(live, Some(budget), None).await.unwrap();
    assert_eq!(
        in_flight().await,
        2,
        "the dead ones still count within their time"
    );
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let live = g.acquire().await.unwrap();
    assert_eq!(
        in_flight().await,
        1,
        "the dead ones reaped, only the live one counts"
    );
    g.finish(live, Some(budget), None).await.unwrap();
    assert_eq!(in_flight().await, 0);
    g.finish(dead, None, None).await.unwrap();
    assert_eq!(
        in_flight().await,
        0,
        "a late finish gives nothing back twice"
    );
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM rate_reservations")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
}

/// A 429 storm while the window still has budget (the headers say so): every worker resumes as soon
/// as the server answers again, not when the 60 s window resets.
#[tokio::test]
async fn a_passing_429_storm_is_resumed_after_before_the_window_resets() {
    let (pool, _) = common::fresh_db().await;
    let sim = start_sim(SimConfig::default()).await;
    let c = v1_client(&sim, pool.clone(), KEY, None);
    c.list_orders(vec![]).await.unwrap();
    control(&sim, "faults", json!({"storm_429_ms": 2500})).await;
    let t = std::time::Instant::now();
    c.list_orders(vec![]).await.expect("after the storm");
    let waited = t.elapsed();
    assert!(
        waited >= Duration::from_millis(2000),
        "waited for the storm: {waited:?}"
    );
    assert!(
        waited < Duration::from_secs(20),
        "resumed when the server answered again, not at the window's reset: {waited:?}"
    );
    // Several workers at once after the storm: no 429 from an imagined fresh window.
    let before = stats(&sim).await["v1_rejected"].as_u64().unwrap_or(0);
    let results = futures_util::future::join_all((0..10).map(|_| c.list_orders(vec![]))).await;
    assert!(results.iter().all(|r| r.is_ok()));
    assert_eq!(
        stats(&sim).await["v1_rejected"].as_u64().unwrap_or(0),
        before
    );
}
