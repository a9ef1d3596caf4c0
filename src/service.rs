//! `serve`, `worker` and `migrate`: the long-running processes.

use std::time::Duration;

use anyhow::Context;

use crate::cli::{GlobalArgs, ServeArgs, WorkerArgs};
use crate::db::{Database, DbTarget};
use crate::engine::scheduler::Scheduler;
use crate::engine::worker::{PoolConfig, WorkerPool};
use crate::engine::{worker_identity, Definitions, Engine, Shutdown};

/// The database named by the global options (DATABASE_URL, or the persistent embedded cluster).
pub fn db_target(global: &GlobalArgs) -> DbTarget {
    match &global.database_url {
        Some(url) => DbTarget::Url(url.clone()),
        None => DbTarget::Embedded {
            root: global.data_dir.clone(),
            ephemeral: false,
        },
    }
}

/// Workflow definitions validated against the handlers, before anything else starts
/// (a start-up error names the file and the problem).
pub struct Workflows {
    definitions: Definitions,
    handlers: crate::engine::HandlerRegistry,
    /// The vault and client cache the handlers use (the API shares the vault).
    pub deps: crate::flows::deps::FlowDeps,
}

impl Workflows {
    /// With the vault from the environment (none set: connections cannot be used, said once).
    pub fn load(global: &GlobalArgs) -> anyhow::Result<Self> {
        let vault = match crate::vault::Vault::from_env() {
            Ok(v) => Some(v),
            Err(crate::vault::VaultError::Missing) => {
                tracing::warn!("no master key (ML_CONNECTOR_MASTER_KEY): connection secrets cannot be read; order flows will fail until one is set");
                None
            }
            Err(e) => return Err(e).context("master key"),
        };
        Self::load_with(
            global,
            crate::flows::deps::FlowDeps::new(vault, crate::flows::deps::FlowTuning::default()),
        )
    }

    pub fn load_with(
        global: &GlobalArgs,
        deps: crate::flows::deps::FlowDeps,
    ) -> anyhow::Result<Self> {
        let handlers = crate::flows::handlers(&deps);
        let definitions = crate::flows::definitions(global.workflows_dir.as_deref(), &handlers)
            .context("invalid workflow definition")?;
        Ok(Self {
            definitions,
            handlers,
            deps,
        })
    }

    pub fn into_engine(self, pool: sqlx::PgPool) -> Engine {
        Engine::new(pool, self.definitions, self.handlers)
    }
}

/// A pool configuration fitted to the definitions: rescue runs at half the shortest lease.
pub fn pool_config(definitions: &Definitions, owner: String, workers: usize) -> PoolConfig {
    let mut cfg = PoolConfig::new(owner, workers);
    let shortest = definitions
        .iter()
        .map(|d| d.lease)
        .min()
        .unwrap_or(Duration::from_secs(60));
    cfg.rescue_interval = (shortest / 2).clamp(Duration::from_millis(200), Duration::from_secs(5));
    cfg
}

pub async fn migrate(global: &GlobalArgs) -> anyhow::Result<()> {
    let db = Database::open(&db_target(global), 2).await?;
    let applied: Vec<(i64, String)> =
        sqlx::query_as("SELECT version, description FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&db.pool)
            .await?;
    for (version, description) in applied {
        println!("{version} {description}");
    }
    db.close().await;
    Ok(())
}

pub async fn worker(global: &GlobalArgs, args: &WorkerArgs) -> anyhow::Result<()> {
    let workflows = Workflows::load(global)?;
    let db = Database::open(&db_target(global), (args.workers as u32 / 2 + 6).max(8)).await?;
    let engine = workflows.into_engine(db.pool.clone());
    let shutdown = Shutdown::new();
    shutdown.trigger_on_signals();
    let cfg = pool_config(&engine.definitions, worker_identity("worker"), args.workers);
    tracing::info!(owner = %cfg.owner, kinds = ?engine.definitions.kinds(), "worker pool started");
    WorkerPool::spawn(engine, cfg, shutdown).join().await;
    db.close().await;
    Ok(())
}

pub async fn serve(global: &GlobalArgs, args: &ServeArgs) -> anyhow::Result<()> {
    let workflows = Workflows::load(global)?;
    let vault = workflows.deps.vault.clone();
    let db = Database::open(
        &db_target(global),
        (args.worker.workers as u32 / 2 + 8).max(10),
    )
    .await?;
    let engine = workflows.into_engine(db.pool.clone());
    let shutdown = Shutdown::new();
    shutdown.trigger_on_signals();

    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("binding the HTTP API to {}", args.listen))?;
    tracing::info!(address = %listener.local_addr()?, "HTTP API listening");
    let app = crate::api::router(crate::api::ApiState::new(engine.clone(), vault));
    let http_shutdown = shutdown.clone();
    let http = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move { http_shutdown.wait().await })
            .await
    });

    let owner = worker_identity("serve");
    let scheduler = Scheduler::new(
        engine.clone(),
        crate::flows::orders_poll::schedules(db.pool.clone()),
        Duration::from_secs(1),
        owner.clone(),
    );
    let scheduler = tokio::spawn(scheduler.run(shutdown.clone()));
    let cfg = pool_config(&engine.definitions, owner, args.worker.workers);
    WorkerPool::spawn(engine, cfg, shutdown.clone())
        .join()
        .await;
    let _ = scheduler.await;
    http.await?.context("HTTP server")?;
    db.close().await;
    Ok(())
}

/// Start (or reuse) the embedded cluster in `--data-dir`, print its URL, run until Ctrl-C/SIGTERM.
pub async fn postgres(global: &GlobalArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        global.database_url.is_none(),
        "DATABASE_URL is set: there is no embedded server to run"
    );
    let db = Database::open(&db_target(global), 1).await?;
    println!("DATABASE_URL={}", db.url);
    let shutdown = Shutdown::new();
    shutdown.trigger_on_signals();
    shutdown.wait().await;
    db.close().await;
    Ok(())
}

/// `sim shipstation`: run the simulator until Ctrl-C/SIGTERM.
pub async fn sim_shipstation(args: &crate::cli::SimShipStationArgs) -> anyhow::Result<()> {
    use crate::sim::shipstation::{ShipStationSim, SimConfig};
    let cfg = SimConfig {
        v1_keys: vec![(args.v1_key.clone(), args.v1_secret.clone())],
        v2_key: args.v2_key.clone(),
        v1_limit: args.v1_limit,
        v1_window: Duration::from_secs_f64(args.v1_window_secs.max(0.001)),
        v2_limit: args.v2_limit,
        host_domain: args.host_domain.clone(),
        ..SimConfig::default()
    };
    let addr: std::net::SocketAddr = format!("{}:{}", args.bind, args.port)
        .parse()
        .with_context(|| format!("invalid --bind/--port {}:{}", args.bind, args.port))?;
    let sim = ShipStationSim::start(cfg, addr)
        .await
        .context("starting the ShipStation simulator")?;
    println!("ShipStation simulator listening on {}", sim.base_url());
    let shutdown = Shutdown::new();
    shutdown.trigger_on_signals();
    shutdown.wait().await;
    Ok(())
}

/// `ml-connector health`: GET the URL, succeed on 200 (no shell or curl needed in the image).
pub async fn health(url: &str) -> anyhow::Result<()> {
    let resp = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .no_proxy()
        .build()?
        .get(url)
        .send()
        .await
        .with_context(|| format!("{url} did not answer"))?;
    anyhow::ensure!(
        resp.status().is_success(),
        "{url} answered {}",
        resp.status()
    );
    Ok(())
}
