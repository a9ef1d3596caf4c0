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

use serde_json::{json, Map, Value};

use super::deps::{ConnectionClients, FlowDeps};
use super::step_errors::db;
use crate::connections::{self, Settings};
use crate::engine::{HandlerRegistry, StepError, StepInput, StepResult, Transition};
use crate::sage100::feed::ChangeTracker;
use crate::sage100::Watermark;
use crate::shipstation::v2::{InventoryTransaction, V2Client};
use crate::shipstation::ShipStationError;

pub const FEED: &str = "sage_item_warehouses";
const CHUNK: i64 = 200;

pub fn register(r: &mut HandlerRegistry, deps: &FlowDeps) {
    let d = deps.clone();
    r.register("inventory.plan", move |i| plan(d.clone(), i));
    let d = deps.clone();
    r.register("inventory.apply", move |i| apply(d.clone(), i));
}

fn ss(e: ShipStationError) -> StepError {
    let after = e.retry_after();
    let err = if e.is_transient() {
        StepError::retry(e.to_string())
    } else {
        StepError::fatal(e.to_string())
    };
    match after {
        Some(d) => err.after(d),
        None => err,
    }
}

#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct Cursor {
    tracker: ChangeTracker,
    last_full_resync: Option<chrono::DateTime<chrono::Utc>>,
}

fn num(row: &Map<String, Value>, col: &str) -> f64 {
    row.get(col).and_then(Value::as_f64).unwrap_or(0.0)
}

fn text<'a>(row: &'a Map<String, Value>, col: &str) -> &'a str {
    row.get(col).and_then(Value::as_str).unwrap_or_default()
}

/// What ShipStation may sell of one item-warehouse row, and whether it had to be clamped at 0.
pub fn available(settings: &Settings, row: &Map<String, Value>) -> (i64, bool) {
    let inv = &settings.inventory;
    let mut q = num(row, "QuantityOnHand") - inv.subtract.iter().map(|f| num(row, f)).sum::<f64>();
    let buffer = inv
        .buffers
        .get(&format!("sku:{}", text(row, "ItemCode$")))
        .or_else(|| inv.buffers.get(text(row, "WarehouseCode$")));
    if let Some(b) = buffer {
        q -= b.absolute as f64;
        if q > 0.0 {
            q -= (q * b.percent / 100.0).ceil();
        }
    }
    let q = q.floor() as i64;
    (q.max(0), q < 0)
}

/// The inventory location of a Sage warehouse, creating it in ShipStation on first use if allowed.
async fn location_of(
    input: &StepInput,
    clients: &ConnectionClients,
    v2: &V2Client,
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
    let warehouse = match &mapping.inventory_warehouse_id {
        Some(w) => w.clone(),
        None => {
            v2.create_inventory_warehouse(&format!("Sage {} {code}", settings.sage.company))
                .await
                .map_err(ss)?
                .inventory_warehouse_id
        }
    };
    let location = v2
        .create_inventory_location(&warehouse, &format!("Sage {code}"))
        .await
        .map_err(ss)?
        .inventory_location_id;
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
    let v2 = clients.v2.clone().ok_or_else(|| {
        StepError::fatal("inventory sync needs the connection's ShipStation V2 API key (v2_key)")
    })?;
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
        Watermark::default()
    } else {
        cursor.tracker.watermark.clone()
    };
    let key =
        |r: &Map<String, Value>| format!("{}|{}", text(r, "ItemCode$"), text(r, "WarehouseCode$"));
    let mut rows = Vec::new();
    let mut page_cursor = None;
    loop {
        let page = clients
            .agent
            .changed_item_warehouses(&since, 1000, page_cursor.as_ref())
            .await
            .map_err(|e| StepError::retry(e.to_string()))?;
        if full {
            cursor.tracker.accept(page.rows.clone(), key);
            rows.extend(page.rows);
        } else {
            rows.extend(cursor.tracker.accept(page.rows, key));
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
        .map(|r| text(r, "WarehouseCode$").to_string())
        .collect::<BTreeSet<_>>()
    {
        locations.insert(
            code.clone(),
            location_of(&input, &clients, &v2, &code).await?,
        );
    }
    let mut current: HashMap<(String, String), i64> = HashMap::new();
    for loc in locations.values().collect::<BTreeSet<_>>() {
        for level in v2
            .list_inventory(&[("inventory_location_id", loc.clone())])
            .await
            .map_err(ss)?
        {
            current.insert((level.sku.clone(), loc.clone()), level.on_hand);
        }
    }
    let mut clamped = Vec::new();
    let mut planned: BTreeMap<(String, String), (String, i64, Option<i64>)> = BTreeMap::new();
    for r in &rows {
        let (qty, was_clamped) = available(&settings, r);
        let (sku, code) = (
            text(r, "ItemCode$").to_string(),
            text(r, "WarehouseCode$").to_string(),
        );
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
    Ok(Transition::to("apply").with_detail(json!({
        "full_resync": full, "rows_read": rows.len(), "to_adjust": planned.len(),
        "clamped_to_zero": clamped.iter().take(50).collect::<Vec<_>>(), "clamped_count": clamped.len(),
    })))
}

async fn apply(deps: FlowDeps, input: StepInput) -> StepResult {
    let clients = deps.clients(&input.db, input.connection_id).await?;
    let v2 = clients.v2.clone().ok_or_else(|| {
        StepError::fatal("inventory sync needs the connection's ShipStation V2 API key (v2_key)")
    })?;
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
        let tx = InventoryTransaction {
            transaction_type: "adjust".into(),
            sku: sku.clone(),
            quantity: *qty,
            inventory_location_id: loc.clone(),
            reason: Some("Sage 100 sync".into()),
            notes: None,
        };
        let (event, error) = match v2.update_inventory(&tx).await {
            Ok(()) => ("inventory_adjusted", None),
            Err(ShipStationError::Api {
                status, message, ..
            }) if (400..500).contains(&status) && status != 429 => {
                ("inventory_rejected", Some(message))
            }
            Err(e) => return Err(ss(e)), // progress so far is kept; the retry resumes with what is pending
        };
        sqlx::query(
            "WITH u AS (
                 UPDATE inventory_adjustments SET applied_at = CASE WHEN $5::text IS NULL THEN now() END, error = $5
                  WHERE workflow_id = $1 AND sku = $2 AND inventory_location_id = $3
                 RETURNING warehouse_code, quantity, previous)
             INSERT INTO workflow_events (workflow_id, actor, event, from_state, to_state, status, error, detail)
             SELECT $1, $4, $6, 'apply', 'apply', 'running', $5,
                    jsonb_build_object('sku', $2, 'location', $3, 'warehouse', warehouse_code, 'from', previous, 'to', quantity) FROM u",
        )
        .bind(input.workflow_id)
        .bind(sku)
        .bind(loc)
        .bind("inventory.apply")
        .bind(error.as_deref())
        .bind(event)
        .execute(pool)
        .await
        .map_err(db)?;
    }
    if pending.len() as i64 == CHUNK {
        return Ok(Transition::to("apply").with_detail(json!({"applied_in_step": pending.len()})));
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
    Ok(Transition::to("done").with_detail(
        json!({"adjusted": applied, "rejected_by_shipstation": rejected, "rejected_skus": unknown}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connections::Buffer;

    fn row(sku: &str, wh: &str, on_hand: f64, on_so: f64, on_bo: f64) -> Map<String, Value> {
        json!({"ItemCode$": sku, "WarehouseCode$": wh, "QuantityOnHand": on_hand, "QuantityOnSalesOrder": on_so, "QuantityOnBackOrder": on_bo}).as_object().cloned().unwrap()
    }

    #[test]
    fn formula_buffers_and_clamping() {
        let mut s = Settings::default();
        assert_eq!(
            available(&s, &row("A", "000", 100.0, 30.0, 5.0)),
            (70, false),
            "on hand − on sales order"
        );
        s.inventory.subtract.push("QuantityOnBackOrder".into());
        assert_eq!(
            available(&s, &row("A", "000", 100.0, 30.0, 5.0)),
            (65, false)
        );
        s.inventory.buffers.insert(
            "000".into(),
            Buffer {
                absolute: 5,
                percent: 10.0,
            },
        );
        assert_eq!(
            available(&s, &row("A", "000", 100.0, 30.0, 5.0)),
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
            available(&s, &row("A", "000", 100.0, 30.0, 5.0)),
            (32, false),
            "the SKU's buffer wins: 65 − 33"
        );
        assert_eq!(
            available(&s, &row("B", "000", 3.0, 10.0, 0.0)),
            (0, true),
            "never negative"
        );
    }
}
