//! `ml-connector demo`: embedded PostgreSQL + the engine + simulated orders, with live progress
//! and a summary. Until the Sage 100 → ShipStation order flow lands it runs the `sample` workflow
//! (fetch with simulated record locks → post → timer wait for shipment → done).

use std::io::Write;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::cli::{DemoArgs, GlobalArgs};
use crate::db::{Database, DbTarget};
use crate::engine::store::{self, NewWorkflow};
use crate::engine::worker::{PoolStats, WorkerPool};
use crate::engine::{worker_identity, Shutdown};
use crate::pg::StartOptions;

#[derive(Debug, Default, serde::Serialize)]
struct Counts {
    ready: i64,
    running: i64,
    waiting: i64,
    failed: i64,
    completed: i64,
    cancelled: i64,
}

async fn counts(pool: &sqlx::PgPool) -> anyhow::Result<Counts> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT status, count(*) FROM workflows WHERE kind = 'sample' GROUP BY status",
    )
    .fetch_all(pool)
    .await?;
    let mut c = Counts::default();
    for (status, n) in rows {
        match status.as_str() {
            "ready" => c.ready = n,
            "running" => c.running = n,
            "waiting" => c.waiting = n,
            "failed" => c.failed = n,
            "completed" => c.completed = n,
            "cancelled" => c.cancelled = n,
            _ => {}
        }
    }
    Ok(c)
}

pub async fn run(global: &GlobalArgs, args: &DemoArgs) -> anyhow::Result<()> {
    let target = match &global.database_url {
        Some(url) => DbTarget::Url(url.clone()),
        None => DbTarget::Embedded {
            root: StartOptions::ephemeral("demo", false).root,
            ephemeral: true,
        },
    };
    let say = |line: String| {
        if !args.json {
            println!("{line}");
        }
    };
    let workflows = crate::service::Workflows::load(global)?;
    say("ml-connector demo: starting PostgreSQL…".into());
    let db = Database::open(&target, 20).await?;
    let engine = workflows.into_engine(db.pool.clone());
    let run_id = format!("{:08x}", rand::random::<u32>());
    let shutdown = Shutdown::new();
    shutdown.trigger_on_signals();
    let stats = std::sync::Arc::new(PoolStats::default());
    let cfg =
        crate::service::pool_config(&engine.definitions, worker_identity("demo"), args.workers);
    let pool = WorkerPool::spawn_with_stats(engine.clone(), cfg, shutdown.clone(), stats.clone());
    say(format!(
        "database: {}  workers: {}  orders: {} (arriving over ~2 s)",
        if db.is_embedded() {
            "embedded PostgreSQL"
        } else {
            "DATABASE_URL"
        },
        args.workers,
        args.orders
    ));

    let started = Instant::now();
    let def = engine
        .definitions
        .get("sample")
        .ok_or_else(|| anyhow::anyhow!("the sample workflow is not defined"))?;
    // Orders arrive in waves, as a poll of Sage would find them.
    let waves = 10usize;
    let per_wave = args.orders.div_ceil(waves).max(1);
    let mut created = 0usize;
    let mut last_print = Instant::now();
    loop {
        if created < args.orders && !shutdown.is_triggered() {
            let n = per_wave.min(args.orders - created);
            let items: Vec<NewWorkflow> = (created..created + n)
                .map(|i| NewWorkflow {
                    kind: "sample".into(),
                    connection_id: 0,
                    business_key: format!("demo-{run_id}-SO{:07}", i + 1),
                    initial_state: def.initial.clone(),
                    context: json!({ "lock_rate": 0.1, "max_ship_delay_ms": 1500 }),
                    run_at: None,
                })
                .collect();
            store::create_many(&db.pool, &items, "demo").await?;
            created += n;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let c = counts(&db.pool).await?;
        let finished = (c.completed + c.failed + c.cancelled) as usize;
        if last_print.elapsed() >= Duration::from_millis(800) || finished >= args.orders {
            say(format!(
                "  {:>5.1}s  created {:>5}  ready {:>4}  running {:>3}  waiting {:>4}  completed {:>5}  failed {:>3}  retries {:>4}",
                started.elapsed().as_secs_f64(),
                created,
                c.ready,
                c.running,
                c.waiting,
                c.completed,
                c.failed,
                stats.steps_failed.load(Ordering::Relaxed),
            ));
            last_print = Instant::now();
        }
        if (created >= args.orders && finished >= args.orders) || shutdown.is_triggered() {
            break;
        }
    }
    shutdown.trigger();
    pool.join().await;

    let c = counts(&db.pool).await?;
    let events: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM workflow_events e JOIN workflows w ON w.id = e.workflow_id WHERE w.kind = 'sample'",
    )
    .fetch_one(&db.pool)
    .await?;
    let distinct_keys: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT business_key) FROM workflows WHERE kind = 'sample' AND business_key LIKE $1",
    )
    .bind(format!("demo-{run_id}-%"))
    .fetch_one(&db.pool)
    .await?;
    let rows: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM workflows WHERE kind = 'sample' AND business_key LIKE $1",
    )
    .bind(format!("demo-{run_id}-%"))
    .fetch_one(&db.pool)
    .await?;
    let summary = json!({
        "workflow": "sample",
        "orders_created": created,
        "completed": c.completed,
        "failed": c.failed,
        "duplicates": rows - distinct_keys,
        "steps_succeeded": stats.steps_succeeded.load(Ordering::Relaxed),
        "retries": stats.steps_failed.load(Ordering::Relaxed),
        "audit_events": events,
        "seconds": (started.elapsed().as_secs_f64() * 100.0).round() / 100.0,
    });
    if args.json {
        println!("{summary}");
    } else {
        println!("summary:");
        println!(
            "  orders created {created}, completed {}, failed {}, duplicates {}",
            c.completed,
            c.failed,
            rows - distinct_keys
        );
        println!(
            "  steps {}, retried after simulated record locks {}, audit events {}",
            summary["steps_succeeded"], summary["retries"], events
        );
        println!("  took {:.1} s", started.elapsed().as_secs_f64());
    }
    let _ = std::io::stdout().flush();
    db.close().await;
    Ok(())
}
