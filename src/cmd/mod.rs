//! Commands at the edge: clap parsing and process wiring. This module belongs to the binary, so
//! nothing in the library can import it; it imports whatever it needs from the library.

mod agent;
mod args;
#[cfg(feature = "sim")]
mod bench;
mod connection;
#[cfg(feature = "sim")]
mod demo;
mod fit_print;
mod serve;
mod signals;
#[cfg(feature = "sim")]
mod sim;
mod workflows;

use std::time::Duration;

use clap::Parser;

use args::{Cli, Command};
use ml_connector::engine::Shutdown;

/// How long a command may take to stop after the first signal before the process exits anyway:
/// the worker pool's shutdown grace plus room to write outcomes; a few seconds for the rest.
fn stop_bound(command: &Command) -> Duration {
    match command {
        Command::Serve(_) | Command::Worker(_) => {
            ml_connector::engine::worker::PoolConfig::new(String::new(), 1).shutdown_grace
                + Duration::from_secs(10)
        }
        _ => Duration::from_secs(8),
    }
}

pub fn main() -> std::process::ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    if let Err(e) = ml_connector::config::load(&argv) {
        eprintln!("error: invalid configuration: {e}");
        return std::process::ExitCode::from(2);
    }
    let cli = Cli::parse();
    let quiet = match &cli.command {
        Command::Migrate
        | Command::Workflows(_)
        | Command::Token(_)
        | Command::Alerts(_)
        | Command::GraphqlSchema
        | Command::Health { .. } => true,
        #[cfg(feature = "sim")]
        Command::Demo(_) | Command::Bench(_) => true,
        _ => false,
    };
    ml_connector::telemetry::init(
        cli.global.log_format.into(),
        if quiet { "warn" } else { "info" },
    );
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let shutdown = Shutdown::new();
    let result = runtime.block_on(async {
        signals::install(&shutdown, stop_bound(&cli.command));
        run(&cli, &shutdown).await
    });
    // Waits for blocking tasks (an embedded PostgreSQL still starting is stopped once it is up).
    drop(runtime);
    match (shutdown.signal(), result) {
        // Stopped by a signal: the conventional status, 128 + the signal's number.
        (Some(signal), result) => {
            match result {
                Err(e) if !e.is::<Interrupted>() => eprintln!("error: {e:#}"),
                _ => {
                    if let Some(what) = stopped(&cli.command) {
                        eprintln!("stopped on {signal}: {what}");
                    }
                }
            }
            std::process::ExitCode::from(signal.exit_code())
        }
        (None, Ok(())) => std::process::ExitCode::SUCCESS,
        (None, Err(e)) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// A command stopped by a signal before it was done (what it stopped has been said).
#[derive(Debug)]
pub struct Interrupted;

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("interrupted")
    }
}

impl std::error::Error for Interrupted {}

/// What a command has stopped once a signal ended it (the demo and benchmarks say it themselves).
fn stopped(command: &Command) -> Option<&'static str> {
    Some(match command {
        Command::Serve(_) => {
            "the HTTP API, the scheduler and the worker pool (running steps finished or released)"
        }
        Command::Worker(_) => "the worker pool (running steps finished or released)",
        Command::Postgres => "the embedded PostgreSQL",
        Command::Agent(_) => "the agent",
        #[cfg(feature = "sim")]
        Command::Sim(_) => "the simulator",
        #[cfg(feature = "sim")]
        Command::Demo(_) | Command::Bench(_) => return None,
        _ => "the command, before it finished",
    })
}

/// A short command: on the first signal it is dropped where it stands (an embedded PostgreSQL it
/// opened is stopped as it is dropped).
async fn until_signal(
    shutdown: &Shutdown,
    command: impl std::future::Future<Output = anyhow::Result<()>>,
) -> anyhow::Result<()> {
    tokio::select! {
        result = command => result,
        _ = shutdown.wait() => Ok(()),
    }
}

async fn run(cli: &Cli, shutdown: &Shutdown) -> anyhow::Result<()> {
    let global = &cli.global;
    let shutdown = shutdown.clone();
    let short = &shutdown.clone();
    match &cli.command {
        Command::Serve(a) => serve::serve(global, a, shutdown).await,
        Command::Worker(a) => serve::worker(global, a, shutdown).await,
        Command::Migrate => until_signal(short, serve::migrate(global)).await,
        Command::Postgres => serve::postgres(global, shutdown).await,
        Command::Health { url } => until_signal(short, serve::health(url)).await,
        Command::Connection(c) => until_signal(short, connection::run(global, c)).await,
        Command::Keys(c) => until_signal(short, connection::keys(global, c)).await,
        Command::Agent(a) => agent::agent(a, shutdown).await,
        Command::Workflows(c) => until_signal(short, workflows::workflows_cmd(global, c)).await,
        Command::Token(c) => until_signal(short, workflows::token_cmd(global, c)).await,
        Command::Alerts(c) => until_signal(short, workflows::alerts_cmd(global, c)).await,
        Command::GraphqlSchema => {
            print!("{}", ml_connector::graphql::sdl());
            Ok(())
        }
        #[cfg(feature = "sim")]
        Command::Sim(args::SimCommand::Shipstation(a)) => sim::shipstation(a, shutdown).await,
        #[cfg(feature = "sim")]
        Command::Sim(args::SimCommand::Sage100(a)) => sim::sage100(a, shutdown).await,
        #[cfg(feature = "sim")]
        Command::Demo(a) => demo::run(global, a, shutdown).await,
        #[cfg(feature = "sim")]
        Command::Bench(args::BenchCommand::Engine(a)) => {
            bench::engine::run(global, a, shutdown).await
        }
        #[cfg(feature = "sim")]
        Command::Bench(args::BenchCommand::Inventory(a)) => {
            bench::inventory::run(global, a, shutdown).await
        }
        #[cfg(feature = "sim")]
        Command::Bench(args::BenchCommand::Sync(a)) => bench::sync::run(global, a, shutdown).await,
        #[cfg(feature = "sim")]
        Command::Bench(args::BenchCommand::Footprint(a)) => {
            bench::footprint::run(global, a, shutdown).await
        }
        #[cfg(feature = "sim")]
        Command::Bench(args::BenchCommand::Scale(a)) => bench::scale::run(global, a, shutdown).await,
        #[cfg(feature = "odbc")]
        Command::Bench(args::BenchCommand::Agent(a)) => bench::agent::run(a).await,
        #[cfg(all(feature = "sim", not(feature = "odbc")))]
        Command::Bench(args::BenchCommand::Agent(_)) => anyhow::bail!(
            "bench agent needs ODBC: build with --features odbc (and unixODBC with the PostgreSQL driver installed)"
        ),
    }
}
