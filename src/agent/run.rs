//! `ml-connector agent` and `ml-connector sim sage100`.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;

use super::api::{self, AgentState};
use super::pool::SessionPool;
use super::server::{self, Transport};
use crate::cli::{AgentArgs, SimSage100Args};
use crate::engine::Shutdown;
use crate::secret::Secret;
use crate::sim::sage100::boi::SimBoi;
use crate::sim::sage100::{SageConfig, SageSim};

fn zone(name: &str) -> anyhow::Result<chrono_tz::Tz> {
    name.parse().map_err(|_| {
        anyhow::anyhow!("unknown time zone {name:?} (use an IANA name such as America/Chicago)")
    })
}

/// The agent over a given backend; returns once shutdown is triggered.
pub async fn serve_agent(
    state: AgentState,
    addr: SocketAddr,
    transport: Transport,
    shutdown: Shutdown,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<anyhow::Result<()>>)> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let app = api::router(state);
    let task = tokio::spawn(server::serve(app, addr, transport, shutdown, tx));
    let bound = rx.await.context("agent did not start")?;
    Ok((bound, task))
}

pub async fn agent(args: &AgentArgs) -> anyhow::Result<()> {
    let password = Secret::new(
        std::env::var("ML_AGENT_SAGE_PASSWORD").unwrap_or_else(|_| "sage-password".into()),
    );
    let api_key = std::env::var("ML_AGENT_API_KEY")
        .ok()
        .filter(|k| !k.is_empty())
        .map(Secret::new);
    let boi: Arc<dyn super::boi::Boi> = match args.backend.as_str() {
        "sim" => {
            let sim = SageSim::new(SageConfig { username: args.sage_user.clone(), password: password.expose().to_string(), companies: args.companies.clone(), seed_demo: true, ..SageConfig::default() });
            Arc::new(SimBoi::new(sim))
        }
        "com" => anyhow::bail!("the COM backend needs Windows with Sage 100 installed (ProvideX.Script); this build only has --backend sim"),
        other => anyhow::bail!("unknown --backend {other:?} (sim or com)"),
    };
    let transport = match (&args.tls_cert, &args.tls_key, args.plain_http) {
        (Some(cert), Some(key), _) => Transport::Tls {
            cert: cert.clone(),
            key: key.clone(),
            client_ca: args.client_ca.clone(),
        },
        (None, None, true) => Transport::PlainLoopback,
        _ => anyhow::bail!(
            "give --tls-cert and --tls-key (HTTPS), or --plain-http for loopback-only trials"
        ),
    };
    if api_key.is_none() && args.client_ca.is_none() {
        anyhow::bail!(
            "set ML_AGENT_API_KEY or --client-ca: the agent never runs without authentication"
        );
    }
    let state = AgentState {
        pool: SessionPool::new(boi, args.sage_user.clone(), password, args.max_sessions),
        api_key,
        companies: args.companies.clone(),
    };
    let addr: SocketAddr = args
        .listen
        .parse()
        .with_context(|| format!("invalid --listen {}", args.listen))?;
    let shutdown = Shutdown::new();
    shutdown.trigger_on_signals();
    let (bound, task) = serve_agent(state, addr, transport, shutdown).await?;
    println!("Sage 100 agent listening on {bound}");
    task.await?
}

pub async fn sim_sage100(args: &SimSage100Args) -> anyhow::Result<()> {
    let sim = SageSim::new(SageConfig {
        username: args.username.clone(),
        password: args.password.clone(),
        companies: args
            .companies
            .iter()
            .map(|c| c.to_ascii_uppercase())
            .collect(),
        zone: zone(&args.zone)?,
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
        crate::sim::sage100::SOAP_PATH
    );
    let shutdown = Shutdown::new();
    shutdown.trigger_on_signals();
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
