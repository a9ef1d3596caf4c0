//! `bench inventory`: a full first sync of N SKUs × 2 warehouses, then a sync after `changed` SKUs
//! changed; reports levels per minute against the V2 limit and adjust calls per changed SKU.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::cmd::args::{BenchInventoryArgs, GlobalArgs};
use crate::cmd::demo::World;
use crate::cmd::Interrupted;
use ml_connector::engine::worker::{PoolConfig, PoolStats, WorkerPool};
use ml_connector::engine::Shutdown;
use ml_connector::sim::sage100::data::key;

fn set_stock(world: &World, skus: impl Iterator<Item = usize>, base: i64) {
    let mut data = world.sage.data.lock().unwrap();
    let (date, time) = data.stamp();
    let co = data.company("ABC").expect("seeded company");
    for i in skus {
        for (w, wh) in ml_connector::sim::sage100::seed::WAREHOUSES
            .iter()
            .enumerate()
        {
            let rec = co
                .im_item_warehouse
                .entry(key(&[&format!("BENCH-{i:06}"), wh]))
                .or_default();
            for (k, v) in [
                ("ItemCode", json!(format!("BENCH-{i:06}"))),
                ("WarehouseCode", json!(wh)),
                ("QuantityOnHand", json!(base + (i % 50) as i64 + w as i64)),
                ("QuantityOnSalesOrder", json!(0)),
                ("DateUpdated", json!(date)),
                ("TimeUpdated", json!(time)),
            ] {
                rec.insert(k.into(), v);
            }
        }
    }
}

async fn adjust_calls(world: &World) -> anyhow::Result<usize> {
    let v: serde_json::Value = reqwest::get(format!("{}/__control/received", world.ss.base_url()))
        .await?
        .json()
        .await?;
    Ok(v.as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["path"] == "/v2/inventory" && r["method"] == "POST")
        .count())
}

pub async fn run(
    global: &GlobalArgs,
    args: &BenchInventoryArgs,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let world = match World::start(global, 32, args.v2_limit, shutdown).await {
        Err(e) if e.is::<Interrupted>() => return interrupted(args),
        r => r?,
    };
    let mut cfg = PoolConfig::new(ml_connector::engine::worker_identity("bench-inventory"), 8);
    cfg.poll_interval = Duration::from_millis(50);
    cfg.shutdown_grace = Duration::from_secs(2);
    let pool = WorkerPool::spawn_with_stats(
        world.engine.clone(),
        cfg,
        world.shutdown.clone(),
        Arc::new(PoolStats::default()),
    );
    let measured = measure(&world, args).await;
    world.shutdown.trigger();
    pool.join().await;
    let World { db, .. } = world;
    db.close().await;
    match measured {
        Err(e) if e.is::<Interrupted>() => interrupted(args),
        r => r,
    }
}

/// A signal stopped the benchmark (the pool, the simulators and the database are stopped).
fn interrupted(args: &BenchInventoryArgs) -> anyhow::Result<()> {
    if args.json {
        println!("{}", json!({"bench": "inventory", "interrupted": true}));
    } else {
        println!(
            "interrupted: the inventory benchmark stopped before it finished; no numbers reported"
        );
    }
    Err(Interrupted.into())
}

async fn measure(world: &World, args: &BenchInventoryArgs) -> anyhow::Result<()> {
    set_stock(world, 0..args.skus, 100);
    let t0 = Instant::now();
    let (status, first) = world.sync_inventory("bench-first").await?;
    let first_s = t0.elapsed().as_secs_f64();
    anyhow::ensure!(status == "completed", "first sync {status}");
    let calls_first = adjust_calls(world).await?;
    tokio::time::sleep(Duration::from_millis(20)).await;
    set_stock(world, 0..args.changed.min(args.skus), 1000);
    let t1 = Instant::now();
    let (status, second) = world.sync_inventory("bench-changes").await?;
    let second_s = t1.elapsed().as_secs_f64();
    anyhow::ensure!(status == "completed", "second sync {status}");
    let calls_second = adjust_calls(world).await? - calls_first;
    let levels_per_min = first as f64 / first_s * 60.0;
    let report = json!({
        "bench": "inventory",
        "skus": args.skus, "warehouses": 2, "v2_limit_per_min": args.v2_limit,
        "first_sync_levels": first, "first_sync_s": (first_s * 100.0).round() / 100.0,
        "levels_per_min": levels_per_min.round(),
        "share_of_v2_limit": ((levels_per_min / args.v2_limit as f64) * 1000.0).round() / 1000.0,
        "changed_skus": args.changed, "changed_levels": args.changed.min(args.skus) * 2,
        "second_sync_adjusted": second, "second_sync_calls": calls_second, "second_sync_s": (second_s * 100.0).round() / 100.0,
        "calls_per_changed_level": if second == 0 { 0.0 } else { calls_second as f64 / second as f64 },
    });
    if args.json {
        println!("{report}");
    } else {
        println!("first sync: {first} levels in {first_s:.1} s → {:.0} levels/min against a V2 limit of {}/min", levels_per_min, args.v2_limit);
        println!("after {} changed SKUs ({} levels): {second} adjusted with {calls_second} calls in {second_s:.1} s", args.changed, args.changed.min(args.skus) * 2);
    }
    Ok(())
}
