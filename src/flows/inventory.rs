//! The inventory sync (workflows/inventory.toml).
//!
//! `plan` reads IM_ItemWarehouse rows changed since the watermark (all rows at a full resync, at most
//! every `full_resync_hours`), computes what ShipStation may sell — QuantityOnHand minus the
//! configured quantities (QuantityOnSalesOrder by default) minus a safety buffer by SKU or warehouse,
//! never negative (clamped and reported) — diffs that against ShipStation's current levels and
//! records one planned row per difference. `apply` sends `adjust` (sets on hand) for pending rows a
//! chunk per step, marking each row and writing an audit event as it lands, so a run that stops
//! resumes with exactly the rows still pending. SKUs ShipStation refuses are reported, not dropped.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde_json::json;

use super::deps::{ConnectionClients, FlowDeps};
use super::kinds::{self, InventoryState};
use super::step_errors::db;
use crate::connections::{self, Settings};
use crate::domain::{ChangeStamp, ChangeTracker, StockLevel, StockSet};
use crate::engine::{HandlerRegistry, StepError, StepInput, StepResult, Transition};

pub const FEED: &str = "sage_item_warehouses";
const CHUNK: i64 = 200;

pub fn register(r: &mut HandlerRegistry, deps: &FlowDeps) {
    let d = deps.clone();
    kinds::register(r, InventoryState::Plan, move |i| plan(d.clone(), i));
    let d = deps.clone();
    kinds::register(r, InventoryState::Apply, move |i| apply(d.clone(), i));
}

#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct Cursor {
    tracker: ChangeTracker,
    last_full_resync: Option<chrono::DateTime<chrono::Utc>>,
}

/// What ShipStation may sell of one stock level (whole units), and whether it had to be clamped
/// at 0: on hand minus the configured quantities minus the buffer (absolute, then a percent of
/// what is left, rounded up).
pub fn available(settings: &Settings, level: &StockLevel) -> (i64, bool) {
    let inv = &settings.inventory;
    let mut q = level.on_hand.0
        - inv
            .subtract
            .iter()
            .map(|f| level.quantity(*f).0)
            .sum::<Decimal>();
    let buffer = inv
        .buffers
        .get(&format!("sku:{}", level.item))
        .or_else(|| inv.buffers.get(level.warehouse.as_str()));
    if let Some(b) = buffer {
        q -= Decimal::from(b.absolute);
        if q > Decimal::ZERO {
            let percent = Decimal::try_from(b.percent).unwrap_or_default();
            q -= (q * percent / Decimal::ONE_HUNDRED).ceil();
        }
    }
    let q = q.floor().to_i64().unwrap_or(0);
    (q.max(0), q < 0)
}

/// The inventory location of a Sage warehouse, creating it in ShipStation on first use if allowed.
async fn location_of(
    input: &StepInput,
    clients: &ConnectionClients,
    code: &str,
) -> Result<String, StepError> {
    let settings = &clients.connection.settings;
    let Some(mapping) = settings.mappings.warehouses.get(code) else {
        return Err(StepError::fatal(format!(
            "Sage warehouse {code} has no ShipStation mapping: add mappings.warehouses.\"{code}\" (inventory_warehouse_id / inventory_location_id) to connection {}",
            clients.connection.name
        )));
    };
    if let Some(loc) = &mapping.inventory_location_id {
        return Ok(loc.clone());
    }
    if !settings.inventory.create_locations {
        return Err(StepError::fatal(format!("Sage warehouse {code} is mapped without inventory_location_id, and inventory.create_locations is off")));
    }
    let (warehouse, location) = clients
        .fulfilment
        .create_stock_location(
            mapping.inventory_warehouse_id.as_deref(),
            &format!("Sage {} {code}", clients.site.company),
            &format!("Sage {code}"),
        )
        .await?;
    // Remember them on the connection (re-read so concurrent edits are kept).
    let mut current = connections::get(&input.db, &clients.connection.name)
        .await
        .map_err(db)?;
    let m = current
        .settings
        .mappings
        .warehouses
        .entry(code.to_string())
        .or_default();
    m.inventory_warehouse_id = Some(warehouse);
    m.inventory_location_id = Some(location.clone());
    connections::update_settings(&input.db, &current.name, &current.settings)
        .await
        .map_err(db)?;
    Ok(location)
}

async fn plan(deps: FlowDeps, input: StepInput) -> StepResult {
    let clients = deps.clients(&input.db, input.connection_id).await?;
    if !clients.fulfilment.offers_inventory() {
        return Err(StepError::fatal(
            "inventory sync needs the connection's ShipStation V2 API key (v2_key)",
        ));
    }
    let settings = clients.connection.settings.clone();
    let pool = &input.db;
    let stored = super::feed_state::load_cursor(pool, input.connection_id, FEED).await?;
    let mut cursor: Cursor = stored
        .map(serde_json::from_value)
        .transpose()
        .map_err(|e| StepError::fatal(format!("cursor unreadable: {e}")))?
        .unwrap_or_default();
    let now = chrono::Utc::now();
    let full = cursor.last_full_resync.is_none_or(|t| {
        now - t >= chrono::Duration::hours(settings.inventory.full_resync_hours as i64)
    });
    let since = if full {
        ChangeStamp::default()
    } else {
        cursor.tracker.watermark.clone()
    };
    let mut rows: Vec<StockLevel> = Vec::new();
    let mut skipped: Vec<String> = Vec::new();
    let mut page_cursor = None;
    loop {
        let page = clients
            .erp
            .changed_stock(&since, 1000, page_cursor.as_ref())
            .await?;
        skipped.extend(page.skipped);
        if full {
            cursor.tracker.accept(page.rows.clone());
            rows.extend(page.rows);
        } else {
            rows.extend(cursor.tracker.accept(page.rows));
        }
        match page.next {
            Some(n) => page_cursor = Some(n),
            None => break,
        }
    }
    // Sage quantities by location, then ShipStation's current levels of those locations.
    let mut locations: HashMap<String, String> = HashMap::new();
    for code in rows
        .iter()
        .map(|r| r.warehouse.to_string())
        .collect::<BTreeSet<_>>()
    {
        locations.insert(code.clone(), location_of(&input, &clients, &code).await?);
    }
    let mut current: HashMap<(String, String), i64> = HashMap::new();
    for loc in locations.values().collect::<BTreeSet<_>>() {
        for (sku, on_hand) in clients.fulfilment.stock_at(loc).await? {
            current.insert((sku, loc.clone()), on_hand);
        }
    }
    let mut clamped = Vec::new();
    let mut planned: BTreeMap<(String, String), (String, i64, Option<i64>)> = BTreeMap::new();
    for r in &rows {
        let (qty, was_clamped) = available(&settings, r);
        let (sku, code) = (r.item.to_string(), r.warehouse.to_string());
        if was_clamped {
            clamped.push(format!("{sku}@{code}"));
        }
        let loc = locations[&code].clone();
        let previous = current.get(&(sku.clone(), loc.clone())).copied();
        if previous.unwrap_or(0) != qty || (previous.is_none() && qty > 0) {
            planned.insert((sku, loc), (code, qty, previous));
        }
    }
    let (skus, locs): (Vec<String>, Vec<String>) = planned.keys().cloned().unzip();
    let codes: Vec<String> = planned.values().map(|v| v.0.clone()).collect();
    let qtys: Vec<i64> = planned.values().map(|v| v.1).collect();
    let prevs: Vec<Option<i64>> = planned.values().map(|v| v.2).collect();
    let mut tx = pool.begin().await.map_err(db)?;
    sqlx::query(
        "INSERT INTO inventory_adjustments (workflow_id, sku, inventory_location_id, warehouse_code, quantity, previous)
         SELECT $1, s, l, c, q, p FROM unnest($2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[]) AS t(s, l, c, q, p)
         ON CONFLICT DO NOTHING",
    )
    .bind(input.workflow_id)
    .bind(&skus)
    .bind(&locs)
    .bind(&codes)
    .bind(&qtys)
    .bind(&prevs)
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    if full {
        cursor.last_full_resync = Some(now);
    }
    super::feed_state::save_cursor(&mut tx, input.connection_id, FEED, &cursor).await?;
    tx.commit().await.map_err(db)?;
    if !clamped.is_empty() {
        tracing::warn!(
            connection = input.connection_id,
            count = clamped.len(),
            "inventory: negative available quantities clamped to 0"
        );
    }
    Ok(Transition::to(InventoryState::Apply).with_detail(json!({
        "full_resync": full, "rows_read": rows.len(), "to_adjust": planned.len(),
        "clamped_to_zero": clamped.iter().take(50).collect::<Vec<_>>(), "clamped_count": clamped.len(),
        "skipped_records": skipped.iter().take(50).collect::<Vec<_>>(), "skipped_count": skipped.len(),
    })))
}

async fn apply(deps: FlowDeps, input: StepInput) -> StepResult {
    let clients = deps.clients(&input.db, input.connection_id).await?;
    if !clients.fulfilment.offers_inventory() {
        return Err(StepError::fatal(
            "inventory sync needs the connection's ShipStation V2 API key (v2_key)",
        ));
    }
    let pool = &input.db;
    let pending: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT sku, inventory_location_id, quantity FROM inventory_adjustments
          WHERE workflow_id = $1 AND applied_at IS NULL AND error IS NULL ORDER BY sku, inventory_location_id LIMIT $2",
    )
    .bind(input.workflow_id)
    .bind(CHUNK)
    .fetch_all(pool)
    .await
    .map_err(db)?;
    for (sku, loc, qty) in &pending {
        // An error returns now: progress so far is kept; the retry resumes with what is pending.
        let (event, error) = match clients.fulfilment.set_stock(sku, loc, *qty).await? {
            StockSet::Set => ("inventory_adjusted", None),
            StockSet::Refused(message) => ("inventory_rejected", Some(message)),
        };
        let mut tx = pool.begin().await?;
        let row: Option<(String, i64, Option<i64>)> = sqlx::query_as(
            "UPDATE inventory_adjustments SET applied_at = CASE WHEN $4::text IS NULL THEN now() END, error = $4
              WHERE workflow_id = $1 AND sku = $2 AND inventory_location_id = $3
             RETURNING warehouse_code, quantity, previous",
        )
        .bind(input.workflow_id)
        .bind(sku)
        .bind(loc)
        .bind(error.as_deref())
        .fetch_optional(&mut *tx)
        .await?;
        if let Some((warehouse, quantity, previous)) = row {
            crate::engine::append_event(
                &mut *tx,
                input.workflow_id,
                "inventory.apply",
                event,
                InventoryState::Apply.as_str(),
                error.as_deref(),
                &json!({"sku": sku, "location": loc, "warehouse": warehouse, "from": previous, "to": quantity}),
            )
            .await?;
        }
        tx.commit().await?;
    }
    if pending.len() as i64 == CHUNK {
        return Ok(Transition::to(InventoryState::Apply)
            .with_detail(json!({"applied_in_step": pending.len()})));
    }
    let (applied, rejected): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE applied_at IS NOT NULL), count(*) FILTER (WHERE error IS NOT NULL) FROM inventory_adjustments WHERE workflow_id = $1",
    )
    .bind(input.workflow_id)
    .fetch_one(pool)
    .await
    .map_err(db)?;
    let unknown: Vec<String> = sqlx::query_scalar("SELECT sku FROM inventory_adjustments WHERE workflow_id = $1 AND error IS NOT NULL ORDER BY sku LIMIT 50")
        .bind(input.workflow_id)
        .fetch_all(pool)
        .await
        .map_err(db)?;
    Ok(Transition::to(InventoryState::Done).with_detail(
        json!({"adjusted": applied, "rejected_by_shipstation": rejected, "rejected_skus": unknown}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connections::Buffer;

    fn row(sku: &str, wh: &str, on_hand: i64, on_so: i64, on_bo: i64) -> StockLevel {
        let q = |n: i64| crate::domain::Quantity(Decimal::from(n));
        StockLevel {
            item: sku.parse().unwrap(),
            warehouse: wh.parse().unwrap(),
            on_hand: q(on_hand),
            on_sales_order: q(on_so),
            on_back_order: q(on_bo),
            on_purchase_order: q(0),
            stamp: ChangeStamp::default(),
        }
    }

    #[test]
    fn formula_buffers_and_clamping() {
        let mut s = Settings::default();
        assert_eq!(
            available(&s, &row("A", "000", 100, 30, 5)),
            (70, false),
            "on hand − on sales order"
        );
        s.inventory
            .subtract
            .push(crate::domain::StockQuantity::QuantityOnBackOrder);
        assert_eq!(available(&s, &row("A", "000", 100, 30, 5)), (65, false));
        s.inventory.buffers.insert(
            "000".into(),
            Buffer {
                absolute: 5,
                percent: 10.0,
            },
        );
        assert_eq!(
            available(&s, &row("A", "000", 100, 30, 5)),
            (54, false),
            "65 − 5 = 60, minus 10 % = 54"
        );
        s.inventory.buffers.insert(
            "sku:A".into(),
            Buffer {
                absolute: 0,
                percent: 50.0,
            },
        );
        assert_eq!(
            available(&s, &row("A", "000", 100, 30, 5)),
            (32, false),
            "the SKU's buffer wins: 65 − 33"
        );
        assert_eq!(
            available(&s, &row("B", "000", 3, 10, 0)),
            (0, true),
            "never negative"
        );
    }
}
