//! Simulator + client wiring for ShipStation tests.

use std::sync::Arc;
use std::time::Duration;

use ml_connector::shipstation::transport::RetryPolicy;
use ml_connector::shipstation::webhook::ResourcePolicy;
use ml_connector::shipstation::{KeyPair, KeyRing, V1Client, V1Config, V2Client, V2Config};
use ml_connector::sim::shipstation::{ShipStationSim, SimConfig};
use sqlx::PgPool;

pub async fn start_sim(cfg: SimConfig) -> ShipStationSim {
    ShipStationSim::start(cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("simulator")
}

pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 8,
        max_throttled: 20,
        base_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(200),
        timeout: Duration::from_secs(5),
    }
}

pub fn v1_config(sim: &ShipStationSim) -> V1Config {
    V1Config {
        base_url: sim.base_url(),
        limit: sim.cfg.v1_limit,
        window: sim.cfg.v1_window,
        // The simulator rounds Reset up, so no extra margin is needed to stay under the limit.
        margin: Duration::ZERO,
        retry: fast_retry(),
        resources: ResourcePolicy::simulated(
            &sim.cfg.host_domain,
            sim.addr,
            sim.cfg.numbered_hosts,
        ),
    }
}

pub fn v1_client(
    sim: &ShipStationSim,
    pool: PgPool,
    active: (&str, &str),
    next: Option<(&str, &str)>,
) -> V1Client {
    let ring = KeyRing::new(
        KeyPair::new(active.0, active.1),
        next.map(|(k, s)| KeyPair::new(k, s)),
    );
    V1Client::new(v1_config(sim), Arc::new(ring), pool).expect("client")
}

/// A client with the production margin after each window (one second), not the tests' zero.
pub fn v1_client_with_production_margin(sim: &ShipStationSim, pool: PgPool) -> V1Client {
    let mut cfg = v1_config(sim);
    cfg.margin = V1Config::production().margin;
    let ring = KeyRing::new(KeyPair::new("sim-key", "sim-secret"), None);
    V1Client::new(cfg, Arc::new(ring), pool).expect("client")
}

pub fn v2_client(sim: &ShipStationSim, pool: PgPool) -> V2Client {
    let cfg = V2Config {
        base_url: sim.base_url(),
        limit: 200,
        window: Duration::from_secs(60),
        retry: fast_retry(),
    };
    V2Client::new(
        cfg,
        ml_connector::secret::Secret::new(sim.cfg.v2_key.clone()),
        pool,
    )
    .expect("client")
}

pub async fn control(
    sim: &ShipStationSim,
    path: &str,
    body: serde_json::Value,
) -> serde_json::Value {
    let resp = reqwest::Client::new()
        .post(format!("{}/__control/{path}", sim.base_url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(
        resp.status().is_success(),
        "control {path}: {}",
        resp.status()
    );
    resp.json().await.unwrap_or(serde_json::Value::Null)
}

pub async fn stats(sim: &ShipStationSim) -> serde_json::Value {
    reqwest::get(format!("{}/__control/stats", sim.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}
