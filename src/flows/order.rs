//! The order workflow's steps (workflows/order.toml).

use chrono::{NaiveDate, TimeZone, Utc};
use serde_json::{json, Map, Value};

use super::deps::FlowDeps;
use super::order_mapping::{map_order, Mapped};
use super::step_errors::sage;
use crate::engine::{HandlerRegistry, StepError, StepInput, StepResult, Transition};
use crate::sage100::SageError;
use crate::shipstation::types::Order;

pub fn register(r: &mut HandlerRegistry, deps: &FlowDeps) {
    let d = deps.clone();
    r.register("order.fetch", move |i| fetch(d.clone(), i));
    let d = deps.clone();
    r.register("order.post", move |i| post(d.clone(), i));
    let d = deps.clone();
    r.register("order.check", move |i| check(d.clone(), i));
    let d = deps.clone();
    r.register("order.cancel_remote", move |i| cancel_remote(d.clone(), i));
}

fn stamp(h: &Map<String, Value>) -> Value {
    json!({"date": h.get("DateUpdated$"), "time": h.get("TimeUpdated$")})
}

/// What to do when the order is gone from SO_SalesOrderHeader: invoiced (and posted) orders
/// leave it too, and those are not cancellations.
async fn gone(deps: &FlowDeps, input: &StepInput) -> StepResult {
    let clients = deps.clients(&input.db, input.connection_id).await?;
    let invoices = clients
        .agent
        .invoices_of_order(&input.business_key)
        .await
        .map_err(sage)?;
    if !invoices.is_empty() {
        return Ok(Transition::to("check")
            .on_signal()
            .with_detail(json!({"invoiced": invoices.len()})));
    }
    if input.context.get("payload").is_some() {
        Ok(Transition::to("cancel_remote").with_detail(json!({"deleted_in_sage": true})))
    } else {
        Ok(Transition::to("skipped").with_detail(json!({"deleted_in_sage_before_posting": true})))
    }
}

async fn fetch(deps: FlowDeps, input: StepInput) -> StepResult {
    let clients = deps.clients(&input.db, input.connection_id).await?;
    let settings = &clients.connection.settings;
    let header = match clients.agent.sales_order(&input.business_key).await {
        Ok(h) => h,
        Err(SageError::NotFound(_)) => return gone(&deps, &input).await,
        Err(e) => return Err(sage(e)),
    };
    // A minimum age before posting absorbs orders cancelled right after entry.
    if settings.min_order_age_secs > 0 {
        let zone = settings.sage.zone();
        let created = NaiveDate::parse_from_str(
            header
                .get("DateCreated$")
                .and_then(Value::as_str)
                .unwrap_or(""),
            "%Y%m%d",
        )
        .ok()
        .and_then(|d| {
            let hours: f64 = header
                .get("TimeCreated$")
                .and_then(Value::as_str)
                .and_then(|t| t.trim().parse().ok())
                .unwrap_or(0.0);
            let naive = d.and_hms_opt(0, 0, 0)?
                + chrono::Duration::milliseconds((hours * 3_600_000.0) as i64);
            zone.from_local_datetime(&naive).earliest()
        });
        if let Some(created) = created {
            let ready = created.with_timezone(&Utc)
                + chrono::Duration::seconds(settings.min_order_age_secs as i64);
            if ready > Utc::now() {
                return Ok(Transition::to("fetch")
                    .at(ready)
                    .with_detail(json!({"waiting_for_minimum_age_until": ready})));
            }
        }
    }
    let codes: Vec<String> = header
        .get("Lines")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|l| !matches!(l["ItemType$"].as_str(), Some("3") | Some("4")))
        .filter_map(|l| l["ItemCode$"].as_str().map(str::to_string))
        .collect();
    let (items, _missing) = clients.agent.items(&codes).await.map_err(sage)?;
    match map_order(settings, &header, &items) {
        Ok(Mapped::Skip(why)) => Ok(Transition::to("skipped").with_detail(json!({"skipped": why}))),
        Err(problems) => Err(StepError::fatal(problems.join("; "))),
        Ok(Mapped::Post(order)) => {
            let mut ctx = input.context.clone();
            ctx["payload"] =
                serde_json::to_value(&*order).map_err(|e| StepError::fatal(e.to_string()))?;
            ctx["fetched_stamp"] = stamp(&header);
            Ok(Transition::to("post").with_context(ctx).with_detail(json!({"stamp": stamp(&header), "items": order.items.len(), "status": order.order_status})))
        }
    }
}

fn payload(input: &StepInput) -> Result<Order, StepError> {
    serde_json::from_value(input.context["payload"].clone())
        .map_err(|e| StepError::fatal(format!("stored order payload unreadable: {e}")))
}

async fn upsert(
    deps: &FlowDeps,
    input: &StepInput,
    order: Order,
) -> Result<Result<i64, String>, StepError> {
    let clients = deps.clients(&input.db, input.connection_id).await?;
    match clients.batcher.post(order).await {
        Ok(r) if r.success => Ok(Ok(r.order_id.unwrap_or_default())),
        Ok(r) => Ok(Err(r.error_message.unwrap_or_else(|| {
            "ShipStation refused the order without a message".into()
        }))),
        Err(msg) => Err(StepError::retry(msg)),
    }
}

async fn post(deps: FlowDeps, input: StepInput) -> StepResult {
    let order = payload(&input)?;
    // Merged into another order in ShipStation: re-posting would revive what staff merged away.
    if input.context.get("shipstation_order_id").is_some() {
        let merged_into: Option<i64> = sqlx::query_scalar(
            "SELECT ss_order_id FROM order_lineage WHERE connection_id = $1 AND sales_order_no = $2 AND relation = 'merged' LIMIT 1",
        )
        .bind(input.connection_id)
        .bind(&input.business_key)
        .fetch_optional(&input.db)
        .await
        .map_err(|e| StepError::retry(e.to_string()))?;
        if let Some(into) = merged_into {
            return Ok(Transition::to("check")
                .on_signal()
                .with_detail(json!({"not_reposted": "merged into another ShipStation order", "merged_into": into})));
        }
    }
    let key = order.order_key.clone();
    match upsert(&deps, &input, order).await? {
        Ok(order_id) => {
            let mut ctx = input.context.clone();
            ctx["shipstation_order_id"] = json!(order_id);
            ctx["posted_stamp"] = ctx["fetched_stamp"].clone();
            Ok(Transition::to("check")
                .with_context(ctx)
                .with_detail(json!({"orderKey": key, "orderId": order_id})))
        }
        // Shipped or cancelled in ShipStation: a later Sage change cannot apply any more.
        Err(msg) if msg.contains("cannot be updated") => Ok(Transition::to("check")
            .on_signal()
            .with_detail(json!({"not_updated": msg}))),
        Err(msg) => Err(StepError::fatal(format!(
            "ShipStation refused order {}: {msg}",
            input.business_key
        ))),
    }
}

/// Posted: compare Sage's current stamp with the posted one; wait for the next signal.
async fn check(deps: FlowDeps, input: StepInput) -> StepResult {
    if super::tracking_writeback::pending(&input).await? {
        return Ok(Transition::to("track_so").with_detail(json!({"shipped_in_shipstation": true})));
    }
    let clients = deps.clients(&input.db, input.connection_id).await?;
    match clients.agent.sales_order(&input.business_key).await {
        Ok(h) if stamp(&h) != input.context["posted_stamp"] => {
            Ok(Transition::to("fetch").with_detail(json!({"changed_in_sage": stamp(&h)})))
        }
        Ok(_) => Ok(Transition::to("check").on_signal()),
        Err(SageError::NotFound(_)) => gone(&deps, &input).await,
        Err(e) => Err(sage(e)),
    }
}

async fn cancel_remote(deps: FlowDeps, input: StepInput) -> StepResult {
    let mut order = payload(&input)?;
    order.order_status = "cancelled".into();
    match upsert(&deps, &input, order).await? {
        Ok(id) => {
            Ok(Transition::to("cancelled").with_detail(json!({"cancelled_in_shipstation": id})))
        }
        Err(msg) if msg.contains("cannot be updated") => {
            Ok(Transition::to("cancelled").with_detail(json!({"not_cancelled": msg})))
        }
        Err(msg) => Err(StepError::fatal(format!(
            "ShipStation refused to cancel order {}: {msg}",
            input.business_key
        ))),
    }
}
