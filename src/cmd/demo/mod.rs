//! `ml-connector demo`: the real connector end to end on loopback — embedded PostgreSQL, the Sage 100
//! simulator (SOAP + our agent over the simulated BOI, a seeded wholesale distributor), the
//! ShipStation simulator, a connection with encrypted secrets, the scheduled orders poll and the
//! worker pool. Orders arrive in Sage over a few seconds; the summary says where each one is.

pub(crate) mod tracking;

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::json;

use crate::cmd::args::{DemoArgs, GlobalArgs};
use crate::cmd::Interrupted;
use ml_connector::connections::{self, Settings, ShipViaMapping, WarehouseMapping};
use ml_connector::db::{Database, DbTarget};
use ml_connector::engine::scheduler::Scheduler;
use ml_connector::engine::worker::{PoolStats, WorkerPool};
use ml_connector::engine::{
    count_workflows, worker_identity, CountFilter, Shutdown, Signal, Status,
};
use ml_connector::flows::deps::{FlowDeps, FlowTuning};
use ml_connector::pg::StartOptions;
use ml_connector::secret::Secret;
use ml_connector::sim::sage100::{orders as sage_orders, SageConfig, SageSim, SOAP_PATH};
use ml_connector::sim::shipstation::{ShipStationSim, SimConfig};
use ml_connector::vault::Vault;
use mlc_agent::server::{serve_agent, Transport};

pub const AGENT_KEY: &str = "demo-agent-key";

async fn count(pool: &sqlx::PgPool, sql: &str) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(sql).fetch_one(pool).await?)
}

/// Orders in the ShipStation simulator: (total, distinct orderKeys), read through its control API.
async fn shipstation_orders(base: &str) -> anyhow::Result<(usize, usize)> {
    let v: serde_json::Value = reqwest::get(format!("{base}/__control/orders"))
        .await?
        .json()
        .await?;
    let mut keys: Vec<String> = v
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| o["orderKey"].as_str().map(str::to_string))
        .collect();
    let total = keys.len();
    keys.sort();
    keys.dedup();
    Ok((total, keys.len()))
}

/// The demo's world on loopback: database, Sage (SOAP + agent over the simulated BOI), ShipStation,
/// one connection with encrypted secrets, and an engine with the real handlers. Also used by benches.
pub struct World {
    pub db: Database,
    pub sage: SageSim,
    pub ss: ShipStationSim,
    pub engine: ml_connector::engine::Engine,
    pub connection_id: i64,
    pub soap_url: String,
    pub agent_url: String,
    /// Our HTTP API (health, ShipStation webhooks) on loopback.
    pub api_url: String,
    pub shutdown: Shutdown,
    /// The credential vault and the connection's settings (benchmarks add look-alike connections).
    pub vault: std::sync::Arc<Vault>,
    pub settings: Settings,
}

impl World {
    /// Orders whose tracking is settled in Sage (shipped, or waiting for a person).
    pub async fn orders_tracked(&self) -> anyhow::Result<i64> {
        Ok(count_workflows(
            &self.db.pool,
            &CountFilter {
                kind: Some("order"),
                connection_id: Some(self.connection_id),
                status: Some(Status::Waiting),
                states: Some(&["shipped", "manual_action"]),
            },
        )
        .await?)
    }

    /// `v2_limit`: the simulated account's V2 requests per minute (the connection is told the same).
    /// A signal that arrives while the database starts stops it again: `Err(Interrupted)`.
    pub async fn start(
        global: &GlobalArgs,
        db_connections: usize,
        v2_limit: u32,
        shutdown: Shutdown,
    ) -> anyhow::Result<Self> {
        let sim = SimConfig {
            v2_limit,
            ..SimConfig::default()
        };
        Self::start_with(global, db_connections, sim, |_| {}, |_| {}, shutdown).await
    }

    /// The same with a ShipStation simulator of this configuration, the connection's settings
    /// changed by `edit` after the demo's own, and the flows' tuning by `tune` (the client is
    /// told the simulator's V1 window).
    pub async fn start_with(
        global: &GlobalArgs,
        db_connections: usize,
        sim: SimConfig,
        edit: impl FnOnce(&mut Settings),
        tune: impl FnOnce(&mut FlowTuning),
        shutdown: Shutdown,
    ) -> anyhow::Result<Self> {
        let v2_limit = sim.v2_limit;
        let mut tuning = FlowTuning {
            batch_window: Duration::from_millis(1500),
            v1_margin: Duration::ZERO,
            v1_window: sim.v1_window,
        };
        tune(&mut tuning);
        let target = match &global.database_url {
            Some(url) => DbTarget::Url(url.clone()),
            None => DbTarget::Embedded {
                root: StartOptions::ephemeral("demo", false).root,
                ephemeral: true,
            },
        };
        let db = Database::open(&target, (db_connections / 4).clamp(20, 80) as u32).await?;
        if shutdown.is_triggered() {
            db.close().await;
            return Err(Interrupted.into());
        }
        let sage = SageSim::new(SageConfig {
            seed_demo: true,
            ..SageConfig::default()
        });
        let (sage_addr, _) = sage
            .serve("127.0.0.1:0".parse()?)
            .await
            .context("Sage simulator")?;
        let (agent_addr, _) = serve_agent(
            sage.agent_state(Some(AGENT_KEY)),
            "127.0.0.1:0".parse()?,
            Transport::PlainLoopback,
            shutdown.triggered(),
        )
        .await?;
        let ss = ShipStationSim::start(sim, "127.0.0.1:0".parse()?)
            .await
            .context("ShipStation simulator")?;
        let deps = FlowDeps::new(
            Some(Vault::from_spec(&Vault::generate_spec("demo"))?),
            tuning,
        );
        let vault = deps.vault.clone().expect("set above");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let api_url = format!("http://{}", listener.local_addr()?);
        let mut settings = Settings::default();
        settings.sage.soap_url = format!("http://{sage_addr}{SOAP_PATH}");
        settings.sage.username = sage.cfg.username.clone();
        settings.sage.company = "ABC".into();
        settings.sage.agent_url = format!("http://{agent_addr}");
        settings.shipstation.v1_base_url = ss.base_url();
        settings.shipstation.v2_base_url = ss.base_url();
        settings.shipstation.resource_domain = ss.cfg.host_domain.clone();
        settings.shipstation.v2_jwks_url = ss.jwks_url();
        settings.shipstation.resource_policy =
            ml_connector::connections::ResourcePolicyMode::Simulator;
        settings.shipstation.v2_rate_limit_per_min = v2_limit;
        settings.polls.orders_secs = 2;
        settings.polls.inventory_secs = 3600;
        settings.polls.shipments_secs = 10;
        settings.tracking.webhook_base_url = Some(api_url.clone());
        settings.tracking.invoice_check_secs = 1;
        // Estimates from the carrier transit table: V2 tracking costs two V2 calls per label.
        settings.tracking.eta_from_v2 = false;
        settings.tracking.transit_days =
            [("ups:ups_ground".to_string(), 3), ("fedex".to_string(), 2)].into();
        for code in ml_connector::sim::sage100::seed::WAREHOUSES {
            settings
                .mappings
                .warehouses
                .insert(code.to_string(), WarehouseMapping::default());
        }
        settings
            .mappings
            .warehouses
            .get_mut("000")
            .expect("seeded")
            .warehouse_id = Some(11001);
        settings.mappings.ship_via.insert(
            "UPS GROUND".into(),
            ShipViaMapping {
                carrier_code: Some("ups".into()),
                service_code: Some("ups_ground".into()),
            },
        );
        settings.mappings.store_id = Some(21002);
        edit(&mut settings);
        let name = format!("demo-{:06x}", rand::random::<u32>() & 0xffffff);
        let connection_id = connections::add(&db.pool, &name, &settings).await?;
        for (secret, value) in [
            ("sage_password", sage.cfg.password.as_str()),
            ("agent_api_key", AGENT_KEY),
            ("v1_key", "sim-key"),
            ("v1_secret", "sim-secret"),
            ("v2_key", "sim-v2-key"),
        ] {
            connections::set_secret(
                &db.pool,
                &vault,
                connection_id,
                secret,
                &Secret::new(value),
                None,
            )
            .await?;
        }
        // As `connection add` does: the SOAP contract comes from the (simulated) Sage's WSDL.
        ml_connector::ops::connections::read_soap_contract(&db.pool, connection_id)
            .await
            .context("reading the Sage simulator's WSDL")?;
        let engine =
            ml_connector::app::Workflows::load_with(global.workflows_dir.as_deref(), deps, |_| {})?
                .into_engine(db.pool.clone());
        let app = ml_connector::api::router(ml_connector::api::ApiState::new(
            engine.clone(),
            Some(vault.clone()),
            None,
        ));
        let api_shutdown = shutdown.clone();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { api_shutdown.wait().await })
                .await
        });
        Ok(Self {
            db,
            sage,
            ss,
            engine,
            connection_id,
            soap_url: format!("http://{sage_addr}{SOAP_PATH}"),
            agent_url: format!("http://{agent_addr}"),
            api_url,
            shutdown,
            vault,
            settings,
        })
    }

    /// Start a workflow of `kind` now (as the scheduler would) and wait for it: (id, final status).
    pub async fn run_now(&self, kind: &str, label: &str) -> anyhow::Result<(i64, String)> {
        let (id, _) = self
            .engine
            .start_workflow(kind, self.connection_id, label, json!({}), "demo")
            .await?;
        loop {
            let row = ml_connector::engine::store::get(&self.db.pool, id).await?;
            if matches!(row.status.as_str(), "completed" | "failed" | "cancelled") {
                return Ok((id, row.status));
            }
            self.pause(Duration::from_millis(100)).await?;
        }
    }

    /// Sleep, or `Err(Interrupted)` as soon as a signal stops the workers (whose progress every
    /// wait of the demo and benchmarks is waiting for).
    pub async fn pause(&self, period: Duration) -> anyhow::Result<()> {
        tokio::select! {
            _ = tokio::time::sleep(period) => Ok(()),
            _ = self.shutdown.wait() => Err(Interrupted.into()),
        }
    }

    /// Run one inventory sync now and wait for it: (status, adjusted SKUs).
    pub async fn sync_inventory(&self, label: &str) -> anyhow::Result<(String, i64)> {
        let (id, status) = self.run_now("inventory", label).await?;
        let adjusted: i64 = sqlx::query_scalar("SELECT count(*) FROM inventory_adjustments WHERE workflow_id = $1 AND applied_at IS NOT NULL")
            .bind(id)
            .fetch_one(&self.db.pool)
            .await?;
        Ok((status, adjusted))
    }
}

/// How far the demo got: what it reports when a signal stops it.
#[derive(Debug, Default)]
struct Progress {
    phase: &'static str,
    /// Orders entered in Sage so far.
    entered: usize,
    /// Orders the warehouse shipped (tracking phase).
    shipped: i64,
}

/// The demo's day, as the summary reports it.
struct Day {
    summary: serde_json::Value,
    entered: usize,
    distinct: usize,
    duplicates: usize,
    failed: i64,
    skipped: i64,
    tracking: tracking::TrackingOutcome,
}

pub async fn run(global: &GlobalArgs, args: &DemoArgs, shutdown: Shutdown) -> anyhow::Result<()> {
    let say = |line: String| {
        if !args.json {
            println!("{line}");
        }
    };
    let started = Instant::now();
    say("ml-connector demo: starting PostgreSQL, the Sage 100 and ShipStation simulators…".into());
    let mut progress = Progress {
        phase: "start-up",
        ..Default::default()
    };
    let world = match World::start(global, args.workers, 200, shutdown.clone()).await {
        Err(e) if e.is::<Interrupted>() => {
            // Nothing is left running: the database was stopped before anything else started.
            report_interrupted(args, &progress, shutdown.signal(), (0, 0), started);
            return Err(e);
        }
        r => r?,
    };
    let (db, ss, engine) = (&world.db, &world.ss, &world.engine);
    // The ops API: its URL and an admin token first (with --json, as the first JSON line).
    let token =
        ml_connector::ops::tokens::create(&db.pool, "demo", ml_connector::ops::tokens::Role::Admin)
            .await?;
    let graphql_url = format!("{}/graphql", world.api_url);
    let console_url = format!("{}{}", world.api_url, ml_connector::console::PATH);
    if args.json {
        println!(
            "{}",
            json!({"graphql_url": graphql_url, "console_url": console_url, "token": token})
        );
    } else {
        println!("GraphQL ops API: {graphql_url} (GraphiQL in a browser)  ·  admin token: {token}");
        println!("Ops console: {console_url} (sign in with the admin token)");
    }
    let stats = Arc::new(PoolStats::default());
    let mut cfg =
        ml_connector::app::pool_config(&engine.definitions, worker_identity("demo"), args.workers);
    cfg.claim_batch = args.workers;
    // A step still waiting for its rate-limit window at the end (or at Ctrl-C) is released, not
    // awaited: the lease brings the step back on the next run, and the demo stops in seconds.
    cfg.shutdown_grace = Duration::from_secs(2);
    let workers =
        WorkerPool::spawn_with_stats(engine.clone(), cfg, shutdown.clone(), stats.clone());
    let scheduler = Scheduler::new(
        engine.clone(),
        ml_connector::flows::orders_poll::schedules(db.pool.clone(), false),
        Duration::from_millis(250),
        worker_identity("demo-scheduler"),
    );
    let scheduler = tokio::spawn(scheduler.run(shutdown.clone()));
    say(format!(
        "Sage 100 SOAP {} · agent {} · ShipStation {} · {} workers",
        world.soap_url,
        world.agent_url,
        ss.base_url(),
        args.workers
    ));

    progress.phase = "orders";
    let day = shipping_day(&world, args, &stats, &mut progress, started).await;
    if let Ok(day) = &day {
        print_summary(args, day);
        if args.keep_running && !shutdown.is_triggered() {
            progress.phase = "keep-running";
            say(format!(
                "still serving: console {console_url} · GraphQL {graphql_url} · ShipStation simulator {} · Ctrl-C to stop",
                ss.base_url()
            ));
            shutdown.wait().await;
        }
    }
    // Stop the workers (unstarted steps released, running ones given the grace) and the scheduler.
    shutdown.trigger();
    workers.join().await;
    let _ = scheduler.await;
    let signal = shutdown.signal();
    let interrupted = match &day {
        Err(e) => e.is::<Interrupted>(),
        Ok(_) => progress.phase == "keep-running" && signal.is_some(),
    };
    let counts = if interrupted {
        interrupted_counts(&world, &progress).await
    } else {
        (0, 0)
    };
    let World { db, .. } = world;
    db.close().await;
    if interrupted {
        // The connector, the simulators (tasks of this process) and PostgreSQL are stopped.
        report_interrupted(args, &progress, signal, counts, started);
        return Err(Interrupted.into());
    }
    let day = day?;
    if signal.is_some() {
        // The signal came as the summary was being made: it is complete.
        return Ok(());
    }
    anyhow::ensure!(
        day.distinct == day.entered && day.failed == 0,
        "not every order reached ShipStation"
    );
    anyhow::ensure!(
        day.tracking.sales_orders_with_tracking == day.tracking.orders_shipped
            && day.tracking.invoice_rows == day.tracking.packages,
        "not every shipment's tracking reached Sage"
    );
    Ok(())
}

/// After a signal: orders in ShipStation (read from the simulator) and orders whose tracking
/// reached Sage (tracking phase), each 0 when it cannot be read quickly.
async fn interrupted_counts(world: &World, progress: &Progress) -> (usize, i64) {
    let in_shipstation = tokio::time::timeout(
        Duration::from_secs(2),
        shipstation_orders(&world.ss.base_url()),
    )
    .await
    .ok()
    .and_then(Result::ok)
    .map_or(0, |(_, distinct)| distinct);
    let mut tracked = 0;
    if progress.shipped > 0 {
        tracked = world.orders_tracked().await.unwrap_or(0);
    }
    (in_shipstation, tracked)
}

/// The line (or final JSON object) saying what a signal stopped.
fn report_interrupted(
    args: &DemoArgs,
    progress: &Progress,
    signal: Option<Signal>,
    (in_shipstation, tracked): (usize, i64),
    started: Instant,
) {
    if args.json {
        println!(
            "{}",
            json!({
                "interrupted": true,
                "signal": signal.map(Signal::name),
                "phase": progress.phase,
                "orders": args.orders,
                "orders_created_in_sage": progress.entered,
                "orders_in_shipstation": in_shipstation,
                "orders_shipped": progress.shipped,
                "orders_with_tracking": tracked,
                "seconds": (started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
            })
        );
    } else if progress.phase == "keep-running" {
        println!(
            "interrupted: stopped serving; the connector, the simulators and PostgreSQL are shut down"
        );
    } else {
        let tracking = match (progress.phase, progress.shipped) {
            (_, shipped) if shipped > 0 => {
                format!(", tracking of {tracked} of {shipped} shipped orders in Sage")
            }
            ("tracking", _) => ", none shipped yet".to_string(),
            _ => String::new(),
        };
        println!(
            "interrupted: {in_shipstation} of {} orders in ShipStation{tracking}; nothing is lost, run it again to finish",
            args.orders
        );
    }
    let _ = std::io::stdout().flush();
}

/// Sage users enter orders, the connector moves them to ShipStation, stock syncs, the warehouse
/// ships, tracking comes back. `Err(Interrupted)` as soon as a signal stops the workers.
async fn shipping_day(
    world: &World,
    args: &DemoArgs,
    stats: &PoolStats,
    progress: &mut Progress,
    started: Instant,
) -> anyhow::Result<Day> {
    let say = |line: String| {
        if !args.json {
            println!("{line}");
        }
    };
    let (db, sage, ss, connection_id) = (&world.db, &world.sage, &world.ss, world.connection_id);
    // Sage users enter orders over a few seconds.
    let customers = ["ABF", "BLUEJAY", "CITYMKT", "NORTHPT", "SUNRISE"];
    let items = [
        "WID-100", "WID-200", "GAD-300", "BRK-410", "CAB-520", "BOX-600", "TAPE-700", "LBL-800",
    ];
    let waves = 8usize;
    let per_wave = args.orders.div_ceil(waves).max(1);
    let mut entered = 0usize;
    let mut last_print = Instant::now() - Duration::from_secs(1);
    let deadline = Instant::now() + Duration::from_secs(300 + args.orders as u64 / 5);
    let (mut posted, mut failed, mut skipped);
    loop {
        if entered < args.orders {
            let mut data = sage.data.lock().unwrap();
            for i in entered..(entered + per_wave).min(args.orders) {
                let header = [
                    ("CustomerNo", json!(customers[i % customers.len()])),
                    ("ShipVia", json!("UPS GROUND")),
                    ("CustomerPONo", json!(format!("PO-{:05}", i + 1))),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect();
                let lines: Vec<_> = (0..1 + i % 3)
                    .map(|l| {
                        [
                            (
                                "ItemCode".to_string(),
                                json!(items[(i + l * 3) % items.len()]),
                            ),
                            ("QuantityOrdered".to_string(), json!(1 + (i + l) % 5)),
                        ]
                        .into_iter()
                        .collect()
                    })
                    .collect();
                sage_orders::save(&mut data, "ABC", &header, Some(&lines), false)
                    .map_err(|(c, m)| anyhow::anyhow!("seeding Sage: {c} {m}"))?;
            }
            entered = (entered + per_wave).min(args.orders);
            progress.entered = entered;
        }
        world.pause(Duration::from_millis(500)).await?;
        let c = &db.pool;
        let orders = CountFilter {
            kind: Some("order"),
            connection_id: Some(connection_id),
            ..Default::default()
        };
        let discovered = count_workflows(c, &orders).await?;
        posted = count_workflows(
            c,
            &CountFilter {
                states: Some(&["check"]),
                ..orders
            },
        )
        .await?;
        failed = count_workflows(
            c,
            &CountFilter {
                status: Some(Status::Failed),
                ..orders
            },
        )
        .await?;
        skipped = count_workflows(
            c,
            &CountFilter {
                states: Some(&["skipped"]),
                ..orders
            },
        )
        .await?;
        let done = (posted + failed + skipped) as usize;
        if last_print.elapsed() >= Duration::from_secs(1)
            || (entered >= args.orders && done >= args.orders)
        {
            let width = 30;
            let filled = (done * width / args.orders.max(1)).min(width);
            say(format!(
                "  {:>5.1}s [{}{}] entered in Sage {:>4}  discovered {:>4}  in ShipStation {:>4}  failed {:>3}  retries {:>3}",
                started.elapsed().as_secs_f64(),
                "#".repeat(filled),
                ".".repeat(width - filled),
                entered,
                discovered,
                posted,
                failed,
                stats.steps_failed.load(std::sync::atomic::Ordering::Relaxed),
            ));
            last_print = Instant::now();
        }
        if (entered >= args.orders && done >= args.orders) || Instant::now() > deadline {
            break;
        }
    }
    // Stock: the scheduled first sync (plus one on demand), then a few Sage stock changes and the sync
    // that follows them.
    progress.phase = "inventory";
    let (first_status, _) = world.sync_inventory("demo-initial").await?;
    let first_adjusted: i64 = sqlx::query_scalar(
        // The demo's only connection: every adjustment is its own.
        "SELECT count(*) FROM inventory_adjustments WHERE applied_at IS NOT NULL",
    )
    .fetch_one(&db.pool)
    .await?;
    world.pause(Duration::from_millis(20)).await?;
    {
        let mut data = sage.data.lock().unwrap();
        let (date, time) = data.stamp();
        let co = data.company("ABC").expect("seeded company");
        for (i, code) in ["WID-100", "GAD-300", "CAB-520"].iter().enumerate() {
            if let Some(rec) = co
                .im_item_warehouse
                .get_mut(&ml_connector::sim::sage100::data::key(&[code, "000"]))
            {
                rec.insert("QuantityOnHand".into(), json!(500 + i));
                rec.insert("DateUpdated".into(), json!(date.clone()));
                rec.insert("TimeUpdated".into(), json!(time.clone()));
            }
        }
    }
    let (second_status, second_adjusted) = world.sync_inventory("demo-changes").await?;
    say(format!("  inventory: {first_adjusted} levels set by the first syncs ({first_status}); after 3 stock changes {second_status}, {second_adjusted} adjusted"));
    say("  warehouse staff ship orders in ShipStation (label batches, a few marked shipped), Sage invoices them…".into());
    progress.phase = "tracking";
    let tracking = tracking::ship_and_track(world, progress).await?;
    say(format!(
        "  tracking: {} orders shipped ({} packages); tracking on {} sales orders and {} invoice rows in Sage; {} webhook deliveries; {} need a person",
        tracking.orders_shipped, tracking.packages, tracking.sales_orders_with_tracking, tracking.invoice_rows, tracking.webhooks_accepted, tracking.manual_action
    ));
    progress.phase = "summary";
    let (in_shipstation, distinct) = shipstation_orders(&ss.base_url()).await?;
    let (calls, batched) = ml_connector::metrics::createorders_batches();
    let summary = json!({
        "orders_created_in_sage": entered,
        "orders_in_shipstation": distinct,
        "duplicates": in_shipstation - distinct,
        "failed": failed,
        "skipped": skipped,
        "createorders_calls": calls,
        "orders_per_call": if calls == 0 { 0.0 } else { (batched as f64 / calls as f64 * 10.0).round() / 10.0 },
        "inventory_levels_set": first_adjusted,
        "inventory_adjusted_after_changes": second_adjusted,
        "orders_shipped": tracking.orders_shipped,
        "packages_shipped": tracking.packages,
        "tracking_written_to_sales_orders": tracking.sales_orders_with_tracking,
        "tracking_rows_on_invoices": tracking.invoice_rows,
        "webhook_deliveries_accepted": tracking.webhooks_accepted,
        "tracking_needing_manual_action": tracking.manual_action,
        "tracking_seconds": tracking.seconds,
        "poll_runs": count(&db.pool, &format!("SELECT count(*) FROM sync_runs WHERE connection_id = {connection_id}")).await?,
        "audit_events": ml_connector::engine::count_events(&db.pool, None).await?,
        "seconds": (started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
    });
    Ok(Day {
        summary,
        entered,
        distinct,
        duplicates: in_shipstation - distinct,
        failed,
        skipped,
        tracking,
    })
}

fn print_summary(args: &DemoArgs, day: &Day) {
    let Day {
        summary,
        entered,
        distinct,
        duplicates,
        failed,
        skipped,
        tracking,
    } = day;
    if args.json {
        println!("{summary}");
    } else {
        println!("summary:");
        println!("  orders entered in Sage {entered}; in ShipStation {distinct}; duplicates {duplicates}; failed {failed}; skipped {skipped}");
        println!("  shipped {} orders ({} packages): tracking on {} sales orders, {} invoice tracking rows; {} need a person",
            tracking.orders_shipped, tracking.packages, tracking.sales_orders_with_tracking, tracking.invoice_rows, tracking.manual_action);
        println!("  {} createorders calls, {} orders per call on average; {} poll runs; {} audit events; {} s",
            summary["createorders_calls"], summary["orders_per_call"], summary["poll_runs"], summary["audit_events"], summary["seconds"]);
    }
    let _ = std::io::stdout().flush();
}
