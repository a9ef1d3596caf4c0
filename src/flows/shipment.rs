//! The shipment workflow (workflows/shipment.toml): one per ShipStation label or fulfillment.
//! `resolve` finds the Sage sales orders it belongs to (by orderKey, then the posted orderId,
//! then orderNumber; plus every source order of a merged order and the parent of a split one),
//! records that lineage, works out the estimated delivery date, and signals those orders'
//! workflows, which write tracking to Sage one order at a time (src/flows/tracking_writeback.rs).

use chrono::{Duration, NaiveDate, Utc};
use serde_json::{json, Value};
use sqlx::PgPool;

use super::deps::{ConnectionClients, FlowDeps};
use super::order_mapping::order_key;
use super::step_errors::{db, shipstation};
use crate::engine::{store, HandlerRegistry, StepError, StepInput, StepResult, Transition};

pub fn register(r: &mut HandlerRegistry, deps: &FlowDeps) {
    let d = deps.clone();
    r.register("shipment.resolve", move |i| resolve(d.clone(), i));
}

/// Sales order numbers of this connection's order workflows that posted these ShipStation orders.
async fn orders_posted_as(
    pool: &PgPool,
    connection_id: i64,
    ids: &[i64],
) -> Result<Vec<String>, StepError> {
    if ids.is_empty() {
        return Ok(vec![]);
    }
    let ids: Vec<String> = ids.iter().map(i64::to_string).collect();
    sqlx::query_scalar(
        "SELECT business_key FROM workflows WHERE kind = 'order' AND connection_id = $1
            AND (context->>'shipstation_order_id') = ANY($2) ORDER BY business_key",
    )
    .bind(connection_id)
    .bind(&ids)
    .fetch_all(pool)
    .await
    .map_err(db)
}

async fn order_exists(pool: &PgPool, connection_id: i64, no: &str) -> Result<bool, StepError> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM workflows WHERE kind = 'order' AND connection_id = $1 AND business_key = $2)",
    )
    .bind(connection_id)
    .bind(no)
    .fetch_one(pool)
    .await
    .map_err(db)
}

/// The Sage orders a ShipStation order stands for, with how each was found.
async fn targets(
    pool: &PgPool,
    clients: &ConnectionClients,
    order: &Value,
    ss_order_id: i64,
) -> Result<Vec<(String, &'static str)>, StepError> {
    let c = clients.connection.id;
    let company = &clients.connection.settings.sage.company;
    let mut out: Vec<(String, &'static str)> = Vec::new();
    let prefix = order_key(company, "");
    if let Some(no) = order["orderKey"]
        .as_str()
        .and_then(|k| k.strip_prefix(&prefix))
    {
        if order_exists(pool, c, no).await? {
            out.push((no.to_string(), "orderKey"));
        }
    }
    if out.is_empty() {
        for no in orders_posted_as(pool, c, &[ss_order_id]).await? {
            out.push((no, "orderId"));
        }
    }
    if out.is_empty() {
        if let Some(no) = order["orderNumber"].as_str() {
            if order_exists(pool, c, no).await? {
                out.push((no.to_string(), "orderNumber"));
            }
        }
    }
    let adv = &order["advancedOptions"];
    let merged: Vec<i64> = adv["mergedIds"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_i64)
        .collect();
    for no in orders_posted_as(pool, c, &merged).await? {
        out.push((no, "merged"));
    }
    if let Some(parent) = adv["parentId"].as_i64() {
        for no in orders_posted_as(pool, c, &[parent]).await? {
            out.push((no, "split"));
        }
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|(no, _)| seen.insert(no.clone()));
    Ok(out)
}

/// Estimated delivery: V2 label tracking when a V2 key exists, else the transit table.
async fn estimate(
    clients: &ConnectionClients,
    tracking: Option<&str>,
    carrier: Option<&str>,
    service: Option<&str>,
    shipped: NaiveDate,
) -> (Option<NaiveDate>, Option<String>, Option<String>) {
    let mut note = None;
    let v2 = clients
        .v2
        .as_ref()
        .filter(|_| clients.connection.settings.tracking.eta_from_v2);
    if let (Some(v2), Some(t)) = (v2, tracking) {
        let tracked = async {
            let Some(label) = v2.find_label_id(t).await? else {
                return Ok(None);
            };
            v2.track_label(&label).await.map(Some)
        };
        match tracked.await {
            Ok(Some(info)) => {
                if let Some(d) = info.estimated_delivery_date.as_deref().and_then(|d| {
                    NaiveDate::parse_from_str(d.get(..10).unwrap_or(d), "%Y-%m-%d").ok()
                }) {
                    return (Some(d), Some("shipstation_v2_tracking".into()), None);
                }
                note = Some("V2 tracking has no estimate yet".to_string());
            }
            Ok(None) => note = Some("no V2 label with this tracking number".into()),
            Err(e) => note = Some(format!("V2 tracking unavailable: {e}")),
        }
    }
    let table = &clients.connection.settings.tracking;
    let carrier = carrier.unwrap_or_default();
    let keys = [
        format!("{carrier}:{}", service.unwrap_or_default()),
        carrier.to_string(),
    ];
    let found = keys
        .iter()
        .find_map(|k| {
            table
                .transit_days
                .get(k)
                .map(|d| (*d, format!("transit_table:{k}")))
        })
        .or_else(|| {
            table
                .default_transit_days
                .map(|d| (d, "transit_table:default".into()))
        });
    match found {
        Some((days, source)) => (
            Some(shipped + Duration::days(days as i64)),
            Some(source),
            note,
        ),
        None => (None, None, note),
    }
}

async fn resolve(deps: FlowDeps, input: StepInput) -> StepResult {
    let pool = &input.db;
    let c = input.connection_id;
    let (source, external_id) = input
        .business_key
        .split_once(':')
        .and_then(|(s, id)| Some((s.to_string(), id.parse::<i64>().ok()?)))
        .ok_or_else(|| StepError::fatal(format!("bad shipment key {}", input.business_key)))?;
    type Row = (
        i64,
        Value,
        bool,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<chrono::DateTime<Utc>>,
    );
    let row: Option<Row> = sqlx::query_as(
        "SELECT ss_order_id, raw, is_return, tracking_number, carrier_code, service_code, ship_date
               FROM shipments WHERE connection_id = $1 AND source = $2 AND external_id = $3",
    )
    .bind(c)
    .bind(&source)
    .bind(external_id)
    .fetch_optional(pool)
    .await
    .map_err(db)?;
    let Some((ss_order_id, raw, is_return, tracking, carrier, service, ship_date)) = row else {
        return Err(StepError::fatal("the shipment row is missing"));
    };
    if is_return {
        return Ok(Transition::to("ignored").with_detail(json!({"return_label": true})));
    }
    let clients = deps.clients(pool, c).await?;
    // Fulfillments carry no orderKey or advancedOptions: read the order.
    let order = if raw.get("orderKey").is_some_and(|k| !k.is_null())
        && raw.get("advancedOptions").is_some()
    {
        raw.clone()
    } else {
        serde_json::to_value(
            clients
                .v1
                .get_order(ss_order_id)
                .await
                .map_err(shipstation)?,
        )
        .map_err(|e| StepError::fatal(e.to_string()))?
    };
    let found = targets(pool, &clients, &order, ss_order_id).await?;
    if found.is_empty() {
        return Ok(Transition::to("unmatched").with_detail(json!({
            "orderId": ss_order_id, "orderKey": order["orderKey"], "orderNumber": order["orderNumber"],
            "why": "no Sage order of this connection was posted as this ShipStation order (created in ShipStation, or by another integration)"
        })));
    }
    let zone = clients.connection.settings.sage.zone();
    let shipped = ship_date
        .unwrap_or_else(Utc::now)
        .with_timezone(&zone)
        .date_naive();
    let (eta, eta_source, eta_note) = estimate(
        &clients,
        tracking.as_deref(),
        carrier.as_deref(),
        service.as_deref(),
        shipped,
    )
    .await;
    let orders: Vec<String> = found.iter().map(|(no, _)| no.clone()).collect();
    let mut tx = pool.begin().await.map_err(db)?;
    sqlx::query(
        "UPDATE shipments SET sales_orders = $4, estimated_delivery = $5, eta_source = $6, updated_at = now()
          WHERE connection_id = $1 AND source = $2 AND external_id = $3",
    )
    .bind(c)
    .bind(&source)
    .bind(external_id)
    .bind(&orders)
    .bind(eta)
    .bind(&eta_source)
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    for (no, how) in found
        .iter()
        .filter(|(_, how)| matches!(*how, "merged" | "split"))
    {
        sqlx::query(
            "INSERT INTO order_lineage (connection_id, ss_order_id, sales_order_no, relation)
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(c)
        .bind(ss_order_id)
        .bind(no)
        .bind(how)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    }
    tx.commit().await.map_err(db)?;
    let signalled = store::signal_keys(
        pool,
        "order",
        c,
        &orders,
        "shipment",
        &json!({"shipment": input.business_key}),
    )
    .await
    .map_err(db)?;
    Ok(Transition::to("applied").with_detail(json!({
        "sales_orders": found.iter().map(|(no, how)| json!({"SalesOrderNo": no, "matched_by": how})).collect::<Vec<_>>(),
        "tracking_number": tracking, "estimated_delivery": eta, "eta_source": eta_source, "eta_note": eta_note,
        "signalled": signalled,
    })))
}
