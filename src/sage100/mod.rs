//! Sage 100 adapter: eBusiness Web Services (SOAP) and our local agent (BOI over HTTPS), turned
//! into the connector's ERP port (`Sage100`).

pub mod adapter;
pub mod agent;
pub mod contract;
pub mod convert;
pub mod error;
pub mod faults;
pub mod soap;

pub use adapter::Sage100;
pub use agent::{AgentClient, AgentConfig};
pub use contract::SoapContract;
pub use error::SageError;
pub use faults::FaultTexts;
pub use soap::{SalesOrder, SoapClient, SoapConfig};
