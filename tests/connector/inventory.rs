//! Sage 100 item-warehouse quantities → ShipStation V2 inventory, through both simulators.

use crate::common;

use std::time::Duration;

use ml_connector::engine::worker::{PoolConfig, WorkerPool};
use ml_connector::engine::Shutdown;
use ml_connector::sim::sage100::data::key;
use ml_connector::sim::shipstation::{Behaviour, InventoryPaging, SimConfig};
use serde_json::json;

struct Rig {
    c: common::connector::Connector,
    shutdown: Shutdown,
    workers: Option<WorkerPool>,
}

async fn rig() -> Rig {
    rig_with(Behaviour::default()).await
}

async fn rig_with(behaviour: Behaviour) -> Rig {
    let c = common::connector::start(SimConfig {
        v2_limit: 1_000_000,
        behaviour,
        ..SimConfig::default()
    })
    .await;
    let mut conn = ml_connector::connections::get(&c.pool, "acme")
        .await
        .unwrap();
    conn.settings.shipstation.v2_rate_limit_per_min = 1_000_000;
    conn.settings
        .mappings
        .warehouses
        .insert("000".into(), Default::default());
    conn.settings
        .mappings
        .warehouses
        .insert("EST".into(), Default::default());
    ml_connector::connections::update_settings(&c.pool, "acme", &conn.settings)
        .await
        .unwrap();
    let shutdown = Shutdown::new();
    let mut cfg = PoolConfig::new("inventory-test".into(), 16);
    cfg.poll_interval = Duration::from_millis(100);
    let workers = Some(WorkerPool::spawn(c.engine.clone(), cfg, shutdown.clone()));
    Rig {
        c,
        shutdown,
        workers,
    }
}

impl Rig {
    /// Set Sage quantities (stamped now, as a Sage user's change would be).
    fn set_stock(&self, rows: &[(String, &str, i64, i64)]) {
        let mut data = self.c.sage.sim.data.lock().unwrap();
        let (date, time) = data.stamp();
        let co = data.company("ABC").unwrap();
        for (sku, wh, on_hand, on_so) in rows {
            let rec = co.im_item_warehouse.entry(key(&[sku, wh])).or_default();
            for (k, v) in [
                ("ItemCode", json!(sku)),
                ("WarehouseCode", json!(wh)),
                ("QuantityOnHand", json!(on_hand)),
                ("QuantityOnSalesOrder", json!(on_so)),
                ("QuantityOnBackOrder", json!(0)),
                ("DateUpdated", json!(date)),
                ("TimeUpdated", json!(time)),
            ] {
                rec.insert(k.into(), v);
            }
        }
    }

    async fn run(&self, label: &str) -> ml_connector::engine::store::WorkflowRow {
        let (id, _) = self
            .c
            .engine
            .start_workflow("inventory", self.c.connection_id, label, json!({}), "test")
            .await
            .unwrap();
        self.run_existing(id).await
    }

    async fn adjust_calls(&self) -> usize {
        let v: serde_json::Value =
            reqwest::get(format!("{}/__control/received", self.c.ss.base_url()))
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .filter(|r| r["path"] == "/v2/inventory" && r["method"] == "POST")
            .count()
    }

    async fn levels(&self) -> std::collections::HashMap<(String, String), i64> {
        let v: serde_json::Value =
            reqwest::get(format!("{}/__control/v2/inventory", self.c.ss.base_url()))
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
        let conn = ml_connector::connections::get(&self.c.pool, "acme")
            .await
            .unwrap();
        let wh_of = |loc: &str| {
            conn.settings
                .mappings
                .warehouses
                .iter()
                .find(|(_, m)| m.inventory_location_id.as_deref() == Some(loc))
                .map(|(k, _)| k.clone())
                .unwrap()
        };
        // Sellable stock, all lots.
        let mut out = std::collections::HashMap::new();
        for r in v.as_array().unwrap() {
            if r["condition"] != "sellable" {
                continue;
            }
            *out.entry((
                r["sku"].as_str().unwrap().to_string(),
                wh_of(r["inventory_location_id"].as_str().unwrap()),
            ))
            .or_insert(0) += r["on_hand"].as_i64().unwrap();
        }
        out
    }

    /// ShipStation's (sellable on hand, allocated) of a SKU at a Sage warehouse's location.
    async fn shipstation(&self, sku: &str, wh: &str) -> (i64, i64) {
        let v: serde_json::Value =
            reqwest::get(format!("{}/__control/v2/inventory", self.c.ss.base_url()))
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
        let loc = self.location(wh).await;
        v.as_array()
            .unwrap()
            .iter()
            .filter(|r| {
                r["sku"] == sku && r["inventory_location_id"] == loc && r["condition"] == "sellable"
            })
            .fold((0, 0), |(h, _), r| {
                (
                    h + r["on_hand"].as_i64().unwrap(),
                    r["allocated"].as_i64().unwrap(),
                )
            })
    }

    async fn location(&self, wh: &str) -> String {
        let conn = ml_connector::connections::get(&self.c.pool, "acme")
            .await
            .unwrap();
        conn.settings.mappings.warehouses[wh]
            .inventory_location_id
            .clone()
            .expect("the location was made by a first run")
    }

    /// The plan step's audit detail of a run.
    async fn plan_detail(&self, id: i64) -> serde_json::Value {
        ml_connector::engine::store::events(&self.c.pool, id)
            .await
            .unwrap()
            .into_iter()
            .find(|e| e.event == "step_succeeded" && e.from_state.as_deref() == Some("plan"))
            .and_then(|e| e.detail)
            .unwrap_or_default()
    }

    async fn stop(mut self) {
        self.shutdown.trigger();
        self.workers.take().unwrap().join().await;
    }
}

fn sku(i: usize) -> String {
    format!("SKU-{i:05}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_skus_in_two_warehouses_then_only_what_changed() {
    let r = rig().await;
    let mut rows = Vec::new();
    for i in 0..2000 {
        rows.push((sku(i), "000", 50 + (i % 40) as i64, (i % 7) as i64));
        rows.push((sku(i), "EST", 20 + (i % 13) as i64, (i % 25) as i64)); // some go negative → 0
    }
    r.set_stock(&rows);
    let first = r.run("first").await;
    assert_eq!(first.status, "completed", "{:?}", first.last_error);
    let levels = r.levels().await;
    for (s, wh, on_hand, on_so) in &rows {
        let want = (on_hand - on_so).max(0);
        assert_eq!(
            levels
                .get(&(s.clone(), wh.to_string()))
                .copied()
                .unwrap_or(0),
            want,
            "{s}@{wh}"
        );
    }
    let calls_first = r.adjust_calls().await;
    let zero_missing = rows.iter().filter(|(_, _, h, so)| h - so <= 0).count();
    assert_eq!(
        calls_first,
        4000 + 16 - zero_missing,
        "one adjust per level that differs (the seeded 16 included; zeros need none)"
    );
    // Mapped locations were created on first use and remembered.
    let conn = ml_connector::connections::get(&r.c.pool, "acme")
        .await
        .unwrap();
    assert!(conn
        .settings
        .mappings
        .warehouses
        .values()
        .all(|m| m.inventory_location_id.is_some()));

    let second = r.run("second").await;
    assert_eq!(second.status, "completed");
    assert_eq!(
        r.adjust_calls().await,
        calls_first,
        "nothing changed: no adjust calls"
    );

    tokio::time::sleep(Duration::from_millis(50)).await;
    let changed: Vec<_> = (0..10).map(|i| (sku(i * 100), "000", 999, 0)).collect();
    r.set_stock(&changed);
    let third = r.run("third").await;
    assert_eq!(third.status, "completed");
    assert_eq!(
        r.adjust_calls().await,
        calls_first + 10,
        "ten changed SKUs: ten adjust calls"
    );
    assert_eq!(r.levels().await[&(sku(500), "000".to_string())], 999);
    let audited: i64 = sqlx::query_scalar("SELECT count(*) FROM workflow_events WHERE workflow_id = $1 AND event = 'inventory_adjusted'")
        .bind(third.id)
        .fetch_one(&r.c.pool)
        .await
        .unwrap();
    assert_eq!(audited, 10, "each SKU change is in the audit trail");
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_storm_mid_run_loses_and_repeats_nothing() {
    let r = rig().await;
    let rows: Vec<_> = (0..600).map(|i| (sku(i), "000", 40, 0)).collect();
    r.set_stock(&rows);
    let before = r.adjust_calls().await;
    let (id, _) =
        r.c.engine
            .start_workflow("inventory", r.c.connection_id, "storm", json!({}), "test")
            .await
            .unwrap();
    common::eventually("some adjustments applied", Duration::from_secs(60), || async {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM inventory_adjustments WHERE workflow_id = $1 AND applied_at IS NOT NULL")
            .bind(id)
            .fetch_one(&r.c.pool)
            .await
            .unwrap();
        (n > 50).then_some(())
    })
    .await;
    reqwest::Client::new()
        .post(format!("{}/__control/faults", r.c.ss.base_url()))
        .json(&json!({"storm_429_ms": 2500}))
        .send()
        .await
        .unwrap();
    let done = r.run_existing(id).await;
    assert_eq!(done.status, "completed", "{:?}", done.last_error);
    let levels = r.levels().await;
    assert!(rows
        .iter()
        .all(|(s, wh, _, _)| levels[&(s.clone(), wh.to_string())] == 40));
    assert_eq!(
        r.adjust_calls().await - before,
        600 + 16,
        "every level adjusted exactly once despite the storm"
    );
    r.stop().await;
}

impl Rig {
    async fn run_existing(&self, id: i64) -> ml_connector::engine::store::WorkflowRow {
        common::eventually(
            "inventory run finished",
            Duration::from_secs(240),
            || async {
                let row = ml_connector::engine::store::get(&self.c.pool, id)
                    .await
                    .unwrap();
                matches!(row.status.as_str(), "completed" | "failed").then_some(row)
            },
        )
        .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_skus_are_reported_and_an_unmapped_warehouse_is_a_clear_error() {
    let r = rig().await;
    r.set_stock(&[(sku(1), "000", 5, 0), ("GHOST-1".into(), "000", 7, 0)]);
    let known: Vec<String> = std::iter::once(sku(1))
        .chain(
            [
                "WID-100", "WID-200", "GAD-300", "BRK-410", "CAB-520", "BOX-600", "TAPE-700",
                "LBL-800",
            ]
            .map(String::from),
        )
        .collect();
    reqwest::Client::new()
        .post(format!("{}/__control/v2/products", r.c.ss.base_url()))
        .json(&json!({"skus": known}))
        .send()
        .await
        .unwrap();
    let run = r.run("unknown").await;
    assert_eq!(run.status, "completed");
    let events = ml_connector::engine::store::events(&r.c.pool, run.id)
        .await
        .unwrap();
    let last = events
        .iter()
        .rev()
        .find(|e| e.to_state.as_deref() == Some("done"))
        .unwrap();
    assert_eq!(
        last.detail.as_ref().unwrap()["rejected_skus"],
        json!(["GHOST-1"]),
        "reported, not dropped"
    );

    r.set_stock(&[(sku(2), "WEST", 5, 0)]);
    let failed = r.run("unmapped").await;
    assert_eq!(failed.status, "failed");
    let err = failed.last_error.unwrap();
    assert!(
        err.starts_with(
            "Sage warehouse WEST has no ShipStation mapping: add mappings.warehouses.\"WEST\""
        ),
        "{err}"
    );
    r.stop().await;
}

/// ShipStation subtracts what its own open orders allocate; the orders the connector posted are
/// already in Sage's QuantityOnSalesOrder. With orders open in both, ShipStation's available must
/// equal Sage's available (minus the buffer) — with and without allocation in ShipStation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allocations_of_orders_open_in_both_systems_are_not_counted_twice() {
    let r = rig().await;
    // Sage: 100 on hand, 10 on a sales order the connector posted.
    r.set_stock(&[("ALLOC-1".into(), "000", 100, 10)]);
    let first = r.run("before-allocation").await;
    assert_eq!(first.status, "completed", "{:?}", first.last_error);
    assert_eq!(
        r.shipstation("ALLOC-1", "000").await,
        (90, 0),
        "not allocated: 90 available"
    );

    // The same order open in ShipStation, and allocated there by staff.
    let v1 =
        common::shipstation::v1_client(&r.c.ss, r.c.pool.clone(), ("sim-key", "sim-secret"), None);
    let order = v1
        .create_orders(&[json!({"orderNumber": "0000071", "orderKey": "sage100:ABC:0000071",
            "orderDate": "2026-12-01 09:00:00", "orderStatus": "awaiting_shipment",
            "billTo": {"name": "ABF"}, "shipTo": {"name": "ABF", "street1": "1 Main"},
            "items": [{"lineItemKey": "000001", "sku": "ALLOC-1", "name": "Allocated", "quantity": 10}]})])
        .await
        .unwrap()
        .results[0]
        .order_id
        .unwrap();
    r.c.ss_control("allocate", json!({"orderId": order})).await;
    assert_eq!(
        r.shipstation("ALLOC-1", "000").await,
        (90, 10),
        "ShipStation would show 80"
    );

    // No Sage change: the next run still sees the allocation and adds it back.
    let second = r.run("allocated").await;
    assert_eq!(second.status, "completed", "{:?}", second.last_error);
    let (on_hand, allocated) = r.shipstation("ALLOC-1", "000").await;
    assert_eq!((on_hand, allocated), (100, 10));
    assert_eq!(
        on_hand - allocated,
        90,
        "ShipStation's available = Sage's available"
    );
    assert_eq!(r.plan_detail(second.id).await["allocated_added_back"], 10);

    // With a buffer of 5 the same holds, less the buffer.
    r.c.update_settings(|s| {
        s.inventory.buffers.insert(
            "sku:ALLOC-1".into(),
            ml_connector::connections::Buffer {
                absolute: 5,
                percent: 0.0,
            },
        );
    })
    .await;
    r.run("buffer").await;
    let (on_hand, allocated) = r.shipstation("ALLOC-1", "000").await;
    assert_eq!(on_hand - allocated, 85);

    // Staff release the allocation: nothing to add back any more.
    r.c.ss_control("deallocate", json!({"orderId": order}))
        .await;
    r.run("released").await;
    assert_eq!(r.shipstation("ALLOC-1", "000").await, (85, 0));

    // An allocation strategy allocates again; the label ships it (on hand goes down in
    // ShipStation) and Sage invoices it: both agree at every step.
    r.c.ss_control("behaviour", json!({"auto_allocate": true}))
        .await;
    r.c.ss_control("allocate", json!({"orderId": order})).await;
    r.run("reallocated").await;
    let (on_hand, allocated) = r.shipstation("ALLOC-1", "000").await;
    assert_eq!((on_hand - allocated, allocated), (85, 10));
    r.c.ss_control("labels", json!({"orderId": order})).await;
    assert_eq!(
        r.shipstation("ALLOC-1", "000").await,
        (85, 0),
        "shipped: 10 left ShipStation"
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    r.set_stock(&[("ALLOC-1".into(), "000", 90, 0)]);
    r.run("invoiced").await;
    assert_eq!(r.shipstation("ALLOC-1", "000").await, (85, 0));
    r.stop().await;
}

/// The V2 OpenAPI names no page parameter for GET /v2/inventory: the answer's `links.next` is
/// followed as given (here an opaque cursor, with `page` ignored), and a `next` that does not
/// advance stops the run with an error instead of looping.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inventory_pages_follow_links_next_and_a_page_that_does_not_advance_is_an_error() {
    let r = rig_with(Behaviour {
        inventory_paging: InventoryPaging::Cursor,
        inventory_page_max: 40,
        extra_fields: true,
        ..Behaviour::default()
    })
    .await;
    let rows: Vec<_> = (0..150)
        .map(|i| (sku(i), "000", 10 + i as i64, 0))
        .collect();
    r.set_stock(&rows);
    let first = tokio::time::timeout(Duration::from_secs(120), r.run("cursor-first"))
        .await
        .expect("the run ends: pages are followed by links.next");
    assert_eq!(first.status, "completed", "{:?}", first.last_error);
    let calls = r.adjust_calls().await;
    // Every page was read: a second run finds every level as it should be.
    let second = tokio::time::timeout(Duration::from_secs(120), r.run("cursor-second"))
        .await
        .expect("the run ends");
    assert_eq!(second.status, "completed", "{:?}", second.last_error);
    assert_eq!(
        r.adjust_calls().await,
        calls,
        "all 150 levels were read back over 4 pages"
    );
    assert!(
        r.plan_detail(second.id).await["levels_compared"]
            .as_u64()
            .unwrap()
            >= 150
    );
    let received: serde_json::Value =
        reqwest::get(format!("{}/__control/received", r.c.ss.base_url()))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    let reads: Vec<&str> = received
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| {
            x["method"] == "GET" && x["path"].as_str().unwrap().starts_with("/v2/inventory?")
        })
        .map(|x| x["path"].as_str().unwrap())
        .collect();
    assert!(
        reads.iter().all(|p| !p.contains("page=")),
        "no page parameter is made up: {reads:?}"
    );
    assert!(
        reads.iter().any(|p| p.contains("cursor=")),
        "links.next was followed"
    );

    // A server whose next link repeats the page: the step fails with a plain error.
    r.c.ss_control("behaviour", json!({"inventory_paging": "stuck"}))
        .await;
    let (id, _) =
        r.c.engine
            .start_workflow("inventory", r.c.connection_id, "stuck", json!({}), "test")
            .await
            .unwrap();
    let error = common::eventually(
        "the stuck run's first failure",
        Duration::from_secs(60),
        || async {
            ml_connector::engine::store::events(&r.c.pool, id)
                .await
                .unwrap()
                .into_iter()
                .find(|e| e.event == "step_failed")
                .and_then(|e| e.error)
        },
    )
    .await;
    assert!(error.contains("paging does not advance"), "{error}");
    let row = ml_connector::engine::store::get(&r.c.pool, id)
        .await
        .unwrap();
    assert_ne!(row.status, "completed");
    r.stop().await;
}

/// Several rows of one SKU at one location: lots are summed (all sellable, all in Sage's
/// on-hand) and rows of another condition are kept apart, never overwritten or adjusted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lots_are_summed_and_other_conditions_kept_apart() {
    let r = rig().await;
    r.set_stock(&[("LOT-1".into(), "000", 20, 0)]);
    r.run("first").await;
    assert_eq!(r.shipstation("LOT-1", "000").await.0, 20);
    let loc = r.location("000").await;
    // Staff receive a lot of 20 and put 5 aside as damaged, in ShipStation only.
    for (lot, condition, q) in [
        (json!("L-2026-11"), "sellable", 20),
        (json!(null), "damaged", 5),
    ] {
        r.c.ss_control(
            "v2/stock",
            json!({"sku": "LOT-1", "inventory_location_id": loc, "on_hand": q, "condition": condition, "lot": lot}),
        )
        .await;
    }
    assert_eq!(
        r.shipstation("LOT-1", "000").await.0,
        40,
        "ShipStation would sell 40"
    );
    // No Sage change: the run still compares ShipStation's sellable total (both lots) with Sage.
    let run = r.run("lots").await;
    assert_eq!(run.status, "completed", "{:?}", run.last_error);
    assert_eq!(
        r.shipstation("LOT-1", "000").await.0,
        20,
        "sellable back to Sage's 20"
    );
    let rows: serde_json::Value =
        reqwest::get(format!("{}/__control/v2/inventory", r.c.ss.base_url()))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    let damaged: Vec<i64> = rows
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["sku"] == "LOT-1" && x["condition"] == "damaged")
        .map(|x| x["on_hand"].as_i64().unwrap())
        .collect();
    assert_eq!(damaged, vec![5], "the damaged row is left as it is");
    let detail = r.plan_detail(run.id).await;
    assert_eq!(detail["kept_apart_count"], 1, "{detail}");
    r.stop().await;
}

/// `connection sync --feed inventory --dry-run --json` through the real binary.
async fn dry_run(c: &common::connector::Connector) -> serde_json::Value {
    let out = tokio::process::Command::new(common::binary())
        .args([
            "connection",
            "sync",
            "acme",
            "--feed",
            "inventory",
            "--dry-run",
            "--json",
        ])
        .env("DATABASE_URL", &c.url)
        .env("ML_CONNECTOR_MASTER_KEY", &c.master_key)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The inventory dry run shows each level old → new exactly as the sync then sets it, and changes
/// nothing: no location created, no adjustment sent, no copy or watermark saved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_shows_each_level_the_sync_would_set_and_changes_nothing() {
    let r = rig().await;
    r.set_stock(&[
        (sku(1), "000", 10, 2),
        (sku(2), "000", 5, 0),
        (sku(3), "EST", 7, 1),
    ]);
    let v = dry_run(&r.c).await;
    let changes = v["changes"].as_array().unwrap().clone();
    // The seeded items and the three set here, each once (a first run pushes every level).
    assert_eq!(
        changes.len() as u64,
        v["levels_compared"].as_u64().unwrap(),
        "{v}"
    );
    let to = |s: &str, wh: &str| {
        changes
            .iter()
            .find(|c| c["sku"] == s && c["warehouse"] == wh)
            .map(|c| c["to"].clone())
    };
    assert_eq!(
        to(&sku(1), "000"),
        Some(json!(8)),
        "on hand 10, 2 on sales orders: {v}"
    );
    assert_eq!(to(&sku(2), "000"), Some(json!(5)));
    assert_eq!(to(&sku(3), "EST"), Some(json!(6)));
    assert_eq!(v["full_resync"], true);
    assert!(changes.iter().all(|c| c["from"].is_null()), "{v}");
    assert!(
        changes.iter().all(|c| c["location"]
            .as_str()
            .unwrap()
            .starts_with("(a new location")),
        "no location is created by a dry run: {v}"
    );
    let conn = ml_connector::connections::get(&r.c.pool, "acme")
        .await
        .unwrap();
    assert!(conn.settings.mappings.warehouses["000"]
        .inventory_location_id
        .is_none());
    assert_eq!(r.adjust_calls().await, 0);
    for table in ["inventory_sage_levels", "cursors", "workflows"] {
        assert_eq!(
            r.c.count(&format!("SELECT count(*) FROM {table}")).await,
            0,
            "{table}"
        );
    }

    // The sync sets exactly what the dry run showed.
    let run = r.run("first").await;
    assert_eq!(run.status, "completed");
    let levels = r.levels().await;
    for c in &changes {
        let key = (
            c["sku"].as_str().unwrap().to_string(),
            c["warehouse"].as_str().unwrap().to_string(),
        );
        assert_eq!(Some(&c["to"].as_i64().unwrap()), levels.get(&key), "{c}");
    }

    // One level changed in Sage: the dry run shows it alone, old → new, at the real location.
    r.set_stock(&[(sku(2), "000", 9, 0)]);
    let calls = r.adjust_calls().await;
    let v = dry_run(&r.c).await;
    let changes = v["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{v}");
    assert_eq!(changes[0]["sku"], json!(sku(2)));
    assert_eq!(changes[0]["from"], 5);
    assert_eq!(changes[0]["to"], 9);
    assert_eq!(changes[0]["location"], json!(r.location("000").await));
    assert_eq!(r.adjust_calls().await, calls, "nothing sent");
    r.stop().await;
}
