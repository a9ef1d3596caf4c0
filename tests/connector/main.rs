//! The connector's black-box tests, one binary (one PostgreSQL cluster, one link) for all of
//! them: each module is one area, each test gets a fresh database.

#[path = "../common/mod.rs"]
mod common;

mod agent_conformance;
mod agent_scale;
mod agent_windows;
mod agent_windows_com;
mod agent_windows_service;
mod connections;
mod console;
mod feed_runs;
mod fit;
mod front_door;
mod graphql;
mod hostile;
mod inventory;
mod notifications;
mod odd_records;
mod order_flow;
mod order_repost;
mod orders_probe;
mod prometheus_rules;
mod sage100;
mod sage_contract;
mod sage_mapping;
mod shipstation;
mod tracking;
mod webhook_setup;
