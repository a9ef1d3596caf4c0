//! Sage 100 simulator + agent + clients wiring for tests.

use std::sync::Arc;
use std::time::Duration;

use ml_connector::engine::Shutdown;
use ml_connector::sage100::agent::LockRetry;
use ml_connector::sage100::contract::{fetch_contract, Limits};
use ml_connector::sage100::{
    AgentClient, AgentConfig, FaultTexts, SoapClient, SoapConfig, SoapContract,
};
use ml_connector::secret::Secret;
use ml_connector::sim::sage100::{SageConfig, SageSim, SoapShape, SOAP_PATH};
use mlc_agent::api::AgentState;
use mlc_agent::server::{serve_agent, Transport};

pub struct SageRig {
    pub sim: SageSim,
    pub base: String,
    pub agent_url: String,
    pub shutdown: Shutdown,
}

impl Drop for SageRig {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

pub const AGENT_KEY: &str = "agent-key-123";

pub async fn start_rig() -> SageRig {
    start_rig_with(SageConfig {
        seed_demo: true,
        ..SageConfig::default()
    })
    .await
}

/// A rig whose Sage speaks SOAP in the given shape (namespaces, contract name, member order).
pub async fn start_rig_shaped(shape: SoapShape) -> SageRig {
    start_rig_with(SageConfig {
        seed_demo: true,
        shape,
        ..SageConfig::default()
    })
    .await
}

pub async fn start_rig_with(cfg: SageConfig) -> SageRig {
    let sim = SageSim::new(cfg);
    let (addr, _) = sim.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let shutdown = Shutdown::new();
    let (agent_addr, _) = serve_agent(
        agent_state(&sim, Some(AGENT_KEY)),
        "127.0.0.1:0".parse().unwrap(),
        Transport::PlainLoopback,
        shutdown.triggered(),
    )
    .await
    .unwrap();
    SageRig {
        sim,
        base: format!("http://{addr}"),
        agent_url: format!("http://{agent_addr}"),
        shutdown,
    }
}

pub fn agent_state(sim: &SageSim, api_key: Option<&str>) -> AgentState {
    sim.agent_state(api_key)
}

/// The simulated service's contract, read from its WSDL as `connection test` does.
pub async fn contract(rig: &SageRig) -> Arc<SoapContract> {
    Arc::new(
        fetch_contract(
            &format!("{}{SOAP_PATH}", rig.base),
            Duration::from_secs(10),
            Limits::default(),
        )
        .await
        .unwrap(),
    )
}

pub async fn soap(rig: &SageRig, company: &str, password: &str) -> SoapClient {
    SoapClient::new(SoapConfig {
        endpoint: format!("{}{SOAP_PATH}", rig.base),
        contract: Some(contract(rig).await),
        username: "integration".into(),
        password: Secret::new(password),
        company: company.into(),
        timeout: Duration::from_secs(10),
        faults: FaultTexts::default(),
    })
    .unwrap()
}

pub fn agent(rig: &SageRig, company: &str) -> AgentClient {
    let mut cfg = AgentConfig::new(rig.agent_url.clone(), company);
    cfg.api_key = Some(Secret::new(AGENT_KEY));
    cfg.lock_retry = LockRetry {
        max_attempts: 8,
        base_delay: Duration::from_millis(50),
        max_delay: Duration::from_millis(400),
    };
    AgentClient::new(cfg).unwrap()
}

pub async fn control(
    rig: &SageRig,
    method: reqwest::Method,
    path: &str,
    body: serde_json::Value,
) -> serde_json::Value {
    let resp = reqwest::Client::new()
        .request(method, format!("{}/__control/{path}", rig.base))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(
        resp.status().is_success(),
        "control {path}: {} {}",
        resp.status(),
        resp.text().await.unwrap_or_default()
    );
    resp.json().await.unwrap_or(serde_json::Value::Null)
}

pub async fn rows(rig: &SageRig, table: &str) -> Vec<serde_json::Value> {
    let v: serde_json::Value = reqwest::get(format!("{}/__control/ABC/tables/{table}", rig.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["rows"].as_array().cloned().unwrap_or_default()
}

/// A Sage user enters an order; returns its SalesOrderNo.
pub async fn enter_order(rig: &SageRig, body: serde_json::Value) -> String {
    control(rig, reqwest::Method::POST, "ABC/orders", body).await["SalesOrderNo"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A Sage user invoices (ships) an order; returns the InvoiceNo.
pub async fn invoice(rig: &SageRig, sales_order_no: &str) -> String {
    control(
        rig,
        reqwest::Method::POST,
        &format!("ABC/orders/{sales_order_no}/invoice"),
        serde_json::json!({}),
    )
    .await["InvoiceNo"]
        .as_str()
        .unwrap()
        .to_string()
}
