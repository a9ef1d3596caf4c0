//! `ml-connector agent`: the local agent beside Sage 100.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;

use super::args::AgentArgs;
use ml_connector::engine::Shutdown;
use ml_connector::secret::Secret;
use mlc_agent::api::AgentState;
use mlc_agent::boi::Boi;
use mlc_agent::pool::SessionPool;
use mlc_agent::server::{serve_agent, Transport};

/// The BOI backend named by `--backend`.
fn backend(args: &AgentArgs, password: &Secret) -> anyhow::Result<Arc<dyn Boi>> {
    match args.backend.as_str() {
        #[cfg(feature = "sim")]
        "sim" => {
            use ml_connector::sim::sage100::{boi::SimBoi, SageConfig, SageSim};
            let sim = SageSim::new(SageConfig {
                username: args.sage_user.clone(),
                password: password.expose().to_string(),
                companies: args.companies.clone(),
                seed_demo: true,
                ..SageConfig::default()
            });
            Ok(Arc::new(SimBoi::new(sim)))
        }
        #[cfg(not(feature = "sim"))]
        "sim" => {
            let _ = password;
            anyhow::bail!("this build has no simulator (built without the `sim` feature)")
        }
        "odbc" | "com" | "odbc+com" => anyhow::bail!(
            "--backend {} runs in ml-connector-agent, the agent's own program for the Sage 100 server (see docs/agent-install.md); `ml-connector agent` serves the simulator only",
            args.backend
        ),
        other => anyhow::bail!("unknown --backend {other:?} (sim)"),
    }
}

pub async fn agent(args: &AgentArgs, shutdown: Shutdown) -> anyhow::Result<()> {
    let password = Secret::new(
        std::env::var("ML_AGENT_SAGE_PASSWORD").unwrap_or_else(|_| "sage-password".into()),
    );
    let api_key = std::env::var("ML_AGENT_API_KEY")
        .ok()
        .filter(|k| !k.is_empty())
        .map(Secret::new);
    let boi = backend(args, &password)?;
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
    if matches!(transport, Transport::PlainLoopback) && args.client_ca.is_some() {
        anyhow::bail!("--client-ca needs --tls-cert and --tls-key (mTLS is part of TLS)");
    }
    let state = AgentState::over_boi(
        SessionPool::new(boi, args.sage_user.clone(), password, args.max_sessions),
        api_key,
        args.companies.clone(),
    );
    let addr: SocketAddr = args
        .listen
        .parse()
        .with_context(|| format!("invalid --listen {}", args.listen))?;
    let (bound, task) = serve_agent(state, addr, transport, shutdown.triggered()).await?;
    println!("Sage 100 agent listening on {bound}");
    task.await?
}
