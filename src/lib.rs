//! ml-connector: keeps Sage 100 and ShipStation in step, on a durable PostgreSQL workflow engine.
//! See ARCHITECTURE.md for the map.

pub mod api;
pub mod app;
pub mod config;
pub mod connections;
pub mod console;
pub mod db;
pub mod domain;
pub mod engine;
pub mod flows;
pub mod graphql;
pub mod metrics;
mod metrics_alerts;
pub mod net;
pub mod notify;
pub mod ops;
pub mod pg;
pub mod sage100;
pub mod secret;
pub mod shipstation;
#[cfg(feature = "sim")]
pub mod sim;
pub mod telemetry;
#[cfg(feature = "sim")]
pub mod testkit;
pub mod vault;
pub mod xml;

/// This build's version (Cargo.toml).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The commit it was built from (12 hex digits, `-dirty` when the sources differed), or `unknown`
/// (see build.rs).
pub const COMMIT: &str = env!("ML_CONNECTOR_COMMIT");
/// What `ml-connector --version` prints after the name: `0.1.0 (commit abc123def456)`.
pub const VERSION_LINE: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("ML_CONNECTOR_COMMIT"),
    ")"
);
