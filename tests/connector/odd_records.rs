//! Records a real account answers that the connector cannot use (issue #16, point 5): a label made
//! without an order (`orderId` null), a field of an unexpected shape, fields nobody models. Each
//! is skipped with a warning and a `record_skipped` audit event; the rest of the page is applied.

use crate::common;

use std::time::Duration;

use common::sage100::enter_order;
use ml_connector::engine::worker::{PoolConfig, WorkerPool};
use ml_connector::engine::Shutdown;
use ml_connector::sim::shipstation::{Behaviour, SimConfig};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_label_without_an_order_and_an_unreadable_record_skip_alone_and_are_audited() {
    // Every answer also carries fields no client models.
    let c = common::connector::start(SimConfig {
        behaviour: Behaviour {
            extra_fields: true,
            ..Behaviour::default()
        },
        ..SimConfig::default()
    })
    .await;
    let mut numbers = Vec::new();
    for qty in [1, 2] {
        numbers.push(
            enter_order(
                &c.sage,
                json!({"CustomerNo": "ABF", "Lines": [{"ItemCode": "WID-100", "QuantityOrdered": qty}]}),
            )
            .await,
        );
    }
    let shutdown = Shutdown::new();
    let mut cfg = PoolConfig::new("odd-records".into(), 16);
    cfg.poll_interval = Duration::from_millis(200);
    WorkerPool::spawn(c.engine.clone(), cfg, shutdown.clone());
    let poll = c.poll("orders").await;
    c.settle(poll).await;

    let label = |no: String| {
        let c = &c;
        async move {
            let id = c.ss_order(&no).await["orderId"].as_i64().unwrap();
            c.ss_control("labels", json!({"orderId": id})).await["shipments"][0]["shipmentId"]
                .as_i64()
                .unwrap()
        }
    };
    let good = label(numbers[0].clone()).await;
    let odd = label(numbers[1].clone()).await;
    // A field of a shape the connector does not expect (`voided` null instead of a boolean).
    c.ss_control(
        "edit-shipment",
        json!({"shipmentId": odd, "set": {"voided": null}}),
    )
    .await;
    // A quick label, made without any order.
    let orphan = c.ss_control("label-without-order", json!({})).await["shipmentId"]
        .as_i64()
        .unwrap();

    c.shipments_poll("odd").await;
    let run: (i64, String) = sqlx::query_as(
        "SELECT id, status FROM workflows WHERE kind = 'shipments_poll' AND business_key = 'test-odd'",
    )
    .fetch_one(&c.pool)
    .await
    .unwrap();
    assert_eq!(run.1, "completed", "one odd record does not fail the page");
    let seen: Vec<i64> =
        sqlx::query_scalar("SELECT external_id FROM shipments WHERE source = 'label' ORDER BY 1")
            .fetch_all(&c.pool)
            .await
            .unwrap();
    assert_eq!(
        seen,
        vec![good],
        "the readable label is taken, the others are not"
    );
    let skipped: Vec<(Option<String>, Value)> = sqlx::query_as(
        "SELECT error, detail FROM workflow_events WHERE workflow_id = $1 AND event = 'record_skipped' ORDER BY id",
    )
    .bind(run.0)
    .fetch_all(&c.pool)
    .await
    .unwrap();
    let records: Vec<&str> = skipped
        .iter()
        .map(|(_, d)| d["record"].as_str().unwrap())
        .collect();
    assert!(
        records.contains(&format!("label {odd}").as_str())
            && records.contains(&format!("label {orphan}").as_str()),
        "{skipped:?}"
    );
    let problem_of = |id: i64| {
        skipped
            .iter()
            .find(|(_, d)| d["record"] == json!(format!("label {id}")))
            .and_then(|(e, _)| e.clone())
            .unwrap()
    };
    assert!(problem_of(orphan).contains("without an order"));
    assert!(problem_of(odd).contains("voided"), "{}", problem_of(odd));
    // The readable label goes on to Sage as usual.
    common::eventually(
        "the good label's order is being written back",
        Duration::from_secs(60),
        || async {
            let state: String = sqlx::query_scalar(
                "SELECT state FROM workflows WHERE kind = 'order' AND business_key = $1",
            )
            .bind(&numbers[0])
            .fetch_one(&c.pool)
            .await
            .unwrap();
            (state != "check").then_some(())
        },
    )
    .await;
    shutdown.trigger();
}
