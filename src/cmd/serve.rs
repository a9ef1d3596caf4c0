//! `serve`, `worker`, `migrate`, `postgres` and `health`: the service processes.

use std::time::Duration;

use anyhow::Context;

use super::args::{GlobalArgs, ServeArgs, WorkerArgs};
use ml_connector::app::pool_config;
use ml_connector::db::Database;
use ml_connector::engine::scheduler::Scheduler;
use ml_connector::engine::worker::WorkerPool;
use ml_connector::engine::{worker_identity, Shutdown};

pub async fn migrate(global: &GlobalArgs) -> anyhow::Result<()> {
    let db = Database::open(&global.db_target(), 2).await?;
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

pub async fn worker(
    global: &GlobalArgs,
    args: &WorkerArgs,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let workflows = global.load_workflows()?;
    let db = Database::open(&global.db_target(), (args.workers as u32 / 2 + 6).max(8)).await?;
    let engine = workflows.into_engine(db.pool.clone());
    let cfg = pool_config(&engine.definitions, worker_identity("worker"), args.workers);
    tracing::info!(owner = %cfg.owner, kinds = ?engine.definitions.kinds(), "worker pool started");
    WorkerPool::spawn(engine, cfg, shutdown).join().await;
    db.close().await;
    Ok(())
}

pub async fn serve(
    global: &GlobalArgs,
    args: &ServeArgs,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let workflows = global.load_workflows()?;
    let vault = workflows.deps.vault.clone();
    let deployment_channels = workflows.deps.deployment_channels.clone();
    let db = Database::open(
        &global.db_target(),
        (args.worker.workers as u32 / 2 + 8).max(10),
    )
    .await?;
    let engine = workflows.into_engine(db.pool.clone());

    let state =
        ml_connector::api::ApiState::new(engine.clone(), vault, deployment_channels.clone());
    let (main, metrics) = ml_connector::api::split_router(state);
    let servers = match &args.metrics_listen {
        Some(addr) => vec![
            listen("HTTP API", &args.listen, main, &shutdown).await?,
            listen("metrics", addr, metrics, &shutdown).await?,
        ],
        None => vec![listen("HTTP API", &args.listen, main.merge(metrics), &shutdown).await?],
    };

    let owner = worker_identity("serve");
    let scheduler = Scheduler::new(
        engine.clone(),
        ml_connector::flows::orders_poll::schedules(db.pool.clone(), deployment_channels.is_some()),
        Duration::from_secs(1),
        owner.clone(),
    );
    let scheduler = tokio::spawn(scheduler.run(shutdown.clone()));
    let retention = tokio::spawn(retention(
        db.pool.clone(),
        args.retention_days,
        shutdown.clone(),
    ));
    let cfg = pool_config(&engine.definitions, owner, args.worker.workers);
    WorkerPool::spawn(engine, cfg, shutdown.clone())
        .join()
        .await;
    let _ = scheduler.await;
    let _ = retention.await;
    for server in servers {
        server.await?.context("HTTP server")?;
    }
    db.close().await;
    Ok(())
}

/// Bind `addr` and serve `app` there until shutdown.
async fn listen(
    what: &'static str,
    addr: &str,
    app: axum::Router,
    shutdown: &Shutdown,
) -> anyhow::Result<tokio::task::JoinHandle<std::io::Result<()>>> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the {what} to {addr}"))?;
    tracing::info!(address = %listener.local_addr()?, "{what} listening");
    let shutdown = shutdown.clone();
    Ok(tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move { shutdown.wait().await })
            .await
    }))
}

/// Prune old deliveries and audit rows hourly (the first pass a minute after start).
async fn retention(pool: sqlx::PgPool, days: u32, shutdown: Shutdown) {
    let mut next = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            _ = shutdown.wait() => return,
        }
        match ml_connector::ops::retention::prune(&pool, days).await {
            Ok(p) => tracing::info!(?p, retention_days = days, "retention pass"),
            Err(e) => tracing::warn!(error = %e, "retention pass failed"),
        }
        next += Duration::from_secs(3600);
    }
}

/// Start (or reuse) the embedded cluster in `--data-dir`, print its URL, run until Ctrl-C/SIGTERM.
pub async fn postgres(global: &GlobalArgs, shutdown: Shutdown) -> anyhow::Result<()> {
    anyhow::ensure!(
        global.database_url.is_none(),
        "DATABASE_URL is set: there is no embedded server to run"
    );
    let db = Database::open(&global.db_target(), 1).await?;
    println!("DATABASE_URL={}", db.url);
    shutdown.wait().await;
    db.close().await;
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
