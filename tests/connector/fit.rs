//! `connection fit`, the real binary against the simulators: a clean company fits; a seeded one
//! shows every data problem once with its sentence and fits with changes; a wrong V1 key or a
//! budget too small for the volume does not fit. Nothing is sent to ShipStation or written to Sage.

use std::process::Command;

use reqwest::Method;
use serde_json::{json, Value};

use crate::common;
use common::connector::{map_ups_ground, Connector};
use common::sage100::{control, enter_order};
use ml_connector::connections::{self, WarehouseMapping};
use ml_connector::secret::Secret;
use ml_connector::sim::shipstation::SimConfig;
use ml_connector::vault::Vault;

/// `connection fit acme --json`: the exit status and the report.
fn fit(c: &Connector) -> (bool, Value) {
    let out = Command::new(common::binary())
        .args(["connection", "fit", "acme", "--json"])
        .env("DATABASE_URL", &c.url)
        .env("ML_CONNECTOR_MASTER_KEY", &c.master_key)
        .env_remove("ML_CONNECTOR_MASTER_KEY_FILE")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "fit --json printed no report ({e}): {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.success(), report)
}

fn checks(report: &Value) -> Vec<String> {
    report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["check"].as_str().unwrap().to_string())
        .collect()
}

fn problem<'a>(report: &'a Value, check: &str) -> &'a Value {
    report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["check"] == check)
        .unwrap_or_else(|| panic!("no {check} problem in {report:#}"))
}

fn clean_order() -> Value {
    json!({"CustomerNo": "ABF", "ShipVia": "UPS GROUND",
           "Lines": [{"ItemCode": "WID-100", "QuantityOrdered": 2}]})
}

async fn map_main_warehouse(c: &Connector) {
    c.update_settings(|s| {
        map_ups_ground(s);
        s.mappings
            .warehouses
            .insert("000".into(), WarehouseMapping::default());
    })
    .await;
}

/// What ShipStation holds that a sync would have changed: orders, webhook subscriptions, stock.
async fn shipstation_state(c: &Connector) -> Value {
    let get = |path: &str| {
        let url = format!("{}/__control/{path}", c.ss.base_url());
        async move {
            reqwest::get(url)
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    json!({"orders": get("stats").await["orders"], "webhooks": get("webhooks").await,
           "inventory": get("v2/inventory").await})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_company_fits_and_a_seeded_one_shows_each_problem_with_what_to_change() {
    let c = common::connector::start(SimConfig::default()).await;
    map_main_warehouse(&c).await;
    for _ in 0..3 {
        enter_order(&c.sage, clean_order()).await;
    }
    let (ok, clean) = fit(&c);
    assert!(ok, "{clean:#}");
    assert_eq!(clean["verdict"], "fit", "{clean:#}");
    assert_eq!(checks(&clean), Vec::<String>::new());
    assert!(clean["reach"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["ok"] == true));
    let data = &clean["data"];
    assert_eq!(
        (
            &data["orders_changed"],
            &data["open_orders"],
            &data["would_post"]
        ),
        (&json!(3), &json!(3), &json!(3)),
        "{data:#}"
    );
    // Busiest day 3 orders: 3 posts + 6 tracking reads + 2 × 288 polls + 24 checks, of 40 × 1440.
    let cap = &clean["capacity"];
    assert_eq!(cap["v1_calls_per_day"], 609, "{cap:#}");
    assert_eq!(cap["v1_budget_per_day"], 57_600);
    assert_eq!(cap["headroom_pct"], 98.9);

    // The seeded company: one of each problem.
    control(&c.sage, Method::POST, "ABC/items/NOWT-1",
        json!({"ItemCodeDesc": "Loose part", "ShipWeight": "", "SalesAcctKey": "4000-00", "StandardUnitPrice": 3})).await;
    control(
        &c.sage,
        Method::POST,
        "ABC/udfs",
        json!({"so_header": ["UDF_TRACKING_NO", "UDF_CARRIER"]}),
    )
    .await;
    let fedex = enter_order(
        &c.sage,
        json!({"CustomerNo": "ABF", "ShipVia": "FEDEX 2DAY",
        "Lines": [{"ItemCode": "WID-100", "QuantityOrdered": 1}]}),
    )
    .await;
    let other_wh = enter_order(
        &c.sage,
        json!({"CustomerNo": "ABF", "ShipVia": "UPS GROUND", "WarehouseCode": "002",
        "Lines": [{"ItemCode": "WID-100", "QuantityOrdered": 1}]}),
    )
    .await;
    enter_order(
        &c.sage,
        json!({"CustomerNo": "ABF", "ShipVia": "UPS GROUND",
        "Lines": [{"ItemCode": "NOWT-1", "QuantityOrdered": 5}]}),
    )
    .await;
    let bad_country = enter_order(
        &c.sage,
        json!({"CustomerNo": "ABF", "ShipVia": "UPS GROUND",
        "ShipToCountryCode": "ZZZ", "Lines": [{"ItemCode": "WID-100", "QuantityOrdered": 1}]}),
    )
    .await;
    // A V2 key ShipStation refuses: inventory and estimates stop, orders still move.
    let vault = Vault::from_spec(&c.master_key).unwrap();
    connections::set_secret(
        &c.pool,
        &vault,
        c.connection_id,
        "v2_key",
        &Secret::new("revoked"),
        None,
    )
    .await
    .unwrap();
    let before = shipstation_state(&c).await;
    let invoice_rows = common::sage100::rows(&c.sage, "SO_InvoiceTracking")
        .await
        .len();

    let (ok, seeded) = fit(&c);
    assert!(ok, "fits with changes exits 0: {seeded:#}");
    assert_eq!(seeded["verdict"], "fits_with_changes", "{seeded:#}");
    let mut found = checks(&seeded);
    found.sort();
    assert_eq!(
        found,
        [
            "country_unmapped",
            "item_without_weight",
            "order_would_fail",
            "reach.shipstation-v2",
            "ship_via_unmapped",
            "udf_missing",
            "warehouse_unmapped"
        ],
        "{seeded:#}"
    );
    let p = problem(&seeded, "ship_via_unmapped");
    assert_eq!(p["count"], 1);
    assert!(
        p["sentence"]
            .as_str()
            .unwrap()
            .contains("\"FEDEX 2DAY\" on 1 order"),
        "{p}"
    );
    assert!(p["samples"][0].as_str().unwrap().ends_with(&fedex), "{p}");
    let p = problem(&seeded, "warehouse_unmapped");
    assert!(p["sentence"].as_str().unwrap().contains("\"002\""), "{p}");
    assert!(
        p["samples"][0].as_str().unwrap().ends_with(&other_wh),
        "{p}"
    );
    let p = problem(&seeded, "item_without_weight");
    assert!(p["sentence"].as_str().unwrap().contains("NOWT-1"), "{p}");
    assert_eq!(p["samples"], json!(["NOWT-1"]));
    assert!(
        p["sentence"].as_str().unwrap().contains("on 1 order line"),
        "{p}"
    );
    let p = problem(&seeded, "country_unmapped");
    assert!(p["sentence"].as_str().unwrap().contains("\"ZZZ\""), "{p}");
    let p = problem(&seeded, "order_would_fail");
    assert_eq!(p["count"], 1);
    assert!(
        p["samples"][0].as_str().unwrap().starts_with(&bad_country),
        "{p}"
    );
    assert!(
        p["sentence"].as_str().unwrap().contains("orders.countries"),
        "{p}"
    );
    let p = problem(&seeded, "udf_missing");
    assert!(
        p["sentence"].as_str().unwrap().contains("UDF_EST_DELIVERY"),
        "{p}"
    );
    assert_eq!(p["blocking"], false);
    assert_eq!(problem(&seeded, "reach.shipstation-v2")["blocking"], false);
    assert_eq!(seeded["data"]["would_fail"], 1);
    assert_eq!(seeded["data"]["open_orders"], 7);
    // Read-only: nothing was posted to ShipStation, no workflow started, nothing written to Sage.
    assert_eq!(shipstation_state(&c).await, before);
    assert_eq!(before["orders"], 0);
    assert_eq!(
        common::sage100::rows(&c.sage, "SO_InvoiceTracking")
            .await
            .len(),
        invoice_rows
    );
    assert_eq!(c.count("SELECT count(*) FROM workflows").await, 0);

    // A wrong V1 key, or a budget the volume overruns: the connector cannot run.
    connections::set_secret(
        &c.pool,
        &vault,
        c.connection_id,
        "v1_secret",
        &Secret::new("wrong"),
        None,
    )
    .await
    .unwrap();
    c.update_settings(|s| s.polls.shipments_secs = 60).await;
    c.update_settings(|s| s.shipstation.v1_rate_limit_per_min = 1)
        .await;
    let (ok, broken) = fit(&c);
    assert!(!ok, "does_not_fit exits 1");
    assert_eq!(broken["verdict"], "does_not_fit", "{broken:#}");
    assert_eq!(problem(&broken, "reach.shipstation-v1")["blocking"], true);
    let p = problem(&broken, "capacity_v1");
    assert_eq!(p["blocking"], true);
    assert!(broken["capacity"]["headroom_pct"].as_f64().unwrap() < 0.0);
}
