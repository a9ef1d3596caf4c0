//! Dry runs. Orders: what the next orders poll would find and what each order would become in
//! ShipStation (the mapped order, or the sentences it would fail with). Inventory: each stock level
//! the next sync would set, old → new. Both read through the same calls and rules as the flows,
//! with no side effect: no watermark or copy saved, no workflow created, nothing sent to
//! ShipStation (not even a location the sync would create), nothing written to Sage.

use serde::Serialize;
use sqlx::PgPool;

use super::deps::FlowDeps;
pub use super::inventory::{InventoryPreview, StockChange};
use super::kinds::Kind;
use super::order::map_from_sage;
use super::order_mapping::Mapped;
use super::orders_poll::load_tracker;
use crate::domain::{OutboundOrder, SalesOrder};
use crate::engine::store;
use crate::engine::StepError;

/// What the next sync would do with one order.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "action")]
pub enum OrderPreview {
    /// Sent to ShipStation: created, or an update of the order posted before.
    Post {
        sales_order_no: String,
        update: bool,
        order: Box<OutboundOrder>,
    },
    /// Left alone (a quote, a repeating order …), with why.
    Skip {
        sales_order_no: String,
        reason: String,
    },
    /// Refused by the mapping: what a person must fix.
    Fail {
        sales_order_no: String,
        problems: Vec<String>,
    },
    /// Changed in the feed but no longer on file (deleted in Sage).
    Gone { sales_order_no: String },
}

/// The orders the next poll would find, at most `limit` of them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrdersPreview {
    pub connection: String,
    /// The feed's watermark the next poll starts from (`YYYYMMDD` and seconds).
    pub since: String,
    pub orders: Vec<OrderPreview>,
    /// More changed orders than `limit` are waiting.
    pub more: bool,
    /// Records the agent could not hand over, each with its problem.
    pub skipped: Vec<String>,
}

pub async fn orders(
    deps: &FlowDeps,
    pool: &PgPool,
    connection_id: i64,
    limit: usize,
) -> Result<OrdersPreview, StepError> {
    let clients = deps.clients(pool, connection_id).await?;
    // A copy of the poll's tracker: the real one is not touched.
    let mut tracker = load_tracker(pool, connection_id, clients.site.zone).await?;
    let since = tracker.watermark.clone();
    let mut fresh: Vec<SalesOrder> = Vec::new();
    let mut skipped = Vec::new();
    let mut cursor = None;
    let mut more = false;
    loop {
        let page = clients
            .erp
            .changed_orders(&since, 200, cursor.as_ref())
            .await?;
        skipped.extend(page.skipped);
        fresh.extend(tracker.accept(page.rows));
        if fresh.len() > limit {
            fresh.truncate(limit);
            more = true;
            break;
        }
        match page.next {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    let mut orders = Vec::new();
    for row in fresh {
        let no = row.no.to_string();
        // The whole order as the order flow reads it (the feed's row is the header).
        let Some(order) = clients.erp.sales_order(&row.no).await? else {
            orders.push(OrderPreview::Gone { sales_order_no: no });
            continue;
        };
        orders.push(match map_from_sage(&clients, &order).await? {
            Ok(Mapped::Post(mapped)) => OrderPreview::Post {
                update: store::workflow_exists(pool, Kind::Order.as_str(), connection_id, &no)
                    .await?,
                sales_order_no: no,
                order: mapped,
            },
            Ok(Mapped::Skip(reason)) => OrderPreview::Skip {
                sales_order_no: no,
                reason,
            },
            Err(problems) => OrderPreview::Fail {
                sales_order_no: no,
                problems,
            },
        });
    }
    Ok(OrdersPreview {
        connection: clients.connection.name.clone(),
        since: format!("{} {}", since.date, since.time),
        orders,
        more,
        skipped,
    })
}

/// What the next inventory sync would set.
pub async fn inventory(
    deps: &FlowDeps,
    pool: &PgPool,
    connection_id: i64,
) -> Result<InventoryPreview, StepError> {
    let clients = deps.clients(pool, connection_id).await?;
    let plan = super::inventory::compute_plan(pool, &clients, true).await?;
    Ok(super::inventory::preview_of(plan))
}
