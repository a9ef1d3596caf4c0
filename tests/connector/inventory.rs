//! Sage 100 item-warehouse quantities → ShipStation V2 inventory, through both simulators.

use crate::common;

use std::time::Duration;

use ml_connector::engine::worker::{PoolConfig, WorkerPool};
use ml_connector::engine::Shutdown;
use ml_connector::sim::sage100::data::key;
use ml_connector::sim::shipstation::SimConfig;
use serde_json::json;

struct Rig {
    c: common::connector::Connector,
    shutdown: Shutdown,
    workers: Option<WorkerPool>,
}

async fn rig() -> Rig {
    let c = common::connector::start(SimConfig {
        v2_limit: 1_000_000,
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
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    (
                        r["sku"].as_str().unwrap().to_string(),
                        wh_of(r["inventory_location_id"].as_str().unwrap()),
                    ),
                    r["on_hand"].as_i64().unwrap(),
                )
            })
            .collect()
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
