//! The shipment workflow (workflows/shipment.toml): one per ShipStation label or fulfillment.
//! `resolve` finds the Sage sales orders it belongs to (by orderKey, then the posted orderId,
//! then orderNumber; plus every source order of a merged order and the parent of a split one),
//! records that lineage, works out the estimated delivery date, and signals those orders'
//! workflows, which write tracking to Sage one order at a time (src/flows/tracking_writeback.rs).

use chrono::{Duration, NaiveDate, Utc};
use serde_json::{json, Value};
use sqlx::PgPool;

use super::deps::{ConnectionClients, FlowDeps};
use super::kinds::{self, Kind, ShipmentState};
use super::step_errors::db;
use crate::domain::{DeliveryEstimate, OrderKey, RemoteOrder};
use crate::engine::{store, HandlerRegistry, StepError, StepInput, StepResult, Transition};

pub fn register(r: &mut HandlerRegistry, deps: &FlowDeps) {
    let d = deps.clone();
    kinds::register(r, ShipmentState::Resolve, move |i| resolve(d.clone(), i));
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
    Ok(crate::engine::keys_by_context(
        pool,
        Kind::Order.as_str(),
        connection_id,
        "shipstation_order_id",
        &ids,
    )
    .await?)
}

async fn order_exists(pool: &PgPool, connection_id: i64, no: &str) -> Result<bool, StepError> {
    Ok(crate::engine::workflow_exists(pool, Kind::Order.as_str(), connection_id, no).await?)
}

/// The Sage orders a ShipStation order stands for, with how each was found.
async fn targets(
    pool: &PgPool,
    clients: &ConnectionClients,
    order: &RemoteOrder,
    ss_order_id: i64,
) -> Result<Vec<(String, &'static str)>, StepError> {
    let c = clients.connection.id;
    let mut out: Vec<(String, &'static str)> = Vec::new();
    // Only our own keys, of this connection's company.
    if let Some(key) = order
        .key
        .as_deref()
        .and_then(OrderKey::parse)
        .filter(|k| k.company == clients.site.company)
    {
        let no = key.sales_order_no.as_str();
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
        if let Some(no) = order.number.as_deref() {
            if order_exists(pool, c, no).await? {
                out.push((no.to_string(), "orderNumber"));
            }
        }
    }
    for no in orders_posted_as(pool, c, &order.merged_ids).await? {
        out.push((no, "merged"));
    }
    if let Some(parent) = order.parent_id {
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
    let tracking = tracking.filter(|_| clients.connection.settings.tracking.eta_from_v2);
    if let Some(t) = tracking {
        match clients.fulfilment.delivery_estimate(t).await {
            Ok(DeliveryEstimate::Estimated(d)) => {
                return (
                    Some(d.day_in(clients.site.zone)),
                    Some("shipstation_v2_tracking".into()),
                    None,
                );
            }
            Ok(DeliveryEstimate::NotYet) => {
                note = Some("V2 tracking has no estimate yet".to_string())
            }
            Ok(DeliveryEstimate::UnknownTrackingNumber) => {
                note = Some("no V2 label with this tracking number".into())
            }
            Ok(DeliveryEstimate::NotOffered) => {}
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
        return Ok(
            Transition::to(ShipmentState::Ignored).with_detail(json!({"return_label": true}))
        );
    }
    let clients = deps.clients(pool, c).await?;
    // Fulfillments carry no orderKey or lineage: read the order.
    let order = match clients.fulfilment.order_in_record(&raw, ss_order_id) {
        Some(o) => o,
        None => clients.fulfilment.order(ss_order_id).await?,
    };
    let found = targets(pool, &clients, &order, ss_order_id).await?;
    if found.is_empty() {
        return Ok(Transition::to(ShipmentState::Unmatched).with_detail(json!({
            "orderId": ss_order_id, "orderKey": order.key, "orderNumber": order.number,
            "why": "no Sage order of this connection was posted as this ShipStation order (created in ShipStation, or by another integration)"
        })));
    }
    let shipped = clients
        .site
        .zone
        .date_of(ship_date.unwrap_or_else(Utc::now));
    let (eta, eta_source, eta_note) = estimate(
        &clients,
        tracking.as_deref(),
        carrier.as_deref(),
        service.as_deref(),
        shipped,
    )
    .await;
    let orders: Vec<String> = found.iter().map(|(no, _)| no.clone()).collect();
    let mut tx = crate::db::begin(pool).await.map_err(db)?;
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
        Kind::Order.as_str(),
        c,
        &orders,
        "shipment",
        &json!({"shipment": input.business_key}),
    )
    .await
    .map_err(db)?;
    Ok(Transition::to(ShipmentState::Applied).with_detail(json!({
        "sales_orders": found.iter().map(|(no, how)| json!({"SalesOrderNo": no, "matched_by": how})).collect::<Vec<_>>(),
        "tracking_number": tracking, "estimated_delivery": eta, "eta_source": eta_source, "eta_note": eta_note,
        "signalled": signalled,
    })))
}
