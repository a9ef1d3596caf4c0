//! Sage 100 clients: eBusiness Web Services (SOAP) and our local agent (BOI over HTTPS).

pub mod agent;
pub mod error;
pub mod feed;
pub mod soap;

pub use agent::{AgentClient, AgentConfig, Watermark};
pub use error::SageError;
pub use soap::{SalesOrder, SoapClient, SoapConfig};
