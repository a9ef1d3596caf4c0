//! Commands at the edge: clap parsing and process wiring. This module belongs to the binary, so
//! nothing in the library can import it; it imports whatever it needs from the library.

mod agent;
mod args;
#[cfg(feature = "sim")]
mod bench;
mod connection;
#[cfg(feature = "sim")]
mod demo;
mod serve;
#[cfg(feature = "sim")]
mod sim;
mod workflows;

use clap::Parser;

use args::{Cli, Command};

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
    match runtime.block_on(run(&cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: &Cli) -> anyhow::Result<()> {
    let global = &cli.global;
    match &cli.command {
        Command::Serve(a) => serve::serve(global, a).await,
        Command::Worker(a) => serve::worker(global, a).await,
        Command::Migrate => serve::migrate(global).await,
        Command::Postgres => serve::postgres(global).await,
        Command::Health { url } => serve::health(url).await,
        Command::Connection(c) => connection::run(global, c).await,
        Command::Keys(c) => connection::keys(global, c).await,
        Command::Agent(a) => agent::agent(a).await,
        Command::Workflows(c) => workflows::workflows_cmd(global, c).await,
        Command::Token(c) => workflows::token_cmd(global, c).await,
        Command::GraphqlSchema => {
            print!("{}", ml_connector::graphql::sdl());
            Ok(())
        }
        #[cfg(feature = "sim")]
        Command::Sim(args::SimCommand::Shipstation(a)) => sim::shipstation(a).await,
        #[cfg(feature = "sim")]
        Command::Sim(args::SimCommand::Sage100(a)) => sim::sage100(a).await,
        #[cfg(feature = "sim")]
        Command::Demo(a) => demo::run(global, a).await,
        #[cfg(feature = "sim")]
        Command::Bench(args::BenchCommand::Engine(a)) => bench::engine::run(global, a).await,
        #[cfg(feature = "sim")]
        Command::Bench(args::BenchCommand::Inventory(a)) => bench::inventory::run(global, a).await,
    }
}
