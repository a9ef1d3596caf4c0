//! `ml-connector-agent`: the agent on the Sage 100 server. `run` serves the agent API from the
//! settings file beside the executable; `check` tests the settings and each company's connection.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use mlc_agent::api::AgentState;
use mlc_agent::config::AgentSettings;
use mlc_agent::odbc::{OdbcReads, OdbcSettings};
use mlc_agent::reads::{self, ReadBackend};
use mlc_agent::server::{serve_agent, Transport};

#[derive(Parser)]
#[command(
    name = "ml-connector-agent",
    version,
    about = "The ml-connector agent beside Sage 100"
)]
struct Cli {
    /// The settings file (default: ml-connector-agent.toml beside the executable).
    #[arg(long, env = "ML_AGENT_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the agent API (the default).
    Run,
    /// Check the settings and open each company's connection, then exit.
    Check,
}

fn settings_path(cli: &Cli) -> anyhow::Result<PathBuf> {
    if let Some(p) = &cli.config {
        return Ok(p.clone());
    }
    let exe = std::env::current_exe().context("locating the executable")?;
    Ok(exe.with_file_name("ml-connector-agent.toml"))
}

fn reads_backend(settings: &AgentSettings) -> anyhow::Result<Arc<OdbcReads>> {
    let odbc = settings
        .odbc
        .as_ref()
        .context("an [odbc] section is required")?;
    Ok(Arc::new(OdbcReads::new(
        OdbcSettings {
            connection: odbc.connection.clone(),
            user: settings.sage_user.clone(),
            password: settings.sage_password()?,
            query_timeout_secs: odbc.query_timeout_secs,
        },
        odbc.max_connections,
    )))
}

async fn check(settings: &AgentSettings) -> anyhow::Result<()> {
    println!("ODBC drivers: {}", OdbcReads::drivers().join(", "));
    let backend = reads_backend(settings)?;
    let mut failed = 0;
    for co in &settings.companies {
        match reads::run(&backend as &dyn ReadBackend, co, |_| Ok(())).await {
            Ok(()) => println!("company {co}: connected"),
            Err(f) => {
                failed += 1;
                println!("company {co}: {}", f.message);
            }
        }
    }
    anyhow::ensure!(failed == 0, "{failed} company connection(s) failed");
    Ok(())
}

async fn run(settings: AgentSettings) -> anyhow::Result<()> {
    let transport = match (&settings.tls, settings.plain_http) {
        (Some(tls), _) => Transport::Tls {
            cert: tls.cert.clone(),
            key: tls.key.clone(),
            client_ca: tls.client_ca.clone(),
        },
        (None, true) => Transport::PlainLoopback,
        (None, false) => anyhow::bail!("no [tls] section and plain_http is off"),
    };
    let state = AgentState {
        reads: Arc::new(reads_backend(&settings)?),
        writes: None,
        api_key: settings.api_key()?,
        companies: settings.companies.clone(),
    };
    let addr = settings.listen_addr().map_err(anyhow::Error::msg)?;
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("stopping");
    };
    let (bound, task) = serve_agent(state, addr, transport, shutdown).await?;
    println!("Sage 100 agent listening on {bound}");
    task.await?
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ML_AGENT_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let path = settings_path(&cli)?;
    let settings = AgentSettings::load(&path)?;
    let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
    match cli.command.unwrap_or(Command::Run) {
        Command::Run => runtime.block_on(run(settings)),
        Command::Check => runtime.block_on(check(&settings)),
    }
}
