//! Helpers shared by the integration tests: a fresh database per test on the process's
//! PostgreSQL, engines over the fixture workflows, the real binary, polling with a deadline.
#![allow(dead_code)]

pub mod connector;
pub mod openapi;
pub mod sage100;
pub mod shipstation;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use ml_connector::engine::definition::Definitions;
use ml_connector::engine::Engine;
use sqlx::PgPool;

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ml-connector"))
}

pub async fn fresh_db() -> (PgPool, String) {
    ml_connector::testkit::pg::fresh_pool()
        .await
        .expect("test database")
}

/// An engine over tests/fixtures/workflows with every built-in handler.
pub fn fixture_engine(pool: PgPool) -> Engine {
    let handlers = ml_connector::testkit::handlers_with_samples();
    let defs = Definitions::load_dir(&fixtures().join("workflows"), &|h| handlers.contains(h))
        .expect("fixture definitions");
    Engine::new(pool, defs, handlers)
}

/// Poll `check` until it returns Some or the deadline passes.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn status_of(pool: &PgPool, id: i64) -> String {
    sqlx::query_scalar("SELECT status FROM workflows WHERE id = $1")
        .bind(id)
        .fetch_one(pool)
        .await
        .unwrap()
}

pub async fn event_names(pool: &PgPool, id: i64) -> Vec<String> {
    sqlx::query_scalar("SELECT event FROM workflow_events WHERE workflow_id = $1 ORDER BY id")
        .bind(id)
        .fetch_all(pool)
        .await
        .unwrap()
}

/// A scratch path unique to this test run, under Cargo's target/tmp (kept for post-mortems, never in /tmp).
pub fn temp_path(label: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "mlc-test-{label}-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    ))
}

/// One `sample.sleep` trace line: (start|end, workflow id, state, pid, unix ns).
pub type TraceLine = (String, i64, String, u32, i64);

/// Parsed `sample.sleep` trace lines.
pub fn read_trace(path: &std::path::Path) -> Vec<TraceLine> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (
                f[0].to_string(),
                f[1].parse().unwrap(),
                f[2].to_string(),
                f[3].parse().unwrap(),
                f[4].parse().unwrap(),
            )
        })
        .collect()
}
