//! `ml-connector sim shipstation|sage100`: the simulators on loopback, until Ctrl-C/SIGTERM.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;

use super::args::{SimSage100Args, SimShipStationArgs};
use ml_connector::engine::Shutdown;
use ml_connector::sim::sage100::{SageConfig, SageSim};
use mlc_agent::server::{serve_agent, Transport};

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
        shape: ml_connector::sim::sage100::SoapShape {
            namespace: args.soap_namespace.clone(),
            contract: args.soap_contract.clone(),
            data_namespace: args.soap_data_namespace.clone(),
            member_order: args
                .soap_member_order
                .parse()
                .map_err(|e| anyhow::anyhow!("--soap-member-order {e}"))?,
        },
        lock_message: args.lock_text.clone(),
        not_on_file_code: args.not_on_file_code.clone(),
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
        let (agent_addr, _) = serve_agent(
            sim.agent_state(Some(&args.agent_api_key)),
            format!("{}:{port}", args.bind).parse()?,
            Transport::PlainLoopback,
            shutdown.triggered(),
        )
        .await?;
        println!("Sage 100 agent (simulated BOI) at http://{agent_addr}");
    }
    shutdown.wait().await;
    Ok(())
}
