use clap::Parser;

use ml_connector::cli::{BenchCommand, Cli, Command, SimCommand};
use ml_connector::{bench, demo, service, telemetry};

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if let Err(e) = ml_connector::config::load(&args) {
        eprintln!("error: invalid configuration: {e}");
        return std::process::ExitCode::from(2);
    }
    let cli = Cli::parse();
    let quiet = matches!(
        cli.command,
        Command::Demo(_)
            | Command::Bench(_)
            | Command::Migrate
            | Command::Workflows(_)
            | Command::Token(_)
            | Command::GraphqlSchema
            | Command::Health { .. }
    );
    telemetry::init(cli.global.log_format, if quiet { "warn" } else { "info" });
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
    let result = runtime.block_on(async {
        match &cli.command {
            Command::Serve(args) => service::serve(&cli.global, args).await,
            Command::Worker(args) => service::worker(&cli.global, args).await,
            Command::Migrate => service::migrate(&cli.global).await,
            Command::Postgres => service::postgres(&cli.global).await,
            Command::Sim(SimCommand::Shipstation(args)) => service::sim_shipstation(args).await,
            Command::Sim(SimCommand::Sage100(args)) => {
                ml_connector::agent::run::sim_sage100(args).await
            }
            Command::Connection(cmd) => ml_connector::connections::cli::run(&cli.global, cmd).await,
            Command::Keys(cmd) => ml_connector::connections::cli::keys(&cli.global, cmd).await,
            Command::Agent(args) => ml_connector::agent::run::agent(args).await,
            Command::Demo(args) => demo::run(&cli.global, args).await,
            Command::Bench(BenchCommand::Engine(args)) => {
                bench::engine::run(&cli.global, args).await
            }
            Command::Bench(BenchCommand::Inventory(args)) => {
                bench::inventory::run(&cli.global, args).await
            }
            Command::Workflows(cmd) => {
                ml_connector::ops::cli::workflows_cmd(&cli.global, cmd).await
            }
            Command::Token(cmd) => ml_connector::ops::cli::token_cmd(&cli.global, cmd).await,
            Command::Health { url } => service::health(url).await,
            Command::GraphqlSchema => {
                print!("{}", ml_connector::graphql::sdl());
                Ok(())
            }
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
