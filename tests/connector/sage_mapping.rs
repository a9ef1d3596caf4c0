//! What ShipStation receives for a Sage order, and the dates that come back, end to end through
//! both simulators: countries, addresses, weights, fractions, drop-ship lines, customs, dates.

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
    let mut cfg = PoolConfig::new("mapping-test".into(), 32);
    cfg.poll_interval = Duration::from_millis(200);
    cfg
}

/// Post the Sage orders entered so far and wait until every order workflow has settled.
async fn post_all(c: &Connector, label: &str) {
    let poll = c.poll(label).await;
    c.settle(poll).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_international_order_reaches_shipstation_as_sage_holds_it() {
    let c = common::connector::start(SimConfig::default()).await;
    c.update_settings(|s| {
        s.orders.customs.hs_code_udf = Some("UDF_HTSCODE".into());
        s.orders.customs.country_of_origin_udf = Some("UDF_COUNTRY_ORIGIN".into());
    })
    .await;
    control(
        &c.sage,
        Method::POST,
        "ABC/items/WID-100",
        json!({"UDF_HTSCODE": "7318.15", "UDF_COUNTRY_ORIGIN": "DEU"}),
    )
    .await;
    let no = enter_order(&c.sage, json!({
        "CustomerNo": "ABF", "OrderDate": "20261126", "ShipExpireDate": "20261130",
        "ShipToName": "Huber Handels GmbH", "ConfirmTo": "Anna Huber", "ShipToAddress1": "Ringstrasse 1",
        "ShipToCity": "Wien", "ShipToZipCode": "1010", "ShipToCountryCode": "AUT", "ResidentialAddress": "N",
        "BillToName": "ABF Accounts", "BillToAddress1": "1 Main", "BillToAddress2": "Suite 4",
        "BillToAddress3": "Dock B", "BillToCity": "Austin", "BillToState": "TX", "BillToZipCode": "78701",
        "BillToCountryCode": "USA",
        "Lines": [
            {"ItemCode": "WID-100", "QuantityOrdered": 2.5, "UnitOfMeasure": "CS", "UnitOfMeasureConvFactor": 12},
            {"ItemCode": "BRK-410", "QuantityOrdered": 0.25},
            {"ItemCode": "BRK-410", "QuantityOrdered": 4, "DropShip": "Y"}
        ]
    }))
    .await;
    let bad = enter_order(
        &c.sage,
        json!({"CustomerNo": "ABF", "ShipToCountryCode": "UK", "Lines": [{"ItemCode": "WID-100", "QuantityOrdered": 1}]}),
    )
    .await;
    let shutdown = Shutdown::new();
    let workers = WorkerPool::spawn(c.engine.clone(), pool_config(), shutdown.clone());
    post_all(&c, "orders").await;

    let o = c.ss_order(&no).await;
    // The Sage date, not the evening before (V1 reads times as Pacific).
    assert!(
        o["orderDate"].as_str().unwrap().starts_with("2026-11-26"),
        "{}",
        o["orderDate"]
    );
    assert!(o["shipByDate"].as_str().unwrap().starts_with("2026-11-30"));
    let ship_to = &o["shipTo"];
    assert_eq!(ship_to["country"], "AT", "AUT is Austria, not Australia");
    assert_eq!(ship_to["company"], "Huber Handels GmbH");
    assert_eq!(ship_to["name"], "Anna Huber");
    assert_eq!(ship_to["residential"], false);
    assert!(
        !ship_to["phone"].as_str().unwrap_or_default().is_empty(),
        "the customer's phone: {ship_to}"
    );
    assert_eq!(o["billTo"]["street2"], "Suite 4");
    assert_eq!(o["billTo"]["street3"], "Dock B");
    let items = o["items"].as_array().unwrap();
    assert_eq!(
        items.len(),
        2,
        "the drop-ship line is the vendor's: {items:?}"
    );
    // 2.5 cases → 3 units, Sage's quantity named; WID-100 weighs 2.5 lb a unit, 12 units a case.
    assert_eq!(items[0]["quantity"], 3);
    assert_eq!(items[0]["weight"]["value"], json!(25.0));
    assert!(items[0]["options"]
        .as_array()
        .unwrap()
        .iter()
        .any(|o| o["name"] == "Sage quantity" && o["value"] == "2.5 CS"));
    assert_eq!(items[1]["quantity"], 1, "0.25 is never 0");
    let customs = o["internationalOptions"]["customsItems"]
        .as_array()
        .unwrap();
    assert_eq!(customs.len(), 2);
    assert_eq!(customs[0]["harmonizedTariffCode"], "7318.15");
    assert_eq!(customs[0]["countryOfOrigin"], "DE");

    // An unknown country code fails the order with a sentence naming it.
    let row = ml_connector::engine::store::find(&c.pool, "order", c.connection_id, &bad)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.status, "failed");
    assert!(
        row.last_error.as_deref().unwrap().contains("\"UK\""),
        "{:?}",
        row.last_error
    );
    shutdown.trigger();
    workers.join().await;
}

async fn invoice_header(c: &Connector, inv: &str) -> Value {
    rows(&c.sage, "SO_InvoiceHeader")
        .await
        .into_iter()
        .find(|r| r["InvoiceNo"] == json!(inv))
        .unwrap()
}

/// A ship date ShipStation gives as a date is written to Sage as that date, in a zone east and a
/// zone west of Pacific time alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_date_only_ship_date_stays_that_date_in_every_site_zone() {
    for zone in ["Pacific/Honolulu", "Asia/Tokyo"] {
        let c = common::connector::start(SimConfig::default()).await;
        c.update_settings(|s| {
            s.sage.site_zone = zone.into();
            s.tracking.invoice_check_secs = 1;
        })
        .await;
        let no = enter_order(
            &c.sage,
            json!({"CustomerNo": "ABF", "Lines": [{"ItemCode": "WID-100", "QuantityOrdered": 1}]}),
        )
        .await;
        let shutdown = Shutdown::new();
        let workers = WorkerPool::spawn(c.engine.clone(), pool_config(), shutdown.clone());
        post_all(&c, "orders").await;
        let order_id = c.ss_order(&no).await["orderId"].as_i64().unwrap();
        c.ss_control(
            "mark-shipped",
            json!({"orderId": order_id, "carrierCode": "fedex", "trackingNumber": "794600000077", "shipDate": "2026-11-20"}),
        )
        .await;
        let inv = invoice(&c.sage, &no).await;
        c.shipments_poll("reconcile").await;
        let written = common::eventually(
            "the invoice's ship date",
            Duration::from_secs(60),
            || async {
                let h = invoice_header(&c, &inv).await;
                let d = h["ShipDate"].as_str().unwrap_or_default().to_string();
                (!d.is_empty()).then_some(d)
            },
        )
        .await;
        assert_eq!(written, "20261120", "in {zone}");
        shutdown.trigger();
        workers.join().await;
    }
}
