//! A whole connector on simulators: Sage (SOAP + agent), ShipStation, a connection with
//! encrypted secrets, and the engine with the real business handlers.

use std::time::Duration;

use ml_connector::connections::{self, Settings};
use ml_connector::engine::Engine;
use ml_connector::flows::deps::{FlowDeps, FlowTuning};
use ml_connector::secret::Secret;
use ml_connector::sim::shipstation::{ShipStationSim, SimConfig};
use ml_connector::vault::Vault;
use sqlx::PgPool;

use super::sage100::{start_rig, SageRig, AGENT_KEY};

pub struct Connector {
    pub pool: PgPool,
    pub url: String,
    pub sage: SageRig,
    pub ss: ShipStationSim,
    pub engine: Engine,
    pub connection_id: i64,
    pub master_key: String,
}

/// Sage's ship-via `UPS GROUND` as ShipStation's UPS Ground (what the test orders ship by).
pub fn map_ups_ground(s: &mut Settings) {
    s.mappings.ship_via.insert(
        "UPS GROUND".into(),
        connections::ShipViaMapping {
            carrier_code: Some("ups".into()),
            service_code: Some("ups_ground".into()),
        },
    );
}

pub async fn start(ss_cfg: SimConfig) -> Connector {
    start_with_batch_window(ss_cfg, Duration::from_millis(1500)).await
}

/// The same, with a `createorders` batch window of its own (a batch also closes after a quarter
/// of it without a new order: tests of batching efficiency give slow machines more room).
pub async fn start_with_batch_window(ss_cfg: SimConfig, batch_window: Duration) -> Connector {
    let (pool, url) = super::fresh_db().await;
    let sage = start_rig().await;
    let ss = ShipStationSim::start(ss_cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let master_key = Vault::generate_spec("k1");
    let vault = Vault::from_spec(&master_key).unwrap();
    let mut settings = Settings::default();
    settings.sage.soap_url = format!("{}{}", sage.base, ml_connector::sim::sage100::SOAP_PATH);
    settings.sage.username = "integration".into();
    settings.sage.company = "ABC".into();
    settings.sage.agent_url = sage.agent_url.clone();
    settings.shipstation.v1_base_url = ss.base_url();
    settings.shipstation.v2_base_url = ss.base_url();
    settings.shipstation.resource_domain = ss.cfg.host_domain.clone();
    settings.shipstation.v2_jwks_url = ss.jwks_url();
    settings.shipstation.resource_policy = ml_connector::connections::ResourcePolicyMode::Simulator;
    settings.polls.orders_secs = 3600;
    let id = connections::add(&pool, "acme", &settings).await.unwrap();
    for (name, value) in [
        ("sage_password", "sage-password"),
        ("agent_api_key", AGENT_KEY),
        ("v1_key", "sim-key"),
        ("v1_secret", "sim-secret"),
        ("v2_key", "sim-v2-key"),
    ] {
        connections::set_secret(&pool, &vault, id, name, &Secret::new(value), None)
            .await
            .unwrap();
    }
    // As `connection add` does: the SOAP contract comes from the simulated Sage's WSDL.
    ml_connector::ops::connections::read_soap_contract(&pool, id)
        .await
        .unwrap();
    let deps = FlowDeps::new(
        Some(vault),
        FlowTuning {
            batch_window,
            v1_margin: Duration::ZERO,
            ..FlowTuning::default()
        },
    );
    let handlers = ml_connector::flows::handlers(&deps);
    let defs = ml_connector::flows::definitions(None, &handlers).unwrap();
    let engine = Engine::new(pool.clone(), defs, handlers);
    Connector {
        pool,
        url,
        sage,
        ss,
        engine,
        connection_id: id,
        master_key,
    }
}

impl Connector {
    /// Run one orders poll now (as the scheduler would) and return its workflow id.
    pub async fn poll(&self, label: &str) -> i64 {
        self.engine
            .start_workflow(
                "orders_poll",
                self.connection_id,
                &format!("test-{label}"),
                serde_json::json!({}),
                "test",
            )
            .await
            .unwrap()
            .0
    }

    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql).fetch_one(&self.pool).await.unwrap()
    }

    /// Wait until no order workflow is ready/running (all posted and waiting, or finished).
    pub async fn settle(&self, poll_id: i64) {
        super::eventually("poll finished", Duration::from_secs(120), || async {
            (super::status_of(&self.pool, poll_id).await == "completed").then_some(())
        })
        .await;
        super::eventually("orders settled", Duration::from_secs(180), || async {
            let busy = self.count("SELECT count(*) FROM workflows WHERE kind = 'order' AND (status IN ('ready', 'running') OR (status = 'waiting' AND run_at IS NOT NULL))").await;
            (busy == 0).then_some(())
        })
        .await;
    }

    /// Orders in the ShipStation simulator, read through its control API (no V1 budget spent).
    pub async fn ss_orders(&self) -> Vec<serde_json::Value> {
        let v: serde_json::Value = reqwest::get(format!("{}/__control/orders", self.ss.base_url()))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v.as_array().cloned().unwrap_or_default()
    }

    /// ShipStation holds exactly these Sage orders, once each (by orderKey).
    pub async fn assert_exactly_once(&self, numbers: &[String]) {
        let orders = self.ss_orders().await;
        let keys: std::collections::HashSet<String> = orders
            .iter()
            .map(|o| o["orderKey"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            orders.len(),
            numbers.len(),
            "each order exists once in ShipStation"
        );
        assert_eq!(keys.len(), numbers.len(), "no orderKey twice");
        for n in numbers {
            assert!(keys.contains(&format!("sage100:ABC:{n}")), "{n} missing");
        }
    }

    /// Bodies of every createorders call the simulator received.
    pub async fn createorders_calls(&self) -> Vec<usize> {
        let v: serde_json::Value =
            reqwest::get(format!("{}/__control/received", self.ss.base_url()))
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .filter(|r| r["path"] == "/orders/createorders")
            .map(|r| {
                serde_json::from_str::<serde_json::Value>(r["body"].as_str().unwrap())
                    .unwrap()
                    .as_array()
                    .unwrap()
                    .len()
            })
            .collect()
    }

    /// Start one workflow of `kind` now (as the scheduler would; key `test-<label>`) and wait
    /// until it completed; returns its id.
    pub async fn run_now(&self, kind: &str, label: &str) -> i64 {
        let (id, _) = self
            .engine
            .start_workflow(
                kind,
                self.connection_id,
                &format!("test-{label}"),
                serde_json::json!({}),
                "test",
            )
            .await
            .unwrap();
        super::eventually(
            &format!("{kind} finished"),
            Duration::from_secs(60),
            || async { (super::status_of(&self.pool, id).await == "completed").then_some(()) },
        )
        .await;
        id
    }

    /// Run one ShipStation shipments poll now and wait for it to finish.
    pub async fn shipments_poll(&self, label: &str) {
        self.run_now("shipments_poll", label).await;
    }

    /// Serve the HTTP API (webhooks) on a loopback port; returns its base URL.
    pub async fn start_api(&self) -> String {
        let vault = Vault::from_spec(&self.master_key).unwrap();
        let app = ml_connector::api::router(ml_connector::api::ApiState::new(
            self.engine.clone(),
            Some(std::sync::Arc::new(vault)),
            None,
        ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}")
    }

    /// Change the connection's settings.
    pub async fn update_settings(&self, change: impl FnOnce(&mut Settings)) {
        let mut s = connections::get(&self.pool, "acme").await.unwrap().settings;
        change(&mut s);
        connections::update_settings(&self.pool, "acme", &s)
            .await
            .unwrap();
    }

    /// POST to the ShipStation simulator's control API.
    pub async fn ss_control(&self, path: &str, body: serde_json::Value) -> serde_json::Value {
        let r = reqwest::Client::new()
            .post(format!("{}/__control/{path}", self.ss.base_url()))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json().await.unwrap_or(serde_json::Value::Null)
    }

    /// The ShipStation order posted for a Sage order.
    pub async fn ss_order(&self, sales_order_no: &str) -> serde_json::Value {
        let key = format!("sage100:ABC:{sales_order_no}");
        self.ss_orders()
            .await
            .into_iter()
            .find(|o| o["orderKey"] == serde_json::json!(key))
            .unwrap_or_else(|| panic!("{sales_order_no} is not in ShipStation"))
    }
}
