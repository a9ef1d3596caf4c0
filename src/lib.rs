//! ml-connector: keeps Sage 100 and ShipStation in step, on a durable PostgreSQL workflow engine.
//! See ARCHITECTURE.md for the map.

pub mod agent;
pub mod api;
pub mod app;
pub mod config;
pub mod connections;
pub mod db;
pub mod domain;
pub mod engine;
pub mod flows;
pub mod graphql;
pub mod metrics;
pub mod net;
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
