//! ml-connector: keeps Sage 100 and ShipStation in step, on a durable PostgreSQL workflow engine.
//! See ARCHITECTURE.md for the map.

pub mod agent;
pub mod api;
pub mod bench;
pub mod cli;
pub mod config;
pub mod connections;
pub mod db;
pub mod demo;
pub mod demo_tracking;
pub mod engine;
pub mod flows;
pub mod graphql;
pub mod metrics;
pub mod ops;
pub mod pg;
pub mod sage100;
pub mod secret;
pub mod service;
pub mod shipstation;
pub mod sim;
pub mod telemetry;
pub mod vault;
pub mod xml;
