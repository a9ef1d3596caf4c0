//! `ml-connector sim shipstation|sage100`: the simulators on loopback, until Ctrl-C/SIGTERM.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use super::args::{SimSage100Args, SimShipStationArgs};
use ml_connector::agent::api::AgentState;
use ml_connector::agent::pool::SessionPool;
use ml_connector::agent::server::{serve_agent, Transport};
use ml_connector::engine::Shutdown;
use ml_connector::secret::Secret;
use ml_connector::sim::sage100::boi::SimBoi;
use ml_connector::sim::sage100::{SageConfig, SageSim};

/// `sim shipstation`: run the simulator until Ctrl-C/SIGTERM.
pub async fn shipstation(args: &SimShipStationArgs, shutdown: Shutdown) -> anyhow::Result<()> {
    use ml_connector::sim::shipstation::{Behaviour, ShipStationSim, SimConfig};
    let behaviour: Behaviour = match &args.behaviour_json {
        Some(j) => serde_json::from_str(j).context("--behaviour-json")?,
        None => Behaviour::default(),
    };
    let cfg = SimConfig {
        behaviour,
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
    shutdown.wait().await;
    Ok(())
}

pub async fn sage100(args: &SimSage100Args, shutdown: Shutdown) -> anyhow::Result<()> {
    let sim = SageSim::new(SageConfig {
        username: args.username.clone(),
        password: args.password.clone(),
        companies: args
            .companies
            .iter()
            .map(|c| c.to_ascii_uppercase())
            .collect(),
        zone: ml_connector::domain::SiteZone::parse(&args.zone)?.tz(),
        seed_demo: args.seed_demo,
    });
    let addr: SocketAddr = format!("{}:{}", args.bind, args.port)
        .parse()
        .context("invalid --bind/--port")?;
    let (bound, _task) = sim
        .serve(addr)
        .await
        .context("starting the Sage 100 simulator")?;
    println!(
        "Sage 100 simulator: SOAP at http://{bound}{}  (WSDL: ?wsdl)",
        ml_connector::sim::sage100::SOAP_PATH
    );
    if let Some(port) = args.agent_port {
        let state = AgentState {
            pool: SessionPool::new(
                Arc::new(SimBoi::new(sim.clone())),
                args.username.clone(),
                Secret::new(args.password.clone()),
                4,
            ),
            api_key: Some(Secret::new(args.agent_api_key.clone())),
            companies: sim.cfg.companies.clone(),
        };
        let (agent_addr, _) = serve_agent(
            state,
            format!("{}:{port}", args.bind).parse()?,
            Transport::PlainLoopback,
            shutdown.clone(),
        )
        .await?;
        println!("Sage 100 agent (simulated BOI) at http://{agent_addr}");
    }
    shutdown.wait().await;
    Ok(())
}
