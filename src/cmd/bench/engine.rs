//! `bench engine`: burn-down of N pre-inserted workflows of K no-op steps with the audit trail
//! on, then claim latency on the idle engine (single workflows created one at a time).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use super::percentile;
use crate::cmd::args::{BenchEngineArgs, GlobalArgs};
use crate::cmd::Interrupted;
use ml_connector::db::{Database, DbTarget};
use ml_connector::engine::definition::Definitions;
use ml_connector::engine::store::{self, NewWorkflow};
use ml_connector::engine::worker::{PoolConfig, PoolStats, WorkerPool};
use ml_connector::engine::{worker_identity, Engine, Shutdown};
use ml_connector::pg::StartOptions;

const KIND: &str = "bench";

/// A linear workflow of `steps` no-op states.
fn definition_toml(steps: usize) -> String {
    let mut t = format!("kind = \"{KIND}\"\ninitial = \"s1\"\nlease_secs = 60\n");
    for i in 1..=steps {
        let next = if i == steps {
            "done".to_string()
        } else {
            format!("s{}", i + 1)
        };
        t.push_str(&format!(
            "[states.s{i}]\nhandler = \"sample.noop\"\nnext = [\"{next}\"]\n"
        ));
    }
    t.push_str("[states.done]\nterminal = true\n");
    t
}

pub async fn run(
    global: &GlobalArgs,
    args: &BenchEngineArgs,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.workflows > 0 && args.steps > 0 && args.workers > 0,
        "counts must be positive"
    );
    let target = match &global.database_url {
        Some(url) => DbTarget::Url(url.clone()),
        None => DbTarget::Embedded {
            root: StartOptions::ephemeral("bench", false).root,
            ephemeral: true,
        },
    };
    let db = Database::open(&target, 16).await?;
    if shutdown.is_triggered() {
        db.close().await;
        return interrupted(args, "while starting", 0);
    }
    let handlers = ml_connector::testkit::handlers_with_samples();
    let text = definition_toml(args.steps);
    let defs =
        Definitions::from_sources([("bench.toml", text.as_str())], &|h| handlers.contains(h))?;
    let engine = Engine::new(db.pool.clone(), defs, handlers);
    let say = |s: String| {
        if !args.json {
            println!("{s}");
        }
    };

    // A clean slate for the bench kind (dev databases only, like `river bench`).
    store::purge_kind(&db.pool, KIND).await?;
    if args.history > 0 {
        say(format!(
            "keeping {} finished workflows as history…",
            args.history
        ));
        keep_history(&db, args.history).await?;
    }
    store::analyze(&db.pool).await?;

    say(format!(
        "inserting {} workflows of {} step(s)…",
        args.workflows, args.steps
    ));
    let run_id = format!("{:08x}", rand::random::<u32>());
    let t_insert = Instant::now();
    for chunk_start in (0..args.workflows).step_by(5000) {
        let n = 5000.min(args.workflows - chunk_start);
        let items: Vec<NewWorkflow> = (chunk_start..chunk_start + n)
            .map(|i| NewWorkflow {
                kind: KIND.into(),
                connection_id: 0,
                business_key: format!("{run_id}-{i}"),
                initial_state: "s1".into(),
                context: json!({}),
                run_at: None,
            })
            .collect();
        store::create_many(&db.pool, &items, "bench").await?;
    }
    let insert_s = t_insert.elapsed().as_secs_f64();
    sqlx::query("ANALYZE workflows").execute(&db.pool).await?;

    let mut cfg = PoolConfig::new(worker_identity("bench"), args.workers);
    cfg.claim_batch = args.claim_batch;
    cfg.prefetch = args.claim_batch * 2;
    cfg.complete_batch = args.complete_batch;
    cfg.completers = args.completers.max(1);
    // No-op steps: a signal stops the benchmark in moments.
    cfg.shutdown_grace = Duration::from_secs(2);
    let stats = Arc::new(PoolStats::default());
    stats.record_claim_latencies();
    say("burning down…".into());
    let t0 = Instant::now();
    let pool = WorkerPool::spawn_with_stats(engine.clone(), cfg, shutdown.clone(), stats.clone());
    let total = args.workflows as u64;
    while stats.workflows_completed.load(Ordering::Relaxed) < total {
        tokio::time::sleep(Duration::from_millis(2)).await;
        if shutdown.is_triggered() {
            pool.join().await;
            db.close().await;
            let done = stats.workflows_completed.load(Ordering::Relaxed);
            return interrupted(args, "during the burn-down", done);
        }
        anyhow::ensure!(
            t0.elapsed() < Duration::from_secs(1800),
            "burn-down did not finish in 30 minutes"
        );
    }
    let burn_s = t0.elapsed().as_secs_f64();
    let mut burn_lat = stats.take_claim_latencies();
    let dead = dead_tuples(&db).await?;

    // Idle claim latency: one workflow at a time on the now-idle pool (woken by NOTIFY). Vacuum
    // (and re-analyze) first, as autovacuum would, so the burn-down does not count as "idle".
    sqlx::query("VACUUM ANALYZE workflows")
        .execute(&db.pool)
        .await?;
    say(format!(
        "idle claim latency over {} single workflows…",
        args.idle_samples
    ));
    let mut conn = db.pool.acquire().await?;
    for i in 0..args.idle_samples {
        let new = NewWorkflow {
            kind: KIND.into(),
            connection_id: 0,
            business_key: format!("{run_id}-idle-{i}"),
            initial_state: "s1".into(),
            context: json!({}),
            run_at: None,
        };
        store::create(&mut conn, &new, "bench").await?;
        let want = total + (i as u64 + 1);
        let deadline = Instant::now() + Duration::from_secs(10);
        while stats.workflows_completed.load(Ordering::Relaxed) < want && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        if shutdown.is_triggered() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    drop(conn);
    let mut idle_lat = stats.take_claim_latencies();
    let signalled = shutdown.is_triggered();
    shutdown.trigger();
    pool.join().await;
    if signalled {
        db.close().await;
        return interrupted(args, "while measuring the idle claim latency", total);
    }

    let events = store::count_events(&db.pool, Some(KIND)).await?;
    db.close().await;

    let steps = (args.workflows * args.steps) as f64;
    let report = json!({
        "bench": "engine",
        "workflows": args.workflows,
        "steps": args.steps,
        "workers": args.workers,
        "claim_batch": args.claim_batch,
        "complete_batch": args.complete_batch,
        "completers": args.completers,
        "history": args.history,
        "insert_s": round(insert_s),
        "burn_down_s": round(burn_s),
        "steps_per_s": (steps / burn_s).round(),
        "workflows_per_s": (args.workflows as f64 / burn_s).round(),
        "claim_p50_ms": round(percentile(&mut idle_lat, 0.50)),
        "claim_p95_ms": round(percentile(&mut idle_lat, 0.95)),
        "claim_p99_ms": round(percentile(&mut idle_lat, 0.99)),
        "burn_down_wait_p50_ms": round(percentile(&mut burn_lat, 0.50)),
        "burn_down_wait_p99_ms": round(percentile(&mut burn_lat, 0.99)),
        "audit_events": events,
        "claims": stats.claims.load(Ordering::Relaxed),
        "flushes": stats.flushes.load(Ordering::Relaxed),
        "dead_tuples_workflows": dead,
    });
    if args.json {
        println!("{report}");
    } else {
        println!(
            "burn-down: {} workflows × {} steps in {:.2} s → {} steps/s, {} workflows/s",
            args.workflows, args.steps, burn_s, report["steps_per_s"], report["workflows_per_s"]
        );
        println!(
            "claim latency (idle, ready → started): p50 {} ms, p95 {} ms, p99 {} ms",
            report["claim_p50_ms"], report["claim_p95_ms"], report["claim_p99_ms"]
        );
        println!(
            "queue wait during burn-down: p50 {} ms, p99 {} ms",
            report["burn_down_wait_p50_ms"], report["burn_down_wait_p99_ms"]
        );
        println!("audit events {}, claims {}, flushes {}, dead tuples in workflows after the burn-down {}",
            events, report["claims"], report["flushes"], dead);
    }
    Ok(())
}

/// Top the `bench_history` kind up to `n` completed workflows, each with a creation and a step
/// event, written by set-based SQL (a million in well under a minute).
async fn keep_history(db: &Database, n: usize) -> anyhow::Result<()> {
    let have: i64 =
        sqlx::query_scalar("SELECT count(*) FROM workflows WHERE kind = 'bench_history'")
            .fetch_one(&db.pool)
            .await?;
    let want = n as i64;
    for from in (have..want).step_by(50_000) {
        let to = (from + 50_000).min(want);
        sqlx::query(
            r#"
            WITH w AS (
                INSERT INTO workflows (kind, connection_id, business_key, state, status, run_at,
                                       created_at, updated_at)
                SELECT 'bench_history', 0, 'h-' || g, 'done', 'completed', NULL,
                       now() - interval '90 days' + g * interval '1 second', now()
                  FROM generate_series($1::bigint, $2::bigint - 1) AS g
                RETURNING id, created_at
            )
            INSERT INTO workflow_events (workflow_id, at, actor, event, from_state, to_state, status, attempt)
            SELECT id, created_at, 'bench', e.event, e.from_state, e.to_state, e.status, e.attempt
              FROM w, (VALUES ('created', NULL, 's1', 'ready', 0),
                              ('step_succeeded', 's1', 'done', 'completed', 1))
                      AS e(event, from_state, to_state, status, attempt)
            "#,
        )
        .bind(from)
        .bind(to)
        .execute(&db.pool)
        .await?;
    }
    Ok(())
}

/// A signal stopped the benchmark: say so (the pool and the database are stopped) and report no numbers.
fn interrupted(args: &BenchEngineArgs, when: &str, completed: u64) -> anyhow::Result<()> {
    if args.json {
        println!(
            "{}",
            json!({"bench": "engine", "interrupted": true, "workflows": args.workflows, "workflows_completed": completed})
        );
    } else {
        println!(
            "interrupted {when}: {completed} of {} workflows burnt down; no numbers reported",
            args.workflows
        );
    }
    Err(Interrupted.into())
}

/// Dead tuples of the hot table right after the burn-down. Backends publish table statistics at
/// most once a second, so ask for a flush and wait briefly.
async fn dead_tuples(db: &Database) -> anyhow::Result<i64> {
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut conn = db.pool.acquire().await?;
    sqlx::query("SELECT pg_stat_clear_snapshot()")
        .execute(&mut *conn)
        .await?;
    Ok(
        sqlx::query_scalar(
            "SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = 'workflows'",
        )
        .fetch_one(&mut *conn)
        .await?,
    )
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
