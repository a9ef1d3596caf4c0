//! The agent beside Sage 100 (`ml-connector-agent`): an HTTPS API over the customer's Sage 100
//! company files. Its contract is `mlc-agent-api` (docs/agent-openapi.yaml); it answers in BOI's
//! structure: `ReturnCode` (1 / 0 / -1), `LastErrorMsg`, columns by their Sage names.
//!
//! Reads come from a [`reads::SageReads`] backend: SQL through ODBC (`odbc` feature; the ProvideX
//! driver, or SQL Server on Premium) or browsing the Business Object Interface (the simulator).
//! Writes go through the Business Object Interface ([`boi`]): over COM on Windows ([`com`]),
//! simulated in tests and the demo.

pub mod api;
pub mod boi;
pub mod config;
pub mod failure;
pub mod logfile;
pub mod pool;
pub mod reads;
pub mod server;
pub mod writes;

#[cfg(feature = "odbc")]
pub mod odbc;

#[cfg(windows)]
pub mod com;
#[cfg(windows)]
pub mod service;

pub use mlc_secret::Secret;
