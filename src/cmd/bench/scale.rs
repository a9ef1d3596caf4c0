//! `bench scale`: many connections on the default schedules (orders probe every 30 s, orders poll
//! every 15 min, shipments poll every 5 min, inventory hourly) against the simulators, run by one
//! or more replicas (each a scheduler and a worker pool, in this process) for a few minutes.
//! Reported: what scheduling costs (time in ticks), PostgreSQL transactions per second, and how
//! late the scheduled runs finish after their slot began (poll lag), by kind.
//!
//! Every connection talks to the same simulated Sage and ShipStation account (whose V1 limit is
//! and V2 limits are
//! raised so that one account's budgets does not stand in for a thousand): this measures the
//! connector and its database, not ShipStation's budgets.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::cmd::args::{BenchScaleArgs, GlobalArgs};
use crate::cmd::demo::World;
use crate::cmd::Interrupted;
use ml_connector::connections::{self, Polls};
use ml_connector::engine::scheduler::Scheduler;
use ml_connector::engine::worker::{PoolStats, WorkerPool};
use ml_connector::engine::{worker_identity, Shutdown};
use ml_connector::secret::Secret;
use ml_connector::sim::shipstation::SimConfig;

const SECRETS: [(&str, &str); 4] = [
    ("agent_api_key", crate::cmd::demo::AGENT_KEY),
    ("v1_key", "sim-key"),
    ("v1_secret", "sim-secret"),
    ("v2_key", "sim-v2-key"),
];

pub async fn run(
    global: &GlobalArgs,
    args: &BenchScaleArgs,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let sim = SimConfig {
        v1_limit: 1_000_000,
        v1_window: Duration::from_secs(60),
        v2_limit: 1_000_000,
        ..SimConfig::default()
    };
    let edit = |s: &mut connections::Settings| {
        s.polls = Polls::default();
        s.shipstation.v1_rate_limit_per_min = 1_000_000;
        s.shipstation.v2_rate_limit_per_min = 1_000_000;
    };
    let world = match World::start_with(global, 64, sim, edit, |_| {}, shutdown).await {
        Err(e) if e.is::<Interrupted>() => return interrupted(args),
        r => r?,
    };
    let result = measure(&world, args).await;
    world.shutdown.trigger();
    let World { db, .. } = world;
    db.close().await;
    match result {
        Err(e) if e.is::<Interrupted>() => interrupted(args),
        Err(e) => Err(e),
        Ok(report) => {
            if args.json {
                println!("{report}");
            } else {
                println!("{}", serde_json::to_string_pretty(&report)?);
            }
            Ok(())
        }
    }
}

fn interrupted(args: &BenchScaleArgs) -> anyhow::Result<()> {
    if args.json {
        println!("{}", json!({"bench": "scale", "interrupted": true}));
    } else {
        println!(
            "interrupted: the scale benchmark stopped before it finished; no numbers reported"
        );
    }
    Err(Interrupted.into())
}

/// Connections 2..=N: the demo connection's settings and secrets under new names.
async fn add_connections(world: &World, n: usize) -> anyhow::Result<()> {
    let sage_password = world.sage.cfg.password.clone();
    let run = format!("{:06x}", rand::random::<u32>() & 0xff_ffff);
    for i in 1..n {
        let name = format!("scale-{run}-{i:05}");
        let id = connections::add(&world.db.pool, &name, &world.settings).await?;
        connections::set_secret(
            &world.db.pool,
            &world.vault,
            id,
            "sage_password",
            &Secret::new(sage_password.as_str()),
            None,
        )
        .await?;
        for (name, value) in SECRETS {
            connections::set_secret(
                &world.db.pool,
                &world.vault,
                id,
                name,
                &Secret::new(value),
                None,
            )
            .await?;
        }
    }
    Ok(())
}

async fn transactions(world: &World) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT (xact_commit + xact_rollback)::bigint FROM pg_stat_database WHERE datname = current_database()",
    )
    .fetch_one(&world.db.pool)
    .await?)
}

/// By kind, for the scheduled runs that fired during the run: how late they fired after their
/// slot began, and how long from the fire to the end of the run (queueing included), p50 / p95 /
/// max in seconds.
async fn lag(world: &World, since: chrono::DateTime<chrono::Utc>) -> anyhow::Result<Value> {
    type Row = (
        String,
        i64,
        Option<f64>,
        Option<f64>,
        Option<f64>,
        Option<f64>,
        Option<f64>,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT kind, count(*),
                percentile_cont(0.95) WITHIN GROUP (ORDER BY fire), max(fire),
                percentile_cont(0.5) WITHIN GROUP (ORDER BY run), percentile_cont(0.95) WITHIN GROUP (ORDER BY run), max(run)
           FROM (SELECT kind,
                        extract(epoch FROM created_at - split_part(business_key, '@', 2)::timestamptz)::float8 AS fire,
                        extract(epoch FROM updated_at - created_at)::float8 AS run
                   FROM workflows
                  WHERE kind IN ('orders_probe', 'orders_poll', 'shipments_poll', 'inventory')
                    AND status = 'completed' AND business_key LIKE '%@%'
                    AND split_part(business_key, '@', 2)::timestamptz >= $1) t
          GROUP BY kind ORDER BY kind",
    )
    .bind(since)
    .fetch_all(&world.db.pool)
    .await?;
    let round = |x: Option<f64>| x.map(|v| (v * 100.0).round() / 100.0);
    Ok(rows
        .into_iter()
        .map(|(kind, n, fire95, fire_max, run50, run95, run_max)| {
            (
                kind,
                json!({"runs": n, "fire_delay_p95_s": round(fire95), "fire_delay_max_s": round(fire_max),
                       "run_p50_s": round(run50), "run_p95_s": round(run95), "run_max_s": round(run_max)}),
            )
        })
        .collect::<serde_json::Map<_, _>>()
        .into())
}

async fn measure(world: &World, args: &BenchScaleArgs) -> anyhow::Result<Value> {
    let t_add = Instant::now();
    add_connections(world, args.connections).await?;
    let add_s = t_add.elapsed().as_secs_f64();
    let engine = &world.engine;
    let mut replicas = Vec::new();
    let mut schedulers = Vec::new();
    for r in 0..args.replicas.max(1) {
        let mut cfg = ml_connector::app::pool_config(
            &engine.definitions,
            worker_identity(&format!("bench-scale-{r}")),
            args.workers,
        );
        cfg.shutdown_grace = Duration::from_secs(2);
        replicas.push(WorkerPool::spawn_with_stats(
            engine.clone(),
            cfg,
            world.shutdown.clone(),
            Arc::new(PoolStats::default()),
        ));
        let scheduler = Scheduler::new(
            engine.clone(),
            ml_connector::flows::orders_poll::schedules(world.db.pool.clone(), false),
            Duration::from_secs(1),
            worker_identity(&format!("bench-scale-scheduler-{r}")),
        );
        let (ticks, nanos, fired) = (
            scheduler.ticks.clone(),
            scheduler.tick_nanos.clone(),
            scheduler.fired.clone(),
        );
        schedulers.push((
            tokio::spawn(scheduler.run(world.shutdown.clone())),
            ticks,
            nanos,
            fired,
        ));
    }
    let tx0 = transactions(world).await?;
    let t0 = Instant::now();
    let started = chrono::Utc::now();
    world.pause(Duration::from_secs(args.seconds)).await?;
    let run_s = t0.elapsed().as_secs_f64();
    let tx1 = transactions(world).await?;
    let (mut ticks, mut nanos, mut fired) = (0u64, 0u64, 0u64);
    for (_, t, n, f) in &schedulers {
        ticks += t.load(Ordering::Relaxed);
        nanos += n.load(Ordering::Relaxed);
        fired += f.load(Ordering::Relaxed);
    }
    let lag = lag(world, started).await?;
    world.shutdown.trigger();
    for pool in replicas {
        pool.join().await;
    }
    for (task, ..) in schedulers {
        let _ = task.await;
    }
    let failed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM workflows WHERE kind IN ('orders_probe', 'orders_poll', 'shipments_poll', 'inventory') AND status = 'failed'",
    )
    .fetch_one(&world.db.pool)
    .await?;
    Ok(json!({
        "bench": "scale",
        "connections": args.connections, "replicas": args.replicas.max(1), "workers": args.workers,
        "seconds": run_s.round(), "connections_added_s": (add_s * 10.0).round() / 10.0,
        "schedule_fires": fired,
        "scheduler_ticks": ticks,
        "scheduler_ms_per_tick": if ticks == 0 { 0.0 } else { (nanos as f64 / ticks as f64 / 1e4).round() / 100.0 },
        "scheduler_busy_share": ((nanos as f64 / 1e9 / (run_s * args.replicas.max(1) as f64)) * 1000.0).round() / 1000.0,
        "pg_transactions_per_s": ((tx1 - tx0) as f64 / run_s).round(),
        "scheduled_runs_failed": failed,
        "lag_s": lag,
    }))
}
