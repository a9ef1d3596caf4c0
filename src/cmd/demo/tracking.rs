//! The demo's shipping day: warehouse staff print labels in batches in ShipStation (some orders
//! with two packages) and mark a few orders shipped without a label; Sage users invoice the
//! shipped orders afterwards. Tracking comes back through webhooks (and the reconciliation
//! poll) and the order workflows write it to the sales orders and invoices.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::cmd::demo::{Progress, World};
use ml_connector::engine::{count_workflows, CountFilter};

/// What reached Sage.
#[derive(Debug, Clone, Copy, Default)]
pub struct TrackingOutcome {
    pub orders_shipped: i64,
    pub packages: i64,
    pub sales_orders_with_tracking: i64,
    pub invoice_rows: i64,
    pub webhooks_accepted: i64,
    pub manual_action: i64,
    /// From the first label to the last write in Sage.
    pub seconds: f64,
}

/// Orders marked shipped without a label (each costs a V1 call for its order).
const MARKED_SHIPPED: usize = 5;
const LABEL_BATCH: usize = 50;

async fn control(base: &str, path: &str, body: Value) -> anyhow::Result<Value> {
    let r = reqwest::Client::new()
        .post(format!("{base}/__control/{path}"))
        .json(&body)
        .send()
        .await?;
    anyhow::ensure!(r.status().is_success(), "{path}: {}", r.status());
    Ok(r.json().await.unwrap_or(Value::Null))
}

async fn count(world: &World, sql: &str) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(sql)
        .bind(world.connection_id)
        .fetch_one(&world.db.pool)
        .await?)
}

/// The simulated ShipStation's orders awaiting shipment: (orderId, SalesOrderNo).
pub(crate) async fn awaiting_shipment(base: &str) -> anyhow::Result<Vec<(i64, String)>> {
    let orders: Value = reqwest::get(format!("{base}/__control/orders"))
        .await?
        .json()
        .await?;
    Ok(orders
        .as_array()
        .into_iter()
        .flatten()
        .filter(|o| o["orderStatus"] == json!("awaiting_shipment"))
        .filter_map(|o| {
            let no = o["orderKey"].as_str()?.strip_prefix("sage100:ABC:")?;
            Some((o["orderId"].as_i64()?, no.to_string()))
        })
        .collect())
}

/// `Err(Interrupted)` as soon as a signal stops the workers.
pub(super) async fn ship_and_track(
    world: &World,
    progress: &mut Progress,
) -> anyhow::Result<TrackingOutcome> {
    // The first shipments poll subscribes our webhooks (as `serve` does on its schedule).
    world.run_now("shipments_poll", "demo-subscribe").await?;
    let base = world.ss.base_url();
    let open = awaiting_shipment(&base).await?;
    let started = Instant::now();
    let marked = MARKED_SHIPPED.min(open.len() / 10);
    let (labelled, by_hand) = open.split_at(open.len() - marked);
    for (i, batch) in labelled.chunks(LABEL_BATCH).enumerate() {
        let ids: Vec<i64> = batch.iter().map(|(id, _)| *id).collect();
        control(&base, "labels", json!({"orderIds": ids, "packages": 1 + i % 2, "carrierCode": "ups", "serviceCode": "ups_ground", "transitDays": 3})).await?;
    }
    for (id, _) in by_hand {
        control(
            &base,
            "mark-shipped",
            json!({"orderId": id, "carrierCode": "fedex"}),
        )
        .await?;
    }
    // Sage users invoice what left the building.
    {
        let mut data = world.sage.data.lock().unwrap();
        for (_, no) in &open {
            data.invoice_order("ABC", no)
                .map_err(|e| anyhow::anyhow!("invoicing {no}: {e}"))?;
        }
    }
    let shipped = open.len() as i64;
    progress.shipped = shipped;
    let deadline = Instant::now() + Duration::from_secs(120 + open.len() as u64 / 2);
    loop {
        let done = world.orders_tracked().await?;
        if done >= shipped || Instant::now() > deadline {
            break;
        }
        world.pause(Duration::from_millis(300)).await?;
    }
    let mut out = TrackingOutcome {
        seconds: (started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
        orders_shipped: shipped,
        packages: count(world, "SELECT count(*) FROM shipments WHERE connection_id = $1 AND NOT voided AND NOT is_return").await?,
        webhooks_accepted: count(world, "SELECT count(*) FROM webhook_deliveries WHERE connection_id = $1 AND result = 'accepted'").await?,
        manual_action: count_workflows(
            &world.db.pool,
            &CountFilter {
                kind: Some("order"),
                connection_id: Some(world.connection_id),
                states: Some(&["manual_action"]),
                ..Default::default()
            },
        )
        .await?,
        ..Default::default()
    };
    let data = world.sage.data.lock().unwrap();
    let shipped_numbers: std::collections::HashSet<&str> =
        open.iter().map(|(_, no)| no.as_str()).collect();
    if let Some(co) = data.companies.get("ABC") {
        out.sales_orders_with_tracking = co
            .so_header
            .iter()
            .filter(|(no, h)| {
                shipped_numbers.contains(no.as_str())
                    && h.get("UDF_TRACKING_NO")
                        .and_then(Value::as_str)
                        .is_some_and(|t| !t.is_empty())
            })
            .count() as i64;
        out.invoice_rows = co.so_invoice_tracking.len() as i64;
    }
    Ok(out)
}
