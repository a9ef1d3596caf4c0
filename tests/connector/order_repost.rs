//! Re-posting an order after a Sage change (issue #16, point 1). V1 `createorder(s)` replaces the
//! whole order, so a re-post must start from what ShipStation holds: staff edits, fields the
//! connector does not know, `orderId`. Each test runs against the simulator both as ShipStation
//! documents it (whole-order replace) and switched to a lenient merge, so the connector is seen
//! not to depend on either.

use crate::common;

use std::time::Duration;

use common::connector::Connector;
use common::sage100::{control, enter_order};
use ml_connector::engine::worker::{PoolConfig, WorkerPool};
use ml_connector::engine::Shutdown;
use ml_connector::sim::shipstation::{Behaviour, OrderUpdate, SimConfig};
use reqwest::Method;
use serde_json::{json, Value};

async fn started(behaviour: Behaviour) -> (Connector, Shutdown) {
    let c = common::connector::start(SimConfig {
        behaviour,
        ..SimConfig::default()
    })
    .await;
    c.update_settings(|s| {
        common::connector::map_ups_ground(s);
    })
    .await;
    let shutdown = Shutdown::new();
    let mut cfg = PoolConfig::new("repost-test".into(), 32);
    cfg.poll_interval = Duration::from_millis(200);
    WorkerPool::spawn(c.engine.clone(), cfg, shutdown.clone());
    (c, shutdown)
}

async fn sync(c: &Connector, label: &str) {
    let poll = c.poll(label).await;
    c.settle(poll).await;
}

/// The createorders bodies the simulator received that carry this orderKey.
async fn posts_of(c: &Connector, no: &str) -> Vec<Value> {
    let received: Value = reqwest::get(format!("{}/__control/received", c.ss.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = format!("sage100:ABC:{no}");
    received
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["path"] == "/orders/createorders")
        .flat_map(|r| {
            serde_json::from_str::<Vec<Value>>(r["body"].as_str().unwrap()).unwrap_or_default()
        })
        .filter(|o| o["orderKey"] == json!(key))
        .collect()
}

async fn workflow(c: &Connector, no: &str) -> ml_connector::engine::store::WorkflowRow {
    ml_connector::engine::store::find(&c.pool, "order", c.connection_id, no)
        .await
        .unwrap()
        .unwrap()
}

/// The detail of the order workflow's last successful post step.
async fn last_post(c: &Connector, no: &str) -> Value {
    let id = workflow(c, no).await.id;
    ml_connector::engine::store::events(&c.pool, id)
        .await
        .unwrap()
        .into_iter()
        .rev()
        .find(|e| e.event == "step_succeeded" && e.from_state.as_deref() == Some("post"))
        .and_then(|e| e.detail)
        .unwrap_or(Value::Null)
}

fn lines(widgets: i64) -> Value {
    json!([{"ItemCode": "WID-100", "QuantityOrdered": widgets}, {"ItemCode": "BRK-410", "QuantityOrdered": 3},
           {"ItemType": "4", "CommentText": "dock 3"}])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repost_after_a_sage_change_keeps_every_edit_made_in_shipstation() {
    for update in [OrderUpdate::Replace, OrderUpdate::Merge] {
        let (c, shutdown) = started(Behaviour {
            order_update: update,
            extra_fields: true,
            ..Behaviour::default()
        })
        .await;
        let no = enter_order(
            &c.sage,
            json!({"CustomerNo": "ABF", "ShipVia": "UPS GROUND", "Lines": lines(2)}),
        )
        .await;
        sync(&c, "first").await;
        let posted = c.ss_order(&no).await;
        let order_id = posted["orderId"].as_i64().unwrap();
        assert_eq!(
            posted["simFutureFlag"],
            json!(true),
            "the account holds fields no client models"
        );

        // Warehouse staff edit the order in ShipStation.
        let edits = json!({
            "weight": {"value": 14.5, "units": "pounds", "WeightUnits": 1},
            "dimensions": {"units": "inches", "length": 20.0, "width": 12.0, "height": 8.0},
            "packageCode": "package", "confirmation": "signature",
            "tagIds": [4012, 4013],
            "internalNotes": "Call the buyer before delivery",
            "carrierCode": "fedex", "serviceCode": "fedex_ground",
            "insuranceOptions": {"provider": "carrier", "insureShipment": true, "insuredValue": 250.0},
            "advancedOptions": {"customField3": "DOCK-7", "nonMachinable": true, "saturdayDelivery": true}
        });
        c.ss_control("edit-order", json!({"orderId": order_id, "set": edits}))
            .await;

        // A Sage user changes a line.
        control(
            &c.sage,
            Method::POST,
            &format!("ABC/orders/{no}"),
            json!({"Lines": lines(5)}),
        )
        .await;
        sync(&c, "changed").await;

        let after = c.ss_order(&no).await;
        let at = |path: &str| path.split('.').fold(&after, |v, k| &v[k]).clone();
        for (path, want) in [
            ("weight.value", json!(14.5)),
            ("weight.WeightUnits", json!(1)),
            ("dimensions.length", json!(20.0)),
            ("dimensions.height", json!(8.0)),
            ("packageCode", json!("package")),
            ("confirmation", json!("signature")),
            ("tagIds", json!([4012, 4013])),
            ("internalNotes", json!("Call the buyer before delivery")),
            ("carrierCode", json!("fedex")),
            ("serviceCode", json!("fedex_ground")),
            ("insuranceOptions.insuredValue", json!(250.0)),
            ("advancedOptions.customField3", json!("DOCK-7")),
            ("advancedOptions.nonMachinable", json!(true)),
            ("advancedOptions.saturdayDelivery", json!(true)),
            ("simFutureObject.labels", json!(["a", "b"])),
        ] {
            assert_eq!(at(path), want, "{update:?}: {path} as staff left it");
        }
        let qty = |sku: &str| {
            after["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|i| i["sku"] == sku)
                .map(|i| i["quantity"].clone())
        };
        assert_eq!(qty("WID-100"), Some(json!(5)), "{update:?}: Sage's change");
        assert_eq!(qty("BRK-410"), Some(json!(3)));
        assert_eq!(after["items"].as_array().unwrap().len(), 2);
        assert_eq!(after["orderId"], order_id, "the same order");
        assert_eq!(c.ss_orders().await.len(), 1, "no second order");
        let posts = posts_of(&c, &no).await;
        assert_eq!(posts.len(), 2, "created once, updated once");
        assert_eq!(posts[1]["orderId"], order_id, "the update names the order");
        let kept = &last_post(&c, &no).await["kept_from_shipstation"];
        for f in ["internalNotes", "carrierCode", "serviceCode"] {
            assert!(
                kept.as_array().unwrap().iter().any(|k| k == f),
                "{f} in {kept}"
            );
        }

        // Deleted in Sage: cancelled in ShipStation, and nothing else of the order changes.
        reqwest::Client::new()
            .delete(format!("{}/__control/ABC/orders/{no}", c.sage.base))
            .send()
            .await
            .unwrap();
        sync(&c, "deleted").await;
        let cancelled = c.ss_order(&no).await;
        assert_eq!(cancelled["orderStatus"], "cancelled");
        assert_eq!(cancelled["weight"]["value"], json!(14.5));
        assert_eq!(cancelled["tagIds"], json!([4012, 4013]));
        assert_eq!(workflow(&c, &no).await.state, "cancelled");
        shutdown.trigger();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whether_an_order_can_still_change_is_read_from_its_status_not_from_a_message() {
    // This account words its refusal its own way.
    let (c, shutdown) = started(Behaviour {
        not_updatable_message: Some("Order locked.".into()),
        ..Behaviour::default()
    })
    .await;
    let mut numbers = Vec::new();
    for _ in 0..3 {
        numbers.push(
            enter_order(
                &c.sage,
                json!({"CustomerNo": "ABF", "ShipVia": "UPS GROUND", "Lines": lines(1)}),
            )
            .await,
        );
    }
    sync(&c, "first").await;
    // Staff ship the first, cancel the second; the third stays open.
    let id = |o: Value| o["orderId"].as_i64().unwrap();
    let shipped = id(c.ss_order(&numbers[0]).await);
    c.ss_control("labels", json!({"orderId": shipped})).await;
    let cancelled = id(c.ss_order(&numbers[1]).await);
    c.ss_control(
        "edit-order",
        json!({"orderId": cancelled, "set": {"orderStatus": "cancelled"}}),
    )
    .await;
    for no in &numbers {
        control(
            &c.sage,
            Method::POST,
            &format!("ABC/orders/{no}"),
            json!({"CustomerPONo": "PO-LATE"}),
        )
        .await;
    }
    sync(&c, "changed").await;
    for (no, status) in [(&numbers[0], "shipped"), (&numbers[1], "cancelled")] {
        let w = workflow(&c, no).await;
        assert_ne!(w.status, "failed", "{no}: {:?}", w.last_error);
        assert_eq!(w.state, "check");
        let events = ml_connector::engine::store::events(&c.pool, w.id)
            .await
            .unwrap();
        let note = events
            .iter()
            .rev()
            .find_map(|e| e.detail.as_ref()?.get("not_updated").cloned())
            .unwrap_or_else(|| panic!("{no}: no not_updated detail"));
        assert!(note.as_str().unwrap().contains(status), "{note}");
        assert_eq!(
            posts_of(&c, no).await.len(),
            1,
            "{no}: a final order is not sent again"
        );
    }
    let open = c.ss_order(&numbers[2]).await;
    assert_eq!(open["advancedOptions"]["customField2"], "PO-LATE");
    shutdown.trigger();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_split_order_is_updated_by_its_order_id_and_keeps_the_lines_moved_away() {
    for update in [OrderUpdate::Replace, OrderUpdate::Merge] {
        let (c, shutdown) = started(Behaviour {
            order_update: update,
            ..Behaviour::default()
        })
        .await;
        let no = enter_order(
            &c.sage,
            json!({"CustomerNo": "ABF", "ShipVia": "UPS GROUND", "Lines": [
                {"ItemCode": "WID-100", "QuantityOrdered": 2}, {"ItemCode": "BRK-410", "QuantityOrdered": 3},
                {"ItemCode": "GAD-300", "QuantityOrdered": 1}]}),
        )
        .await;
        sync(&c, "first").await;
        let original = c.ss_order(&no).await["orderId"].as_i64().unwrap();
        // Staff split the last line off into its own order (a partial shipment).
        let child = c
            .ss_control("split", json!({"orderId": original, "items": 1}))
            .await;
        control(
            &c.sage,
            Method::POST,
            &format!("ABC/orders/{no}"),
            json!({"CustomerPONo": "PO-SPLIT"}),
        )
        .await;
        sync(&c, "changed").await;
        let w = workflow(&c, &no).await;
        assert_ne!(w.status, "failed", "{update:?}: {:?}", w.last_error);
        let after = c.ss_order(&no).await;
        assert_eq!(after["orderId"], original);
        assert_eq!(after["advancedOptions"]["customField2"], "PO-SPLIT");
        let skus: Vec<&str> = after["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["sku"].as_str().unwrap())
            .collect();
        assert_eq!(
            skus,
            vec!["WID-100", "BRK-410"],
            "{update:?}: the line moved to the split-off order is not added back"
        );
        assert_eq!(posts_of(&c, &no).await[1]["orderId"], original);
        let orders = c.ss_orders().await;
        let split_off = orders
            .iter()
            .find(|o| o["orderId"] == child["orderId"])
            .unwrap();
        assert_eq!(split_off["items"].as_array().unwrap().len(), 1);
        assert_eq!(orders.len(), 2);
        shutdown.trigger();
    }
}

/// An order posted by the previous release (no copy of the last post in its context): a Sage
/// change to a shared field (here a hold) still reaches ShipStation, and staff edits stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_posted_by_the_previous_release_still_takes_sage_changes_to_shared_fields() {
    let (c, shutdown) = started(Behaviour::default()).await;
    let no = enter_order(
        &c.sage,
        json!({"CustomerNo": "ABF", "ShipVia": "UPS GROUND", "Lines": lines(2)}),
    )
    .await;
    sync(&c, "first").await;
    // What the previous release left in the workflow's context: no `posted_payload`.
    sqlx::query(
        "UPDATE workflows SET context = context - 'posted_payload' WHERE kind = 'order' AND business_key = $1",
    )
    .bind(&no)
    .execute(&c.pool)
    .await
    .unwrap();
    let order_id = c.ss_order(&no).await["orderId"].as_i64().unwrap();
    c.ss_control(
        "edit-order",
        json!({"orderId": order_id, "set": {"tagIds": [7], "serviceCode": "ups_next_day_air"}}),
    )
    .await;
    control(
        &c.sage,
        Method::POST,
        &format!("ABC/orders/{no}"),
        json!({"OrderStatus": "H"}),
    )
    .await;
    sync(&c, "held").await;
    let after = c.ss_order(&no).await;
    assert_eq!(after["orderStatus"], "on_hold", "Sage's hold arrives");
    assert_eq!(after["tagIds"], json!([7]));
    assert_eq!(
        after["serviceCode"], "ups_next_day_air",
        "staff's service stays"
    );
    shutdown.trigger();
}
