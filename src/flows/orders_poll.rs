//! The orders poll (workflows/orders_poll.toml): Sage orders changed since the watermark start
//! (or signal) one order workflow each; open orders that vanished from Sage are signalled too.
//! The watermark is saved only after the run's work is in the database, so a crashed run repeats
//! harmlessly (creation is idempotent by SalesOrderNo, signals are idempotent).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use sqlx::PgPool;

use super::deps::{ConnectionClients, FlowDeps};
use super::feed_state;
use super::kinds::{self, Kind, OrderState, OrdersPollState};
use super::order::OrderSnapshot;
use crate::domain::{
    ChangeStamp, ChangeTracker, Item, ItemCode, SalesOrder, SalesOrderNo, SiteZone,
};
use crate::engine::scheduler::{ScheduleSource, ScheduleSpec, SpecFuture};
use crate::engine::store::{self, NewWorkflow};
use crate::engine::{HandlerRegistry, Status, StepError, StepInput, StepResult, Transition};

pub const FEED: &str = "sage_orders";
/// The first poll of a connection looks this far back (open orders of the last 30 days).
pub const BACKFILL_DAYS: i64 = 30;

pub fn register(r: &mut HandlerRegistry, deps: &FlowDeps) {
    let d = deps.clone();
    kinds::register(r, OrdersPollState::Poll, move |i| run(d.clone(), i));
}

pub(crate) async fn load_tracker(
    pool: &PgPool,
    connection_id: i64,
    zone: SiteZone,
) -> Result<ChangeTracker, StepError> {
    if let Some(v) = feed_state::load_cursor(pool, connection_id, FEED).await? {
        return serde_json::from_value(v)
            .map_err(|e| StepError::fatal(format!("cursor unreadable: {e}")));
    }
    let start = zone.date_of(chrono::Utc::now() - chrono::Duration::days(BACKFILL_DAYS));
    Ok(ChangeTracker {
        watermark: ChangeStamp {
            date: start.format("%Y%m%d").to_string(),
            time: 0.0,
        },
        ..Default::default()
    })
}

async fn run(deps: FlowDeps, input: StepInput) -> StepResult {
    let pool = &input.db;
    let c = input.connection_id;
    let clients = deps.clients(pool, c).await?;
    let mut tracker = load_tracker(pool, c, clients.site.zone).await?;
    let since = tracker.watermark.clone();
    // Another poll of this connection is still reading from the same watermark: this one would
    // read the same orders and signal every workflow that poll just created, and each would then
    // read Sage again instead of starting from the poll's copy. The running poll saves its
    // watermark when done; the next slot polls from there.
    if feed_state::running_elsewhere(pool, c, FEED, input.workflow_id).await? {
        return Ok(Transition::to(OrdersPollState::Done)
            .with_detail(json!({"skipped": "another orders poll of this connection is running"})));
    }
    let run_id = feed_state::start_run(pool, c, FEED, input.workflow_id).await?;
    let (mut found, mut created, mut signalled) = (0u64, 0u64, 0u64);
    let mut skipped: Vec<String> = Vec::new();
    let mut cursor = None;
    loop {
        let page = clients
            .erp
            .changed_orders(&since, 200, cursor.as_ref())
            .await?;
        skipped.extend(page.skipped);
        let fresh = tracker.accept(page.rows);
        found += fresh.len() as u64;
        let keys: Vec<String> = fresh.iter().map(|o| o.no.to_string()).collect();
        // Existing workflows are told first; those created next start from the poll's copy.
        signalled += store::signal_keys(
            pool,
            Kind::Order.as_str(),
            c,
            &keys,
            "orders_poll",
            &json!({"changed_in_sage": true}),
        )
        .await?;
        let news: Vec<NewWorkflow> = snapshots(&clients, fresh)
            .await
            .into_iter()
            .map(|(k, snapshot)| NewWorkflow {
                kind: Kind::Order.to_string(),
                connection_id: c,
                business_key: k.clone(),
                initial_state: OrderState::Fetch.to_string(),
                context: json!({"SalesOrderNo": k, "snapshot": snapshot}),
                run_at: None,
            })
            .collect();
        created += store::create_many(pool, &news, "orders_poll").await?;
        match page.next {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    // Deleted orders never appear in the feed: ask which posted orders still exist.
    let open: Vec<SalesOrderNo> = crate::engine::keys_in_state(
        pool,
        Kind::Order.as_str(),
        c,
        Status::Waiting,
        OrderState::Check.as_str(),
    )
    .await?
    .iter()
    .filter_map(|k| SalesOrderNo::parse(k).ok())
    .collect();
    let mut vanished = Vec::new();
    for chunk in open.chunks(500) {
        vanished.extend(
            clients
                .erp
                .missing_orders(chunk)
                .await?
                .iter()
                .map(ToString::to_string),
        );
    }
    signalled += store::signal_keys(
        pool,
        Kind::Order.as_str(),
        c,
        &vanished,
        "orders_poll",
        &json!({"gone_from_sage": true}),
    )
    .await?;
    let mut tx = crate::db::begin(pool).await?;
    feed_state::save_cursor(&mut tx, c, FEED, &tracker).await?;
    let counts = feed_state::RunCounts {
        found,
        created,
        signalled,
    };
    feed_state::finish_run(&mut tx, run_id, counts, &tracker.watermark).await?;
    tx.commit().await?;
    Ok(Transition::to(OrdersPollState::Done).with_detail(json!({"found": found, "created": created, "signalled": signalled, "vanished": vanished.len(), "watermark": tracker.watermark,
        "skipped_records": skipped.iter().take(50).collect::<Vec<_>>(), "skipped_count": skipped.len()})))
}

/// Item codes per item lookup (a page of 200 orders holds a few hundred).
const ITEMS_PER_LOOKUP: usize = 500;

/// Each changed order with what its first fetch needs (the order as the feed gave it, lines
/// included, and its item master records: one lookup per page instead of two reads per order).
/// When the items cannot be read, the orders start without a copy and their fetch reads Sage.
async fn snapshots(clients: &ConnectionClients, fresh: Vec<SalesOrder>) -> Vec<(String, Value)> {
    let mut codes: Vec<ItemCode> = fresh.iter().flat_map(SalesOrder::item_codes).collect();
    codes.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    codes.dedup();
    let mut items: Vec<Item> = Vec::with_capacity(codes.len());
    for chunk in codes.chunks(ITEMS_PER_LOOKUP) {
        match clients.erp.items(chunk).await {
            Ok(found) => items.extend(found),
            Err(e) => {
                tracing::warn!(error = %e, "item lookup for the poll's orders failed: their fetch reads Sage");
                return fresh
                    .iter()
                    .map(|o| (o.no.to_string(), Value::Null))
                    .collect();
            }
        }
    }
    let read_at = chrono::Utc::now();
    fresh
        .into_iter()
        .map(|order| {
            let wanted = order.item_codes();
            let own: Vec<Item> = items
                .iter()
                .filter(|i| wanted.contains(&i.code))
                .cloned()
                .collect();
            let key = order.no.to_string();
            let snapshot = OrderSnapshot {
                order,
                items: own,
                read_at,
            };
            (key, serde_json::to_value(snapshot).unwrap_or(Value::Null))
        })
        .collect()
}

/// Every enabled connection's orders poll, at its configured interval.
pub struct ConnectionSchedules {
    pub pool: PgPool,
    /// Deployment-wide notification channels exist: every connection's alerts are checked, not
    /// only those of connections with channels of their own.
    pub deployment_channels: bool,
}

impl ScheduleSource for ConnectionSchedules {
    fn schedules(&self) -> SpecFuture {
        let pool = self.pool.clone();
        let everyone = self.deployment_channels;
        Box::pin(async move {
            // (id, orders, inventory, shipments intervals, alerts check interval when it has
            // channels, orders probe interval)
            type Row = (
                i64,
                Option<i64>,
                Option<i64>,
                Option<i64>,
                Option<i64>,
                Option<i64>,
            );
            let rows: Vec<Row> = sqlx::query_as(
                "SELECT id, (settings->'polls'->>'orders_secs')::bigint, (settings->'polls'->>'inventory_secs')::bigint,
                        (settings->'polls'->>'shipments_secs')::bigint,
                        CASE WHEN $1 OR (jsonb_typeof(settings->'notify'->'channels') = 'array'
                              AND jsonb_array_length(settings->'notify'->'channels') > 0)
                             THEN COALESCE((settings->'notify'->>'check_secs')::bigint, 60) END,
                        (settings->'polls'->>'orders_probe_secs')::bigint
                   FROM connections WHERE enabled ORDER BY id",
            )
            .bind(everyone)
            .fetch_all(&pool)
            .await?;
            let spec =
                |name: String, secs: Option<i64>, default: i64, kind: &str, id: i64| ScheduleSpec {
                    name,
                    period: Duration::from_secs(secs.unwrap_or(default).max(1) as u64),
                    kind: kind.into(),
                    connection_id: id,
                    context: json!({}),
                };
            Ok(rows
                .into_iter()
                .flat_map(|(id, orders, inventory, shipments, alerts, probe)| {
                    // 30 s unless set; 0 turns the probe off.
                    let probe = match probe.unwrap_or(30) {
                        0 => None,
                        secs => Some(spec(
                            format!("orders-probe:{id}"),
                            Some(secs),
                            30,
                            "orders_probe",
                            id,
                        )),
                    };
                    let alerts = alerts.map(|secs| {
                        spec(
                            format!("alerts-check:{id}"),
                            Some(secs),
                            60,
                            "alerts_check",
                            id,
                        )
                    });
                    [
                        spec(format!("orders-poll:{id}"), orders, 900, "orders_poll", id),
                        spec(
                            format!("inventory-sync:{id}"),
                            inventory,
                            3600,
                            "inventory",
                            id,
                        ),
                        spec(
                            format!("shipments-poll:{id}"),
                            shipments,
                            300,
                            "shipments_poll",
                            id,
                        ),
                    ]
                    .into_iter()
                    .chain(alerts)
                    .chain(probe)
                })
                .collect())
        })
    }
}

/// Boxed for the scheduler.
pub fn schedules(pool: PgPool, deployment_channels: bool) -> Arc<dyn ScheduleSource> {
    Arc::new(ConnectionSchedules {
        pool,
        deployment_channels,
    })
}
