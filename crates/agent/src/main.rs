//! `ml-connector-agent`: the agent on the Sage 100 server. `run` serves the agent API from the
//! settings file beside the executable (as a console program, or as the Windows service that
//! `install` registers); `check` tests the settings and each company's connection.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use mlc_agent::api::AgentState;
use mlc_agent::config::{AgentSettings, Backend};
use mlc_agent::logfile::{LogWriter, RollingFile};
use mlc_agent::odbc::{OdbcReads, OdbcSettings};
use mlc_agent::pool::SessionPool;
use mlc_agent::reads::{self, ReadBackend};
use mlc_agent::server::{serve_agent, Transport};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

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
    /// `odbc`, `odbc+com` or `com`, in place of the settings file's `backend`.
    #[arg(long, global = true)]
    backend: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the agent API (the default); as a service when the service manager started it.
    Run,
    /// Check the settings and open each company's connection, then exit.
    Check,
    /// Register the Windows service (automatic start) that runs this executable.
    Install {
        /// The account it runs as, e.g. `.\svc-mlagent` (default: LocalSystem). Its password
        /// is read from ML_AGENT_SERVICE_PASSWORD.
        #[arg(long)]
        account: Option<String>,
    },
    /// Stop and remove the Windows service.
    Uninstall,
}

fn settings_path(cli: &Cli) -> anyhow::Result<PathBuf> {
    if let Some(p) = &cli.config {
        return Ok(p.clone());
    }
    let exe = std::env::current_exe().context("locating the executable")?;
    Ok(exe.with_file_name("ml-connector-agent.toml"))
}

/// Where `run` logs: `logs/ml-connector-agent.log` beside the settings (10 MB × 5 files).
fn log_file(settings: &Path) -> PathBuf {
    settings
        .parent()
        .unwrap_or(Path::new("."))
        .join("logs")
        .join("ml-connector-agent.log")
}

fn init_logging(file: Option<&Path>) -> anyhow::Result<()> {
    let filter = || {
        tracing_subscriber::EnvFilter::try_from_env("ML_AGENT_LOG")
            .unwrap_or_else(|_| "info".into())
    };
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_filter(filter());
    let to_file = match file {
        Some(path) => {
            let log = RollingFile::open(path, 10 * 1024 * 1024, 5)
                .with_context(|| format!("opening the log {}", path.display()))?;
            Some(
                tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .with_writer(LogWriter(log))
                    .with_filter(filter()),
            )
        }
        None => None,
    };
    tracing_subscriber::registry()
        .with(stderr)
        .with(to_file)
        .init();
    Ok(())
}

fn odbc_backend(settings: &AgentSettings) -> anyhow::Result<Arc<OdbcReads>> {
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

/// BOI sessions over COM (Windows only; config refuses a COM backend elsewhere).
#[cfg(windows)]
fn com_pool(settings: &AgentSettings) -> anyhow::Result<Arc<SessionPool>> {
    let com = settings.com.clone().unwrap_or_default();
    Ok(SessionPool::new(
        Arc::new(mlc_agent::com::ComBoi {
            home: com.sage_home,
        }),
        settings.sage_user.clone(),
        settings.sage_password()?,
        com.max_sessions,
    )
    .with_max_age(std::time::Duration::from_secs(
        com.session_max_hours.max(1) * 3600,
    )))
}

#[cfg(not(windows))]
fn com_pool(_settings: &AgentSettings) -> anyhow::Result<Arc<SessionPool>> {
    anyhow::bail!("the COM backend runs on Windows only")
}

fn state(settings: &AgentSettings) -> anyhow::Result<AgentState> {
    let backend = settings.backend().map_err(anyhow::Error::msg)?;
    let api_key = settings.api_key()?;
    let companies = settings.companies.clone();
    Ok(match backend {
        Backend::Odbc => AgentState {
            reads: Arc::new(odbc_backend(settings)?),
            writes: None,
            api_key,
            companies,
        },
        Backend::OdbcCom => AgentState {
            reads: Arc::new(odbc_backend(settings)?),
            writes: Some(com_pool(settings)?),
            api_key,
            companies,
        },
        Backend::Com => AgentState::over_boi(com_pool(settings)?, api_key, companies),
    })
}

async fn check(settings: &AgentSettings) -> anyhow::Result<()> {
    let backend = settings.backend().map_err(anyhow::Error::msg)?;
    let state = state(settings)?;
    if backend.reads_odbc() {
        println!("ODBC drivers: {}", OdbcReads::drivers().join(", "));
    }
    let mut failed = 0;
    for co in &settings.companies {
        match reads::run(state.reads.as_ref() as &dyn ReadBackend, co, |_| Ok(())).await {
            Ok(()) => println!("company {co}: connected"),
            Err(f) => {
                failed += 1;
                println!("company {co}: {}", f.message);
            }
        }
        if let (Backend::OdbcCom, Some(pool)) = (backend, &state.writes) {
            match pool.run(co, |_| ()).await {
                Ok(()) => println!("company {co}: Business Object Interface session opened"),
                Err(e) => {
                    failed += 1;
                    println!("company {co}: {}", e.0);
                }
            }
        }
    }
    anyhow::ensure!(failed == 0, "{failed} company connection(s) failed");
    Ok(())
}

/// Serve until `stop` completes or Ctrl+C; the pool's sessions close as the state drops.
async fn run(
    settings: AgentSettings,
    stop: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    mlc_agent::failure::add_record_lock_texts(settings.record_lock_texts());
    let transport = match (&settings.tls, settings.plain_http) {
        (Some(tls), _) => Transport::Tls {
            cert: tls.cert.clone(),
            key: tls.key.clone(),
            client_ca: tls.client_ca.clone(),
        },
        (None, true) => Transport::PlainLoopback,
        (None, false) => anyhow::bail!("no [tls] section and plain_http is off"),
    };
    let state = state(&settings)?;
    let addr = settings.listen_addr().map_err(anyhow::Error::msg)?;
    let shutdown = async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = stop => {}
        }
        tracing::info!("stopping");
    };
    let (bound, task) = serve_agent(state, addr, transport, shutdown).await?;
    tracing::info!(%bound, backend = %settings.backend, "Sage 100 agent listening");
    println!("Sage 100 agent listening on {bound}");
    task.await?
}

fn serve(settings: AgentSettings) -> anyhow::Result<()> {
    #[cfg(windows)]
    {
        let for_service = settings.clone();
        let body: mlc_agent::service::Body = Box::new(move |stop| {
            let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
            runtime.block_on(run(for_service, stop))
        });
        if mlc_agent::service::dispatch(body)? {
            return Ok(());
        }
    }
    let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
    runtime.block_on(run(settings, std::future::pending()))
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let path = settings_path(&cli)?;
    let backend = cli.backend.as_deref();
    match cli.command.unwrap_or(Command::Run) {
        Command::Run => {
            init_logging(Some(&log_file(&path)))?;
            let settings =
                AgentSettings::load_with(&path, backend).inspect_err(|e| tracing::error!("{e}"))?;
            serve(settings).inspect_err(|e| tracing::error!("{e:#}"))
        }
        Command::Check => {
            init_logging(None)?;
            let settings = AgentSettings::load_with(&path, backend)?;
            let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
            runtime.block_on(check(&settings))
        }
        Command::Install { account } => {
            init_logging(None)?;
            install(&path, backend, account.as_deref())
        }
        Command::Uninstall => {
            init_logging(None)?;
            uninstall()
        }
    }
}

#[cfg(windows)]
fn install(settings: &Path, backend: Option<&str>, account: Option<&str>) -> anyhow::Result<()> {
    // Refuse settings that would not start, before the service exists.
    AgentSettings::load_with(settings, backend)?;
    let settings = std::path::absolute(settings)?;
    let password = std::env::var("ML_AGENT_SERVICE_PASSWORD").ok();
    mlc_agent::service::install(&settings, backend, account, password.as_deref())?;
    println!(
        "service {} installed (automatic start); start it with: sc start {}",
        mlc_agent::service::NAME,
        mlc_agent::service::NAME
    );
    Ok(())
}

#[cfg(windows)]
fn uninstall() -> anyhow::Result<()> {
    mlc_agent::service::uninstall()?;
    println!("service {} removed", mlc_agent::service::NAME);
    Ok(())
}

#[cfg(not(windows))]
fn install(_settings: &Path, _backend: Option<&str>, _account: Option<&str>) -> anyhow::Result<()> {
    anyhow::bail!("install registers a Windows service: run it on the Sage 100 server")
}

#[cfg(not(windows))]
fn uninstall() -> anyhow::Result<()> {
    anyhow::bail!("uninstall removes a Windows service: run it on the Sage 100 server")
}
