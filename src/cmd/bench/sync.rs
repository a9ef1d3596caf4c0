//! `bench sync`: the whole connector on the simulators. Sage users enter N orders (all at once, or
//! two a second with `--default-schedules`); the connector moves them to ShipStation; then every
//! order gets a label and an invoice and tracking comes back to Sage. Reported: orders per minute
//! against the V1 bound (100 orders per `createorders` call × calls per window), ShipStation calls
//! and agent calls per order, 429s, and latency from entry in Sage to the order in ShipStation and
//! from label to tracking on the Sage sales order (times from the audit trail).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::percentile;
use crate::cmd::args::{BenchSyncArgs, GlobalArgs};
use crate::cmd::demo::World;
use crate::cmd::Interrupted;
use ml_connector::connections::Polls;
use ml_connector::engine::scheduler::Scheduler;
use ml_connector::engine::worker::{PoolStats, WorkerPool};
use ml_connector::engine::{worker_identity, Shutdown};
use ml_connector::flows::deps::FlowTuning;
use ml_connector::sim::sage100::orders as sage_orders;
use ml_connector::sim::shipstation::SimConfig;

/// Orders per `createorders` call (ShipStation's documented maximum).
const ORDERS_PER_CALL: f64 = 100.0;
const LABEL_BATCH: usize = 100;

pub async fn run(
    global: &GlobalArgs,
    args: &BenchSyncArgs,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let (limit, window) = if args.default_schedules {
        (40, Duration::from_secs(60))
    } else {
        (
            args.v1_limit,
            Duration::from_secs(args.v1_window_secs.max(1)),
        )
    };
    let sim = SimConfig {
        v1_limit: limit,
        v1_window: window,
        ..SimConfig::default()
    };
    let default_schedules = args.default_schedules;
    let edit = move |s: &mut ml_connector::connections::Settings| {
        if default_schedules {
            s.polls = Polls::default();
        } else {
            // The demo's fast polls (orders every 2 s) and the shortest probe.
            s.polls.orders_probe_secs = 5;
            // The reconciliation poll takes the share of the V1 budget it takes in production
            // (3 calls every 300 s of a 40-per-60-s budget: 1.5 %), not the demo's every 10 s,
            // which with 2 calls per 2-s window would spend 30 % of the budget the bound counts.
            s.polls.shipments_secs = reconciliation_period(limit, window).as_secs().max(10);
        }
        s.shipstation.v1_rate_limit_per_min =
            (u64::from(limit) * 60 / window.as_secs().max(1)) as u32;
    };
    // The governor as in production: a second after each window until it learns the server's
    // reset is rounded up (the demo waits none).
    let production_margin = |t: &mut FlowTuning| t.v1_margin = FlowTuning::default().v1_margin;
    let world =
        match World::start_with(global, args.workers, sim, edit, production_margin, shutdown).await
        {
            Err(e) if e.is::<Interrupted>() => return interrupted(args),
            r => r?,
        };
    let engine = &world.engine;
    let mut cfg = ml_connector::app::pool_config(
        &engine.definitions,
        worker_identity("bench-sync"),
        args.workers,
    );
    cfg.claim_batch = args.workers;
    cfg.shutdown_grace = Duration::from_secs(2);
    let workers = WorkerPool::spawn_with_stats(
        engine.clone(),
        cfg,
        world.shutdown.clone(),
        Arc::new(PoolStats::default()),
    );
    let scheduler = Scheduler::new(
        engine.clone(),
        ml_connector::flows::orders_poll::schedules(world.db.pool.clone(), false),
        Duration::from_millis(250),
        worker_identity("bench-sync-scheduler"),
    );
    let scheduler = tokio::spawn(scheduler.run(world.shutdown.clone()));
    let measured = measure(&world, args, limit, window).await;
    world.shutdown.trigger();
    workers.join().await;
    let _ = scheduler.await;
    let World { db, .. } = world;
    db.close().await;
    match measured {
        Err(e) if e.is::<Interrupted>() => interrupted(args),
        Err(e) => Err(e),
        Ok(report) => {
            if args.json {
                println!("{report}");
            } else {
                print(&report);
            }
            Ok(())
        }
    }
}

fn interrupted(args: &BenchSyncArgs) -> anyhow::Result<()> {
    if args.json {
        println!("{}", json!({"bench": "sync", "interrupted": true}));
    } else {
        println!("interrupted: the sync benchmark stopped before it finished; no numbers reported");
    }
    Err(Interrupted.into())
}

fn v1_calls() -> u64 {
    ml_connector::metrics::calls_made("shipstation", |op| !op.starts_with("/v2"))
}

fn agent_calls() -> u64 {
    ml_connector::metrics::calls_made("sage_agent", |_| true)
}

/// Enter order `i` as a Sage user would; returns its SalesOrderNo.
fn enter(world: &World, i: usize) -> anyhow::Result<String> {
    let customers = ["ABF", "BLUEJAY", "CITYMKT", "NORTHPT", "SUNRISE"];
    let items = ["WID-100", "WID-200", "GAD-300", "BRK-410", "CAB-520"];
    let header = [
        ("CustomerNo", json!(customers[i % customers.len()])),
        ("ShipVia", json!("UPS GROUND")),
        ("CustomerPONo", json!(format!("PO-{:06}", i + 1))),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let lines: Vec<_> = (0..1 + i % 2)
        .map(|l| {
            [
                ("ItemCode".to_string(), json!(items[(i + l) % items.len()])),
                ("QuantityOrdered".to_string(), json!(1 + (i + l) % 4)),
            ]
            .into_iter()
            .collect()
        })
        .collect();
    let mut data = world.sage.data.lock().unwrap();
    sage_orders::save(&mut data, "ABC", &header, Some(&lines), false)
        .map_err(|(c, m)| anyhow::anyhow!("entering a Sage order: {c} {m}"))
}

/// First time each order's workflow left `state` successfully, by SalesOrderNo.
async fn left_state(world: &World, state: &str) -> anyhow::Result<HashMap<String, DateTime<Utc>>> {
    let rows: Vec<(String, DateTime<Utc>)> = sqlx::query_as(
        "SELECT w.business_key, min(e.at) FROM workflow_events e JOIN workflows w ON w.id = e.workflow_id
          WHERE w.kind = 'order' AND w.connection_id = $1 AND e.event = 'step_succeeded' AND e.from_state = $2
          GROUP BY 1",
    )
    .bind(world.connection_id)
    .bind(state)
    .fetch_all(&world.db.pool)
    .await?;
    Ok(rows.into_iter().collect())
}

/// Wait until `n` orders have left `state`, or fail after `limit`.
async fn wait_for(world: &World, state: &str, n: usize, limit: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    loop {
        let done = left_state(world, state).await?.len();
        if done >= n {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {done} of {n} orders left {state} within {} s",
            limit.as_secs()
        );
        world.pause(Duration::from_millis(200)).await?;
    }
}

fn latencies(
    from: &HashMap<String, DateTime<Utc>>,
    to: &HashMap<String, DateTime<Utc>>,
) -> Vec<f64> {
    from.iter()
        .filter_map(|(no, t0)| {
            to.get(no)
                .map(|t1| (*t1 - *t0).num_milliseconds() as f64 / 1000.0)
        })
        .collect()
}

/// Calls per route made between two readings of the counters.
fn delta(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    after
        .iter()
        .map(|(op, n)| (op.clone(), n - before.get(op).copied().unwrap_or(0)))
        .filter(|(_, n)| *n > 0)
        .collect()
}

/// The simulated ShipStation's counters (its control API).
async fn sim_stats(world: &World) -> anyhow::Result<Value> {
    Ok(
        reqwest::get(format!("{}/__control/stats", world.ss.base_url()))
            .await?
            .json()
            .await?,
    )
}

/// Waits until the connection's start-up calls are done (webhook subscriptions, the first
/// reconciliation poll): orders reach a connector that has been running, and the share of the
/// bound is about how orders use the budget. Returns the seconds waited (at most a minute).
async fn settle(world: &World, window: Duration) -> anyhow::Result<f64> {
    let started = std::time::Instant::now();
    let quiet = window.max(Duration::from_secs(1)) + Duration::from_millis(500);
    let mut seen = v1_requests_seen(world).await?;
    while started.elapsed() < Duration::from_secs(60) {
        world.pause(quiet).await?;
        let now = v1_requests_seen(world).await?;
        if now == seen {
            break;
        }
        seen = now;
    }
    Ok(started.elapsed().as_secs_f64())
}

/// V1 requests the simulated ShipStation has counted, accepted or not.
async fn v1_requests_seen(world: &World) -> anyhow::Result<u64> {
    Ok(v1_windows(world)
        .await?
        .iter()
        .map(|w| w.accepted + w.rejected)
        .sum())
}

/// The `createorders` calls the simulated ShipStation received, by the orders each carried.
async fn create_orders_sizes(world: &World) -> anyhow::Result<Vec<usize>> {
    let received: Value = reqwest::get(format!("{}/__control/received", world.ss.base_url()))
        .await?
        .json()
        .await?;
    Ok(received
        .as_array()
        .map(|rs| {
            rs.iter()
                .filter(|r| r["path"].as_str() == Some("/orders/createorders"))
                .map(|r| {
                    serde_json::from_str::<Value>(r["body"].as_str().unwrap_or_default())
                        .ok()
                        .and_then(|b| b.as_array().map(Vec::len))
                        .unwrap_or_default()
                })
                .collect()
        })
        .unwrap_or_default())
}

/// One V1 window of the simulated ShipStation: requests it accepted and refused, and how long the budget lay
/// unused between the previous window's end and its first request.
struct WindowUse {
    accepted: u64,
    rejected: u64,
    idle_before_ms: Option<f64>,
}

/// The simulated ShipStation's V1 windows, oldest first.
async fn v1_windows(world: &World) -> anyhow::Result<Vec<WindowUse>> {
    let stats = sim_stats(world).await?;
    Ok(stats["v1_windows"]
        .as_array()
        .map(|ws| {
            ws.iter()
                .map(|w| WindowUse {
                    accepted: w["accepted"].as_u64().unwrap_or_default(),
                    rejected: w["rejected"].as_u64().unwrap_or_default(),
                    idle_before_ms: w["idle_before_ms"].as_f64(),
                })
                .collect()
        })
        .unwrap_or_default())
}

/// The shipments poll period that spends the production share of a `limit` per `window` budget:
/// 300 s at ShipStation's 40 per 60 s, longer in proportion to a smaller budget per second.
fn reconciliation_period(limit: u32, window: Duration) -> Duration {
    let production_per_sec = 40.0 / 60.0;
    let per_sec = f64::from(limit.max(1)) / window.as_secs_f64().max(1.0);
    Duration::from_secs_f64(300.0 * production_per_sec / per_sec)
}

/// Orders posted per minute once posting has begun: those answered after the first answered
/// call, over the time from it to the last. This is the budget's use, apart from how long the
/// orders took to be discovered (`share_of_bound_from_entry` includes that). None: one call only.
fn sustained_rate(posted: &HashMap<String, DateTime<Utc>>) -> Option<f64> {
    let first = posted.values().min()?;
    let last = posted.values().max()?;
    // Steps of one call are written within moments of each other.
    let first_call_ends = *first + chrono::Duration::milliseconds(250);
    let after = posted.values().filter(|t| **t > first_call_ends).count();
    let secs = (*last - first_call_ends).num_milliseconds() as f64 / 1000.0;
    (after > 0 && secs > 0.0).then(|| after as f64 / secs * 60.0)
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

async fn measure(
    world: &World,
    args: &BenchSyncArgs,
    limit: u32,
    window: Duration,
) -> anyhow::Result<Value> {
    let n = args.orders.max(1);
    let settled_s = settle(world, window).await?;
    let (v1_before, agent_before) = (v1_calls(), agent_calls());
    let windows_before = v1_windows(world).await?.len();
    let agent_routes_before = ml_connector::metrics::calls_by_operation("sage_agent");
    let mut entered: HashMap<String, DateTime<Utc>> = HashMap::new();
    if args.default_schedules {
        // Two a second, as a busy order desk; each order's latency is its own.
        for i in 0..n {
            let no = enter(world, i)?;
            entered.insert(no, Utc::now());
            world.pause(Duration::from_millis(500)).await?;
        }
    } else {
        for i in 0..n {
            let no = enter(world, i)?;
            entered.insert(no, Utc::now());
        }
    }
    wait_for(world, "post", n, Duration::from_secs(300 + n as u64)).await?;
    let posted = left_state(world, "post").await?;
    // The simulator's V1 windows while orders were posted: how many took every call they allow.
    let windows = v1_windows(world).await?.split_off(windows_before);
    let full_windows = windows
        .iter()
        .filter(|w| w.accepted >= u64::from(limit))
        .count();
    // Idle budget between windows, apart from the pause before the last (no orders were left).
    let mut idle_ms: Vec<f64> = windows
        .iter()
        .skip(1)
        .filter_map(|w| w.idle_before_ms)
        .collect();
    idle_ms.pop();
    let sizes = create_orders_sizes(world).await?;
    let orders_per_call = if sizes.is_empty() {
        f64::NAN
    } else {
        sizes.iter().sum::<usize>() as f64 / sizes.len() as f64
    };
    let (v1_orders, agent_orders) = (v1_calls() - v1_before, agent_calls() - agent_before);
    let agent_by_route = delta(
        &agent_routes_before,
        &ml_connector::metrics::calls_by_operation("sage_agent"),
    );
    let first_entry = entered.values().min().copied().unwrap_or_else(Utc::now);
    let last_post = posted.values().max().copied().unwrap_or_else(Utc::now);
    let span_s = ((last_post - first_entry).num_milliseconds() as f64 / 1000.0).max(0.001);
    let orders_per_min = n as f64 / span_s * 60.0;
    let bound_per_min = ORDERS_PER_CALL * f64::from(limit) * 60.0 / window.as_secs_f64();
    let sustained_per_min = sustained_rate(&posted);
    let mut order_latency = latencies(&entered, &posted);

    // Labels for every order, then invoices: tracking comes back by webhook (and the poll).
    world
        .run_now("shipments_poll", "bench-sync-subscribe")
        .await?;
    let base = world.ss.base_url();
    let open = crate::cmd::demo::tracking::awaiting_shipment(&base).await?;
    let mut labelled: HashMap<String, DateTime<Utc>> = HashMap::new();
    let client = reqwest::Client::new();
    for batch in open.chunks(LABEL_BATCH) {
        let ids: Vec<i64> = batch.iter().map(|(id, _)| *id).collect();
        let r = client
            .post(format!("{base}/__control/labels"))
            .json(&json!({"orderIds": ids, "packages": 1, "carrierCode": "ups", "serviceCode": "ups_ground", "transitDays": 3}))
            .send()
            .await?;
        anyhow::ensure!(r.status().is_success(), "labels: {}", r.status());
        let at = Utc::now();
        labelled.extend(batch.iter().map(|(_, no)| (no.clone(), at)));
    }
    {
        let mut data = world.sage.data.lock().unwrap();
        for (_, no) in &open {
            data.invoice_order("ABC", no)
                .map_err(|e| anyhow::anyhow!("invoicing {no}: {e}"))?;
        }
    }
    let tracking_wait = if args.default_schedules {
        // The safety-net poll runs every 5 minutes: wait for one beyond it.
        Duration::from_secs(400 + n as u64)
    } else {
        Duration::from_secs(120 + n as u64)
    };
    wait_for(world, "track_so", open.len(), tracking_wait).await?;
    let tracked = left_state(world, "track_so").await?;
    let mut tracking_latency = latencies(&labelled, &tracked);
    let stats = sim_stats(world).await?;
    let rate_limited = stats["v1_rejected"].as_u64().unwrap_or_default();
    Ok(json!({
        "bench": "sync",
        "orders": n,
        "default_schedules": args.default_schedules,
        "v1_limit": limit, "v1_window_s": window.as_secs(),
        "orders_per_min": orders_per_min.round(),
        "bound_per_min": bound_per_min.round(),
        // All in one call: no rate once posting began, only the one from entry.
        "share_of_bound": (sustained_per_min.unwrap_or(orders_per_min) / bound_per_min * 1000.0).round() / 1000.0,
        "sustained_orders_per_min": sustained_per_min.map(f64::round),
        "share_of_bound_from_entry": (orders_per_min / bound_per_min * 1000.0).round() / 1000.0,
        "calls_per_order": round2(v1_orders as f64 / n as f64),
        "rate_limited": rate_limited,
        "v1_windows_while_posting": windows.len(),
        "v1_windows_full_while_posting": full_windows,
        "orders_per_create_call": round2(orders_per_call),
        "v1_idle_between_windows_p50_ms": percentile(&mut idle_ms, 0.5).round(),
        "v1_idle_between_windows_p95_ms": percentile(&mut idle_ms, 0.95).round(),
        "agent_calls_per_order": round2(agent_orders as f64 / n as f64),
        "order_latency_p50_s": round2(percentile(&mut order_latency, 0.5)),
        "order_latency_p95_s": round2(percentile(&mut order_latency, 0.95)),
        "tracking_latency_p95_s": round2(percentile(&mut tracking_latency, 0.95)),
        "orders_tracked": tracked.len(),
        "agent_calls_by_route": agent_by_route,
        "span_s": round2(span_s),
        "settled_s": round2(settled_s),
    }))
}

fn print(r: &Value) {
    println!(
        "{} orders in {} s: {} orders/min from entry, {} once posting began, against a bound of {} ({} of it; {} from entry), {} V1 calls and {} agent calls per order, {} 429s",
        r["orders"], r["span_s"], r["orders_per_min"], r["sustained_orders_per_min"], r["bound_per_min"],
        r["share_of_bound"], r["share_of_bound_from_entry"],
        r["calls_per_order"], r["agent_calls_per_order"], r["rate_limited"]
    );
    println!(
        "entry in Sage → ShipStation: p50 {} s, p95 {} s; label → tracking in Sage: p95 {} s ({} orders)",
        r["order_latency_p50_s"], r["order_latency_p95_s"], r["tracking_latency_p95_s"], r["orders_tracked"]
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reconciliation_poll_keeps_its_production_share_of_the_budget() {
        assert_eq!(
            reconciliation_period(40, Duration::from_secs(60)),
            Duration::from_secs(300)
        );
        assert_eq!(
            reconciliation_period(2, Duration::from_secs(2)),
            Duration::from_secs(200)
        );
    }
}
