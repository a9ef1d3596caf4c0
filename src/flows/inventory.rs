//! The inventory sync (workflows/inventory.toml).
//!
//! `plan` reads IM_ItemWarehouse rows changed since the watermark (all rows at a full resync, at most
//! every `full_resync_hours`) into the connector's copy of Sage's levels (`inventory_sage_levels`),
//! reads ShipStation's sellable stock and allocations at the mapped locations, computes for every
//! copied level the quantity to push (`stock_formula`: what Sage may sell plus what ShipStation's
//! open orders allocate of it), and records one planned row per difference. Every run compares
//! every level: ShipStation's allocations change without any Sage change. `apply` sends `adjust`
//! (sets the sellable on-hand) for pending rows a chunk per step, marking each row and writing an
//! audit event as it lands, so a run that stops resumes with exactly the rows still pending. SKUs
//! ShipStation refuses are reported, not dropped.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::json;
use sqlx::PgPool;

use super::deps::{ConnectionClients, FlowDeps};
use super::kinds::{self, InventoryState};
use super::step_errors::db;
use super::stock_formula;
use crate::connections;
use crate::domain::{ChangeStamp, ChangeTracker, RemoteStock, SkippedRecord, StockLevel, StockSet};
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

/// The Sage levels the sync last read, by (item, warehouse).
async fn copied_levels(
    pool: &PgPool,
    connection_id: i64,
) -> Result<BTreeMap<(String, String), StockLevel>, StepError> {
    let rows: Vec<(serde_json::Value,)> =
        sqlx::query_as("SELECT level FROM inventory_sage_levels WHERE connection_id = $1")
            .bind(connection_id)
            .fetch_all(pool)
            .await
            .map_err(db)?;
    let mut out = BTreeMap::new();
    for (v,) in rows {
        // A copy that no longer reads (an older shape) is dropped; the next full resync restores it.
        if let Ok(l) = serde_json::from_value::<StockLevel>(v) {
            out.insert((l.item.to_string(), l.warehouse.to_string()), l);
        }
    }
    Ok(out)
}

/// Where a level goes: an existing inventory location, or one the sync would create (dry run).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Location {
    Known(String),
    ToCreate(String),
}

impl Location {
    fn id(&self) -> String {
        match self {
            Location::Known(id) => id.clone(),
            Location::ToCreate(code) => format!("(a new location for Sage warehouse {code})"),
        }
    }
}

/// The inventory location of a Sage warehouse, creating it in ShipStation on first use if allowed
/// (a dry run creates nothing: it names the location it would create).
async fn location_of(
    pool: &PgPool,
    clients: &ConnectionClients,
    code: &str,
    dry_run: bool,
) -> Result<Location, StepError> {
    let settings = &clients.connection.settings;
    let Some(mapping) = settings.mappings.warehouses.get(code) else {
        return Err(StepError::fatal(format!(
            "Sage warehouse {code} has no ShipStation mapping: add mappings.warehouses.\"{code}\" (inventory_warehouse_id / inventory_location_id) to connection {}",
            clients.connection.name
        )));
    };
    if let Some(loc) = &mapping.inventory_location_id {
        return Ok(Location::Known(loc.clone()));
    }
    if !settings.inventory.create_locations {
        return Err(StepError::fatal(format!("Sage warehouse {code} is mapped without inventory_location_id, and inventory.create_locations is off")));
    }
    if dry_run {
        return Ok(Location::ToCreate(code.to_string()));
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
    let mut current = connections::get(pool, &clients.connection.name)
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
    connections::update_settings(pool, &current.name, &current.settings)
        .await
        .map_err(db)?;
    Ok(Location::Known(location))
}

/// What a run would adjust, computed without writing anything of its own (only a location the
/// sync may create is created, and not in a dry run): `plan` persists it, the dry run shows it.
pub(crate) struct Plan {
    full: bool,
    cursor: Cursor,
    /// The Sage rows read this run.
    rows: Vec<StockLevel>,
    levels_compared: usize,
    /// (sku, location) → (Sage warehouse, quantity to set, ShipStation's on-hand now).
    adjustments: BTreeMap<(String, String), (String, i64, Option<i64>)>,
    clamped: Vec<String>,
    added_back: i64,
    skipped: Vec<String>,
    kept_apart: Vec<SkippedRecord>,
    unreadable: Vec<SkippedRecord>,
}

pub(crate) async fn compute_plan(
    pool: &PgPool,
    clients: &ConnectionClients,
    dry_run: bool,
) -> Result<Plan, StepError> {
    if !clients.fulfilment.offers_inventory() {
        return Err(StepError::fatal(
            "inventory sync needs the connection's ShipStation V2 API key (v2_key)",
        ));
    }
    let settings = clients.connection.settings.clone();
    let c = clients.connection.id;
    let stored = super::feed_state::load_cursor(pool, c, FEED).await?;
    let mut cursor: Cursor = stored
        .map(serde_json::from_value)
        .transpose()
        .map_err(|e| StepError::fatal(format!("cursor unreadable: {e}")))?
        .unwrap_or_default();
    let mut copy = copied_levels(pool, c).await?;
    let now = chrono::Utc::now();
    // No copy yet (a new connection, or the first run of this release): read everything.
    let full = copy.is_empty()
        || cursor.last_full_resync.is_none_or(|t| {
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
    if full {
        copy.clear(); // a level Sage no longer has is not pushed again
    }
    for r in &rows {
        copy.insert((r.item.to_string(), r.warehouse.to_string()), r.clone());
    }
    // Every copied level's location, then ShipStation's stock at those locations.
    let mut locations: HashMap<String, Location> = HashMap::new();
    for code in copy.keys().map(|(_, w)| w.clone()).collect::<BTreeSet<_>>() {
        let loc = location_of(pool, clients, &code, dry_run).await?;
        locations.insert(code.clone(), loc);
    }
    let mut remote: HashMap<(String, String), RemoteStock> = HashMap::new();
    let (mut kept_apart, mut unreadable): (Vec<SkippedRecord>, Vec<SkippedRecord>) =
        (vec![], vec![]);
    for loc in locations.values().collect::<BTreeSet<_>>() {
        // A location still to be created holds nothing yet.
        let Location::Known(id) = loc else { continue };
        let at = clients.fulfilment.stock_at(id).await?;
        for l in at.levels {
            remote.insert((l.sku.clone(), id.clone()), l);
        }
        kept_apart.extend(at.kept_apart);
        unreadable.extend(at.skipped);
    }
    let mut clamped = Vec::new();
    let mut added_back = 0i64;
    let mut adjustments: BTreeMap<(String, String), (String, i64, Option<i64>)> = BTreeMap::new();
    for ((sku, code), level) in &copy {
        let loc = locations[code].id();
        let there = remote.get(&(sku.clone(), loc.clone()));
        let allocated = there.map_or(0, |r| r.allocated);
        let (qty, was_clamped) = stock_formula::pushed(&settings, level, allocated);
        added_back += stock_formula::added_back(&settings, level, allocated);
        if was_clamped {
            clamped.push(format!("{sku}@{code}"));
        }
        let previous = there.map(|r| r.on_hand);
        if previous.unwrap_or(0) != qty || (previous.is_none() && qty > 0) {
            adjustments.insert((sku.clone(), loc), (code.clone(), qty, previous));
        }
    }
    if full {
        cursor.last_full_resync = Some(now);
    }
    Ok(Plan {
        full,
        cursor,
        levels_compared: copy.len(),
        rows,
        adjustments,
        clamped,
        added_back,
        skipped,
        kept_apart,
        unreadable,
    })
}

async fn plan(deps: FlowDeps, input: StepInput) -> StepResult {
    let clients = deps.clients(&input.db, input.connection_id).await?;
    let pool = &input.db;
    let c = input.connection_id;
    let p = compute_plan(pool, &clients, false).await?;
    let planned = &p.adjustments;
    let (skus, locs): (Vec<String>, Vec<String>) = planned.keys().cloned().unzip();
    let codes: Vec<String> = planned.values().map(|v| v.0.clone()).collect();
    let qtys: Vec<i64> = planned.values().map(|v| v.1).collect();
    let prevs: Vec<Option<i64>> = planned.values().map(|v| v.2).collect();
    let mut tx = crate::db::begin(pool).await.map_err(db)?;
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
    save_copy(&mut tx, c, &p.rows, p.full).await?;
    super::skipped::audit(
        &mut tx,
        input.workflow_id,
        "inventory.plan",
        InventoryState::Plan.as_str(),
        "ShipStation inventory",
        &p.unreadable,
    )
    .await?;
    super::feed_state::save_cursor(&mut tx, c, FEED, &p.cursor).await?;
    tx.commit().await.map_err(db)?;
    if !p.clamped.is_empty() {
        tracing::warn!(
            connection = c,
            count = p.clamped.len(),
            "inventory: negative available quantities clamped to 0"
        );
    }
    let names = |v: &[SkippedRecord]| {
        v.iter()
            .take(50)
            .map(|s| format!("{}: {}", s.record, s.problem))
            .collect::<Vec<_>>()
    };
    Ok(Transition::to(InventoryState::Apply).with_detail(json!({
        "full_resync": p.full, "rows_read": p.rows.len(), "levels_compared": p.levels_compared, "to_adjust": planned.len(),
        "allocated_added_back": p.added_back,
        "clamped_to_zero": p.clamped.iter().take(50).collect::<Vec<_>>(), "clamped_count": p.clamped.len(),
        "skipped_records": p.skipped.iter().take(50).collect::<Vec<_>>(), "skipped_count": p.skipped.len(),
        "kept_apart": names(&p.kept_apart), "kept_apart_count": p.kept_apart.len(),
        "shipstation_rows_skipped": names(&p.unreadable), "shipstation_rows_skipped_count": p.unreadable.len(),
    })))
}

/// One level the next inventory sync would set.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StockChange {
    pub sku: String,
    pub warehouse: String,
    pub location: String,
    /// ShipStation's on-hand now (none: no record there yet).
    pub from: Option<i64>,
    pub to: i64,
}

/// What the next inventory sync would set, with no side effect.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct InventoryPreview {
    pub full_resync: bool,
    pub levels_compared: usize,
    pub changes: Vec<StockChange>,
    /// Sage records the agent could not hand over, and ShipStation rows that could not be read.
    pub skipped: Vec<String>,
}

pub(crate) fn preview_of(p: Plan) -> InventoryPreview {
    InventoryPreview {
        full_resync: p.full,
        levels_compared: p.levels_compared,
        changes: p
            .adjustments
            .into_iter()
            .map(|((sku, location), (warehouse, to, from))| StockChange {
                sku,
                warehouse,
                location,
                from,
                to,
            })
            .collect(),
        skipped: p
            .skipped
            .into_iter()
            .chain(
                p.unreadable
                    .iter()
                    .map(|s| format!("{}: {}", s.record, s.problem)),
            )
            .collect(),
    }
}

/// Keep the copy of Sage's levels: this run's rows; after a full read, only those.
async fn save_copy(
    tx: &mut sqlx::PgConnection,
    connection_id: i64,
    rows: &[StockLevel],
    full: bool,
) -> Result<(), StepError> {
    if full {
        sqlx::query("DELETE FROM inventory_sage_levels WHERE connection_id = $1")
            .bind(connection_id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
    }
    // One row per level (the latest read), as one statement may not update a row twice.
    let latest: BTreeMap<(String, String), &StockLevel> = rows
        .iter()
        .map(|r| ((r.item.to_string(), r.warehouse.to_string()), r))
        .collect();
    let (keys, levels): (Vec<_>, Vec<_>) = latest.into_iter().unzip();
    let (items, warehouses): (Vec<String>, Vec<String>) = keys.into_iter().unzip();
    let levels: Vec<serde_json::Value> = levels
        .into_iter()
        .map(|r| serde_json::to_value(r).unwrap_or_default())
        .collect();
    sqlx::query(
        "INSERT INTO inventory_sage_levels (connection_id, item_code, warehouse_code, level)
         SELECT $1, i, w, l FROM unnest($2::text[], $3::text[], $4::jsonb[]) AS t(i, w, l)
         ON CONFLICT (connection_id, item_code, warehouse_code) DO UPDATE SET level = EXCLUDED.level, read_at = now()",
    )
    .bind(connection_id)
    .bind(&items)
    .bind(&warehouses)
    .bind(&levels)
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    Ok(())
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
        let mut tx = crate::db::begin(pool).await?;
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
