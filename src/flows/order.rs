//! The order workflow's steps (workflows/order.toml).

use chrono::Utc;
use serde_json::{json, Value};

use super::deps::{ConnectionClients, FlowDeps};
use super::kinds::{self, OrderState};
use super::order_mapping::{map_order, Contact, Mapped};
use crate::domain::{Item, OutboundOrder, PostedOrder, SalesOrder, SalesOrderNo, Upserted};
use crate::engine::{HandlerRegistry, StepError, StepInput, StepResult, Transition};

pub fn register(r: &mut HandlerRegistry, deps: &FlowDeps) {
    let d = deps.clone();
    kinds::register(r, OrderState::Fetch, move |i| fetch(d.clone(), i));
    let d = deps.clone();
    kinds::register(r, OrderState::Post, move |i| post(d.clone(), i));
    let d = deps.clone();
    kinds::register(r, OrderState::Check, move |i| check(d.clone(), i));
    let d = deps.clone();
    kinds::register(r, OrderState::CancelRemote, move |i| {
        cancel_remote(d.clone(), i)
    });
}

/// What an order workflow remembers between its steps (workflows/order.toml). Fields it does not
/// know (written by an older or newer release) are kept as they are.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct OrderContext {
    #[serde(
        rename = "SalesOrderNo",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub sales_order_no: Option<String>,
    /// The order as mapped at the last fetch (what post sends).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
    /// The order as last posted: a re-post applies Sage's changes since then, and keeps what
    /// was edited in ShipStation (shared fields, see shipstation::ownership).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub posted_payload: Option<Value>,
    /// Sage's change stamp when the order was read, and when it was posted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetched_stamp: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub posted_stamp: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipstation_order_id: Option<i64>,
    /// The packages whose tracking is in Sage, and those being written (see tracking_writeback).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking_fp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking_fp_applying: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub awaiting_invoice_since: Option<chrono::DateTime<Utc>>,
    /// What a person must do (manual_action).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manual_action: Option<String>,
    /// The order and its items as the orders poll read them: a first fetch soon after uses them
    /// instead of reading Sage again (see [`OrderSnapshot::usable`]); a fetch drops them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<OrderSnapshot>,
    /// The workflow's last signal as the latest fetch saw it: the check after a post reads Sage
    /// only when something signalled the workflow since (polls signal every change they see).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetched_signal: Option<SignalMark>,
    #[serde(flatten)]
    pub other: serde_json::Map<String, Value>,
}

/// An order as the orders poll read it from the change feed, with its item master records.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct OrderSnapshot {
    pub order: SalesOrder,
    pub items: Vec<Item>,
    pub read_at: chrono::DateTime<Utc>,
}

/// How long a poll's copy of an order stands in for a read of Sage. A change to the order itself
/// is signalled by the next poll (the probe starts one within its period), and a signal makes the
/// copy unusable, so age matters only for item master edits (weight, price). Ten minutes covers a
/// backfill of thousands of orders queued behind ShipStation's budget, whose first steps run
/// minutes after the poll: each would otherwise read its order and items again (2 agent calls).
const SNAPSHOT_FRESH: chrono::Duration = chrono::Duration::minutes(10);

impl OrderSnapshot {
    /// Only for the workflow's very first step, soon after the poll read it, with no signal since
    /// (a signal means the poll saw the order change again, or vanish). A retry, a restart or a
    /// replay (a person may have corrected the order in Sage) reads Sage.
    async fn usable(&self, input: &StepInput) -> Result<bool, StepError> {
        if input.attempt != 1
            || input.signal_seen.is_some()
            || Utc::now() - self.read_at >= SNAPSHOT_FRESH
        {
            return Ok(false);
        }
        let ran_before: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM workflow_events WHERE workflow_id = $1 AND event <> 'created')",
        )
        .bind(input.workflow_id)
        .fetch_one(&input.db)
        .await?;
        Ok(!ran_before)
    }
}

/// A signal time as a step saw it (`seen: None`: never signalled).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SignalMark {
    pub seen: Option<chrono::DateTime<Utc>>,
}

impl OrderContext {
    pub fn of(input: &StepInput) -> Result<Self, StepError> {
        serde_json::from_value(input.context.clone())
            .map_err(|e| StepError::fatal(format!("order context unreadable: {e}")))
    }

    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// The order's Sage change stamp as stored in the context.
fn stamp(o: &SalesOrder) -> Value {
    json!({"date": o.stamp.date, "time": o.stamp.time})
}

/// Whether the stamp stored in the context is the order's current one. Older releases stored
/// `time` as Sage's text ("9.50000"), so both forms are read.
fn same_stamp(stored: &Value, o: &SalesOrder) -> bool {
    let time = match &stored["time"] {
        Value::Number(n) => n.as_f64(),
        Value::String(t) => t.trim().parse().ok(),
        _ => None,
    };
    stored["date"].as_str() == Some(o.stamp.date.as_str()) && time == Some(o.stamp.time)
}

/// The workflow's business key is the SalesOrderNo.
pub fn sales_order_no(input: &StepInput) -> Result<SalesOrderNo, StepError> {
    SalesOrderNo::parse(&input.business_key)
        .map_err(|e| StepError::fatal(format!("workflow key: {e}")))
}

/// What to do when the order is gone from SO_SalesOrderHeader: invoiced (and posted) orders
/// leave it too, and those are not cancellations.
async fn gone(deps: &FlowDeps, input: &StepInput) -> StepResult {
    let clients = deps.clients(&input.db, input.connection_id).await?;
    let invoices = clients
        .erp
        .invoices_of_order(&sales_order_no(input)?)
        .await?;
    if !invoices.is_empty() {
        return Ok(Transition::to(OrderState::Check)
            .on_signal()
            .with_detail(json!({"invoiced": invoices.len()})));
    }
    if OrderContext::of(input)?.payload.is_some() {
        Ok(Transition::to(OrderState::CancelRemote).with_detail(json!({"deleted_in_sage": true})))
    } else {
        Ok(Transition::to(OrderState::Skipped)
            .with_detail(json!({"deleted_in_sage_before_posting": true})))
    }
}

async fn fetch(deps: FlowDeps, input: StepInput) -> StepResult {
    let clients = deps.clients(&input.db, input.connection_id).await?;
    let settings = &clients.connection.settings;
    let mut ctx = OrderContext::of(&input)?;
    let snapshot = match ctx.snapshot.take() {
        Some(s) if s.usable(&input).await? => Some(s),
        _ => None,
    };
    let (order, items) = match snapshot {
        Some(s) => (s.order, Some(s.items)),
        None => match clients.erp.sales_order(&sales_order_no(&input)?).await? {
            Some(order) => (order, None),
            None => return gone(&deps, &input).await,
        },
    };
    // A minimum age before posting absorbs orders cancelled right after entry.
    if settings.min_order_age_secs > 0 {
        if let Some(created) = order.created {
            let ready = clients.site.zone.to_utc(created)
                + chrono::Duration::seconds(settings.min_order_age_secs as i64);
            if ready > Utc::now() {
                return Ok(Transition::to(OrderState::Fetch)
                    .at(ready)
                    .with_detail(json!({"waiting_for_minimum_age_until": ready})));
            }
        }
    }
    let read_from = if items.is_some() {
        "orders_poll"
    } else {
        "sage"
    };
    match map_with_items(&clients, &order, items).await?.0 {
        Ok(Mapped::Skip(why)) => {
            Ok(Transition::to(OrderState::Skipped).with_detail(json!({"skipped": why})))
        }
        Err(problems) => Err(StepError::fatal(problems.join("; "))),
        Ok(Mapped::Post(mapped)) => {
            if ctx.posted_payload.is_none() && ctx.shipstation_order_id.is_some() {
                // Posted by a release that kept no copy of the last post: what it posted is the
                // payload of its last fetch, still here.
                ctx.posted_payload = payload(&ctx, &clients)
                    .ok()
                    .and_then(|o| serde_json::to_value(o).ok());
            }
            ctx.payload =
                Some(serde_json::to_value(&*mapped).map_err(|e| StepError::fatal(e.to_string()))?);
            ctx.fetched_stamp = Some(stamp(&order));
            ctx.fetched_signal = Some(SignalMark {
                seen: input.signal_seen,
            });
            Ok(Transition::to(OrderState::Post)
                .with_context(ctx.to_value())
                .with_detail(json!({"stamp": stamp(&order), "items": mapped.lines.len(), "status": mapped.status, "read_from": read_from})))
        }
    }
}

/// What ShipStation would get for `order`: its items and the customer's telephone read through
/// the agent, then the mapping (shared by `fetch` and the dry run).
pub(crate) async fn map_from_sage(
    clients: &ConnectionClients,
    order: &SalesOrder,
) -> Result<Result<Mapped, Vec<String>>, StepError> {
    Ok(map_with_items(clients, order, None).await?.0)
}

/// The mapping and the item master records it used (read from Sage unless given; the fit report
/// looks at their weights).
pub(crate) async fn map_with_items(
    clients: &ConnectionClients,
    order: &SalesOrder,
    items: Option<Vec<Item>>,
) -> Result<(Result<Mapped, Vec<String>>, Vec<Item>), StepError> {
    let items = match items {
        Some(given) => given,
        None => clients.erp.items(&order.item_codes()).await?,
    };
    let contact = Contact {
        phone: clients
            .erp
            .customer_phone(&order.ar_division, &order.customer_no)
            .await?,
    };
    let mapped = map_order(
        &clients.connection.settings,
        &clients.site,
        order,
        &items,
        &contact,
    );
    Ok((mapped, items))
}

/// The order as mapped at fetch time (what post sends, and cancel re-sends as cancelled). A
/// payload an earlier release stored in the fulfilment service's own format is read by its adapter.
fn payload(ctx: &OrderContext, clients: &ConnectionClients) -> Result<OutboundOrder, StepError> {
    let stored = ctx.payload.clone().unwrap_or_default();
    match serde_json::from_value::<OutboundOrder>(stored.clone()) {
        Ok(o) => Ok(o),
        Err(e) => clients.fulfilment.stored_order(&stored).ok_or_else(|| {
            StepError::fatal(format!(
                "stored order payload unreadable ({e}): replay the workflow's fetch step"
            ))
        }),
    }
}

async fn post(deps: FlowDeps, input: StepInput) -> StepResult {
    let clients = deps.clients(&input.db, input.connection_id).await?;
    let mut ctx = OrderContext::of(&input)?;
    let order = payload(&ctx, &clients)?;
    // Merged into another order in ShipStation: re-posting would revive what staff merged away.
    if ctx.shipstation_order_id.is_some() {
        let merged_into: Option<i64> = sqlx::query_scalar(
            "SELECT ss_order_id FROM order_lineage WHERE connection_id = $1 AND sales_order_no = $2 AND relation = 'merged' LIMIT 1",
        )
        .bind(input.connection_id)
        .bind(&input.business_key)
        .fetch_optional(&input.db)
        .await?;
        if let Some(into) = merged_into {
            return Ok(Transition::to(OrderState::Check)
                .on_signal()
                .with_detail(json!({"not_reposted": "merged into another ShipStation order", "merged_into": into})));
        }
    }
    // A re-post starts from what ShipStation holds; the last post says what Sage changed since.
    let before = ctx.shipstation_order_id.map(|remote_id| PostedOrder {
        remote_id,
        sent: ctx
            .posted_payload
            .clone()
            .and_then(|p| serde_json::from_value(p).ok()),
    });
    // The post waits for its createorders batch (up to 100 orders) and ShipStation's budget:
    // parked, it holds no handler slot meanwhile, so a small pool still fills a batch.
    let upserted =
        crate::engine::worker::parked(clients.fulfilment.upsert_order(&order, before.as_ref()))
            .await?;
    match upserted {
        Upserted::Posted { order_id, kept } => {
            ctx.shipstation_order_id = Some(order_id);
            ctx.posted_stamp = ctx.fetched_stamp.clone();
            ctx.posted_payload = serde_json::to_value(&order).ok();
            Ok(Transition::to(OrderState::Check)
                .with_context(ctx.to_value())
                .with_detail(json!({"orderKey": order.key, "orderId": order_id,
                    "updated": before.is_some(), "kept_from_shipstation": kept})))
        }
        // Shipped or cancelled in ShipStation: a later Sage change cannot apply any more.
        Upserted::NotUpdatable(msg) => Ok(Transition::to(OrderState::Check)
            .on_signal()
            .with_detail(json!({"not_updated": msg}))),
        Upserted::Refused(msg) => Err(StepError::fatal(format!(
            "ShipStation refused order {}: {msg}",
            input.business_key
        ))),
    }
}

/// Posted: compare Sage's current stamp with the posted one; wait for the next signal.
async fn check(deps: FlowDeps, input: StepInput) -> StepResult {
    if super::tracking_writeback::pending(&input).await? {
        return Ok(Transition::to(OrderState::TrackSo)
            .with_detail(json!({"shipped_in_shipstation": true})));
    }
    let ctx = OrderContext::of(&input)?;
    // Nothing signalled the workflow since the fetch: no poll saw the order change, so there is
    // nothing to compare yet (a change reaches this step as a signal).
    if ctx.posted_stamp.is_some()
        && ctx.posted_stamp == ctx.fetched_stamp
        && ctx.fetched_signal.as_ref().map(|m| m.seen) == Some(input.signal_seen)
    {
        return Ok(Transition::to(OrderState::Check)
            .on_signal()
            .with_detail(json!({"unchanged_since_fetch": true})));
    }
    let clients = deps.clients(&input.db, input.connection_id).await?;
    match clients.erp.sales_order(&sales_order_no(&input)?).await? {
        Some(o)
            if !same_stamp(
                &OrderContext::of(&input)?.posted_stamp.unwrap_or_default(),
                &o,
            ) =>
        {
            Ok(
                Transition::to(OrderState::Fetch)
                    .with_detail(json!({"changed_in_sage": stamp(&o)})),
            )
        }
        Some(_) => Ok(Transition::to(OrderState::Check).on_signal()),
        None => gone(&deps, &input).await,
    }
}

async fn cancel_remote(deps: FlowDeps, input: StepInput) -> StepResult {
    let clients = deps.clients(&input.db, input.connection_id).await?;
    let ctx = OrderContext::of(&input)?;
    let order = payload(&ctx, &clients)?;
    match clients
        .fulfilment
        .cancel_order(&order, ctx.shipstation_order_id)
        .await?
    {
        Upserted::Posted { order_id, .. } => Ok(Transition::to(OrderState::Cancelled)
            .with_detail(json!({"cancelled_in_shipstation": order_id}))),
        Upserted::NotUpdatable(msg) => {
            Ok(Transition::to(OrderState::Cancelled).with_detail(json!({"not_cancelled": msg})))
        }
        Upserted::Refused(msg) => Err(StepError::fatal(format!(
            "ShipStation refused to cancel order {}: {msg}",
            input.business_key
        ))),
    }
}
